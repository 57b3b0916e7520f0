#!/usr/bin/env bash
# The main job on a fresh machine, offline except for PyPI: the example pipeline (examples/pipeline.toml: 6 people,
# 28 bundled photos) through fetch -> crop -> prepare -> train -> export into target/example/, on ONNX Runtime.
#   scripts/example.sh [extra `issc run` flags, e.g. --json]
# ONNX Runtime's library comes from the onnxruntime wheel on PyPI (scripts/fetch-onnxruntime.sh, python3 + pip,
# checked against pinned SHA-256 values, once). Without python3/pip, or on a platform the wheel does not cover, the
# pipeline runs on tract (pure Rust, slower) and the summary says how to get the faster engine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if lib="$(scripts/fetch-onnxruntime.sh)" && [[ -n "$lib" && -f "$lib" ]]; then
    export ORT_DYLIB_PATH="$lib"
else
    echo "example: ONNX Runtime's library could not be fetched (needs python3 with pip and access to PyPI);" \
         "running on tract, the pure-Rust engine" >&2
fi
# NASM (when it can be had: on PATH, or the distribution's package) builds the JPEG decoder with SIMD: faster, the
# same pixels. Without it the build is the same, only decoding is slower (scripts/fetch-nasm.sh).
if nasm_dir="$(scripts/fetch-nasm.sh)" && [[ -n "$nasm_dir" ]]; then
    export PATH="$nasm_dir:$PATH"
fi
cargo build --release --locked -p issc
exec target/release/issc run --config examples/pipeline.toml "$@"
