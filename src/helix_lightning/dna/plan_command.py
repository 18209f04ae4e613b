"""The command-line side of planning: `helix dna plan`, and the plan `helix dna encode` uses
when it is given a channel (`--channel` or any channel flag).

The channel flags (`cli_args.add_channel_args`) default to None, meaning "the profile's
value", so a flag given can be told from one left out, and `helix dna encode` without any of
them encodes exactly as it always has.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ..errors import HelixError
from .channel import ChannelParams
from .constraints import ConstraintSet
from .profiles import OVERRIDABLE, channel_params, describe_channel

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGT]?)B?\s*$")
_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def channel_given(args: argparse.Namespace) -> bool:
    """Whether any channel or plan flag was given."""
    return (getattr(args, "channel", None) is not None
            or getattr(args, "failure_target", None) is not None
            or any(getattr(args, k, None) is not None for k in OVERRIDABLE))


def channel_from_args(args: argparse.Namespace) -> tuple[str, ChannelParams]:
    """The channel's description and settings: --channel (default reference) with the flags
    given overriding its fields."""
    params = channel_params(args.channel, {k: getattr(args, k) for k in OVERRIDABLE},
                            seed=getattr(args, "seed", 1))
    return describe_channel(args.channel, params), params


def parse_size(text: str) -> int:
    """Bytes from `1000000`, `100k`, `1.5M`, `1GB` (decimal units); HelixError otherwise."""
    match = _SIZE.match(str(text))
    if not match:
        raise HelixError(f"plan: size {text!r} is not a number of bytes (e.g. 1000000, 100k, 1M)")
    size = float(match.group(1)) * _UNITS[match.group(2)]
    if size < 1 or size != int(size):
        raise HelixError(f"plan: size {text!r} must be a whole number of bytes >= 1")
    return int(size)


def make_plan(args: argparse.Namespace, size: int, cs: ConstraintSet | None):
    """The plan for these arguments (`plan.plan_archive`)."""
    from .plan import DEFAULT_ARCHIVE_TARGET, DEFAULT_PRICE_PER_NT, plan_archive

    name, params = channel_from_args(args)
    target = args.failure_target if args.failure_target is not None else DEFAULT_ARCHIVE_TARGET
    price = getattr(args, "price_per_nt", None)
    return plan_archive(size, params, cs if cs is not None else "standard", args.strand_length,
                        failure_target=target, channel=name,
                        price_per_nt=DEFAULT_PRICE_PER_NT if price is None else price)


def run_plan(args: argparse.Namespace, cs: ConstraintSet | None) -> int:
    """`helix dna plan`: print the plan (a table, or JSON)."""
    plan = make_plan(args, parse_size(args.size), cs)
    d = plan.to_dict()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print("\n".join(format_plan(d)))
    return 0


def format_plan(d: dict[str, Any]) -> list[str]:
    """The plan as the lines `helix dna plan` prints."""
    return [
        f"plan for {d['bytes']:,} bytes on {d['constraints']}, {d['strand_length']}-nt strands",
        f"channel         {d['channel']}",
        f"strand erasure  {d['strand_erasure']:.2%} predicted ({d['erasure_no_reads']:.2%} "
        f"without reads, {d['erasure_recovery']:.2%} lost in read recovery)",
        f"redundancy      {d['redundancy']:.4f} ({d['parity_strands']:,} parity for "
        f"{d['data_strands']:,} data strands in {d['segments']} segment(s); "
        f"{d['symbol_bytes']}-byte symbols, {d['index_bits']}-bit index)",
        f"strands         {d['strands']:,} ({d['header_strands']} header): {d['nt']:,} nt, "
        f"{d['nt_with_primers']:,} with primers",
        f"net density     {d['net_density']:.4f} bits/nt ({d['net_density_with_primers']:.4f} "
        "with primers)",
        f"cost            {d['cost_usd']:,.2f} USD at {d['price_per_nt']:g} USD/nt (primers "
        "included; the price is an assumption)",
        f"failure         {d['failure_probability']:.2e} per archive (target "
        f"{d['failure_target']:g})",
    ]


def encode_options(args: argparse.Namespace, size: int, cs: ConstraintSet | None
                   ) -> dict[str, Any]:
    """`encode_archive`'s options for `helix dna encode`: as given without a channel, else the
    plan's erasure rate and per-segment target (its line printed on stderr)."""
    from .archive import DEFAULT_ERASURE_RATE

    options = dict(redundancy=args.redundancy, strand_len=args.strand_length,
                   archive_id=args.archive_id,
                   erasure_rate=(DEFAULT_ERASURE_RATE if args.erasure_rate is None
                                 else args.erasure_rate))
    if not channel_given(args):
        return options
    if args.redundancy is not None or args.erasure_rate is not None:
        raise HelixError("a channel (--channel or a channel flag) plans the redundancy: leave "
                         "out --redundancy and --erasure-rate")
    plan_cs = cs
    if getattr(args, "vendor", None):
        from .vendor_coding import vendor_constraints
        from .vendors import get_vendor

        plan_cs = vendor_constraints(get_vendor(args.vendor), cs or "standard", args.strand_length)
    plan = make_plan(args, size, plan_cs)
    if not args.quiet:
        print(plan.summary_line(), file=sys.stderr)
    return {**options, "erasure_rate": plan.strand_erasure, "failure_target": plan.segment_target}
