"""`python -m helix_lightning.dna ...` is `helix dna ...`."""

import sys

from ..cli import main

sys.exit(main(["dna", *sys.argv[1:]]))
