"""Rate and density quantities, one definition each (docs/DESIGN.md, "Definitions").

Every module that reports nt/px, bits/px, coding density or net density (the archive, the
video pipeline, the CLI, the baselines, the sweeps, the benchmarks) computes it here, so the
words mean one thing everywhere. The `_with_primers` variants are the same functions given
the nt count with primers. `helix_lightning.metrics` re-exports these names.

A zero denominator raises `HelixError`, unless the caller passes `empty`: the value to report
for nothing written (the archive reports 0.0, the DNA bench NaN).
"""

from __future__ import annotations

from ..errors import HelixError

__all__ = ["bits_per_px", "coding_density", "net_density", "nt_per_px", "pixels"]

_RAISE = object()


def _ratio(name: str, numerator: float, denominator: float, empty: object) -> float:
    if denominator == 0 and empty is not _RAISE:
        return float(empty)  # type: ignore[arg-type]
    if not denominator > 0:
        raise HelixError(f"{name} must be > 0, got {denominator}")
    return float(numerator) / float(denominator)


def pixels(frames: int, height: int, width: int) -> int:
    """Pixels of a clip: frames x height x width (of the input video, whatever its coding
    size)."""
    return frames * height * width


def bits_per_px(bits: float, frames: int, h: int, w: int, *, empty: object = _RAISE) -> float:
    """Source bits (the container, for video) / (frames x height x width)."""
    return _ratio("frames*h*w", bits, pixels(frames, h, w), empty)


def nt_per_px(nt: float, frames: int, h: int, w: int, *, empty: object = _RAISE) -> float:
    """Nucleotides written / (frames x height x width): primers excluded, or included for
    `nt_per_px_with_primers` (pass that nt count)."""
    return _ratio("frames*h*w", nt, pixels(frames, h, w), empty)


def coding_density(bits_in_strand: float, nt_non_primer: float, *,
                   empty: object = _RAISE) -> float:
    """Bits one FSM pass writes into a strand (index, payload, check) / its non-primer nt."""
    return _ratio("nt_non_primer", bits_in_strand, nt_non_primer, empty)


def net_density(source_bits: float, nt: float, *, empty: object = _RAISE) -> float:
    """Source bits / all nt written (index, checks, header, outer code, padding in): primers
    excluded, or included for `net_density_with_primers` (pass that nt count)."""
    return _ratio("nt", source_bits, nt, empty)
