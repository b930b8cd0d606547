#!/usr/bin/env bash
# The torch-free runtime on its own: build the gen3d-runtime wheel, install it with only its extras into a fresh
# venv (no torch, mmengine, timm), and run a bundle there. Called by .ci/run after the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
# a tiny end2end anomaly bundle and a frame, written with the full install
$PY - "$WORK" <<'PYEOF'
import sys, cv2
sys.path.insert(0, ".")
from tests.test_runtime.bundle_helpers import frame, make_bundle
make_bundle(f"{sys.argv[1]}/bundle")
cv2.imwrite(f"{sys.argv[1]}/frame.png", frame(True))
PYEOF
GEN3D_DIST=runtime $PY -m pip wheel --no-deps --no-build-isolation -q -w "$WORK/wheel" .
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "$(ls "$WORK"/wheel/gen3d_runtime-*.whl)[opencv,onnxruntime]"
"$WORK/venv/bin/python" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('torch', 'mmengine', 'timm')))" \
  || { echo "runtime-only venv has torch, mmengine or timm"; exit 1; }
(cd "$WORK" && HOME="$WORK/home" "$WORK/venv/bin/gen3d-runtime" bundle frame.png --class-name bottle --out-dir out)
grep -q DEFECT "$WORK/out/verdicts.csv" || { echo "no DEFECT verdict in $WORK/out/verdicts.csv"; exit 1; }
echo "runtime-only install: $(du -sm "$WORK/venv" | cut -f1) MB venv, bundle ran ($(( $(date +%s) - start )) s)"
