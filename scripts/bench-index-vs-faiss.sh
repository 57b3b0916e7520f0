#!/usr/bin/env bash
# Identify in process, side by side on the same vectors in one run: issc-store's indexes (today's exact f32 scan,
# the int8 index with exact re-scoring from SQLite, the HNSW graph) beside FAISS IndexFlatIP and IndexHNSWFlat,
# FAISS on one thread (omp_set_num_threads(1)).
#
#   scripts/bench-index-vs-faiss.sh                         # 100k and 1M faces
#   ISSC_BENCH_SIZES=100000 ISSC_BENCH_EF=32,64 scripts/bench-index-vs-faiss.sh
#   ISSC_BENCH_SIZES=1000000 ISSC_BENCH_EF=0 scripts/bench-index-vs-faiss.sh     # exact methods only
#   ISSC_BENCH_K=1 ISSC_BENCH_SIZES=100000 scripts/bench-index-vs-faiss.sh         # top 1 (the Face API's default)
#
# The Rust bench (crates/store/benches/index.rs) generates the vectors (deterministic seed) and writes them to
# target/bench-index/<faces>/{base,queries,owners,exact_top}.npy; FAISS reads the same files. faiss-cpu and numpy
# come from PyPI into target/faiss-venv. FAISS returns faces (top ISSC_BENCH_K, 10 by default), issc-store persons
# (as many); hit@1 compares the top result's person with the exact scan's top person for both.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${ISSC_BENCH_SIZES:-100000,1000000}
efs=${ISSC_BENCH_EF:-32,64,96}
queries=${ISSC_BENCH_QUERIES:-2000}
venv=target/faiss-venv
dump="$PWD/target/bench-index"
if ! "$venv/bin/python" -c 'import faiss, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q faiss-cpu numpy
fi
mkdir -p "$dump"
ISSC_BENCH_DUMP="$dump" ISSC_BENCH_SIZES="$sizes" ISSC_BENCH_EF="$efs" ISSC_BENCH_QUERIES="$queries" \
    cargo bench -p issc-store --bench index | tee "$dump/rust.md"
"$venv/bin/python" - "$dump" "$sizes" "$efs" <<'PY' | tee "$dump/faiss.md"
import os, sys, time
import numpy as np
import faiss

faiss.omp_set_num_threads(1)
dump, sizes, efs = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], [int(x) for x in sys.argv[3].split(",")]
K = int(os.environ.get("ISSC_BENCH_K", "10"))
print(f"FAISS {faiss.__version__}, one thread, top {K} faces, queries one at a time")


def row(n, method, lat, bytes_per_face, build_s, hit):
    lat = np.sort(np.asarray(lat)) * 1e3
    p = lambda q: lat[int(round((len(lat) - 1) * q))]
    print(f"| {n} | {method} | 1 | {p(0.5):.3f} | {p(0.99):.3f} | {1e3 / lat.mean():.0f} | {bytes_per_face:.0f} "
          f"| {build_s:.1f} | {hit:.4f} | – |", flush=True)


for n in sizes:
    d = f"{dump}/{n}"
    xb, xq = np.load(f"{d}/base.npy"), np.load(f"{d}/queries.npy")
    owners, ref = np.load(f"{d}/owners.npy"), np.load(f"{d}/exact_top.npy")
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    build = time.perf_counter() - t
    nflat = len(xq) if n <= 200_000 else min(len(xq), 300)
    lat, hit = [], 0
    for i in range(nflat):
        q = xq[i : i + 1]
        t = time.perf_counter()
        _, ids = flat.search(q, K)
        lat.append(time.perf_counter() - t)
        hit += int(owners[ids[0, 0]] == ref[i])
    row(n, "FAISS IndexFlatIP", lat, xb.shape[1] * 4, build, hit / nflat)
    del flat
    if efs == [0]:
        continue
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(xb.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 100
    hnsw.add(xb)
    build = time.perf_counter() - t
    size = faiss.serialize_index(hnsw).nbytes / n
    for ef in efs:
        hnsw.hnsw.efSearch = ef
        lat, hit = [], 0
        for i in range(len(xq)):
            q = xq[i : i + 1]
            t = time.perf_counter()
            _, ids = hnsw.search(q, K)
            lat.append(time.perf_counter() - t)
            hit += int(owners[ids[0, 0]] == ref[i])
        row(n, f"FAISS IndexHNSWFlat M=16 efC=100 ef={ef}", lat, size, build, hit / len(xq))
    del hnsw
PY
echo
echo "side by side (threads: 1 = one core; issc-store rows with more threads use rayon's default pool):"
echo "| faces | method | threads | p50 ms | p99 ms | queries/s | bytes/face | build s | hit@1 | top-10 = exact |"
echo "|---|---|---|---|---|---|---|---|---|---|"
grep -h '^| [0-9]' "$dump/rust.md" "$dump/faiss.md" | sort -s -t'|' -k2,2n
