"""Archive scale: `helix dna encode` and `decode` of a large random file, streaming on every
core against the in-memory single-process path in the same run: wall time, CPU time, peak
memory of the whole process tree, and nt/s per core with table building excluded.

Run: .venv/bin/python benchmarks/bench_scale.py --size 100MB [--workers N] [--pipe]
     [--baseline-max 100MB] [--dir /scratch]
     .venv/bin/python benchmarks/bench_scale.py --size 10MB --reads [--buckets N]

`--reads`: encode, then `helix dna simulate a.fa -o - | helix dna decode - -o out` through a
real shell pipe (reference channel, seed 1), measured as one process tree (bash, both helix
processes and their workers): wall and CPU time, peak PSS, and nt/s per core of the archive's
strands (`Mnt_s_per_core`) and of the reads (`read_Mnt_s_per_core`, read bases counted as
reads x strand length); no in-memory baseline.

Every command runs as its own process; a sampler reads /proc every 0.1 s and keeps the peak of
the tree's summed PSS (shared pages, such as the FSM tables forked workers share, counted
once) and summed RSS (shared pages counted in every process). `table_s` is the wall time of a
process that only imports the package and builds the FSM tables of the layout (from the
on-disk cache, as a user's second run would); it is subtracted from the wall time before
`Mnt_s_per_core` = nt / (wall - table_s) / workers. `Mnt_per_cpu_s` divides by the tree's user +
system CPU time instead (less the table process's): on a shared machine it is the steadier of
the two. `--pipe` decodes through pipes (`cat a.fa | helix dna decode - -o - | cat > out`); the
`cat`s' CPU time counts, their memory does not.
Baseline rows (`path` = in-memory) run the pre-streaming code path: `encode_archive` of the
whole file, `load_strands` + `decode_loaded` of the whole FASTA, one process.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9}
TABLES = ("from helix_lightning.dna.strands import StrandLayout;"
          "from helix_lightning.dna.constraints import get_constraints;"
          "StrandLayout(get_constraints('standard'))")
IN_MEMORY_ENCODE = ("import sys; from helix_lightning.dna.archive import encode_archive;"
                    "from helix_lightning.dna.fasta import write_fasta;"
                    "a = encode_archive(open(sys.argv[1], 'rb').read());"
                    "write_fasta(sys.argv[2], a.fasta_records())")
IN_MEMORY_DECODE = ("import sys; from helix_lightning.dna.reads import load_strands;"
                    "from helix_lightning.dna.read_decode import decode_loaded;"
                    "loaded = load_strands(sys.argv[1]);"
                    "data, _, _ = decode_loaded(loaded, loaded.constraint_hint);"
                    "open(sys.argv[2], 'wb').write(data)")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMG]?B?)\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 10MB, 1GB)")
    return int(float(m.group(1)) * UNITS[m.group(2) if m.group(2) != "K" else "KB"])


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    """(summed PSS, summed RSS) in bytes of the processes."""
    pss = rss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return pss, rss


def measured(cmd: list[str], pipe_in: Path | None = None, pipe_out: Path | None = None) -> dict:
    """Run `cmd` (reading `pipe_in` through a pipe from `cat`, writing its stdout through a
    pipe to `cat > pipe_out`); its wall and CPU seconds and the peak PSS/RSS of its process
    tree (the two `cat`s not included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    feed = subprocess.Popen(["cat", str(pipe_in)], stdout=subprocess.PIPE) if pipe_in else None
    sink = open(pipe_out, "wb") if pipe_out else None
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=feed.stdout if feed else subprocess.DEVNULL,
                            stdout=subprocess.PIPE if sink else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    drain = (subprocess.Popen(["cat"], stdin=proc.stdout, stdout=sink) if sink else None)
    if feed:
        feed.stdout.close()  # the child holds the read end now
    if drain:
        proc.stdout.close()
    peak = [0, 0]

    def sample() -> None:
        while proc.poll() is None:
            pss, rss = _memory(_tree(proc.pid))
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - t
    sampler.join()
    for helper in (feed, drain):
        if helper:
            helper.wait()
    if sink:
        sink.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_pss_MB": peak[0] / 1e6,
            "peak_rss_MB": peak[1] / 1e6}


def random_file(path: Path, size: int, block: int = 1 << 24) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for start in range(0, size, block):
            f.write(rng.integers(0, 256, min(block, size - start), dtype=np.uint8).tobytes())


def same_files(a: Path, b: Path) -> bool:
    return subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 0


def fasta_nt(path: Path) -> int:
    """Coded nt of the strands in a FASTA (primers excluded), as the archive's stats count."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from helix_lightning.dna.constraints import get_constraints
    from helix_lightning.dna.strands import StrandLayout

    coded = StrandLayout(get_constraints("standard")).coded_nt
    strands = int(subprocess.run(["grep", "-c", "^>", str(path)], capture_output=True,
                                 text=True).stdout)
    return strands * coded


def run(size: int, workers: int, pipe: bool, baseline: bool, folder: Path) -> list[dict]:
    py = sys.executable
    helix = [py, "-m", "helix_lightning.cli", "dna"]
    src, fa, back = folder / "in.bin", folder / "a.fa", folder / "out.bin"
    random_file(src, size)
    table = measured([py, "-c", TABLES])
    rows = []

    def row(path: str, way: str, w: int, m: dict, nt: int, ok: bool) -> dict:
        busy = max(1e-9, m["wall_s"] - table["wall_s"])
        cpu = max(1e-9, m["cpu_s"] - table["cpu_s"])
        return {"path": path, "direction": way, "bytes": size, "nt": nt, "workers": w, **m,
                "table_s": table["wall_s"], "Mnt_s_per_core": nt / busy / w / 1e6,
                "Mnt_per_cpu_s": nt / cpu / 1e6, "ok": ok}

    enc = measured(helix + ["encode", str(src), "-o", str(fa), "-q", "--workers", str(workers)])
    nt = fasta_nt(fa)
    rows.append(row("streaming", "encode", workers, enc, nt, True))
    cmd = helix + ["decode", "-" if pipe else str(fa), "-o", "-" if pipe else str(back), "-q",
                   "--workers", str(workers)]
    dec = measured(cmd, fa if pipe else None, back if pipe else None)
    rows.append(row("streaming" + (" (pipe)" if pipe else ""), "decode", workers, dec, nt,
                    same_files(src, back)))
    if baseline:
        fa0 = folder / "b.fa"
        enc0 = measured([py, "-c", IN_MEMORY_ENCODE, str(src), str(fa0)])
        rows.append(row("in-memory", "encode", 1, enc0, nt, same_files(fa, fa0)))
        back.unlink()
        dec0 = measured([py, "-c", IN_MEMORY_DECODE, str(fa0), str(back)])
        rows.append(row("in-memory", "decode", 1, dec0, nt, same_files(src, back)))
    return rows


def run_reads(size: int, workers: int, buckets: int | None, folder: Path) -> list[dict]:
    """Encode, then simulate | decode through a shell pipe (module docstring)."""
    py = sys.executable
    helix = f"{py} -m helix_lightning.cli dna"
    src, fa, back = folder / "in.bin", folder / "a.fa", folder / "out.bin"
    random_file(src, size)
    table = measured([py, "-c", TABLES])
    enc = measured([py, "-m", "helix_lightning.cli", "dna", "encode", str(src), "-o", str(fa),
                    "-q", "--workers", str(workers)])
    nt = fasta_nt(fa)
    err = folder / "pipe.err"
    flags = f"--workers {workers}" + (f" --buckets {buckets}" if buckets else "")
    pipeline = (f"{helix} simulate {fa} -o - 2>{err} | {helix} decode - -o {back} {flags} "
                f"2>>{err}")
    dec = measured(["bash", "-o", "pipefail", "-c", pipeline])
    log = err.read_text()
    reads = int(re.search(r"(\d+) reads from", log).group(1))
    found = re.search(r"(\d+) buckets of at most (\d+)", log)
    rows = []
    for way, m, n_reads in (("encode", enc, 0), ("simulate | decode", dec, reads)):
        busy = max(1e-9, m["wall_s"] - table["wall_s"])
        cpu = max(1e-9, m["cpu_s"] - table["cpu_s"])
        read_nt = n_reads * 200
        rows.append({"path": "streaming, shell pipe" if n_reads else "streaming",
                     "direction": way, "bytes": size, "nt": nt, "reads": n_reads,
                     "buckets": int(found.group(1)) if n_reads and found else 0,
                     "largest_bucket": int(found.group(2)) if n_reads and found else 0,
                     "workers": workers, **m, "table_s": table["wall_s"],
                     "Mnt_s_per_core": nt / busy / workers / 1e6,
                     "Mnt_per_cpu_s": nt / cpu / 1e6,
                     "read_Mnt_s_per_core": read_nt / busy / workers / 1e6,
                     "s_per_MB": m["wall_s"] / (size / 1e6),
                     "ok": same_files(src, back) if n_reads else True})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("10MB"),
                    help="file size: 10MB, 100MB, 1GB (decimal units)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--pipe", action="store_true", help="decode from a pipe into a pipe")
    ap.add_argument("--baseline-max", type=parse_size, default=parse_size("100MB"),
                    help="run the in-memory baseline only up to this size (it needs ~80x "
                    "the file in memory to decode)")
    ap.add_argument("--dir", default=None, help="folder for the files (about 10x the size)")
    ap.add_argument("--reads", action="store_true", help="simulate | decode through a shell "
                    "pipe instead of decoding the FASTA (needs about 400x the size on disk)")
    ap.add_argument("--buckets", type=int, default=None, help="--reads: decode's --buckets")
    args = ap.parse_args()
    env_src = str(Path(__file__).resolve().parents[1] / "src")
    os.environ["PYTHONPATH"] = env_src + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ.setdefault("TMPDIR", args.dir or tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.dir) as tmp:
        if args.reads:
            rows = run_reads(args.size, args.workers, args.buckets, Path(tmp))
        else:
            rows = run(args.size, args.workers, args.pipe, args.size <= args.baseline_max,
                       Path(tmp))
    kind = "reads: simulate | decode" if args.reads else "random file"
    emit(rows, f"archive scale ({kind}): {args.size / 1e6:g} MB, standard, "
         f"{args.workers} workers",
         f"scale_{'reads_' if args.reads else ''}{args.size // 10**6}MB.csv")


if __name__ == "__main__":
    main()
