"""`python -m helix_lightning.report [NAME ...] [--storage URL] [--out reports]`:
the same as `helix report`."""

import sys

from ..cli import main

sys.exit(main(["report", *sys.argv[1:]]))
