#!/usr/bin/env bash
# Run every check and test of isshesarahconnor, exactly as CI does (.ci/run calls this script).
#   scripts/test.sh
# Needs: the Rust toolchain (cargo, rustfmt, clippy) and python3 with pip (to fetch the ONNX Runtime library
# from PyPI; without it the ONNX Runtime tests fail with a message saying so). Photos in ../shared/data are used
# when present (parity with the reference pipeline, verification accuracy); the bundled tests/fixtures always.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
start=$(date +%s)

step "ONNX Runtime library (PyPI wheel -> .ort/lib)"
scripts/fetch-onnxruntime.sh >/dev/null

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --release --locked -- -D warnings

step "cargo build --release"
cargo build --workspace --release --locked

step "tests (release: real models on real photos, both engines)"
cargo test --workspace --release --locked -- --nocapture 2>&1 | tee target/test-output.txt \
    | grep -E '^(test result|parity|verification|negatives|SKIPPED|error|thread .* panicked)|FAILED' || true
if ! grep -q '^test result' target/test-output.txt || grep -qE '^test result: FAILED|error: test failed|error\[|could not compile' target/test-output.txt; then
    echo "tests failed; full output in target/test-output.txt" >&2
    tail -n 80 target/test-output.txt >&2
    exit 1
fi

if command -v cargo-deny >/dev/null 2>&1; then
    step "cargo deny (licences, bans, sources; advisories need network access to GitHub)"
    cargo deny --offline check licenses bans sources
else
    step "cargo deny: not installed, skipped (cargo install cargo-deny --locked)"
fi

step "all checks passed in $(( $(date +%s) - start )) s"
