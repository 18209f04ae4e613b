#!/usr/bin/env python3
"""Reference decoder of HELIX DNA archives, written from docs/FORMAT.md alone.

It depends on the Python standard library, numpy and a RaptorQ (RFC 6330) implementation
(the `raptorq` package) and on nothing of the `helix_lightning` package. Each step cites the
section of docs/FORMAT.md it implements ("§3" = section 3). It reads a FASTA of clean strands
(as an encoder wrote them, in any order) and writes the stored file:

    python decode.py archive.fasta -o file.bin                   # set from names or §1 order
    python decode.py archive.fasta -o file.bin --constraints standard
    python decode.py archive.fasta -o file.bin --definition '{"max_run": 2, "motifs": ["GAATTC"]}'
    python decode.py pool.fasta -o file.bin --archive 1a2b3c4d   # one archive of a pool
    python decode.py pool.fasta -o file.bin --spec-out FORMAT.md # bootstrap strands (§11)

With bootstrap strands in the pool (§11) it needs no option at all: it reads the archive's
identifying sector first and decodes with what it says. `--cache DIR` keeps the weight tables
of §4 between runs (they take a minute for windowed sets); the key includes this file's hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import struct
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------ §1 bases and sets
BASES = "ACGT"                      # A=0, C=1, G=2, T=3
GC_OF = [0, 1, 1, 0]                # gc bit of each base
SUB_OF = [0, 0, 1, 1]               # sub bit: A=(0,0) T=(0,1) C=(1,0) G=(1,1)
CODE_OF = [[0, 3], [1, 2]]          # [gc][sub] -> base code

# code: (name, max_run, gc_window or None, gc_min, gc_max, motifs)  -- the §1 table
NAMED = {
    0: ("rl3", 3, None, 0.0, 1.0, ()),
    1: ("fountain", 3, None, 0.45, 0.55, ()),
    2: ("standard", 3, 20, 0.40, 0.60, ()),
    3: ("strict", 3, 20, 0.45, 0.55, ()),
    4: ("relaxed", 4, None, 0.40, 0.60, ()),
    5: ("rl2", 2, 20, 0.40, 0.60, ()),
}
DECODE_ORDER = ["strict", "rl2", "standard", "fountain", "rl3", "relaxed"]  # §1, tightest first
CUSTOM = 255
MAX_STATES = 1 << 23                # §3: the state limit


class FormatError(Exception):
    """The input is not a readable archive (a one-line message)."""


class CSet:
    """A constraint set (§1)."""

    def __init__(self, name, max_run, gc_window, gc_min, gc_max, motifs):
        self.name, self.max_run, self.gc_window = name, int(max_run), gc_window or None
        self.gc_min, self.gc_max, self.motifs = float(gc_min), float(gc_max), tuple(motifs)

    @property
    def has_gc(self):
        return self.gc_min > 0.0 or self.gc_max < 1.0

    def bounds(self, m):
        """§1: the G+C count range allowed in a stretch of m bases."""
        if not self.has_gc:
            return 0, m
        return math.ceil(self.gc_min * m - 1e-9), math.floor(self.gc_max * m + 1e-9)

    def fingerprint(self):
        """§1: BLAKE2b with a 4-byte digest over the canonical JSON (motifs as given)."""
        text = json.dumps({"gc_max": self.gc_max, "gc_min": self.gc_min,
                           "gc_window": self.gc_window, "max_run": self.max_run,
                           "motifs": list(self.motifs)}, sort_keys=True)
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")

    def valid(self, seq):
        """§1: whether a whole strand satisfies the set."""
        run = 1
        for a, b in zip(seq, seq[1:]):
            run = run + 1 if a == b else 1
            if run > self.max_run:
                return False
        gc = [1 if c in "CG" else 0 for c in seq]
        if self.has_gc:
            lo, hi = self.bounds(len(seq))
            if not lo <= sum(gc) <= hi:
                return False
            w = self.gc_window
            if w and len(seq) >= w:
                wlo, whi = self.bounds(w)
                s = sum(gc[:w])
                for i in range(len(seq) - w + 1):
                    if i:
                        s += gc[i + w - 1] - gc[i - 1]
                    if not wlo <= s <= whi:
                        return False
        return not any(m in seq for m in self.motifs)


def named(name_or_code):
    for code, row in NAMED.items():
        if name_or_code in (code, row[0]):
            return CSet(*row)
    raise FormatError(f"unknown constraint set {name_or_code!r}")


def code_of(cs):
    """The §1 code of a set exactly equal to a named one, else None (custom)."""
    for code, row in NAMED.items():
        if row[0] == cs.name and CSet(*row).fingerprint() == cs.fingerprint():
            return code
    return None


# ------------------------------------------------------------------ §3 constraint graph
class Graph:
    """Live states and next(s, x) of a set, with a G+C counter for whole-strand ranges."""

    def __init__(self, cs, strand_len, cached=None):
        self.cs = cs
        self.h = max(cs.max_run, max((len(m) - 1 for m in cs.motifs), default=0), 1)
        self.L = max(cs.gc_window - 1, self.h) if (cs.gc_window and cs.has_gc) else self.h
        self.counting = cs.has_gc and not cs.gc_window
        self.count_dim = strand_len + 1 if self.counting else 1
        if cached is not None:                        # (full_ids, next) kept by --cache
            self._number(*cached)
            return
        h, L = self.h, self.L
        total = (1 << (L + h)) * self.count_dim
        if total > MAX_STATES:
            raise FormatError(f"set needs {total} states (limit {MAX_STATES})")
        full = np.arange(total, dtype=np.int64)
        sub, gcb, count = full & ((1 << h) - 1), (full >> h) & ((1 << L) - 1), full >> (L + h)
        # base j steps back (j = 0: the latest), from its gc and sub bits
        lag = [np.where((gcb >> j) & 1, np.where((sub >> j) & 1, 2, 1),
                        np.where((sub >> j) & 1, 3, 0)) for j in range(h)]
        nxt = np.empty((total, 4), dtype=np.int64)
        for x in range(4):
            g, s = GC_OF[x], SUB_OF[x]
            bad = np.ones(total, dtype=bool)          # a run of max_run copies of x ends here
            for j in range(cs.max_run):
                bad &= lag[j] == x
            if cs.gc_window and cs.has_gc:
                wlo, whi = cs.bounds(cs.gc_window)
                ones = np.zeros(total, dtype=np.int64)
                for j in range(cs.gc_window - 1):
                    ones += (gcb >> j) & 1
                bad |= (ones + g < wlo) | (ones + g > whi)
            for m in cs.motifs:                       # motif m would end with x
                hit = np.full(total, BASES.index(m[-1]) == x)
                for j in range(1, len(m)):
                    hit &= lag[j - 1] == BASES.index(m[-1 - j])
                bad |= hit
            new_count = count + g if self.counting else count
            if self.counting:
                bad |= new_count > cs.bounds(strand_len)[1]
            succ = ((new_count << L) | (((gcb << 1) | g) & ((1 << L) - 1))) << h | (
                ((sub << 1) | s) & ((1 << h) - 1))
            nxt[:, x] = np.where(bad, -1, succ)
        live = np.ones(total, dtype=bool)
        for _ in range(L + h + 2):                    # §3: live states
            new = np.zeros(total, dtype=bool)
            t = nxt[live]
            new[t[t >= 0]] = True
            live = new
        full_ids = np.flatnonzero(live)                # numbered in increasing order
        number = np.full(total + 1, -1, dtype=np.int64)   # last slot: "forbidden"
        number[full_ids] = np.arange(len(full_ids))
        self._number(full_ids, number[nxt[full_ids]])

    def _number(self, full_ids, nxt):
        self.full_ids, self.next, self.n = full_ids, nxt, len(full_ids)
        self.cols = [np.ascontiguousarray(self.next[:, x]) for x in range(4)]

    def live_number(self, full):
        """The live number of a full state, -1 if it is not live."""
        i = int(np.searchsorted(self.full_ids, full))
        return i if i < self.n and self.full_ids[i] == full else -1

    def state_after(self, primer):
        """§3: the live state after a primer (its last L and h bases, its G+C count)."""
        codes = [BASES.index(c) for c in primer]
        if len(codes) < max(self.L, self.h):
            raise FormatError("primer shorter than the history the set needs")
        gcb = sub = 0
        for c in codes[-self.L:]:
            gcb = gcb << 1 | GC_OF[c]
        for c in codes[-self.h:]:
            sub = sub << 1 | SUB_OF[c]
        count = sum(GC_OF[c] for c in codes) if self.counting else 0
        if count >= self.count_dim:
            raise FormatError("primer has more G+C than the strand allows")
        s = self.live_number(((count << self.L) | gcb) << self.h | sub)
        if s < 0:
            raise FormatError("the primer ends in a state the set cannot continue")
        return s

    def terminal(self, suffix, strand_len):
        """§3: states from which the suffix primer follows (and, counting, the count fits)."""
        ok = np.ones(self.n + 1, dtype=bool)
        ok[-1] = False
        if self.counting:
            lo, hi = self.cs.bounds(strand_len)
            count = self.full_ids >> (self.L + self.h)
            ok[:-1] = (count >= lo) & (count <= hi)
        for c in reversed(suffix):
            ok[:-1] = ok[self.cols[BASES.index(c)]]
        return ok[:-1]

    def pull(self, v):
        """§4 step 1: w(s) = v(next(s,0)) + v(next(s,1)) + v(next(s,2)) + v(next(s,3))."""
        ext = np.concatenate([v, np.zeros(1, dtype=v.dtype)])
        w = ext[self.cols[0]]
        for x in (1, 2, 3):
            w = w + ext[self.cols[x]]
        return w


# ------------------------------------------------------------------ §4 weights
class Weights:
    """M(s, r) and E[r] for one strand layout (§4), and k (§5)."""

    def __init__(self, cs, prefix, suffix, strand_len, cache=None):
        self.n = strand_len - len(prefix) - len(suffix)
        if cs.gc_window and cs.has_gc and strand_len % cs.gc_window:
            raise FormatError("strand length is not a multiple of the G+C window")
        key = hashlib.sha256(json.dumps([_SELF_HASH,
                                         cs.max_run, cs.gc_window, cs.gc_min, cs.gc_max,
                                         list(cs.motifs), prefix, suffix, strand_len]
                                        ).encode()).hexdigest()[:20]
        path = Path(cache) / f"ref-weights-{key}.npz" if cache else None
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as d:
                self.g = Graph(cs, strand_len, (d["full_ids"], d["next"]))
                self.tables, self.E = list(d["tables"]), d["E"].tolist()
                self.r0, self.V = int(d["r0"]), d["V"]
                self.K = [int(x) for x in d["K"].tolist()]
        else:
            self.g = Graph(cs, strand_len)
            self._build(self.g.terminal(suffix, strand_len))
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{id(self)}.npz")
                np.savez(tmp, tables=np.array(self.tables), E=np.array(self.E), r0=self.r0,
                         V=self.V, K=np.array(self.K, dtype=np.uint64),
                         full_ids=self.g.full_ids, next=self.g.next)
                tmp.replace(path)
        self.s0 = self.g.state_after(prefix)
        m0 = int(self.M(np.array([self.s0]), self.n)[0])
        if m0 == 0:
            raise FormatError("no valid strand fits between these primers")
        self.k = self.E[self.n] + m0.bit_length() - 1      # §5

    def _build(self, terminal):
        g, n = self.g, self.n
        # terminal tables (§4): exact below 64,000,000 states x positions or with a counter
        exact = g.n * (n + 1) <= 64_000_000 or g.counting
        limit = n if exact else min(n, 64)
        prev = np.concatenate([terminal.astype(np.uint64), np.zeros(1, np.uint64)])
        self.tables, self.E = [terminal.astype(np.uint32)], [0]
        for r in range(1, limit + 1):
            S = prev[g.cols[0]] + prev[g.cols[1]] + prev[g.cols[2]] + prev[g.cols[3]]
            d = max(0, int(S.max()).bit_length() - 32)
            S >>= np.uint64(d)
            self.tables.append(S.astype(np.uint32))
            self.E.append(self.E[-1] + d)
            prev = np.concatenate([S, np.zeros(1, np.uint64)])
            if not exact and r >= 24 and r % 8 == 0 and (
                    np.count_nonzero(self.tables[-1] == 0) < 0.01 * g.n):
                break
        self.r0 = len(self.tables) - 1
        self.V, self.K = np.zeros(0, np.uint32), []
        if self.r0 < n:
            self._stationary(prev)

    def _stationary(self, last):
        """§4, stationary weights: steps 1 to 6."""
        g = self.g
        C = last[g.cols[0]] + last[g.cols[1]] + last[g.cols[2]] + last[g.cols[3]]  # uint64
        v = np.ones(g.n)                                       # step 1: eigenvector
        for _ in range(200):
            w = g.pull(v)
            if w.max() == 0:
                v = w
                break
            v = w / w.max()
        alive = v > 0                                          # step 2: restriction
        Cf = C.astype(np.float64)
        for _ in range(3):
            ratio = np.zeros_like(v)
            ratio[alive] = Cf[alive] / v[alive]
            alive &= ratio >= 0.25 * float(np.median(ratio[alive]))
            v[~alive] = 0.0
            for _ in range(100):
                w = g.pull(v)
                w[~alive] = 0.0
                v = w / w.max()
            alive &= v > 0
        V = np.floor(v * float(2**32 - 1)).astype(np.uint64)  # step 3: integer vector
        V[C == 0] = 0
        for _ in range(256):
            SV = g.pull(V)
            pos = V > 0
            ratio = (SV[pos].astype(np.float64) - 16) / V[pos].astype(np.float64)
            target = float(np.median(ratio)) * (1 - 0.001)
            drop = np.zeros_like(pos)
            drop[pos] = ratio < target
            if not drop.any():
                break
            V[drop] = 0
        pos = V > 0                                            # step 4: growth
        G = int((((SV[pos] - np.uint64(16)) << np.uint64(28)) // V[pos]).min())
        Vp, Cp = V[pos], C[pos]
        for d in range(40):                                    # step 5: junction
            Q = Cp >> np.uint64(d)
            K = int(np.floor((Q.astype(np.float64) / Vp.astype(np.float64)).min() * 2.0**32))
            if K >= 1 << 32:
                continue
            while K > 0 and np.any(((Vp * np.uint64(K)) >> np.uint64(32)) > Q):
                K -= 1
            if K >= 1 << 30:
                break
        else:
            raise FormatError("stationary and terminal weights cannot be joined")
        self.V = V.astype(np.uint32)
        self.K = [0] * (self.r0 + 1) + [K]
        self.E.append(self.E[-1] + d)
        for _ in range(self.r0 + 2, self.n + 1):               # step 6: later positions
            p = (self.K[-1] * G) >> 28
            t = p.bit_length() - 32
            if t < 0:
                raise FormatError("growth too small: t < 0 in §4 step 6")
            self.K.append(p >> t)
            self.E.append(self.E[-1] + t)

    def M(self, states, r):
        """M(s, r) as uint64 (0 for -1 = forbidden)."""
        ok = states >= 0
        s = np.where(ok, states, 0)
        if r <= self.r0:
            w = self.tables[r][s].astype(np.uint64)
        else:
            w = (self.V[s].astype(np.uint64) * np.uint64(self.K[r])) >> np.uint64(32)
        return np.where(ok, w, np.uint64(0))


_SELF_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


# ------------------------------------------------------------------ §5 decoding strands
def decode_strands(wt, middles):
    """§5: coded middles (N strings of n bases) -> (N, k) bits and a validity mask."""
    N, n = len(middles), wt.n
    codes = np.array([[BASES.index(c) for c in m] for m in middles], dtype=np.int64)
    codes = codes.reshape(N, n)
    rows = np.arange(N)
    state = np.full(N, wt.s0, dtype=np.int64)
    ok = np.ones(N, dtype=bool)
    offs = np.zeros((n, N), dtype=np.uint64)
    parent = np.zeros((n, N), dtype=np.uint64)
    for step in range(n):                     # forwards: offsets o_r and M(s_r, r)
        r = n - step
        parent[step] = wt.M(state, r)
        cand = wt.g.next[np.maximum(state, 0)]
        w = np.stack([wt.M(cand[:, x], r - 1) for x in range(4)], axis=1)
        x = codes[:, step]
        offs[step] = np.cumsum(w, axis=1)[rows, x] - w[rows, x]
        nxt = cand[rows, x]
        ok &= (state >= 0) & (nxt >= 0) & (w[rows, x] > 0)
        state = np.where(ok, nxt, -1)
    bits = np.zeros((N, wt.k), dtype=np.uint8)
    H = np.zeros(N, dtype=np.uint64)
    pos = wt.k
    for step in range(n - 1, -1, -1):         # backwards, r = 1 .. n
        r = n - step
        H = H + offs[step]
        for _ in range(wt.E[r] - wt.E[r - 1]):
            pos -= 1
            bits[:, pos] = (H & np.uint64(1)).astype(np.uint8)
            H >>= np.uint64(1)
        ok &= H < parent[step]
    for j in range(pos - 1, -1, -1):          # the first k - E[n] bits
        bits[:, j] = (H & np.uint64(1)).astype(np.uint8)
        H >>= np.uint64(1)
    ok &= H == 0
    return bits, ok


def to_bytes(bits):
    return np.packbits(bits).tobytes()


def to_int(bits):
    return int("".join(map(str, bits.tolist())) or "0", 2)


# ------------------------------------------------------------------ §6 strand contents
def header_piece(bits, k):
    """§6: (archive ID or None, part, bytes) of a valid header strand, else None."""
    part = to_int(bits[:8]) >> 4
    check = to_bytes(bits[k - 32:])
    for keyed in (False, True):
        start = 8 + (32 if keyed else 0)
        c = (k - start - 32) // 8
        if c < 1 or bits[start + 8 * c:k - 32].any():
            continue
        key = to_bytes(bits[8:start])
        body = to_bytes(bits[start:start + 8 * c])
        domain = b"helix-header-v3" if keyed else b"helix-header-v1"
        if hashlib.blake2b(domain + key + bytes([part]) + body, digest_size=8).digest()[:4] == check:
            return (int.from_bytes(key, "big") if keyed else None), part, body
    return None


def data_fields(bits, k, index_bits, T, archive_id):
    """§6: (index, payload) of a data strand of this archive, or None if its check fails."""
    key = b"" if archive_id is None else archive_id.to_bytes(4, "big")
    domain = b"helix-data-v1" if archive_id is None else b"helix-data-v3"
    index = to_int(bits[:index_bits])
    white = to_bytes(bits[index_bits:index_bits + 8 * T])
    nchk = k - index_bits - 8 * T
    digest = hashlib.blake2b(domain + key + index.to_bytes(8, "big") + white, digest_size=8)
    if not np.array_equal(np.unpackbits(np.frombuffer(digest.digest(), np.uint8))[:nchk],
                          bits[k - nchk:]):
        return None
    stream = hashlib.shake_128(b"helix-whiten" + key + index.to_bytes(8, "big")).digest(T)
    return index, bytes(a ^ b for a, b in zip(white, stream))


# ------------------------------------------------------------------ §7 header
BASE = struct.Struct(">2sBBHBBHBBQIIII8s")
FIELDS = ("magic", "version", "code", "strand_len", "prefix_len", "suffix_len", "k",
          "index_bits", "T", "size", "segment_symbols", "repair_full", "repair_last",
          "fingerprint", "file_hash")


def header_length(raw):
    """§7: bytes the header starting with `raw` has (as far as `raw` tells)."""
    if len(raw) < 44:
        return 44
    if raw[:2] != b"HX" or raw[2] not in (1, 2, 3):
        raise FormatError(f"not a header of versions 1-3 (magic {raw[:2]!r}, version {raw[2]})")
    fixed = 44 + (4 if raw[2] == 3 else 0)
    if raw[2] == 1 or (raw[2] == 3 and raw[3] != CUSTOM):
        return fixed
    if len(raw) < fixed + 3:
        return fixed + 3
    return fixed + 3 + int.from_bytes(raw[fixed + 1:fixed + 3], "big")


def parse_header(raw):
    h = dict(zip(FIELDS, BASE.unpack_from(raw)))
    pos = 44
    h["archive_id"] = None
    if h["version"] == 3:
        h["archive_id"] = int.from_bytes(raw[44:48], "big")
        pos = 48
    h["definition"] = None
    if h["version"] == 2 or (h["version"] == 3 and h["code"] == CUSTOM):
        h["header_code"] = raw[pos]
        d = raw[pos + 3:]
        at = 1 + d[0]
        name = d[1:at].decode("utf-8")
        max_run, window, lo, hi = struct.unpack_from(">BHdd", d, at)
        at += 19
        motifs = []
        for _ in range(d[at]):
            size = d[at + 1]
            motifs.append(d[at + 2:at + 2 + size].decode("ascii"))
            at += 1 + size
        h["definition"] = CSet(name, max_run, window or None, lo, hi, motifs)
        if h["definition"].fingerprint() != h["fingerprint"]:
            raise FormatError("definition does not match the header's fingerprint")
    return h


# ------------------------------------------------------------------ §8 outer code
def segments(h):
    """§8: (chunk length incl. hash, source symbols K, repair symbols R) of each segment."""
    T, size = h["T"], h["size"]
    cap = h["segment_symbols"] * T - 8
    count = max(1, math.ceil(size / cap))
    per = math.ceil(size / count)
    out = []
    for s in range(count):
        length = min(size, (s + 1) * per) - min(size, s * per) + 8
        out.append((length, math.ceil(length / T),
                    h["repair_last"] if s == count - 1 else h["repair_full"]))
    return out


def raptorq_decode(symbols, length, T):
    """§8: one RaptorQ source block (Z = 1, N = 1) of `length` bytes from {ESI: symbol}."""
    import raptorq

    dec = raptorq.Decoder.with_defaults(length, T)
    for esi in sorted(symbols):
        out = dec.decode(bytes([0]) + esi.to_bytes(3, "big") + symbols[esi])
        if out is not None:
            return bytes(out[:length])
    raise FormatError("too few symbols to decode a segment")


# ------------------------------------------------------------------ §11 bootstrap strands
BOOT_PREFIX = "TGTGGTTCGTTCAGGACAAC"
BOOT_SUFFIX = "TGGAAGGTGTTCCATCACCA"
PAIR = {0: "CA", 1: "CT", 2: "GA", 3: "GT", 4: "AC", 5: "TC", 6: "AG", 7: "TG"}


def unpair(seq):
    """§11: bases, two at a time, to 3 bits each: (weak first?, G?, T?)."""
    bits = []
    for i in range(0, len(seq) - 1, 2):
        a, b = seq[i], seq[i + 1]
        weak_first = a in "AT"
        strong, weak = (b, a) if weak_first else (a, b)
        bits += [int(weak_first), int(strong == "G"), int(weak == "T")]
    return bits


def read_bootstrap(seqs):
    """§11: {archive ID: (sector fields, spec bytes)} from the bootstrap strands of a pool."""
    votes = {}
    for s in seqs:
        if s.startswith(BOOT_PREFIX) and s.endswith(BOOT_SUFFIX):
            mid = s[len(BOOT_PREFIX):len(s) - len(BOOT_SUFFIX)]
            bits = np.array(unpair(mid), dtype=np.uint8)
            raw = to_bytes(bits[:len(bits) // 8 * 8])
            votes.setdefault((raw[:4], raw[4:6]), Counter())[raw[6:]] += 1
    streams = {}
    for (aid, index), c in sorted(votes.items()):
        streams.setdefault(aid, {})[int.from_bytes(index, "big")] = c.most_common(1)[0][0]
    out = {}
    for aid, chunks in streams.items():
        stream = b"".join(chunks[i] for i in range(max(chunks) + 1) if i in chunks)
        text, _, rest = stream.partition(b"\n\n")
        fields = dict(line.split(": ", 1) for line in text.decode("ascii").splitlines()[1:])
        crc = fields.pop("crc32")
        body = text[:text.rindex(b"\ncrc32: ")] + b"\n"
        if f"{zlib.crc32(body):08x}" != crc:
            raise FormatError("bootstrap sector fails its CRC-32")
        spec = rest[:int(fields["spec-bytes"])]
        out[int.from_bytes(aid, "big")] = (fields, spec)
    return out


def sector_set(f):
    """§11: the archive's constraint set from its sector."""
    motifs = [m for m in f["motifs"].split(",") if m and m != "-"]
    cs = CSet(f["constraints"], int(f["max-run"]), int(f["gc-window"]) or None,
              float(f["gc-min"]), float(f["gc-max"]), motifs)
    if f"{cs.fingerprint():08x}" != f["fingerprint"]:
        raise FormatError("sector's constraint set does not match its fingerprint")
    return cs


# ------------------------------------------------------------------ decoding an archive
def read_fasta(path):
    names, seqs, cur = [], [], None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith(">"):
            names.append(line[1:].split()[0])
            seqs.append("")
        elif line:
            seqs[-1] += line.upper()
    return names, seqs


def find_header(strands, tries, prefix, suffix, want, cache):
    """§8a: the first set of `tries` under which a complete header decodes -> (set, header)."""
    for cs in tries:
        length = Counter(len(s) for s in strands).most_common(1)[0][0]
        rows = [s for s in strands if len(s) == length and cs.valid(s)
                and s.startswith(prefix) and s.endswith(suffix)]
        if len(rows) < 1:
            continue
        try:
            wt = Weights(cs, prefix, suffix, length, cache)
        except FormatError:
            continue
        bits, ok = decode_strands(wt, [s[len(prefix):length - len(suffix)] for s in rows])
        parts = {}
        for b, good in zip(bits, ok):
            piece = header_piece(b, wt.k) if good else None
            if piece is not None:
                parts.setdefault(piece[0], {}).setdefault(piece[1], piece[2])
        if not parts:
            continue
        if want is not None:
            ids = [want if want != "none" else None]
        elif len(parts) > 1:
            raise FormatError("several archives: " + ", ".join(
                "none" if a is None else f"{a:08x}" for a in parts) + " (use --archive)")
        else:
            ids = list(parts)
        if ids[0] not in parts:
            continue
        got = parts[ids[0]]
        raw, need = b"", 44
        while len(raw) < need:
            chunk = len(next(iter(got.values())))
            raw = b"".join(got[p] for p in range(math.ceil(need / chunk)))
            need = header_length(raw)
        return cs, parse_header(raw[:need]), length
    raise FormatError("no header found")


def decode(strands, hint=None, prefix=None, suffix=None, want=None, cache=None):
    """Bytes of the archive among `strands` (§2-§8); `hint` is a CSet or None."""
    prefix = prefix or "TAAGCCACGCTTGTGATGAC"          # §2 default primers
    suffix = suffix or "ATGCGACGTCGCATTGAGAT"
    tries = [hint] if hint is not None else []
    if hint is not None and code_of(hint) is None:     # §7: header sets that cover a custom set
        tries += [named(c) for c in sorted(NAMED) if covers(named(c), hint)
                  and named(c).fingerprint() != hint.fingerprint()]
    tries += [named(n) for n in DECODE_ORDER if hint is None or named(n).name != hint.name]
    header_cs, h, length = find_header(strands, tries, prefix, suffix, want, cache)
    if h["definition"] is not None:                    # §7: the archive's set
        cs = h["definition"]
    elif h["code"] == CUSTOM:                          # version 1 with a custom set
        cs = hint
    else:
        cs = named(h["code"])
    if cs is None or cs.fingerprint() != h["fingerprint"]:
        raise FormatError("archive was written with another constraint set")
    if h["strand_len"] != length:
        raise FormatError("header's strand length differs from the strands'")
    wt = Weights(cs, prefix, suffix, length, cache)
    rows = [s for s in strands if len(s) == length and s.startswith(prefix)
            and s.endswith(suffix)]
    bits, ok = decode_strands(wt, [s[len(prefix):length - len(suffix)] for s in rows])
    best = {}
    for b, good in zip(bits, ok):                      # §6: data strands of this archive
        got = data_fields(b, wt.k, h["index_bits"], h["T"], h["archive_id"]) if good else None
        if got is not None and got[0] not in best:
            best[got[0]] = got[1]
    out, base = b"", 0
    for length_s, K, R in segments(h):                 # §8
        syms = {i - base: best[i] for i in range(base, base + K + R) if i in best}
        seg = raptorq_decode(syms, length_s, h["T"])
        chunk, tag = seg[:-8], seg[-8:]
        if hashlib.blake2b(chunk, digest_size=8).digest() != tag:
            raise FormatError("segment hash mismatch")
        out += chunk
        base += K + R
    if hashlib.blake2b(out, digest_size=8).digest() != h["file_hash"]:
        raise FormatError("file hash mismatch")
    return out


def covers(s, c):
    """§1: every strand valid under s is valid under c."""
    if s.max_run > c.max_run or not all(any(m in o for m in s.motifs) for o in c.motifs):
        return False
    if not c.has_gc:
        return True
    if not s.has_gc or (c.gc_window is not None and s.gc_window != c.gc_window):
        return False
    return c.gc_min <= s.gc_min and s.gc_max <= c.gc_max


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fasta")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--constraints", help="a named set (§1)")
    ap.add_argument("--definition", help="a custom set as JSON: max_run, gc_window, gc_min, "
                    "gc_max, motifs")
    ap.add_argument("--archive", help="archive ID (8 hex digits, or none)")
    ap.add_argument("--spec-out", help="write the format spec carried by bootstrap strands")
    ap.add_argument("--cache", help="folder for weight tables between runs")
    a = ap.parse_args(argv)
    names, seqs = read_fasta(a.fasta)
    hint, prefix, suffix = None, None, None
    want = None if a.archive is None else (a.archive if a.archive == "none"
                                          else int(a.archive, 16))
    if a.constraints:
        hint = named(a.constraints)
    if a.definition:
        d = json.loads(a.definition)
        hint = CSet(d.get("name", "custom"), d.get("max_run", 3), d.get("gc_window"),
                    d.get("gc_min", 0.0), d.get("gc_max", 1.0), d.get("motifs", []))
    boot = read_bootstrap(seqs)
    if boot and hint is None:                          # §11: bootstrap from the sector
        aid = want if want is not None else (next(iter(boot)) if len(boot) == 1 else None)
        if aid in boot:
            fields, spec = boot[aid]
            hint, prefix, suffix = sector_set(fields), fields["prefix"], fields["suffix"]
            want = aid
            if a.spec_out:
                Path(a.spec_out).write_bytes(lzma.decompress(spec))
    if hint is None:                                   # §2: a record name is a hint
        parts = names[0].split(":") if names else []
        if len(parts) == 4 and parts[0] == "helix" and parts[2] in DECODE_ORDER:
            hint = named(parts[2])
    try:
        data = decode(seqs, hint, prefix, suffix, want, a.cache)
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(a.output).write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
