#!/usr/bin/env python3
"""Write the test vectors of docs/FORMAT.md (section 12) into docs/vectors/.

    PYTHONPATH=src python scripts/make_vectors.py          # (re)write docs/vectors/

Every file comes from `build_vectors()`, which tests/test_reference_decoder.py calls again in
memory and compares byte for byte with the committed files, so the vectors cannot go stale:
a change to the format shows up as a failing test (and then takes a new format version).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "vectors"
ARCHIVE_ID = 0x48454C58  # "HELX": a fixed ID, so the vectors do not depend on derived_id
CUSTOM = {"name": "custom", "max_run": 2, "gc_window": None, "gc_min": 0.0, "gc_max": 1.0,
          "motifs": ["GAATTC", "TTAA"]}
BOOT_SPEC = b"HELIX-Lightning test vector: the spec text a bootstrap sector carries.\n"


def vector_input() -> bytes:
    """The stored file: 200 bytes of SHAKE-128("helix-vectors")."""
    return hashlib.shake_128(b"helix-vectors").digest(200)


def _fasta(records: list[tuple[str, str]]) -> bytes:
    return "".join(f">{n}\n{s}\n" for n, s in records).encode()


def _json(obj: object) -> bytes:
    return (json.dumps(obj, indent=1) + "\n").encode()


def _u32_digest(arrays: list[np.ndarray]) -> str:
    """sha256 of the arrays as big-endian uint32, one after the other."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.asarray(a, dtype=">u4").tobytes())
    return h.hexdigest()


def fingerprints() -> dict:
    from helix_lightning.dna.constraints import (ConstraintSet, coded_names, get_constraints)
    from helix_lightning.dna.header import constraint_fingerprint

    out = {}
    sets = [get_constraints(n) for n in coded_names()]
    sets += [ConstraintSet(**{**CUSTOM, "motifs": tuple(CUSTOM["motifs"])}),
             ConstraintSet(**{**CUSTOM, "name": "custom-reordered",
                              "motifs": tuple(reversed(CUSTOM["motifs"]))})]
    for cs in sets:
        text = json.dumps({k: v for k, v in cs.to_dict().items() if k != "name"},
                          sort_keys=True)
        out[cs.name] = {"json": text, "fingerprint": f"{constraint_fingerprint(cs):08x}"}
    return out


def weights() -> dict:
    """Per named set at the default geometry: the numbers of §3-§5 and digests of M and V."""
    from helix_lightning.dna.constraints import coded_names, get_constraints
    from helix_lightning.dna.strands import StrandLayout

    out = {}
    for name in coded_names():
        c = StrandLayout(get_constraints(name)).coder
        entry = {"live_states": int(c.graph.n_states), "s0": int(c.start), "R0": int(c.r0),
                 "k": int(c.k), "E_n": int(c.E[c.n]),
                 "terminal_sha256": _u32_digest(c.tables)}
        if c.r0 < c.n:
            entry.update({"G": int(c.G), "K_R0_plus_1": int(c.K[c.r0 + 1]),
                          "d": int(c.E[c.r0 + 1] - c.E[c.r0]),
                          "V_sha256": _u32_digest([c.V])})
        out[name] = entry
    return out


def archives() -> dict[str, bytes]:
    from helix_lightning.dna.archive import encode_archive
    from helix_lightning.dna.bootstrap import bootstrap_records, bootstrap_strands
    from helix_lightning.dna.constraints import ConstraintSet, coded_names

    data = vector_input()
    files: dict[str, bytes] = {}
    for name in coded_names():
        a = encode_archive(data, name, archive_id=ARCHIVE_ID)
        files[f"archive_{name}.fasta"] = _fasta(a.fasta_records())
    custom = ConstraintSet(**{**CUSTOM, "motifs": tuple(CUSTOM["motifs"])})
    a = encode_archive(data, custom, archive_id=ARCHIVE_ID)
    files["archive_custom.fasta"] = _fasta(a.fasta_records())
    a = encode_archive(data, custom, archive_id=ARCHIVE_ID)
    boot = bootstrap_strands(a, spec=BOOT_SPEC)
    files["archive_custom_boot.fasta"] = _fasta(a.fasta_records()
                                                + bootstrap_records(boot, custom.name))
    files["first_strand.json"] = _json(first_strand(data))
    return files


def first_strand(data: bytes) -> dict:
    """§12: the first header strand and the first data strand of the `standard` vector."""
    from helix_lightning.dna.archive import encode_archive
    from helix_lightning.dna.strands import HEADER_CHECK_BITS, ID_BITS, StrandLayout

    a = encode_archive(data, "standard", archive_id=ARCHIVE_ID)
    lay = StrandLayout(a.cs)
    h = a.header
    raw = h.pack()
    c = lay.header_chunk_of(h.archive_id)
    first_data = -(-len(raw) // c) * 8  # header parts x 8 copies come first
    bits, ok = lay.read_bits([a.strands[0], a.strands[first_data]])
    assert ok.all()
    hb, db = bits
    mid = lambda s: s[len(lay.prefix):len(s) - len(lay.suffix)]  # noqa: E731
    nchk = lay.bits - h.index_bits - 8 * h.symbol_size
    white = np.packbits(db[h.index_bits:h.index_bits + 8 * h.symbol_size]).tobytes()
    return {
        "header_hex": raw.hex(), "header_bytes": len(raw), "k": lay.bits, "chunk_bytes": c,
        "header_strand": {
            "tag": f"{int(''.join(map(str, hb[:8])), 2):02x}",
            "archive_id": np.packbits(hb[8:8 + ID_BITS]).tobytes().hex(),
            "chunk": np.packbits(hb[8 + ID_BITS:8 + ID_BITS + 8 * c]).tobytes().hex(),
            "zero_padding_bits": int(lay.bits - 8 - ID_BITS - 8 * c - HEADER_CHECK_BITS),
            "check": np.packbits(hb[-HEADER_CHECK_BITS:]).tobytes().hex(),
            "bits": "".join(map(str, hb)), "coded_bases": mid(a.strands[0]),
            "strand": a.strands[0]},
        "data_strand": {
            "index_bits": h.index_bits, "T": h.symbol_size, "check_bits": int(nchk),
            "index": int("".join(map(str, db[:h.index_bits])), 2),
            "whitened_payload": white.hex(),
            "check": "".join(map(str, db[-nchk:])),
            "bits": "".join(map(str, db)), "strand": a.strands[first_data]},
    }


def build_vectors() -> dict[str, bytes]:
    """Every file of docs/vectors/ by name."""
    files = {"input.bin": vector_input(), "fingerprints.json": _json(fingerprints()),
             "weights.json": _json(weights())}
    files.update(archives())
    return files


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in build_vectors().items():
        (OUT / name).write_bytes(content)
        print(f"wrote {OUT / name} ({len(content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
