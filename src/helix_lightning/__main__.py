"""`python -m helix_lightning ...` is the `helix` command."""

import sys

from .cli import main

sys.exit(main())
