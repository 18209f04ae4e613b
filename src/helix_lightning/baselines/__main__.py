"""`python -m helix_lightning.baselines [options]` is `helix bench rd [options]`."""

import sys

from ..cli import main

sys.exit(main(["bench", "rd", *sys.argv[1:]]))
