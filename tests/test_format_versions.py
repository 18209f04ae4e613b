"""The archive header's version policy: every released version keeps a decode fixture here,
the decoder reads all of them, and a newer version is refused by name.

Version 1 (registered sets with a code) is pinned by `tests/test_golden.py` (bytes_standard,
bytes_fountain and the video fixtures); version 2 (custom sets, made by
`tests/fixtures/make_format_v2_fixtures.py`) by this file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import decode_archive, find_header
from helix_lightning.dna.constraints import ConstraintSet
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.dna.header import READABLE_VERSIONS, Header
from helix_lightning.errors import HelixError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V2 = json.loads((FIXTURES / "format_v2.json").read_text())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: what each v2 fixture's decode flags define (None: decodes with no hint)
HINTS = {"bytes_custom_v2": None,
         "bytes_custom_v2_motif": ConstraintSet("custom", max_run=2, motifs=("GAATTC",))}


def _strands(name: str) -> list[str]:
    return [s for _, s in read_sequences(FIXTURES / f"{name}.fasta")]


def test_every_readable_version_has_a_fixture():
    assert sorted(HINTS) == sorted(V2)
    versions = {find_header(_strands(n), HINTS[n]).header.version for n in V2}
    versions.add(find_header(_strands("bytes_standard")).header.version)
    assert versions == set(READABLE_VERSIONS) == {1, 2}


@pytest.mark.parametrize("name", sorted(V2))
def test_v2_fixture_decodes_and_encode_is_byte_identical(name, tmp_path):
    case = V2[name]
    back = tmp_path / "back.bin"
    assert helix(["dna", "decode", str(FIXTURES / f"{name}.fasta"), "-o", str(back), "-q",
                  *case["decode_args"]]) == 0
    assert _sha256(back.read_bytes()) == case["data_sha256"]
    out = tmp_path / f"{name}.fasta"
    assert helix(["dna", "encode", str(FIXTURES / "bytes.bin"), "-o", str(out), "-q",
                  *case["args"]]) == 0
    assert _sha256(out.read_bytes()) == case["fasta_sha256"]


def test_v2_fixture_carries_its_definition():
    strands = _strands("bytes_custom_v2")
    found = find_header(strands)
    h = found.header
    assert (h.version, h.constraints_code, h.header_code) == (2, 255, 1)
    assert h.definition == ConstraintSet("custom", max_run=3, gc_min=0.35, gc_max=0.60)
    assert found.header_cs.name == "fountain" and found.cs == h.definition
    data, report = decode_archive(strands[::-1])
    assert report.ok and _sha256(data) == V2["bytes_custom_v2"]["data_sha256"]


def test_newer_header_version_is_refused_by_name():
    raw = find_header(_strands("bytes_custom_v2")).header.pack()
    assert Header.unpack(raw).version == 2
    with pytest.raises(HelixError, match=r"version 7 is not supported \(this build reads "
                                         r"versions 1, 2\)"):
        Header.unpack(raw[:2] + bytes([7]) + raw[3:])
