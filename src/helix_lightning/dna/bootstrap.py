"""Self-describing pools: bootstrap strands a person can decode by hand (docs/FORMAT.md, §11).

`helix dna encode --self-describing` adds to an archive's strands a few hundred bootstrap
strands with their own primer pair. They carry, in a code with no tables (three bits per two
bases: one G/C base and one A/T base in either order, so every stretch of 20 nt holds 9 to 11
G+C and no base repeats more than twice) and no outer code beyond plain repetition, a short
identifying sector in plain ASCII (codec, format version, constraint set, strand length,
primers, archive ID) and the xz-compressed text of the format spec. A decoder that knows
nothing of the archive reads the sector first and then the archive; `helix dna decode` takes
the constraint set from it when no flag or record name gives one.
"""

from __future__ import annotations

import hashlib
import lzma
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import HelixError
from .constraints import CUSTOM_CODE, ConstraintSet, valid_strands
from .header import constraint_fingerprint
from .primers import reverse_complement

BOOT_PREFIX = "TGTGGTTCGTTCAGGACAAC"  # 20 nt each, in the pair code's shape (one G/C per pair)
BOOT_SUFFIX = "TGGAAGGTGTTCCATCACCA"
BOOT_COPIES = 3        # each bootstrap strand is written this many times
BOOT_RECORD = "helix-boot"
ID_BYTES, INDEX_BYTES = 4, 2
SECTOR_TITLE = "HELIX-LIGHTNING DNA ARCHIVE (bootstrap sector, docs/FORMAT.md section 11)"
#: docs/FORMAT.md as package data, xz-compressed (scripts/package_spec.py, `make spec`, writes
#: it; tests/test_packaged_spec.py checks it is the same text), so installs carry the spec
SPEC_FILE = Path(__file__).resolve().parent / "format.md.xz"
# three bits (weak base first?, G rather than C?, T rather than A?) -> two bases
PAIRS = ("CA", "CT", "GA", "GT", "AC", "TC", "AG", "TG")


def pair_bases(bits: Sequence[int]) -> str:
    """Bits (a multiple of 3) -> bases, two per three bits (§11)."""
    return "".join(PAIRS[bits[i] << 2 | bits[i + 1] << 1 | bits[i + 2]]
                   for i in range(0, len(bits), 3))


def pair_bits(seq: str) -> list[int]:
    """Bases (an even number) -> bits, the inverse of `pair_bases`; HelixError off the code."""
    out: list[int] = []
    for i in range(0, len(seq) - 1, 2):
        try:
            v = PAIRS.index(seq[i:i + 2])
        except ValueError:
            raise HelixError(f"{seq[i:i + 2]!r} is not a pair of the bootstrap code") from None
        out += [v >> 2 & 1, v >> 1 & 1, v & 1]
    return out


def payload_nt(strand_len: int) -> int:
    """Coded bases of a bootstrap strand: what the primers leave, rounded down to even."""
    return (strand_len - len(BOOT_PREFIX) - len(BOOT_SUFFIX)) // 2 * 2


def chunk_bytes(strand_len: int) -> int:
    """Stream bytes per bootstrap strand (after the archive ID and the index)."""
    return 3 * payload_nt(strand_len) // 2 // 8 - ID_BYTES - INDEX_BYTES


def format_spec() -> bytes:
    """The text of docs/FORMAT.md, from the copy packaged with this module (`SPEC_FILE`)."""
    try:
        return lzma.decompress(SPEC_FILE.read_bytes())
    except (OSError, lzma.LZMAError) as exc:
        raise HelixError(f"--self-describing needs the packaged format spec {SPEC_FILE.name} "
                         f"({type(exc).__name__}): reinstall helix-lightning") from None


def compress_spec(text: bytes) -> bytes:
    """The spec as stored: xz (LZMA2, preset 9 extreme, CRC-64 check)."""
    return lzma.compress(text, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)


def sector_text(archive: Any, spec_xz: bytes) -> bytes:
    """The identifying sector of an archive (`archive.Archive`): ASCII `key: value` lines,
    the last a CRC-32 of the lines before it."""
    h, cs = archive.header, archive.cs
    first = archive.strands[0]
    fields = {
        "codec": "helix-lightning dna (FSM constrained code, RaptorQ outer code)",
        "format-version": str(h.version),
        "archive-id": "none" if h.archive_id is None else f"{h.archive_id:08x}",
        "constraints": cs.name,
        "constraint-code": str(h.constraints_code),
        "max-run": str(cs.max_run),
        "gc-window": str(cs.gc_window or 0),
        "gc-min": repr(float(cs.gc_min)),
        "gc-max": repr(float(cs.gc_max)),
        "motifs": ",".join(cs.motifs) or "-",
        "fingerprint": f"{constraint_fingerprint(cs):08x}",
        "strand-length": str(h.strand_len),
        "prefix": first[:h.prefix_len],
        "suffix": first[len(first) - h.suffix_len:],
        "file-bytes": str(h.file_size),
        "strands": str(len(archive.strands)),
        "spec": "docs/FORMAT.md",
        "spec-compression": "xz",
        "spec-bytes": str(len(spec_xz)),
        "spec-sha256": hashlib.sha256(spec_xz).hexdigest(),
    }
    body = SECTOR_TITLE + "\n" + "".join(f"{k}: {v}\n" for k, v in fields.items())
    return (body + f"crc32: {zlib.crc32(body.encode('ascii')):08x}").encode("ascii")


def bootstrap_strands(archive: Any, spec: bytes | None = None,
                      copies: int = BOOT_COPIES) -> list[str]:
    """The bootstrap strands of an archive: sector, blank line, compressed spec, in chunks,
    each strand `copies` times. Refused (HelixError) when they would break the archive's
    constraint set."""
    spec_xz = compress_spec(format_spec() if spec is None else spec)
    stream = sector_text(archive, spec_xz) + b"\n\n" + spec_xz
    strand_len = archive.header.strand_len
    size = chunk_bytes(strand_len)
    if size < 1:
        raise HelixError(f"strand length {strand_len} is too short for bootstrap strands")
    aid = (0 if archive.header.archive_id is None else archive.header.archive_id)
    nbits = 3 * payload_nt(strand_len) // 2
    strands = []
    for i in range(0, len(stream), size):
        raw = aid.to_bytes(ID_BYTES, "big") + (i // size).to_bytes(INDEX_BYTES, "big")
        bits = np.unpackbits(np.frombuffer(raw + stream[i:i + size].ljust(size, b"\0"),
                                           dtype=np.uint8)).tolist()
        bits += [0] * (nbits - len(bits))
        strands.append(BOOT_PREFIX + pair_bases(bits) + BOOT_SUFFIX)
    _check_constraints(strands, archive.cs)
    return [s for s in strands for _ in range(copies)]


def _check_constraints(strands: list[str], cs: ConstraintSet) -> None:
    bad = int((~valid_strands(strands, cs)).sum())
    if bad:
        raise HelixError(
            f"--self-describing: {bad} of {len(strands)} bootstrap strands break constraint set "
            f"{cs.describe()} (the hand code guarantees max_run 2, 9-11 G+C in every 20 nt and "
            "no motif check); encode without --self-describing")


@dataclass
class Sector:
    """A decoded bootstrap sector: its fields and the compressed spec after it."""

    fields: dict[str, str]
    spec_xz: bytes

    @property
    def archive_id(self) -> int | None:
        aid = self.fields["archive-id"]
        return None if aid == "none" else int(aid, 16)

    @property
    def constraints(self) -> ConstraintSet:
        """The archive's constraint set, checked against the sector's fingerprint."""
        f = self.fields
        motifs = tuple(m for m in f["motifs"].split(",") if m and m != "-")
        cs = ConstraintSet(f["constraints"], int(f["max-run"]), int(f["gc-window"]) or None,
                           float(f["gc-min"]), float(f["gc-max"]), motifs)
        if f"{constraint_fingerprint(cs):08x}" != f["fingerprint"]:
            raise HelixError("bootstrap sector's constraint set does not match its fingerprint")
        if int(f["constraint-code"]) != CUSTOM_CODE:
            from .constraints import constraints_for_code
            named = constraints_for_code(int(f["constraint-code"]))
            if constraint_fingerprint(named) == constraint_fingerprint(cs):
                return named
        return cs

    def spec(self) -> bytes:
        """The format spec the archive carries (decompressed)."""
        return lzma.decompress(self.spec_xz)


def is_bootstrap(seq: str) -> bool:
    return seq.startswith(BOOT_PREFIX) and seq.endswith(BOOT_SUFFIX)


def split_bootstrap(records: Sequence[tuple[str, str]]
                    ) -> tuple[list[str], list[tuple[str, str]]]:
    """(bootstrap strands or reads, the other records) of a FASTA/FASTQ input."""
    boot = [s for _, s in records if is_bootstrap(s) or is_bootstrap(reverse_complement(s))]
    if not boot:
        return [], list(records)
    return boot, [r for r in records
                  if not (is_bootstrap(r[1]) or is_bootstrap(reverse_complement(r[1])))]


def read_bootstrap(seqs: Sequence[str]) -> dict[int | None, Sector]:
    """Every readable sector among strands or reads (either orientation, exact primers):
    archive ID -> Sector. Copies vote per (ID, index); a sector failing its CRC is left out."""
    votes: dict[tuple[bytes, int], Counter] = {}
    for seq in seqs:
        for s in (seq, reverse_complement(seq)):
            if not is_bootstrap(s) or (len(s) - len(BOOT_PREFIX) - len(BOOT_SUFFIX)) % 2:
                continue
            try:
                bits = pair_bits(s[len(BOOT_PREFIX):len(s) - len(BOOT_SUFFIX)])
            except HelixError:
                continue
            raw = np.packbits(np.array(bits[:len(bits) // 8 * 8], np.uint8)).tobytes()
            key = (raw[:ID_BYTES], int.from_bytes(raw[ID_BYTES:ID_BYTES + INDEX_BYTES], "big"))
            votes.setdefault(key, Counter())[raw[ID_BYTES + INDEX_BYTES:]] += 1
    streams: dict[bytes, dict[int, bytes]] = {}
    for (aid, index), counter in votes.items():
        streams.setdefault(aid, {})[index] = counter.most_common(1)[0][0]
    out: dict[int | None, Sector] = {}
    for chunks in streams.values():
        sector = _parse_stream(b"".join(chunks.get(i, b"") for i in range(max(chunks) + 1)))
        if sector is not None:
            out[sector.archive_id] = sector
    return out


def _parse_stream(stream: bytes) -> Sector | None:
    text, _, rest = stream.partition(b"\n\n")
    body, sep, crc = text.rpartition(b"\ncrc32: ")
    if not sep or b"%08x" % zlib.crc32(body + b"\n") != crc:
        return None
    try:
        lines = body.decode("ascii").splitlines()[1:]
        fields = dict(line.split(": ", 1) for line in lines)
        return Sector(fields, rest[:int(fields["spec-bytes"])])
    except (UnicodeDecodeError, ValueError, KeyError):
        return None


def sector_hint(sectors: dict[int | None, Sector] | None, archive: str | None = None
                ) -> ConstraintSet | None:
    """The constraint set the pool's sector names (of the archive asked for, or the pool's
    only sector); None without one."""
    if not sectors:
        return None
    if archive is not None:
        from .pool import parse_id
        chosen = sectors.get(parse_id(archive))
    else:
        chosen = next(iter(sectors.values())) if len(sectors) == 1 else None
    return None if chosen is None else chosen.constraints


def bootstrap_records(strands: Sequence[str], constraints: str) -> list[tuple[str, str]]:
    """FASTA records of bootstrap strands: `helix-boot:v1:<set>:<serial>`."""
    return [(f"{BOOT_RECORD}:v1:{constraints}:{i:07d}", s) for i, s in enumerate(strands)]


def encoded_pool(archive: Any, self_describing: bool = False
                 ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """What `helix dna encode` writes and prints: the archive's records (then, if
    self-describing, its bootstrap strands) and its stats (with the bootstrap's cost)."""
    records = archive.fasta_records()
    stats = archive.stats.to_dict()
    if not self_describing:
        return records, stats
    boot = bootstrap_strands(archive)
    records += bootstrap_records(boot, archive.cs.name)
    boot_nt = len(boot) * payload_nt(archive.header.strand_len)
    boot_all = sum(map(len, boot))
    bits = 8 * stats["bytes"]
    stats.update(bootstrap_strands=len(boot), bootstrap_nt=boot_nt,
                 bootstrap_nt_with_primers=boot_all,
                 net_density_with_bootstrap=bits / (stats["nt"] + boot_nt),
                 net_density_with_primers_and_bootstrap=bits / (stats["nt_with_primers"]
                                                                + boot_all))
    return records, stats
