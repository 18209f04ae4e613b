"""Lightning DDP inside `train()` (what a sweep trial uses): ranks get equal shares of the
train clips, and a spawned two-process run on CPU (gloo) trains and hands back its results."""

import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.video.datamodule import Clip, Video, VideoClipDataset


def ddp_dataset(rank: int, clips: int, align: int) -> VideoClipDataset:
    videos = [Video(path=None, frames=12, width=48, height=40) for _ in range(3)]
    return VideoClipDataset(videos, 4, (16, 16), random=True, clips_per_epoch=clips, seed=3,
                            rank=rank, world_size=2, align=align)


def test_ranks_get_equal_disjoint_shares_cut_to_full_batches():
    shares = [ddp_dataset(rank, clips=23, align=4).shard_plan() for rank in (0, 1)]
    assert [len(s) for s in shares] == [8, 8]  # 23 -> 16: a multiple of 2 ranks x 4
    plan = ddp_dataset(0, clips=23, align=4).plan()
    assert sorted(shares[0] + shares[1], key=plan.index) == plan[:16]
    assert all(isinstance(c, Clip) for c in shares[0])


def test_too_few_clips_for_the_ranks_is_a_clear_error():
    with pytest.raises(HelixError, match="clips_per_epoch"):
        ddp_dataset(0, clips=5, align=4).shard_plan()


@pytest.mark.slow
def test_two_process_ddp_spawn_trains_and_returns_results(tmp_path):
    from helix_lightning.model.checkpoint import load_codec
    from helix_lightning.model.module import HelixModule
    from helix_lightning.model.train import resolve_config, train

    cfg = {
        "name": "ddp", "runs_dir": str(tmp_path), "logger": False, "seed": 0,
        "checkpoint": str(tmp_path / "ddp.ckpt"), "codec_metrics": {"every": 0},
        "data": {"paths": "synthetic", "clip_frames": 2, "crop": 32, "val_size": 32,
                 "batch_size": 2, "clips_per_epoch": 16, "clips_per_file": 1},
        "model": {"tokenizer": {"downsample": 8, "channels_latent": 4, "width": 16},
                  "masked": {"dim": 16, "depth": 1, "heads": 2}},
        "trainer": {"max_steps": 3, "val_check_interval": 3, "progress_bar": False,
                    "accelerator": "cpu", "devices": 2,
                    "strategy": "ddp_spawn_find_unused_parameters_true",
                    "limit_val_batches": 1},
    }
    result = train(cfg)
    assert result["steps"] == 3  # counted in the spawned ranks, reported back
    assert result["best/psnr"] == pytest.approx(result["val/psnr"])
    trained = load_codec(tmp_path / "ddp.ckpt")
    torch.manual_seed(0)
    fresh = HelixModule(resolve_config(cfg))
    before = dict(fresh.codec.named_parameters())
    changed = [n for n, p in trained.named_parameters()
               if n in before and not torch.equal(p, before[n].to(p.dtype))]
    assert changed  # the weights that came back are the trained ones
