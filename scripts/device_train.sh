#!/usr/bin/env bash
# The GPU route as one device command (docs/CODEC.md, "Second-generation training routes"):
#   run(command="scripts/device_train.sh", carry=["data/train", "runs/carry"], timeout_s=600)
# Unpacks what scripts/device_pack.sh carried (PyAV, piq, edlib) into /tmp/helix-site where
# they are missing, then python -m helix_lightning.model.route: checks the machine
# (modules, GPU, every training file's sha256) and trains experiments/gpu2.yaml; outputs in
# $OUT (else runs/device). Arguments pass through: --tiny (or HELIX_ROUTE_TINY=1) rehearses
# the same path on a CPU in about a minute; --config, --set KEY=VALUE, --out DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python3)}
SITE=/tmp/helix-site
if [ -d runs/carry ] && ! "$PY" -c "import av, piq, edlib" 2>/dev/null; then
    mkdir -p "$SITE"  # Python's own tarfile and zipfile: no pip or xz needed there
    "$PY" -c 'import glob, sys, tarfile, zipfile
for path in glob.glob("runs/carry/*.tar.xz"): tarfile.open(path).extractall(sys.argv[1])
for path in glob.glob("runs/carry/wheels/*.whl"): zipfile.ZipFile(path).extractall(sys.argv[1])' "$SITE"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
[ -d runs/carry/site ] && export PYTHONPATH="$PWD/runs/carry/site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# before the package (which imports torch): every missing module named in one line
"$PY" -c 'import importlib.util as u, sys; m = [n for n in sys.argv[1:] if u.find_spec(n) is None]
sys.exit(m and "error: missing Python module(s) " + ", ".join(m) + " (scripts/device_pack.sh carries av, piq, edlib)" or None)' \
    torch torchvision lightning torchmetrics numpy scipy yaml PIL av piq edlib rich matplotlib || exit 2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
exec "$PY" -m helix_lightning.model.route "$@"
