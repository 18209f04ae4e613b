"""`python -m helix_lightning.sweep NAME ...` is `helix sweep NAME ...`."""

import sys

from ..cli import main

sys.exit(main(["sweep", *sys.argv[1:]]))
