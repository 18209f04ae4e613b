#!/usr/bin/env python3
"""Write the packaged copy of the format spec, docs/FORMAT.md, as
src/helix_lightning/dna/format.md.xz.

    python3 scripts/package_spec.py     # or: make spec (standard library only)

`helix dna encode --self-describing` embeds the spec in every self-describing pool, and an
installed package has no docs/ folder: it reads this xz copy (package data, pyproject.toml).
docs/FORMAT.md stays the one hand-edited text; tests/test_packaged_spec.py fails whenever
the copy no longer decompresses to it, and this script brings it back in line.
"""

from __future__ import annotations

import lzma
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = ROOT / "src" / "helix_lightning" / "dna" / "format.md.xz"  # bootstrap.SPEC_FILE


def main() -> int:
    text = (ROOT / "docs" / "FORMAT.md").read_bytes()
    # the settings of bootstrap.compress_spec (xz, LZMA2 preset 9 extreme, CRC-64)
    SPEC_FILE.write_bytes(lzma.compress(text, format=lzma.FORMAT_XZ,
                                        preset=9 | lzma.PRESET_EXTREME))
    print(f"{SPEC_FILE.relative_to(ROOT)}: {len(text)} bytes of docs/FORMAT.md, "
          f"{SPEC_FILE.stat().st_size} compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
