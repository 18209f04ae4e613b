"""`python -m helix_lightning.sweep NAME ...` is `helix sweep NAME ...`."""

import sys

from .runner import main

sys.exit(main())
