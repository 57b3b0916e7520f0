#!/usr/bin/env bash
# How much models/face_recognition_sface_2021dec_int8.onnx would lose on a CPU without VNNI, where ONNX Runtime's
# AVX2 uint8 x int8 kernel (vpmaddubsw) adds each pair of adjacent products in 16 bits with saturation. The script
# rewrites every MatMulIntegerToFloat of the graph into plain ONNX integer ops that saturate each pair the same
# way, then embeds every face of ../shared/data's identity, group and edge-case photos (the Python reference
# pipeline's crops) with the original graph, the int8 graph and the emulated one, and prints the cosines to the
# original and the verification accuracy on pairs.csv. A check, not a test: it takes minutes (the emulation
# materialises every pair product).
#
#   scripts/models/int8_avx2_check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work=target/int8-check
venv=$work/venv
mkdir -p "$work"
if ! "$venv/bin/python" -c 'import onnx, onnxruntime, cv2' >/dev/null 2>&1; then
    echo "==> tools into $venv (PyPI)" >&2
    python3 -m venv "$venv"
    (cd scripts/models && "../../$venv/bin/pip" install --quiet -r requirements-int8-check.txt)
fi
"$venv/bin/python" scripts/models/int8_avx2_check.py "$work"
