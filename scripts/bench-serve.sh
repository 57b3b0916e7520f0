#!/usr/bin/env bash
# Load benchmark of `issc serve` against the in-process baseline, on the same photos.
#
#   scripts/bench-serve.sh MODEL_DIR [PHOTOS_DIR] [REQUESTS]
#
# Starts `issc serve` on an ephemeral port (ONNX Runtime, --max-queue 64 so that concurrency 32 queues instead
# of being shed), runs the load generator (crates/serve/examples/loadgen.rs) at concurrency 1, 8 and 32, runs the
# same photos through the model in-process on 1 thread and on as many threads as the server has slots, and prints
# requests/s, p50/p99 and the ratio (concurrency 1 against 1 thread; higher concurrency against all threads).
# With LONG=1 it then sends 10,000 more requests and reports the server's resident memory before, at most, after,
# after each tenth of the requests, and its growth after the first tenth (flat memory: a leak shows there).
# Results go to stdout as JSON lines and to target/bench-serve.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:?usage: scripts/bench-serve.sh MODEL_DIR [PHOTOS_DIR] [REQUESTS]}"
photos="${2:-tests/fixtures/people}"
requests="${3:-300}"
threads="$(nproc)"
export ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh)"
cargo build --release --locked -q -p issc -p issc-serve --example loadgen
loadgen=target/release/examples/loadgen
out=target/bench-serve.jsonl
: > "$out"

ISSC_ENGINE=ort target/release/issc serve --model "$model" --addr 127.0.0.1:0 --max-queue 64 \
    > target/bench-serve.addr 2> target/bench-serve.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening target/bench-serve.addr 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' target/bench-serve.addr)/predict"

ISSC_ENGINE=ort "$loadgen" inprocess --model "$model" --photos "$photos" --threads 1 --requests "$requests" | tee -a "$out"
ISSC_ENGINE=ort "$loadgen" inprocess --model "$model" --photos "$photos" --threads "$threads" --requests "$requests" | tee -a "$out"
for c in 1 8 32; do
    "$loadgen" http --url "$url" --photos "$photos" --concurrency "$c" --requests "$requests" --pid "$pid" | tee -a "$out"
done
if [[ "${LONG:-0}" == 1 ]]; then
    "$loadgen" http --url "$url" --photos "$photos" --concurrency 8 --requests 10000 --pid "$pid" | tee -a "$out"
fi
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
inproc = {r["concurrency"]: r["requests_per_second"] for r in rows if r["mode"] == "inprocess"}
for t, v in sorted(inproc.items()):
    print(f"in-process, {t} thread(s): {v:.1f} photos/s")
for r in rows:
    if r["mode"] == "http":
        # Compare with the in-process run that uses as many threads as the server can use at this concurrency.
        base = inproc[min(r["concurrency"], max(inproc))]
        print(f"http c={r['concurrency']:>2} n={r['requests']}: {r['requests_per_second']:.1f} req/s, "
              f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, ratio {r['requests_per_second']/base:.2f}, "
              f"status {r['status']}, RSS KiB {r['rss_kib_before']} -> max {r['rss_kib_max']} -> {r['rss_kib_after']}")
        if r["requests"] >= 10000 and r.get("rss_kib_series"):
            series = r["rss_kib_series"]
            print("  RSS MiB after each tenth: " + ", ".join(f"{n}: {k/1024:.0f}" for n, k in series))
            # Flat memory: what the server holds after the first tenth (its working set, warmed up) against what it
            # holds at the end. A leak of a few KiB per request would show here as tens of MiB.
            first, last = series[0][1], series[-1][1]
            print(f"  RSS growth from the first tenth to the end: {(last - first) / 1024:+.1f} MiB "
                  f"({(last - first) / first * 100:+.2f} %), {(last - first) * 1024 / max(1, series[-1][0] - series[0][0]):+.0f} B/request")
PY
