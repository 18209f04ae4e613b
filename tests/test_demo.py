"""`make demo`'s library: the test clip through the default model, a noisy channel and back."""

import pytest

from helix_lightning.demo import main, recover_from_reads, run_demo
from helix_lightning.dna.archive import decode_archive, encode_archive
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.errors import HelixError
from helix_lightning.video.io import read_video


def test_run_demo_small(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, frames=3, bytes_size=20_000)
    video = result["video"]
    assert video["clip"] == "carphone_pristine.mp4" and video["frames"] == 3
    assert video["violations"] == 0
    assert video["reads_match_strands"] is True
    assert video["psnr_db"] > 20.0 and 0.5 < video["ms_ssim"] <= 1.0
    assert 0 < video["nt_per_px"] < 0.2 and video["reads"] > video["strands"]
    png = out / "frames.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = read_video(out / "decoded.mkv")
    assert decoded.shape == (3, 144, 176, 3)
    assert (out / "reads.fastq").read_text().startswith("@")
    assert result["bytes"]["bit_exact"] is True and result["bytes"]["violations"] == 0


def test_recover_from_reads_brings_the_file_back():
    data = bytes(range(256)) * 20
    archive = encode_archive(data, "rl3")
    reads = simulate_reads(archive.strands, ChannelParams(seed=4))
    seqs, support, variants = recover_from_reads([r[1] for r in reads])
    assert len(seqs) == len(support) == len(variants) and min(support) >= 1
    assert len(set(archive.strands) & set(seqs)) > 0.85 * len(archive.strands)
    assert decode_archive(seqs, support, variants=variants)[0] == data
    with pytest.raises(HelixError):
        recover_from_reads([])


def test_main_refuses_bad_arguments(capsys):
    assert main(["--frames", "0", "--bytes", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
