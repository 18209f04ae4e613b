"""The training-data manifest: every real training file, where it comes from, and its sha256.

`data/manifest.yaml` lists each file the codec may train on: the registry package it is
unpacked from (Debian package or PyPI wheel, name and exact version), the path inside the
package, the sha256 of the file as extracted, its license, its kind (video or photo) and, for
derived files (photos scaled and re-encoded by a named recipe), the sha256 of the derived file
as it lies in the data directory. `helix_lightning.video.dataset` installs the files from the
manifest; the DataModule trains on exactly these files and refuses any that is missing or
whose bytes differ.

Two sources are never training data, whatever a manifest says: OpenCV's sample data (Debian's
`opencv-doc`, reserved for independent evaluation) and the carphone clips (the test clip
carphone_pristine and the selection clip carphone_distorted).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import yaml

from ..errors import HelixError

MANIFEST_VERSION = 1
KINDS = ("video", "photo")
REGISTRIES = ("debian", "pypi")

#: Recipes that turn a file as extracted into the file the data directory holds.
RECIPES = {
    "copy": "the file as extracted, byte for byte",
    "photo-1024-q95": ("EXIF orientation applied; grey stays grey, anything else RGB; long side "
                       "scaled to at most 1024 px (Pillow LANCZOS, never up); baseline JPEG, "
                       "quality 95, 4:4:4 chroma, no metadata"),
}

#: Substrings (lower case) of a package, a path or a file name that are never training data.
FORBIDDEN = {
    "opencv": "OpenCV's sample data is reserved for independent evaluation",
    "carphone": "the carphone clips are the test and selection clips",
}

_REQUIRED = ("name", "kind", "registry", "package", "version", "path", "sha256", "license")
_OPTIONAL = ("recipe", "derived_sha256", "attribution")
_SHA256 = re.compile(r"[0-9a-f]{64}")

#: The manifest `data.paths: manifest` means, relative to the working directory.
DEFAULT_MANIFEST = Path("data") / "manifest.yaml"


@dataclass(frozen=True)
class Entry:
    """One training file: `name` is its path under the data directory."""
    name: str
    kind: str
    registry: str
    package: str
    version: str
    path: str
    sha256: str
    license: str
    recipe: str = "copy"
    derived_sha256: str | None = None
    attribution: str | None = None

    @property
    def final_sha256(self) -> str:
        """The sha256 of the file in the data directory (derived, or as extracted)."""
        return self.derived_sha256 or self.sha256


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; `data_dir` is where its files are installed."""
    path: Path
    entries: tuple[Entry, ...]
    data_dir: Path
    tools: dict[str, str] = field(default_factory=dict)

    def files(self, kind: str | None = None) -> list[Path]:
        """The installed paths of the entries (of one kind), in manifest order."""
        return [self.data_dir / e.name for e in self.entries if kind in (None, e.kind)]


def forbidden_reason(text: str | Path) -> str | None:
    """Why a package, path or file name may never be training data, or None when it may."""
    lowered = str(text).lower()
    for needle, reason in FORBIDDEN.items():
        if needle in lowered:
            return reason
    return None


def check_training_file(path: str | Path) -> None:
    """HelixError (one line) when `path` is a carphone clip (by file name) or lies under
    OpenCV's sample data (a folder named like opencv)."""
    path = Path(path)
    reason = forbidden_reason(path.name) or next(
        (r for part in path.parts[:-1] if (r := forbidden_reason(part)) == FORBIDDEN["opencv"]),
        None)
    if reason:
        raise HelixError(f"refusing to train on {path}: {reason}")


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(raw: Any, where: str) -> Entry:
    """One manifest entry, checked field by field."""
    if not isinstance(raw, Mapping):
        raise HelixError(f"{where}: an entry must be a mapping, got {type(raw).__name__}")
    missing = [k for k in _REQUIRED if raw.get(k) in (None, "")]
    if missing:
        raise HelixError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise HelixError(f"{where}: unknown field(s) {', '.join(unknown)}")
    entry = Entry(**{k: str(v) for k, v in raw.items() if v is not None})
    where = f"{where} ({entry.name})"
    if entry.kind not in KINDS:
        raise HelixError(f"{where}: kind must be one of {', '.join(KINDS)}, got {entry.kind!r}")
    if entry.registry not in REGISTRIES:
        raise HelixError(f"{where}: registry must be one of {', '.join(REGISTRIES)}, "
                         f"got {entry.registry!r}")
    if entry.recipe not in RECIPES:
        raise HelixError(f"{where}: unknown recipe {entry.recipe!r}; known: {', '.join(RECIPES)}")
    for key in ("sha256", "derived_sha256"):
        value = getattr(entry, key)
        if value is not None and not _SHA256.fullmatch(value):
            raise HelixError(f"{where}: {key} must be 64 lower-case hex digits, got {value!r}")
    if entry.recipe == "copy" and entry.derived_sha256 is not None:
        raise HelixError(f"{where}: derived_sha256 given for a file copied as extracted")
    if entry.recipe != "copy" and entry.derived_sha256 is None:
        raise HelixError(f"{where}: recipe {entry.recipe!r} needs derived_sha256")
    name = PurePosixPath(entry.name)
    if name.is_absolute() or ".." in name.parts:
        raise HelixError(f"{where}: name must be a relative path inside the data directory")
    for text in (entry.package, entry.path, entry.name):
        reason = forbidden_reason(text)
        if reason:
            raise HelixError(f"{where}: refusing {text}: {reason}")
    return entry


def parse_manifest(raw: Any, path: Path, data_dir: str | Path | None = None) -> Manifest:
    """A Manifest from a loaded YAML mapping; HelixError naming the first problem."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("files"), list):
        raise HelixError(f"{path}: a manifest is a mapping with a `files:` list")
    if raw.get("version") != MANIFEST_VERSION:
        raise HelixError(f"{path}: manifest version {raw.get('version')!r} is not supported "
                         f"(this code reads version {MANIFEST_VERSION})")
    entries = tuple(_entry(item, f"{path}: files[{i}]") for i, item in enumerate(raw["files"]))
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise HelixError(f"{path}: file {entry.name} is listed twice")
        seen.add(entry.name)
    if data_dir is None:
        data_dir = path.parent / str(raw.get("data_dir", "train"))
    tools = {str(k): str(v) for k, v in (raw.get("tools") or {}).items()}
    return Manifest(path, entries, Path(data_dir), tools)


def load_manifest(path: str | Path, data_dir: str | Path | None = None) -> Manifest:
    """Read and validate a manifest file; `data_dir` overrides the manifest's own."""
    path = Path(path)
    if not path.is_file():
        raise HelixError(f"manifest not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise HelixError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_manifest(raw, path, data_dir)


def verify_entry(entry: Entry, data_dir: Path) -> Path:
    """The installed path of `entry`; HelixError (one line) when missing or not its bytes."""
    path = data_dir / entry.name
    if not path.is_file():
        raise HelixError(f"training file missing: {path} (run `make data`)")
    digest = sha256_file(path)
    if digest != entry.final_sha256:
        raise HelixError(f"sha256 mismatch for {path}: manifest {entry.final_sha256}, "
                         f"file {digest} (run `make data` to reinstall it)")
    return path


def verified_files(manifest: Manifest) -> dict[str, list[Path]]:
    """Every file of the manifest, checked, as {kind: paths}; HelixError at the first bad one."""
    files: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for entry in manifest.entries:
        path = verify_entry(entry, manifest.data_dir)
        check_training_file(path)
        files[entry.kind].append(path)
    return files
