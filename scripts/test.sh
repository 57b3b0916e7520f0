#!/usr/bin/env bash
# Run every check and test of isshesarahconnor, exactly as CI does (.ci/run calls this script).
#   scripts/test.sh
# Needs: the Rust toolchain (cargo, rustfmt, clippy) and python3 with pip (to fetch the ONNX Runtime library
# from PyPI; without it the ONNX Runtime tests fail with a message saying so). Photos in ../shared/data are used
# when present (parity with the reference pipeline, verification accuracy); the bundled tests/fixtures always.
# The PostgreSQL store's tests start a server from the pgserver wheel in target/pg-venv when it is there. With Node.js
# and npm present, the official Face JavaScript SDK is installed from its lock file (bins/issc/tests/js-sdk).
#
# A test whose peer is missing (PostgreSQL, the official Face SDKs, Chromium, ../shared/data) prints a line starting
# with SKIPPED and passes; every such line is counted and listed at the end. ISSC_REQUIRE_* switches make the
# test fail instead (.ci/run sets them all), and ISSC_FORBID_SKIPS=1 makes this script fail on any SKIPPED line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
start=$(date +%s)

step "ONNX Runtime library (PyPI wheel -> .ort/lib)"
scripts/fetch-onnxruntime.sh >/dev/null

step "NASM for libjpeg-turbo's SIMD decoder (on PATH, or the distribution's package -> .nasm; optional)"
if nasm_dir="$(scripts/fetch-nasm.sh)" && [ -n "$nasm_dir" ]; then
    export PATH="$nasm_dir:$PATH"
    nasm -v >&2
fi

step "official Face JavaScript SDK (npm ci -> bins/issc/tests/js-sdk/node_modules)"
# For bins/issc/tests/face_api_js.rs; .ci/run installs Node.js and runs npm ci before calling this script. Here the
# pinned SDK is installed when Node.js and npm are present and it is not; without them the test says SKIPPED, unless
# ISSC_REQUIRE_JS_SDK=1, where a failed install stops the run.
js_sdk=bins/issc/tests/js-sdk
if (cd "$js_sdk" && node --input-type=module -e "await import('@azure-rest/ai-vision-face')") >/dev/null 2>&1; then
    echo "installed" >&2
elif command -v npm >/dev/null 2>&1 && npm ci --prefix "$js_sdk" --no-audit --no-fund --loglevel=error >&2; then
    echo "installed from $js_sdk/package-lock.json" >&2
elif [ "${ISSC_REQUIRE_JS_SDK:-}" = 1 ]; then
    echo "ISSC_REQUIRE_JS_SDK=1 but the SDK could not be installed (needs Node.js 18+, npm: npm ci --prefix $js_sdk)" >&2
    exit 1
else
    echo "not installed (needs Node.js 18+ and npm); bins/issc/tests/face_api_js.rs will say SKIPPED" >&2
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --release --locked -- -D warnings

step "cargo build --release"
cargo build --workspace --release --locked

# Run a cargo test command, keeping its whole output in $1 and showing the summary lines; fail on cargo's own exit
# status (not on what the output looks like), or when no test ran at all.
run_tests() {
    local log=$1; shift
    local status
    # PIPESTATUS is read right after the pipeline, with errexit off (a `|| true` would overwrite it with its own).
    set +e
    "$@" 2>&1 | tee "$log" | grep -E '^(test result|parity|verification|negatives|postgres|SKIPPED|error|thread .* panicked)|FAILED'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ] || ! grep -q '^test result: ok' "$log"; then
        echo "tests failed (cargo exited with $status); full output in $log" >&2
        tail -n 80 "$log" >&2
        exit 1
    fi
}

step "tests (release: real models on real photos, both engines)"
run_tests target/test-output.txt cargo test --workspace --release --locked --no-fail-fast -- --nocapture

step "PostgreSQL store: issc-store --features postgres against a real PostgreSQL + pgvector"
# Starts a throwaway server from the pgserver wheel in target/pg-venv (python3 -m venv target/pg-venv &&
# target/pg-venv/bin/pip install pgserver), or uses ISSC_TEST_POSTGRES_URL; prints SKIPPED without either, unless
# ISSC_REQUIRE_POSTGRES=1. The feature's code is linted here too (the workspace clippy above builds without it).
cargo clippy --release --locked -p issc-store --features postgres --all-targets -- -D warnings
run_tests target/test-postgres.txt cargo test --release --locked -p issc-store --features postgres -- --nocapture

step "Face API replicas: two issc serve --features postgres on one PostgreSQL, the official SDK alternating, a SIGKILL"
# bins/issc/tests/face_api_replicas.rs: faceIds and training operations shared through PostgreSQL (issue 17). Needs
# the pgserver wheel (target/pg-venv) and the Python SDK (target/face-sdk-venv); SKIPPED without them unless
# ISSC_REQUIRE_POSTGRES=1 / ISSC_REQUIRE_FACE_SDK=1.
run_tests target/test-replicas.txt cargo test --release --locked -p issc --features postgres --test face_api_replicas -- --nocapture

skipped=$(grep -ho 'SKIPPED: .*' target/test-output.txt target/test-postgres.txt target/test-replicas.txt | sort | uniq -c || true)
if command -v cargo-deny >/dev/null 2>&1; then
    step "cargo deny (licences, bans, sources; advisories need network access to GitHub)"
    # Every package of the lock file, whatever its target (cargo metadata needs them all; the build fetched the host's).
    cargo fetch --locked >/dev/null 2>&1 || echo "cargo fetch failed: cargo deny may not find every package" >&2
    cargo deny --offline check licenses bans sources
elif [ "${ISSC_REQUIRE_CARGO_DENY:-}" = 1 ]; then
    echo "ISSC_REQUIRE_CARGO_DENY=1 but cargo-deny is not installed (cargo install cargo-deny --locked)" >&2
    exit 1
else
    step "cargo deny: not installed, skipped (cargo install cargo-deny --locked)"
    skipped="${skipped}${skipped:+$'\n'}      1 SKIPPED: cargo deny (not installed)"
fi

if [ -n "$skipped" ]; then
    step "skipped: $(printf '%s\n' "$skipped" | awk '{n += $1} END {print n}') (each line: how many times, what)"
    printf '%s\n' "$skipped" >&2
    if [ "${ISSC_FORBID_SKIPS:-}" = 1 ]; then
        echo "ISSC_FORBID_SKIPS=1: a check that was claimed did not run" >&2
        exit 1
    fi
else
    step "skipped: none"
fi

step "all checks passed in $(( $(date +%s) - start )) s"
