#!/usr/bin/env bash
# Run every check and test of isshesarahconnor, exactly as CI does (.ci/run calls this script).
#   scripts/test.sh
# Needs: the Rust toolchain (cargo, rustfmt, clippy) and python3 with pip (to fetch the ONNX Runtime library
# from PyPI; without it the ONNX Runtime tests fail with a message saying so). Photos in ../shared/data are used
# when present (parity with the reference pipeline, verification accuracy); the bundled tests/fixtures always.
# The PostgreSQL store's tests start a server from the pgserver wheel in target/pg-venv when it is there.
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
cargo test --workspace --release --locked --no-fail-fast -- --nocapture 2>&1 | tee target/test-output.txt \
    | grep -E '^(test result|parity|verification|negatives|SKIPPED|error|thread .* panicked)|FAILED' || true
if ! grep -q '^test result' target/test-output.txt || grep -qE '^test result: FAILED|error: test failed|error\[|could not compile' target/test-output.txt; then
    echo "tests failed; full output in target/test-output.txt" >&2
    tail -n 80 target/test-output.txt >&2
    exit 1
fi

step "PostgreSQL store: issc-store --features postgres against a real PostgreSQL + pgvector"
# Starts a throwaway server from the pgserver wheel in target/pg-venv (python3 -m venv target/pg-venv &&
# target/pg-venv/bin/pip install pgserver), or uses ISSC_TEST_POSTGRES_URL; prints SKIPPED without either, unless
# ISSC_REQUIRE_POSTGRES=1. The feature's code is linted here too (the workspace clippy above builds without it).
cargo clippy --release --locked -p issc-store --features postgres --all-targets -- -D warnings
cargo test --release --locked -p issc-store --features postgres -- --nocapture 2>&1 | tee target/test-postgres.txt \
    | grep -E '^(test result|postgres|SKIPPED|error|thread .* panicked)|FAILED' || true
if ! grep -q '^test result' target/test-postgres.txt || grep -qE '^test result: FAILED|error: test failed|error\[|could not compile' target/test-postgres.txt; then
    echo "PostgreSQL store tests failed; full output in target/test-postgres.txt" >&2
    tail -n 80 target/test-postgres.txt >&2
    exit 1
fi

if command -v cargo-deny >/dev/null 2>&1; then
    step "cargo deny (licences, bans, sources; advisories need network access to GitHub)"
    # Every package of the lock file, whatever its target (cargo metadata needs them all; the build fetched the host's).
    cargo fetch --locked >/dev/null 2>&1 || echo "cargo fetch failed: cargo deny may not find every package" >&2
    cargo deny --offline check licenses bans sources
else
    step "cargo deny: not installed, skipped (cargo install cargo-deny --locked)"
fi

step "all checks passed in $(( $(date +%s) - start )) s"
