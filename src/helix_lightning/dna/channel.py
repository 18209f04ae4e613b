"""Sequencing channel simulator: strands in, shuffled noisy FASTQ reads out.

The model, applied in this order and all drawn from one seeded numpy Generator:

1. whole-strand dropout: each strand is lost before sequencing with probability `dropout`;
2. read count: each surviving strand gets NegativeBinomial(mean=`coverage`, size=`dispersion`)
   reads (numpy's `negative_binomial(n=r, p=r/(r+mean))`, variance mean + mean**2/r, so a
   smaller `dispersion` r means more over-dispersed counts, and more strands with 0 or 1 read);
3. per-base errors, independent per read and per base, mutually exclusive at one base:
   substitution (the base becomes one of the other three) with rate `sub`, insertion of a
   uniformly random base before it with rate `ins`, deletion with rate `dele`;
4. orientation: each read is reverse-complemented with probability `reverse_fraction`;
5. the reads are shuffled. Primers stay in the reads; qualities are a constant 'I'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import HelixError
from .constraints import encode_bases
from .primers import reverse_complement

_PAD = 4  # code for "no base": padding of short strands and deleted bases
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_CHUNK_BASES = 8_000_000  # template bases per vectorised chunk (bounds memory)
MAX_COVERAGE = 10_000.0  # mean reads per strand (deep runs reach a few hundred)
MAX_READS = 100_000_000  # expected reads of one simulation (they are all held in memory)


@dataclass
class ChannelParams:
    """Channel settings; rates are per base, `dispersion` is the negative-binomial size r."""

    sub: float = 0.01
    ins: float = 0.005
    dele: float = 0.005
    dropout: float = 0.05
    coverage: float = 10.0
    dispersion: float = 10.0  # variance = mean + mean^2/10: twice Poisson at coverage 10
    reverse_fraction: float = 0.5
    seed: int = 1

    def validate(self) -> None:
        """Raise HelixError on an impossible setting."""
        for name in ("sub", "ins", "dele", "dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise HelixError(f"channel: {name} must be in [0, 1), got {value}")
        if self.sub + self.ins + self.dele >= 1.0:
            raise HelixError("channel: sub + ins + dele must be below 1")
        if not 0 < self.coverage <= MAX_COVERAGE:
            raise HelixError(f"channel: coverage must be in (0, {MAX_COVERAGE:g}], "
                             f"got {self.coverage}")
        if not self.dispersion > 0:
            raise HelixError(f"channel: dispersion must be > 0, got {self.dispersion}")
        if not 0.0 <= self.reverse_fraction <= 1.0:
            raise HelixError(
                f"channel: reverse_fraction must be in [0, 1], got {self.reverse_fraction}")


def _nb_p(params: ChannelParams) -> float:
    """numpy's success probability p for NB(mean=coverage, size=dispersion)."""
    return params.dispersion / (params.dispersion + params.coverage)


def expected_erasure_rate(params: ChannelParams) -> float:
    """Analytic estimate of the share of strands lost: dropout, or fewer than 2 reads.

    P(lost) = dropout + (1 - dropout) * P(N < 2) with N ~ NB(mean=coverage, size=dispersion).
    It ignores strands lost to consensus errors, so it is a lower bound in practice.
    """
    params.validate()
    r, p = params.dispersion, _nb_p(params)
    p0 = p ** r
    p1 = r * p ** r * (1.0 - p)
    return params.dropout + (1.0 - params.dropout) * min(1.0, p0 + p1)


def simulate_reads(strands: Sequence[str], params: ChannelParams) -> list[tuple[str, str, str]]:
    """Simulate sequencing of `strands`; returns shuffled FASTQ records (name, seq, qual).

    Read names are `r{index}:s{strand}:{+|-}` (source strand index, '-' if reverse-complemented),
    handy for tests; a decoder must not rely on them.
    """
    params.validate()
    if not strands:
        return []
    expected = len(strands) * params.coverage * (1.0 - params.dropout)
    if expected > MAX_READS:
        raise HelixError(f"channel: {len(strands)} strands at coverage {params.coverage:g} "
                         f"make about {expected:,.0f} reads (at most {MAX_READS:,})")
    rng = np.random.default_rng(params.seed)
    codes, lengths = _pad_codes(strands)
    src, rc = _draw_reads(rng, len(strands), params)
    seqs = _mutate_all(rng, codes, lengths, src, params)
    quals: dict[int, str] = {}  # one shared quality string per read length
    records = []
    for i, (seq, s, flip) in enumerate(zip(seqs, src.tolist(), rc.tolist())):
        if flip:
            seq = reverse_complement(seq)
        qual = quals.get(len(seq)) or quals.setdefault(len(seq), "I" * len(seq))
        records.append((f"r{i}:s{s}:{'-' if flip else '+'}", seq, qual))
    return records


def reads_per_strand(strands: Sequence[str], counts: Sequence[int], params: ChannelParams,
                     seed: int) -> list[str]:
    """Exactly counts[i] noisy reads of strands[i] (no dropout, no coverage draw), with this
    channel's per-base errors and orientations, shuffled: what `erasure_model` measures read
    recovery on at a given number of reads per strand."""
    params.validate()
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) != len(strands) or (counts < 0).any():
        raise HelixError("channel: one non-negative read count per strand is needed")
    rng = np.random.default_rng(seed)
    codes, lengths = _pad_codes(strands)
    src = np.repeat(np.arange(len(strands)), counts)
    rng.shuffle(src)
    flips = (rng.random(src.size) < params.reverse_fraction).tolist()
    seqs = _mutate_all(rng, codes, lengths, src, params)
    return [reverse_complement(s) if f else s for s, f in zip(seqs, flips)]


def _pad_codes(strands: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, max_len) uint8 base codes padded with _PAD, and the true lengths."""
    lengths = np.fromiter((len(s) for s in strands), dtype=np.int64, count=len(strands))
    width = int(lengths.max())
    if width == 0:
        raise HelixError("channel: strands are empty")
    if int(lengths.min()) == width:
        return encode_bases("".join(strands)).reshape(len(strands), width), lengths
    codes = np.full((len(strands), width), _PAD, dtype=np.uint8)
    for i, s in enumerate(strands):
        codes[i, :len(s)] = encode_bases(s)
    return codes, lengths


def _draw_reads(rng: np.random.Generator, n: int, params: ChannelParams
                ) -> tuple[np.ndarray, np.ndarray]:
    """Source strand of every read (already shuffled) and its reverse-complement flag."""
    survive = rng.random(n) >= params.dropout
    counts = rng.negative_binomial(params.dispersion, _nb_p(params), size=n)
    counts = np.where(survive, counts, 0)
    src = np.repeat(np.arange(n), counts)
    rng.shuffle(src)
    rc = rng.random(src.size) < params.reverse_fraction
    return src, rc


def _mutate_all(rng: np.random.Generator, codes: np.ndarray, lengths: np.ndarray,
                src: np.ndarray, params: ChannelParams) -> list[str]:
    """Noisy copies of codes[src], in chunks so memory stays bounded."""
    per_chunk = max(1, _CHUNK_BASES // codes.shape[1])
    out: list[str] = []
    for start in range(0, src.size, per_chunk):
        out.extend(_mutate_chunk(rng, codes, lengths, src[start:start + per_chunk], params))
    return out


def _mutate_chunk(rng: np.random.Generator, codes: np.ndarray, lengths: np.ndarray,
                  src: np.ndarray, params: ChannelParams) -> list[str]:
    """Apply substitutions, insertions and deletions to one block of reads at once."""
    width = codes.shape[1]
    stream = codes[src].ravel()  # copy: template of every read, back to back
    pos, kind = _draw_events(rng, stream, params)
    subs = pos[kind == 0]
    stream[subs] = (stream[subs] + rng.integers(1, 4, size=subs.size)) % 4
    dels = pos[kind == 2]
    stream[dels] = _PAD
    ins = pos[kind == 1]
    stream = np.insert(stream, ins, rng.integers(0, 4, size=ins.size).astype(np.uint8))
    stream = stream[stream != _PAD]
    read_len = (lengths[src]
                + np.bincount(ins // width, minlength=src.size)
                - np.bincount(dels // width, minlength=src.size))
    text = _LETTERS[stream].tobytes().decode("ascii")
    ends = np.cumsum(read_len).tolist()
    starts = [0] + ends[:-1]
    return [text[a:b] for a, b in zip(starts, ends)]


def _draw_events(rng: np.random.Generator, stream: np.ndarray, params: ChannelParams
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Positions of error events (a Bernoulli process over real bases) and their kinds.

    kind 0 = substitution, 1 = insertion, 2 = deletion.
    """
    total = params.sub + params.ins + params.dele
    if total == 0.0 or stream.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    # geometric gaps give an exact Bernoulli(total) process; draw a little more than needed
    expect = stream.size * total
    draw = int(expect + 6 * math.sqrt(expect) + 16)
    pos = np.cumsum(rng.geometric(total, size=draw)) - 1
    while pos[-1] < stream.size:
        more = np.cumsum(rng.geometric(total, size=draw)) + pos[-1]
        pos = np.concatenate([pos, more])
    pos = pos[pos < stream.size]
    pos = pos[stream[pos] != _PAD]
    u = rng.random(pos.size) * total
    kind = np.where(u < params.sub, 0, np.where(u < params.sub + params.ins, 1, 2)).astype(np.int8)
    return pos, kind
