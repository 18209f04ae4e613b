"""The archive header's version policy: every released version keeps a decode fixture here,
the decoder reads all of them, and a newer version is refused by name.

Version 1 (registered sets with a code: bytes_standard, bytes_fountain and the older video
fixtures) and version 2 (custom sets, made by `tests/fixtures/make_format_v2_fixtures.py`)
are decode fixtures. Version 3 (every archive since archive IDs, made by
`tests/fixtures/make_format_v3_fixtures.py`) pins today's encodes: the registered sets in
`tests/test_golden.py`, the custom sets here.
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
V3 = {k: v for k, v in json.loads((FIXTURES / "format_v3.json").read_text()).items()
      if isinstance(v, dict)}


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
    versions |= {find_header(_strands(n), HINTS.get(n.replace("_v3", "_v2"))).header.version
                 for n in V3}
    assert versions == set(READABLE_VERSIONS) == {1, 2, 3}


@pytest.mark.parametrize("name", sorted(V2))
def test_v2_fixture_decodes(name, tmp_path):
    case = V2[name]
    back = tmp_path / "back.bin"
    assert helix(["dna", "decode", str(FIXTURES / f"{name}.fasta"), "-o", str(back), "-q",
                  *case["decode_args"]]) == 0
    assert _sha256(back.read_bytes()) == case["data_sha256"]


@pytest.mark.parametrize("name", sorted(n for n in V3 if "custom" in n))
def test_v3_custom_fixture_decodes_and_encode_is_byte_identical(name, tmp_path):
    """Today's encodes of the version 2 cases (custom sets): the same flags, header version
    3, the same decode flags."""
    case, old = V3[name], V2[name.replace("_v3", "_v2")]
    assert (case["args"], case["decode_args"]) == (old["args"], old["decode_args"])
    back = tmp_path / "back.bin"
    assert helix(["dna", "decode", str(FIXTURES / f"{name}.fasta"), "-o", str(back), "-q",
                  *case["decode_args"]]) == 0
    assert _sha256(back.read_bytes()) == case["data_sha256"]
    out = tmp_path / f"{name}.fasta"
    assert helix(["dna", "encode", str(FIXTURES / "bytes.bin"), "-o", str(out), "-q",
                  *case["args"]]) == 0
    assert _sha256(out.read_bytes()) == case["fasta_sha256"]
    assert out.read_bytes() == (FIXTURES / f"{name}.fasta").read_bytes()


def test_v3_fixtures_carry_their_id():
    for name in V3:
        h = find_header(_strands(name), HINTS.get(name.replace("_v3", "_v2"))).header
        assert h.version == 3 and h.archive_id is not None
    h = find_header(_strands("bytes_custom_v3")).header
    assert (h.constraints_code, h.header_code) == (255, 1)  # header strands under fountain
    assert h.definition == ConstraintSet("custom", max_run=3, gc_min=0.35, gc_max=0.60)


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
                                         r"versions 1, 2, 3\)"):
        Header.unpack(raw[:2] + bytes([7]) + raw[3:])
