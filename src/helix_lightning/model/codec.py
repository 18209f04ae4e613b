"""HelixCodec: frames <-> entropy-coded tokens <-> a versioned container <-> DNA strands.

Two faces (STYLE.md): `forward(x)` is the training face (reconstruction through FSQ's
straight-through rounding, no coder); `compress`/`decompress` are the coding face.

Coding path (DESIGN.md "Data flow")
    uint8 frames (T, H, W, 3) -> tokenizer.encode (pads H, W up to multiples of f)
    -> latent (T, k, h, w) -> Kronecker mixer (pads to whole blocks: (hp, wp))
    -> FSQ digits (T, k, hp, wp) -> token ids (T, hp, wp)
    -> masked token model, stage by stage, frame t conditioned on frame t-1's *decoded*
       tokens (stored ones exactly, dropped ones as the model predicts them)
    -> range coder (constriction): one stream per group of frames (default: the whole clip,
       so the coder's flush overhead is paid once).
`decompress` runs the same model on the same integer tables, fills dropped tokens, and decodes
digits -> latent -> mixer.inverse (crop to (h, w)) -> tokenizer.decode (crop to (H, W)).

Container (`to_bytes`/`from_bytes`): a fixed big-endian header (magic, version, model hash,
geometry, FSQ digits/levels, stages, drop, group, coder name, precision) then the streams, each
prefixed with its byte length. `decode_bytes` refuses a container written by another model.

DNA coders (`encode_video`/`decode_video`)
- "fsm" (default): the container bytes go through `dna.archive.encode_archive`: FSM
  constrained coding, index, check bits, RaptorQ outer code; 0 violations by construction.
- "direct": the reference arm. The container header (as base-4 digits, 4 per byte, most
  significant first) followed by the stored tokens' quaternary digits, written as bases
  (digit d -> "ACGT"[d]), no entropy coding, no FSM. Digit order: frame, FSQ channel, then
  the stored (non-dropped) positions row-major, i.e. `digits[:, :, stored_mask]` in C order,
  so spatially neighbouring digits of one channel are neighbouring bases. The stream is cut
  into DIRECT_BODY-nt bodies (the last padded with ACGT...), each prefixed by a
  DIRECT_INDEX-nt base-4 index and wrapped in the default primers. Violations are counted
  with `check_strands` and reported, never hidden.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..dna.archive import decode_archive, encode_archive, find_header
from ..dna.constraints import BASES, check_strands, get_constraints
from ..dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from ..errors import HelixError
from ..metrics import direct_violations
from .masked import fill_dropped, integer_frequencies, stage_masks, stage_probabilities

MAGIC = b"HXVC"
VERSION = 1
PRECISION = 16  # range-coder table precision (bits)
CODERS = ("fsm", "direct")
DIRECT_BODY = 160  # digits (nt) per direct strand body
DIRECT_INDEX = 12  # base-4 index digits per direct strand (4**12 strands)
ENCODE_CHUNK = 16  # frames per batch through the tokenizer
# magic, version, model hash, T, H, W, h, w, hp, wp, channels, levels, stages, drop, group,
# coder, precision, number of streams
_HEADER = struct.Struct(">4sB8sIHHHHHHBBBdIBBI")
_LEN = struct.Struct(">I")


class CodedShape(NamedTuple):
    """Everything besides the streams that decoding needs (unpacks like a tuple)."""

    frames: int
    height: int
    width: int
    h: int  # token grid of the tokenizer (ceil(H/f), ceil(W/f))
    w: int
    hp: int  # padded grid the mixer writes (whole blocks): the tokens actually coded
    wp: int
    stages: int
    drop: float
    group: int  # frames per entropy-coded stream


def _tensor_bytes(t: Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


class HelixCodec(nn.Module):
    """Tokenizer + Kronecker mixer + FSQ + masked token model, with both faces of a codec."""

    def __init__(self, tokenizer: nn.Module, mixer: nn.Module, fsq: nn.Module,
                 token_model: nn.Module, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.tokenizer, self.mixer, self.fsq, self.token_model = tokenizer, mixer, fsq, token_model
        self.config = dict(config or {})
        if fsq.levels != 4:
            raise HelixError(f"DNA coding needs FSQ levels of 4 (one base per digit), "
                             f"got {fsq.levels}")
        if fsq.channels != tokenizer.channels_latent:
            raise HelixError(f"FSQ has {fsq.channels} channels, the tokenizer's latent has "
                             f"{tokenizer.channels_latent}")
        if token_model.codebook_size != fsq.codebook_size:
            raise HelixError(f"token model codebook {token_model.codebook_size} != FSQ codebook "
                             f"{fsq.codebook_size}")

    # ------------------------------------------------------------------ identity
    def model_hash(self) -> str:
        """16 hex digits: blake2b of the state_dict (names sorted, dtype, shape, raw bytes)."""
        h = hashlib.blake2b(digest_size=8)
        state = self.state_dict()
        for name in sorted(state):
            t = state[name]
            h.update(name.encode())
            h.update(str(t.dtype).encode())
            h.update(repr(tuple(t.shape)).encode())
            h.update(_tensor_bytes(t))
        return h.hexdigest()

    # ------------------------------------------------------------------ training face
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Frames (B, 3, H, W) in [0, 1] -> {"x_hat", "z_q", "digits"} (straight-through FSQ)."""
        size = tuple(x.shape[-2:])
        lat = self.tokenizer.encode(x)
        z_q, digits = self.fsq(self.mixer(lat))
        z = self.mixer.inverse(z_q, size=tuple(lat.shape[-2:]))
        return {"x_hat": self.tokenizer.decode(z, size), "z_q": z_q, "digits": digits}

    # ------------------------------------------------------------------ pieces
    def _defaults(self, stages: int | None, drop: float | None) -> tuple[int, float]:
        return (int(stages if stages is not None else self.config.get("stages", 4)),
                float(drop if drop is not None else self.config.get("drop", 0.0)))

    @torch.no_grad()
    def tokenize(self, frames: np.ndarray | Tensor) -> tuple[Tensor, tuple[int, int]]:
        """uint8 frames (T, H, W, 3) -> (token ids (T, hp, wp) int64, latent grid (h, w))."""
        x = torch.as_tensor(np.asarray(frames))
        if x.dim() != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise HelixError(f"expected uint8 frames (T, H, W, 3), got {x.dtype} "
                             f"{tuple(x.shape)}")
        dev = next(self.tokenizer.parameters()).device
        ids, grid = [], None
        for i in range(0, x.shape[0], ENCODE_CHUNK):
            chunk = x[i:i + ENCODE_CHUNK].permute(0, 3, 1, 2).float().div(255.0).to(dev)
            lat = self.tokenizer.encode(chunk)
            grid = tuple(lat.shape[-2:])
            _, digits = self.fsq(self.mixer(lat))
            ids.append(self.fsq.indices(digits).cpu())
        return torch.cat(ids), grid

    @torch.no_grad()
    def reconstruct(self, digits: Tensor, grid: tuple[int, int],
                    size: tuple[int, int]) -> np.ndarray:
        """Digits (T, k, hp, wp) -> uint8 frames (T, H, W, 3): the model's forward pass."""
        dev = next(self.tokenizer.parameters()).device
        out = []
        for i in range(0, digits.shape[0], ENCODE_CHUNK):
            z = self.fsq.digits_to_latent(digits[i:i + ENCODE_CHUNK].to(dev))
            x = self.tokenizer.decode(self.mixer.inverse(z, size=tuple(grid)), tuple(size))
            out.append((x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu())
        return torch.cat(out).numpy()

    def _tables(self, tok: Tensor, prev: Tensor | None, masks: list[Tensor],
                s: int) -> tuple[np.ndarray, np.ndarray]:
        probs = stage_probabilities(self.token_model, tok, prev, masks, s)
        freq = integer_frequencies(probs, PRECISION).reshape(-1, probs.shape[-1])
        return freq, freq.astype(np.float64) / float(1 << PRECISION)

    # ------------------------------------------------------------------ coding face
    def compress(self, frames: np.ndarray | Tensor, stages: int | None = None,
                 drop: float | None = None, group: int | None = None) -> dict[str, Any]:
        """uint8 frames (T, H, W, 3) -> {"strings", "shape", "estimated_bits", "actual_bits",
        "tokens" (T, hp, wp) decoded ids, "digits" (T, k, hp, wp) their digits,
        "stored_mask" (hp, wp) bool: positions coded (the rest are dropped and predicted)}."""
        import constriction

        stages, drop = self._defaults(stages, drop)
        arr = np.asarray(frames)
        ids, (h, w) = self.tokenize(arr)
        t_count, hp, wp = ids.shape
        group = t_count if group is None else int(group)
        if group < 1:
            raise HelixError(f"group must be >= 1 frames, got {group}")
        masks = stage_masks(hp, wp, stages, drop)
        coded = [(masks[s] & ~masks[-1]).flatten() for s in range(stages)]
        cat = constriction.stream.model.Categorical(perfect=False)
        strings: list[bytes] = []
        decoded: list[Tensor] = []
        est = 0.0
        prev: Tensor | None = None
        for g0 in range(0, t_count, group):
            enc = constriction.stream.queue.RangeEncoder()
            for t in range(g0, min(t_count, g0 + group)):
                tok = ids[t]
                for s in range(stages):
                    if not bool(coded[s].any()):
                        continue
                    freq, table = self._tables(tok, prev, masks, s)
                    sym = tok.flatten()[coded[s]].numpy().astype(np.int32)
                    est -= float(np.log2(freq[np.arange(len(sym)), sym] / (1 << PRECISION)).sum())
                    enc.encode(sym, cat, table)
                full = fill_dropped(self.token_model, tok, prev, masks)
                decoded.append(full)
                prev = full
            strings.append(enc.get_compressed().astype("<u4").tobytes())
        tokens = torch.stack(decoded)
        shape = CodedShape(t_count, arr.shape[1], arr.shape[2], h, w, hp, wp, stages, drop, group)
        return {
            "strings": strings,
            "shape": shape,
            "estimated_bits": est,
            "actual_bits": 8 * sum(len(s) for s in strings),
            "tokens": tokens,
            "digits": self.fsq.digits_from_indices(tokens),
            "stored_mask": ~masks[-1],
        }

    def decompress_tokens(self, strings: Sequence[bytes], shape: CodedShape) -> Tensor:
        """Streams -> token ids (T, hp, wp): stored ones exact, dropped ones predicted."""
        import constriction

        shape = CodedShape(*shape)
        masks = stage_masks(shape.hp, shape.wp, shape.stages, shape.drop)
        coded = [masks[s] & ~masks[-1] for s in range(shape.stages)]
        cat = constriction.stream.model.Categorical(perfect=False)
        n_groups = math.ceil(shape.frames / shape.group)
        if len(strings) != n_groups:
            raise HelixError(f"expected {n_groups} coded streams for {shape.frames} frames in "
                             f"groups of {shape.group}, got {len(strings)}")
        out: list[Tensor] = []
        prev: Tensor | None = None
        for g, raw in enumerate(strings):
            if len(raw) % 4:
                raise HelixError(f"coded stream {g} is {len(raw)} bytes, not whole 32-bit words")
            dec = constriction.stream.queue.RangeDecoder(
                np.frombuffer(raw, dtype="<u4").astype(np.uint32))
            for _ in range(g * shape.group, min(shape.frames, (g + 1) * shape.group)):
                tok = torch.zeros(shape.hp, shape.wp, dtype=torch.long)
                for s in range(shape.stages):
                    if not bool(coded[s].any()):
                        continue
                    _, table = self._tables(tok, prev, masks, s)
                    sym = dec.decode(cat, table)
                    tok[coded[s]] = torch.from_numpy(np.asarray(sym, dtype=np.int64))
                tok = fill_dropped(self.token_model, tok, prev, masks)
                out.append(tok)
                prev = tok
        return torch.stack(out)

    def decompress(self, strings: Sequence[bytes], shape: CodedShape) -> np.ndarray:
        """Streams + shape -> uint8 frames (T, H, W, 3)."""
        shape = CodedShape(*shape)
        digits = self.fsq.digits_from_indices(self.decompress_tokens(strings, shape))
        return self.reconstruct(digits, (shape.h, shape.w), (shape.height, shape.width))

    # ------------------------------------------------------------------ container
    def _header(self, shape: CodedShape, coder: str, n_strings: int) -> bytes:
        if coder not in CODERS:
            raise HelixError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")
        s = CodedShape(*shape)
        try:
            return _HEADER.pack(MAGIC, VERSION, bytes.fromhex(self.model_hash()), s.frames,
                                s.height, s.width, s.h, s.w, s.hp, s.wp, self.fsq.channels,
                                self.fsq.levels, s.stages, s.drop, s.group,
                                CODERS.index(coder), PRECISION, n_strings)
        except struct.error as e:
            raise HelixError(f"clip geometry does not fit the container header: {e}") from None

    def to_bytes(self, compressed: dict[str, Any], coder: str = "fsm") -> bytes:
        """Container: header + each stream prefixed by its length (u32, big-endian)."""
        strings = compressed["strings"]
        body = b"".join(_LEN.pack(len(s)) + bytes(s) for s in strings)
        return self._header(compressed["shape"], coder, len(strings)) + body

    @staticmethod
    def from_bytes(data: bytes) -> tuple[list[bytes], CodedShape, dict[str, Any]]:
        """Container -> (strings, shape, meta); meta has version, model_hash, coder, channels,
        levels, precision and header_size. Checks magic, version and lengths, not the model."""
        data = bytes(data)
        if len(data) < _HEADER.size or data[:4] != MAGIC:
            raise HelixError("not a HELIX video container (bad magic or truncated header)")
        f = _HEADER.unpack(data[:_HEADER.size])
        if f[1] != VERSION:
            raise HelixError(f"video container version {f[1]} is not supported "
                             f"(this build reads version {VERSION})")
        if f[15] >= len(CODERS):
            raise HelixError(f"unknown coder id {f[15]} in the container header")
        shape = CodedShape(f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[12], f[13], f[14])
        meta = {"version": f[1], "model_hash": f[2].hex(), "channels": f[10], "levels": f[11],
                "coder": CODERS[f[15]], "precision": f[16], "header_size": _HEADER.size}
        strings, pos = [], _HEADER.size
        for i in range(f[17]):
            if pos + _LEN.size > len(data):
                raise HelixError(f"video container truncated in stream {i}")
            (n,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if pos + n > len(data):
                raise HelixError(f"video container truncated in stream {i}")
            strings.append(data[pos:pos + n])
            pos += n
        meta["trailing_bytes"] = len(data) - pos
        return strings, shape, meta

    def check_meta(self, meta: dict[str, Any]) -> None:
        """Refuse a container written by another model or with another geometry."""
        mine = self.model_hash()
        if meta["model_hash"] != mine:
            raise HelixError(f"archive was written by model {meta['model_hash']}, "
                             f"this checkpoint is {mine}")
        if (meta["channels"], meta["levels"]) != (self.fsq.channels, self.fsq.levels):
            raise HelixError("archive's FSQ geometry does not match this checkpoint")
        if meta["precision"] != PRECISION:
            raise HelixError(f"archive coded with table precision {meta['precision']}, "
                             f"this build uses {PRECISION}")

    def decode_bytes(self, data: bytes) -> np.ndarray:
        """Container bytes (range-coded) -> uint8 frames; refuses a mismatched model."""
        strings, shape, meta = self.from_bytes(data)
        self.check_meta(meta)
        return self.decompress(strings, shape)

    # ------------------------------------------------------------------ DNA
    def encode_video(self, frames: np.ndarray | Tensor, constraints: str = "standard",
                     coder: str = "fsm", stages: int | None = None, drop: float | None = None,
                     redundancy: float | None = None, group: int | None = None
                     ) -> tuple[list[str], dict[str, Any]]:
        """uint8 frames (T, H, W, 3) -> (strands, stats). See the module docstring."""
        if coder not in CODERS:
            raise HelixError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")
        cs = get_constraints(constraints)
        comp = self.compress(frames, stages=stages, drop=drop, group=group)
        shape = comp["shape"]
        stored = stored_digits(comp)
        stats: dict[str, Any] = {
            "coder": coder, "constraints": cs.name, "model_hash": self.model_hash(),
            "frames": shape.frames, "height": shape.height, "width": shape.width,
            "stages": shape.stages, "drop": shape.drop,
            "tokens_stored": int(comp["stored_mask"].sum()) * shape.frames,
            "estimated_bits": comp["estimated_bits"], "actual_bits": comp["actual_bits"],
            "direct_violations": direct_violations(stored, cs, DIRECT_BODY),
        }
        if coder == "fsm":
            data = self.to_bytes(comp, "fsm")
            arch = encode_archive(data, cs, redundancy=redundancy)
            strands = arch.strands
            source_bits = 8 * len(data)
            nt, nt_primers = arch.stats["nt"], arch.stats["nt_with_primers"]
            stats.update(container_bytes=len(data), coding_density=arch.stats["coding_density"],
                         redundancy=arch.stats["redundancy"], archive=arch.stats)
        else:
            header = self._header(shape, "direct", 0)
            strands = direct_strands(np.concatenate([_bytes_to_digits(header), stored.reshape(-1)]))
            source_bits = 2 * stored.size
            nt_primers = sum(len(s) for s in strands)
            nt = nt_primers - len(strands) * (len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX))
            stats.update(container_bytes=len(header) + math.ceil(stored.size / 4),
                         coding_density=2.0, redundancy=0.0)
        px = shape.frames * shape.height * shape.width
        stats.update(
            strands=len(strands), nt=nt, nt_with_primers=nt_primers,
            nt_per_px=nt / px, nt_per_px_with_primers=nt_primers / px,
            bits_per_px=source_bits / px, payload_bits_per_px=comp["actual_bits"] / px,
            source_bits=source_bits, net_density=source_bits / nt if nt else 0.0,
            net_density_with_primers=source_bits / nt_primers if nt_primers else 0.0,
            violations=check_strands(strands, cs).total,
        )
        return strands, stats

    def decode_video(self, strands: Sequence[str], constraints: str | None = None,
                     coder: str = "auto", support: Sequence[int] | None = None,
                     variants: Sequence[int] | None = None) -> np.ndarray:
        """Strands (either coder; "auto" tries fsm, then direct) -> uint8 frames (T, H, W, 3)."""
        strands = list(strands)
        if coder not in ("auto", *CODERS):
            raise HelixError(f"unknown coder {coder!r} (known: auto, {', '.join(CODERS)})")
        if coder == "auto":
            try:
                find_header(strands, constraints)
                coder = "fsm"
            except HelixError:
                coder = "direct"
        if coder == "fsm":
            data, _ = decode_archive(strands, support, variants=variants, constraints=constraints)
            return self.decode_bytes(data)
        digits = read_direct_strands(strands)
        n_head = 4 * _HEADER.size
        if digits.size < n_head:
            raise HelixError("direct strands too short to hold a container header")
        _, shape, meta = self.from_bytes(_digits_to_bytes(digits[:n_head]))
        if meta["coder"] != "direct":
            raise HelixError(f"container says coder {meta['coder']!r}, strands are direct")
        self.check_meta(meta)
        masks = stage_masks(shape.hp, shape.wp, shape.stages, shape.drop)
        stored_mask = ~masks[-1]
        k = self.fsq.channels
        n = shape.frames * k * int(stored_mask.sum())
        body = digits[n_head:n_head + n]
        if body.size < n:
            raise HelixError(f"direct strands hold {body.size} token digits, {n} needed")
        full = torch.zeros(shape.frames, k, shape.hp, shape.wp, dtype=torch.long)
        full[:, :, stored_mask] = torch.from_numpy(body.astype(np.int64)).view(shape.frames, k, -1)
        ids = self.fsq.indices(full)
        prev = None
        for t in range(shape.frames):
            ids[t] = fill_dropped(self.token_model, ids[t], prev, masks)
            prev = ids[t]
        digits_full = self.fsq.digits_from_indices(ids)
        return self.reconstruct(digits_full, (shape.h, shape.w), (shape.height, shape.width))


# ---------------------------------------------------------------------- direct mapping

def stored_digits(compressed: dict[str, Any]) -> np.ndarray:
    """The stored tokens' digits in direct-mapping order: (T, k, n_stored) uint8, C order."""
    d = compressed["digits"][:, :, compressed["stored_mask"]]
    return d.numpy().astype(np.uint8)


def _bytes_to_digits(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8)
    return np.stack([(b >> s) & 3 for s in (6, 4, 2, 0)], axis=1).reshape(-1)


def _digits_to_bytes(d: np.ndarray) -> bytes:
    d = np.asarray(d, dtype=np.uint8).reshape(-1, 4)
    return ((d[:, 0] << 6) | (d[:, 1] << 4) | (d[:, 2] << 2) | d[:, 3]).astype(np.uint8).tobytes()


def _to_bases(d: np.ndarray) -> str:
    return np.frombuffer(BASES.encode(), dtype=np.uint8)[d].tobytes().decode()


def direct_strands(digits: np.ndarray, body: int = DIRECT_BODY,
                   prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> list[str]:
    """Digits -> strands prefix | index (DIRECT_INDEX nt, base 4) | body | suffix.

    The last body is padded to full length with the cycle 0,1,2,3 (ACGT...)."""
    d = np.asarray(digits, dtype=np.uint8).reshape(-1)
    n = max(1, math.ceil(d.size / body))
    if n > 4**DIRECT_INDEX:
        raise HelixError(f"{n} direct strands exceed the {DIRECT_INDEX}-nt index")
    pad = n * body - d.size
    d = np.concatenate([d, (np.arange(pad) % 4).astype(np.uint8)]).reshape(n, body)
    idx = np.arange(n, dtype=np.int64)[:, None] >> (2 * np.arange(DIRECT_INDEX - 1, -1, -1))
    idx = (idx & 3).astype(np.uint8)
    return [prefix + _to_bases(np.concatenate([i, b])) + suffix for i, b in zip(idx, d)]


def read_direct_strands(strands: Sequence[str], prefix: str = DEFAULT_PREFIX,
                        suffix: str = DEFAULT_SUFFIX) -> np.ndarray:
    """Inverse of `direct_strands` (padding kept): strands in any order -> digits (uint8)."""
    lut = {b: i for i, b in enumerate(BASES)}
    bodies: dict[int, np.ndarray] = {}
    for s in strands:
        if not (s.startswith(prefix) and s.endswith(suffix)):
            continue
        mid = s[len(prefix):len(s) - len(suffix)]
        if len(mid) <= DIRECT_INDEX or any(c not in lut for c in mid):
            continue
        d = np.array([lut[c] for c in mid], dtype=np.uint8)
        i = int(sum(int(x) << (2 * (DIRECT_INDEX - 1 - j)) for j, x in enumerate(d[:DIRECT_INDEX])))
        bodies.setdefault(i, d[DIRECT_INDEX:])
    if not bodies:
        raise HelixError("no direct strands (primers + index) found")
    missing = [i for i in range(max(bodies) + 1) if i not in bodies]
    if missing:
        raise HelixError(f"direct strands missing: indices {missing[:5]} "
                         f"({len(missing)} lost; the direct coder has no outer code)")
    return np.concatenate([bodies[i] for i in range(len(bodies))])
