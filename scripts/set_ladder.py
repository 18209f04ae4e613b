"""Give a trained checkpoint the rate ladder (and inter settings) an experiment YAML states.

A nested model's ladder (scale, digits, stages per rate point) and its `model.inter` section
(gop, scene cut) are coding choices, not weights: they are tuned after training, by measuring
the trained model (docs/CODEC.md). This rewrites them in the checkpoint's stored config,
checks the new ladder (`rates.check_ladder`) and that the model hash, which covers the weights
only, is unchanged, and writes the file atomically.

    python scripts/set_ladder.py runs/cpu2_inter/cpu2_inter.ckpt experiments/cpu2_inter.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from helix_lightning.errors import HelixError
from helix_lightning.files import atomic_path
from helix_lightning.model.checkpoint import load_codec, resolve_checkpoint
from helix_lightning.model.config import load_config
from helix_lightning.model.rates import check_ladder


def set_ladder(checkpoint: str | Path, config: str | Path, out: str | Path | None = None
               ) -> dict:
    """Copy `config`'s model.ladder and model.inter into `checkpoint` (or `out`); returns
    {"hash", "ladder", "inter"}."""
    path = resolve_checkpoint(checkpoint)
    model_cfg = load_config(config)["model"]
    if "ladder" not in model_cfg:
        raise HelixError(f"{config} states no model.ladder")
    before = load_codec(path)
    check_ladder(model_cfg["ladder"], before.fsq.channels)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    stored = ckpt["hyper_parameters"]["config"]["model"]
    for key in ("ladder", "inter"):
        if key in model_cfg:
            stored[key] = model_cfg[key]
    target = Path(out or path)
    with atomic_path(target) as tmp:
        torch.save(ckpt, tmp)
    after = load_codec(target)
    if after.model_hash() != before.model_hash():
        raise HelixError("the model hash changed: only the config may change")
    return {"hash": after.model_hash(), "ladder": after.config["ladder"],
            "inter": after.config.get("inter")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("config", help="experiment YAML whose model.ladder to store")
    parser.add_argument("-o", "--output", help="write here instead of in place")
    args = parser.parse_args(argv)
    try:
        result = set_ladder(args.checkpoint, args.config, args.output)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model {result['hash']}: ladder {', '.join(result['ladder'])}; "
          f"inter {result['inter']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
