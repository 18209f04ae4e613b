"""The one exception type for errors a user can cause (bad input, bad flags, lost data).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps
its traceback.
"""


class HelixError(Exception):
    """A user-facing error: bad input, an impossible configuration, or unrecoverable data."""
