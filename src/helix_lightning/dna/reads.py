"""A FASTA or FASTQ input (any compression, or stdin) to the candidate strands decoding needs.

Two kinds of input:
- strands as written: a FASTA whose records mostly carry both primers at their ends. They go
  to the decoder as they are (with the constraint set named in `helix:v1:<set>:...` names).
- reads (FASTQ, or any other FASTA): every read is oriented and cut to its payload wherever its
  primers are (whole, in part, behind adapter read-through, or trimmed off: `find_head`,
  `find_tail`), the payloads are clustered and voted into candidate strands
  (`consensus.cluster_and_vote`) with the primers put back; the payload length is the one
  the votes of large clusters give (indels do not shift it), unless the caller knows it.
  Given the archive's check (`verify`), clusters that gave no valid strand are list-decoded
  (`list_decode.rescue`); `with_rescued` does that once the header is known.
  Reads whose payload is far from that length, and reads without any primer among reads that
  mostly have them, are foreign or junk: ignored and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import HelixError
from .consensus import MAX_LEN_DEVIATION, Candidate, cluster_and_vote, consensus_middles
from .fasta import read_sequence_file
from .list_decode import rescue
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, find_head, find_tail, reverse_complement

MIN_PAYLOAD = 60        # shortest payload the clustering can key (consensus.KEY_OFFSETS)
MIN_FRAMED = 8          # reads with both primers whole needed to measure the payload length
LENGTH_TOLERANCE = 3    # bases a payload may run past the expected length and be kept whole
PRIMED_MAJORITY = 0.5   # share of strand-sized reads with primers from which primerless are foreign

Progress = Callable[[str, int, int], None]
Verify = Callable[[list[str]], np.ndarray]


@dataclass
class LoadedStrands:
    """Candidate strands from one input, and what became of its records."""

    strands: list[str]
    support: list[int] | None      # reads behind each candidate (None: strands as written)
    variants: list[int] | None     # candidates of the candidate's read cluster
    constraint_hint: str | None    # constraint set named in the records' names
    records: int                   # records in the input
    used: int                      # records that went into the strands
    ignored: int                   # foreign or junk records left out
    from_reads: bool               # True if the candidates are a consensus of reads
    strand_len: int                # length of every candidate (primers included)
    sectors: dict | None = None    # bootstrap sectors found (`bootstrap.read_bootstrap`)
    clusters: list[list[str]] | None = None  # read clusters' payloads (reads only)
    cluster_of: list[int] | None = None      # the cluster each candidate came from
    rescued: int = 0                         # candidates added by list decoding

    def summary(self) -> str:
        kind = "reads" if self.from_reads else "strands"
        return (f"{self.records} {kind}: {self.used} used, {self.ignored} ignored "
                f"(foreign or junk); {len(self.strands)} candidate strands of "
                f"{self.strand_len} nt"
                + (f" ({self.rescued} by list decoding)" if self.rescued else ""))


def load_strands(path: str | Path, prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX,
                 *, strand_len: int | None = None, progress: Progress | None = None
                 ) -> LoadedStrands:
    """Candidate strands from a FASTA/FASTQ file (`-`: stdin; plain, gzip, bzip2 or xz).

    `strand_len` (primers included) fixes the payload length; by default it is measured from
    reads with both primers whole, else from the lengths of the payloads themselves.
    """
    from .bootstrap import read_bootstrap, split_bootstrap

    seqfile = read_sequence_file(path, allow_n=True)
    boot, records = split_bootstrap(seqfile.records)  # docs/FORMAT.md §11
    if not records:
        raise HelixError(f"{path}: only bootstrap strands, no archive strands")
    hint = constraint_hint(records[0][0])
    loaded = None
    if not seqfile.fastq:
        written = _as_written(records, prefix, suffix)
        if written is not None:
            loaded = LoadedStrands(written, None, None, hint, len(records), len(written),
                                   len(records) - len(written), False, len(written[0]))
    if loaded is None:
        loaded = recover_reads([seq for _, seq in records], prefix, suffix,
                               strand_len=strand_len, progress=progress, hint=hint,
                               source=str(path))
    loaded.sectors = read_bootstrap(boot) if boot else None
    return loaded


def recover_reads(reads: Sequence[str], prefix: str = DEFAULT_PREFIX,
                  suffix: str = DEFAULT_SUFFIX, *, strand_len: int | None = None,
                  progress: Progress | None = None, hint: str | None = None,
                  source: str = "reads", verify: Verify | None = None) -> LoadedStrands:
    """Candidate strands from reads in memory (what `load_strands` does for FASTQ): primers
    located or their absence tolerated, payloads cut, clustered and voted. Without
    `strand_len` the payload length is the one the votes of large clusters give
    (`consensus.voted_length`). With `verify` (full strands -> valid mask, e.g.
    `verifier.archive_verifier`), clusters whose candidates all fail it are list-decoded
    (`list_decode.rescue`) and what passes is added."""
    reads = [seq.replace("N", "A") for seq in reads]
    payloads, mid_len, ignored = cut_payloads(reads, prefix, suffix, strand_len)
    if not payloads:
        raise HelixError(f"{source}: none of {len(reads)} reads looks like a strand of this "
                         "archive (no primers, or the wrong length); nothing to decode")
    used = len(reads) - ignored
    middles = [m for pair in payloads for m in pair]
    report = (lambda d, t: progress("consensus", d, t)) if progress else None
    advance = None
    if report:
        done = [0]

        def advance(units: int) -> None:
            done[0] += units
            report(done[0], len(middles))

    voted = cluster_and_vote(middles, prefix, suffix, mid_len, advance=advance,
                             infer_length=strand_len is None)
    loaded = LoadedStrands([c.seq for c in voted.candidates],
                           [c.support for c in voted.candidates],
                           [c.variants for c in voted.candidates], hint, len(reads), used,
                           ignored, True, voted.mid_len + len(prefix) + len(suffix),
                           clusters=voted.clusters,
                           cluster_of=[c.cluster for c in voted.candidates])
    if verify is not None:
        if strand_len is None:
            best = checked_length(voted.clusters, loaded.strand_len, verify, prefix, suffix)
            if best != loaded.strand_len:
                loaded = revoted(loaded, best, prefix, suffix)
        loaded = with_rescued(loaded, verify, prefix, suffix)
    if not loaded.strands:
        raise HelixError(f"{source}: no consensus strand from {used} reads; nothing to decode")
    return loaded


def with_rescued(loaded: LoadedStrands, verify: Verify, prefix: str = DEFAULT_PREFIX,
                 suffix: str = DEFAULT_SUFFIX) -> LoadedStrands:
    """`loaded` with the candidates list decoding adds for its clusters that gave no strand
    passing `verify` (`list_decode.rescue`); unchanged for strands as written."""
    if loaded.clusters is None or loaded.cluster_of is None:
        return loaded
    mid_len = loaded.strand_len - len(prefix) - len(suffix)
    current = [Candidate(s, n, v, c) for s, n, v, c in zip(
        loaded.strands, loaded.support, loaded.variants, loaded.cluster_of)]
    found = rescue(current, loaded.clusters, mid_len, prefix, suffix, verify)
    return replace(loaded, strands=loaded.strands + [c.seq for c in found],
                   support=loaded.support + [c.support for c in found],
                   variants=loaded.variants + [c.variants for c in found],
                   cluster_of=loaded.cluster_of + [c.cluster for c in found],
                   rescued=loaded.rescued + len(found))


LENGTH_TRIES = (0, 1, -1, 2, -2)  # strand lengths tried around the voted one (most likely first)
LENGTH_CHECKED = 200              # largest clusters voted at each length tried


def checked_length(clusters: list[list[str]], strand_len: int, verify: Verify,
                   prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> int:
    """The strand length (around `strand_len`, the voted one) at which the votes of the
    largest clusters give the most strands passing `verify`: at high deletion rates the vote
    can fall a base short, and the check tells."""
    sample = sorted(clusters, key=len, reverse=True)[:LENGTH_CHECKED]
    best, most = strand_len, -1
    for step in LENGTH_TRIES:
        mid = strand_len + step - len(prefix) - len(suffix)
        if mid < MIN_PAYLOAD:
            continue
        spelled = [prefix + m + suffix for found in consensus_middles(sample, mid)
                   for m in found[:1]]
        passed = int(np.sum(verify(spelled))) if spelled else 0
        if passed > most:
            best, most = strand_len + step, passed
    return best


def revoted(loaded: LoadedStrands, strand_len: int, prefix: str = DEFAULT_PREFIX,
            suffix: str = DEFAULT_SUFFIX) -> LoadedStrands:
    """The same read clusters voted again for strands of `strand_len` nt (primers included);
    list-decoded candidates are dropped (they have the old length)."""
    if loaded.clusters is None:
        return loaded
    mid = strand_len - len(prefix) - len(suffix)
    found = consensus_middles(loaded.clusters, mid)
    cands = [Candidate(prefix + m + suffix, len(group), len(mids), c)
             for c, (group, mids) in enumerate(zip(loaded.clusters, found)) for m in mids]
    return replace(loaded, strands=[c.seq for c in cands], support=[c.support for c in cands],
                   variants=[c.variants for c in cands], cluster_of=[c.cluster for c in cands],
                   strand_len=strand_len, rescued=0)


def constraint_hint(name: str) -> str | None:
    """The registered constraint set named in a HELIX FASTA record name
    (helix:v<version>:<set>:<serial>); None for a custom set (its header defines it)."""
    from .constraints import CONSTRAINT_SETS

    parts = name.split(":")
    hint = parts[2] if name.startswith("helix:") and len(parts) > 3 else None
    return hint if hint in CONSTRAINT_SETS else None


def _as_written(records: list[tuple[str, str]], prefix: str, suffix: str) -> list[str] | None:
    """The records as strands if most carry both primers whole at their ends and have one
    length (noisy reads do not: their indels spread the lengths), else None.

    Records without the primers, or of another length than most, are left out (junk).
    """
    framed = [s for _, s in records
              if s.startswith(prefix) and s.endswith(suffix) and "N" not in s]
    if not framed:
        return None
    length = Counter(map(len, framed)).most_common(1)[0][0]
    strands = [s for s in framed if len(s) == length]
    return strands if len(strands) >= PRIMED_MAJORITY * len(records) else None


# ---------------------------------------------------------------- reads to payloads

@dataclass
class _Located:
    """A read in the orientation its primers say, and where its payload starts and ends."""

    seq: str
    head: int | None   # payload start (after the prefix primer or its remnant)
    tail: int | None   # payload end (before the suffix primer or its remnant)
    evidence: int      # 2 per whole primer, 1 per remnant: 0 means no primer found
    framed: bool       # both primers whole


def cut_payloads(reads: list[str], prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX,
                 strand_len: int | None = None) -> tuple[list[tuple[str, ...]], int, int]:
    """Payloads of the reads (forward orientation), the payload length, reads ignored.

    Each entry holds one read's payload, or (for a read with no primer evidence in an input
    whose reads come in both orientations) the payload and its reverse complement, both to be
    clustered: the wrong one finds no partner and fails the strand check.
    """
    located = [locate(read, prefix, suffix) for read in reads]
    if strand_len is not None:
        mid_len = strand_len - len(prefix) - len(suffix)
        if mid_len < MIN_PAYLOAD:
            raise HelixError(f"strand length {strand_len} leaves too little room between the "
                             f"primers (at least {MIN_PAYLOAD} nt needed)")
    else:
        mid_len = payload_length(located)
    fitting = fitting_reads(located, mid_len)
    payloads = fitting_payloads(fitting, *primer_mode(fitting))
    return payloads, mid_len, len(reads) - len(payloads)


def fitting_reads(located: list[_Located], mid_len: int) -> list[tuple[_Located, str]]:
    """(read, payload) of the reads whose payload is about mid_len nt (the rest is junk)."""
    return [(loc, mid) for loc in located
            if abs(len(mid := _cut(loc, mid_len)) - mid_len) <= MAX_LEN_DEVIATION]


def primer_mode(fitting: list[tuple[_Located, str]]) -> tuple[bool, bool]:
    """(primed, both_ways) of a set of `fitting_reads`: whether most carry primer evidence
    (then primerless reads are foreign), and else whether primerless reads come in both
    orientations (then each is clustered both ways)."""
    primed = sum(loc.evidence > 0 for loc, _ in fitting) >= PRIMED_MAJORITY * len(fitting)
    both_ways = not primed and _mixed_orientation([m for loc, m in fitting if not loc.evidence])
    return primed, both_ways


def fitting_payloads(fitting: list[tuple[_Located, str]], primed: bool, both_ways: bool
                     ) -> list[tuple[str, ...]]:
    """The payloads of `fitting_reads` under a `primer_mode` (see `cut_payloads`)."""
    payloads: list[tuple[str, ...]] = []
    for loc, mid in fitting:
        if loc.evidence:
            payloads.append((mid,))
        elif not primed:
            payloads.append((mid, reverse_complement(mid)) if both_ways else (mid,))
    return payloads


def locate(read: str, prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> _Located:
    """The read in the orientation with more primer evidence (forward on a tie), located."""
    forward = _locate_one(read, prefix, suffix)
    if forward.framed:
        return forward
    reverse = _locate_one(reverse_complement(read), prefix, suffix)
    return reverse if reverse.evidence > forward.evidence else forward


def _locate_one(seq: str, prefix: str, suffix: str) -> _Located:
    head = find_head(seq, prefix)
    start = head[0] if head else 0
    tail = find_tail(seq[start:], suffix)
    evidence = sum(2 if whole else 1 for _, whole in filter(None, (head, tail)))
    return _Located(seq, head[0] if head else None, start + tail[0] if tail else None, evidence,
                    bool(head and tail and head[1] and tail[1]))


def payload_length(located: list[_Located]) -> int:
    """The payload length: most common among reads with both primers whole, if there are
    enough; else the most common payload length of at least MIN_PAYLOAD nt (short junk reads
    cannot outvote the strands)."""
    framed = [loc.tail - loc.head for loc in located if loc.framed]
    if len(framed) >= MIN_FRAMED:
        return Counter(framed).most_common(1)[0][0]
    sizes = [len(_cut(loc, None)) for loc in located]
    sizes = [n for n in sizes if n >= MIN_PAYLOAD]
    if not sizes:
        raise HelixError(f"no read is long enough to hold a strand (all under {MIN_PAYLOAD} nt "
                         "between the primers)")
    counts = np.bincount(sizes)
    smooth = np.convolve(counts, np.ones(5, dtype=np.int64), mode="same")  # +-2 nt of indels
    peak = int(smooth.argmax())
    lo = max(peak - 2, 0)
    return lo + int(counts[lo:peak + 3].argmax())


def _cut(loc: _Located, mid_len: int | None) -> str:
    """The payload of a located read; one primer found: at most mid_len beyond it."""
    seq, head, tail = loc.seq, loc.head, loc.tail
    if head is not None and tail is not None:
        return seq[head:tail]
    if head is not None:
        long = mid_len is not None and len(seq) - head > mid_len + LENGTH_TOLERANCE
        return seq[head:head + mid_len] if long else seq[head:]
    if tail is not None:
        long = mid_len is not None and tail > mid_len + LENGTH_TOLERANCE
        return seq[tail - mid_len:tail] if long else seq[:tail]
    return seq


def _mixed_orientation(reads: list[str], k: int = 16, skip: int = 4) -> bool:
    """Whether primerless reads come in both orientations (else they are taken as given).

    Reads of one strand in one orientation share their first k-mer; a reverse-complemented
    read shares it once turned back. Few such matches against many forward ones: one way.
    """
    starts = Counter(r[skip:skip + k] for r in reads if len(r) >= skip + k)
    same = sum(n for n in starts.values() if n > 1)
    turned = sum(starts.get(reverse_complement(r)[skip:skip + k], 0) for r in reads
                 if len(r) >= skip + k)
    return turned > 0.2 * max(same, 1)
