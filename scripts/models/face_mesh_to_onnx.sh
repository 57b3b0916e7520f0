#!/usr/bin/env bash
# Rebuild models/face_landmark_mediapipe_468.onnx from MediaPipe's face_landmark.tflite (Apache-2.0), fetched from
# PyPI inside the mediapipe 0.10.14 wheel, with pinned Python build tools in a venv under target/ (a build tool:
# nothing in the product runs Python). Prints the check against the TFLite interpreter and the file's SHA-256, which
# must equal models/SHA256SUMS.
#
#   scripts/models/face_mesh_to_onnx.sh [OUTPUT]     # default: target/face-mesh/face_landmark_mediapipe_468.onnx
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work=target/face-mesh
out=${1:-$work/face_landmark_mediapipe_468.onnx}
venv=$work/venv
mkdir -p "$work"
if ! "$venv/bin/python" -c 'import onnx, tflite, tflite_runtime, onnxruntime' >/dev/null 2>&1; then
    echo "==> build tools into $venv (PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r scripts/models/requirements-face-mesh.txt
fi
wheel=$(ls "$work"/mediapipe-0.10.14-cp*-manylinux*_x86_64.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
    echo "==> mediapipe 0.10.14 wheel (PyPI; only face_landmark.tflite is read from it)" >&2
    "$venv/bin/pip" download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
        --python-version 3.11 -d "$work" mediapipe==0.10.14
    wheel=$(ls "$work"/mediapipe-0.10.14-cp*-manylinux*_x86_64.whl | head -n1)
fi
"$venv/bin/python" scripts/models/face_mesh_to_onnx.py "$wheel" "$out" --tflite-out "$work/face_landmark.tflite"
echo "expected: $(grep face_landmark_mediapipe_468.onnx models/SHA256SUMS)"
