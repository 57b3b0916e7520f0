#!/usr/bin/env bash
# Side-by-side benchmark of issc against the Python pipeline a Python user would write (scripts/pyref/).
#
#   scripts/bench-vs-python.sh [PHOTOS_DIR] [--no-detection] [--reference] [--serve MODEL_DIR [--enroll DIR]]
#                              [--serve-only] [--rounds N] [--limit N] [--requests N] [--probes N] [--levels "8 32"]
#
# Photos (default PHOTOS_DIR ../shared/data/identity/public), per core: each run pinned to core 0 (taskset), the
# three alternating round after round (default 3 rounds), medians over rounds:
#   issc        target/release/issc --engine ort bench --threads 1 --json --in DIR --passes 2
#   python (a)  scripts/pyref/pipeline.py --pipeline ort     (onnxruntime by hand, 1 thread, MODELS.md pre/post)
#   python (b)  scripts/pyref/pipeline.py --pipeline opencv  (cv2.FaceDetectorYN + cv2.FaceRecognizerSF, 1 thread)
# Then the same for ../shared/data/detection/images (group photos), issc against (a) only (--no-detection skips).
# --reference adds a row for issc's reference mode (`issc --reference`: the original SFace graph, the same work as the
# Python pipelines) next to the default mode.
#
# Server (--serve MODEL_DIR, an `issc export` folder such as target/example/model): `issc serve --model MODEL_DIR`
# with its default settings (ISSC_ENGINE=ort) against scripts/pyref/server.py under `gunicorn -w $(nproc)`, names by
# nearest centroid of the enrolled crops (default: MODEL_DIR/../dataset/train, the aligned training crops). Both are
# driven by the bundled load generator (crates/serve/examples/loadgen.rs, raw image/* bodies; each client sends its
# next request as soon as it has an answer, a refusal included) at concurrency 8 and 32 (--levels), alternating, on
# the same probe photos: --probes N (default 30) evenly spaced over the sorted photos of
# PHOTOS_DIR, copied to a temporary folder. Both servers and the load generator share all cores. The Python server
# answers `unknown` below the model's own centroid-cosine threshold (model.json), and both servers' answers on the
# probes are compared (faces found, labels agreeing).
#
# Needs python3 (venv + pip; target/pyref-venv is created from scripts/pyref/requirements.txt and re-used), and
# target/release/issc (built with cargo only when missing; same for the load generator). Every result line goes to
# target/bench-vs-python/results.jsonl, the programs' stderr to target/bench-vs-python/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { printf 'bench-vs-python: %s\n' "$*" >&2; exit 1; }

photos=../shared/data/identity/public
detection_dir=../shared/data/detection/images
detection=1 bench=1 reference=0 rounds=3 limit="" model="" enroll="" requests=300 probes=30 levels="8 32"
while (($#)); do
    case "$1" in
        --detection) detection=1 ;;
        --no-detection) detection=0 ;;
        --reference) reference=1 ;;
        --serve) model="${2:?--serve needs MODEL_DIR}"; shift ;;
        --enroll) enroll="${2:?--enroll needs DIR}"; shift ;;
        --serve-only) bench=0 ;;
        --rounds) rounds="${2:?}"; shift ;;
        --limit) limit="${2:?}"; shift ;;
        --requests) requests="${2:?}"; shift ;;
        --probes) probes="${2:?}"; shift ;;
        --levels) levels="${2:?}"; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) photos="$1" ;;
    esac
    shift
done
[[ -d "$photos" ]] || die "no photo folder $photos"
((bench || ${#model})) || die "--serve-only needs --serve MODEL_DIR"

out_dir=target/bench-vs-python
results="$out_dir/results.jsonl"
mkdir -p "$out_dir"
: >"$results"

# --- Python environment (re-used while requirements.txt is unchanged) ---------------------------------------------
venv=target/pyref-venv
py="$venv/bin/python"
if [[ ! -x "$py" ]] || ! cmp -s scripts/pyref/requirements.txt "$venv/requirements.installed"; then
    echo "bench-vs-python: installing scripts/pyref/requirements.txt into $venv" >&2
    python3 -m venv "$venv"
    "$py" -m pip install --disable-pip-version-check -q -r scripts/pyref/requirements.txt
    cp scripts/pyref/requirements.txt "$venv/requirements.installed"
fi
# One thread per process everywhere (numpy's BLAS too): the comparison is per core. Count the cores first: GNU nproc
# honours OMP_NUM_THREADS.
cores="$(nproc)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in scripts/pyref

# --- issc -----------------------------------------------------------------------------------------------------------
ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh)"
export ORT_DYLIB_PATH
if [[ ! -x target/release/issc ]]; then
    cargo build --release --locked -q -p issc
fi
if [[ -n "$model" && ! -x target/release/examples/loadgen ]]; then
    cargo build --release --locked -q -p issc-serve --example loadgen
fi

# Pin a run to core 0 when taskset works here (it may not in some containers).
pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
    pin=(taskset -c 0)
fi
limit_args=()
if [[ -n "$limit" ]]; then limit_args=(--limit "$limit"); fi
reference_args=(--reference)

# record KIND LABEL WHO ROUND EXTRA_JSON -- CMD...: run CMD (stderr to the log), keep its last stdout line (one JSON
# object) in results.jsonl, tagged.
record() {
    local kind="$1" label="$2" who="$3" round="$4" extra="$5" line rate
    shift 6
    if ! line="$("$@" 2>>"$out_dir/$who.log" | tail -n 1)" || [[ "$line" != "{"* ]]; then
        die "$who failed (see $out_dir/$who.log): $*"
    fi
    printf '{"kind":"%s","set":"%s","who":"%s","round":%d,%s"r":%s}\n' \
        "$kind" "$label" "$who" "$round" "$extra" "$line" >>"$results"
    rate="$(grep -oE '"(photos_per_s|requests_per_second|status)": ?([0-9.]+|\{[^}]*\})' <<<"$line" | tr '\n' ' ' || true)"
    printf '  %-14s round %d %s\n' "$who" "$round" "$rate" >&2
}

# bench_set LABEL DIR WHO...: alternate the given runners over the rounds.
bench_set() {
    local label="$1" dir="$2" r who
    shift 2
    echo "bench-vs-python: $label ($dir), $rounds round(s): $*" >&2
    for ((r = 1; r <= rounds; r++)); do
        for who in "$@"; do
            case "$who" in
                issc)
                    record bench "$label" issc "$r" "" -- ${pin[@]+"${pin[@]}"} target/release/issc --engine ort \
                        bench --threads 1 --json --in "$dir" --passes 2 ${limit_args[@]+"${limit_args[@]}"} ;;
                issc-reference)
                    record bench "$label" "$who" "$r" "" -- ${pin[@]+"${pin[@]}"} target/release/issc --engine ort \
                        "${reference_args[@]}" bench --threads 1 --json --in "$dir" --passes 2 \
                        ${limit_args[@]+"${limit_args[@]}"} ;;
                python-ort | python-opencv)
                    record bench "$label" "$who" "$r" "" -- ${pin[@]+"${pin[@]}"} "$py" scripts/pyref/pipeline.py \
                        --pipeline "${who#python-}" --in "$dir" --passes 2 ${limit_args[@]+"${limit_args[@]}"} ;;
                *) die "unknown runner $who" ;;
            esac
        done
    done
}

if ((bench)); then
    issc_runs=(issc)
    if ((reference)); then issc_runs+=(issc-reference); fi
    bench_set identity "$photos" "${issc_runs[@]}" python-ort python-opencv
    if ((detection)); then
        bench_set detection "$detection_dir" "${issc_runs[@]}" python-ort
    fi
fi

# --- servers ---------------------------------------------------------------------------------------------------------
pids=()
tmp=""
cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
    if [[ -n "$tmp" ]]; then rm -rf -- "$tmp"; fi
}
trap cleanup EXIT

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN (or the process died / 60 s passed).
wait_for() {
    local i
    for ((i = 0; i < 600; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

if [[ -n "$model" ]]; then
    [[ -f "$model/model.json" ]] || die "$model is not an exported model (no model.json)"
    ulimit -n 8192 2>/dev/null || true # one connection per client at high --levels
    enroll="${enroll:-$model/../dataset/train}"
    [[ -d "$enroll" ]] || die "no enrolment folder $enroll (give --enroll DIR: <label>/<photo or aligned crop>)"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-python.XXXXXX")"

    # Probe photos: N evenly spaced over the sorted photos (the order issc bench walks), copied with an index prefix
    # so that the load generator (which sorts them) sends them in this order.
    "$py" - "$photos" "$tmp/probes" "$probes" <<'PY'
import os, shutil, sys
sys.path.insert(0, "scripts/pyref")
import facepipe
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = [f for f in facepipe.list_photos(src) if f.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))]
pick = [files[i * len(files) // n] for i in range(min(n, len(files)))]
os.makedirs(dst)
for i, f in enumerate(pick):
    shutil.copy(f, os.path.join(dst, f"{i:03d}_{os.path.basename(f)}"))
print(f"bench-vs-python: {len(pick)} probe photos from {src} in {dst}", file=sys.stderr)
PY

    # issc serve, default settings on ONNX Runtime.
    ISSC_ENGINE=ort target/release/issc serve --model "$model" --addr 127.0.0.1:0 \
        >"$tmp/issc.out" 2>>"$out_dir/issc-serve.log" &
    pids+=("$!")
    wait_for "$tmp/issc.out" '^listening on ' "$!" || die "issc serve did not start (see $out_dir/issc-serve.log)"
    issc_url="$(sed -n 's/^listening on //p' "$tmp/issc.out" | head -n 1)/predict"

    # The model's own "unknown" rule when it is a centroid cosine (issc train calibrates it), else SFace's 0.363.
    threshold="$("$py" -c 'import json, sys
r = json.load(open(sys.argv[1])).get("rejection") or {}
print(r["threshold"] if r.get("score") == "centroid_cosine" else 0.363)' "$model/model.json")"

    # Flask under gunicorn: one sync worker per core, each enrolling at start-up (no --preload). The log is emptied
    # first so that the wait below cannot see the previous run's address.
    : >"$out_dir/gunicorn.log"
    PYREF_ENROLL="$(cd "$enroll" && pwd -P)" PYREF_THRESHOLD="$threshold" "$venv/bin/gunicorn" -w "$cores" \
        -b 127.0.0.1:0 --no-control-socket --chdir scripts/pyref --timeout 120 'server:create_app()' \
        2>"$out_dir/gunicorn.log" &
    pids+=("$!")
    wait_for "$out_dir/gunicorn.log" 'Listening at: ' "$!" || die "gunicorn did not start (see $out_dir/gunicorn.log)"
    py_base="$(sed -n 's/.*Listening at: \(http[^ ]*\).*/\1/p' "$out_dir/gunicorn.log" | head -n 1)"
    # Ready when every worker has enrolled: as many "enrolled" health answers as workers is not observable, so wait
    # for the first answer and let the load generator's warm-up (one request per probe photo) cover the rest.
    for ((i = 0; i < 600; i++)); do
        curl -fsS "$py_base/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "$py_base/healthz" >/dev/null || die "the Python server never answered (see $out_dir/gunicorn.log)"
    py_url="$py_base/predict"
    echo "bench-vs-python: issc serve at $issc_url, gunicorn at $py_url (unknown below cosine $threshold)" >&2

    for ((r = 1; r <= rounds; r++)); do
        for c in $levels; do
            record serve probes issc "$r" "\"concurrency\":$c," -- target/release/examples/loadgen http \
                --url "$issc_url" --photos "$tmp/probes" --concurrency "$c" --requests "$requests"
            record serve probes python "$r" "\"concurrency\":$c," -- target/release/examples/loadgen http \
                --url "$py_url" --photos "$tmp/probes" --concurrency "$c" --requests "$requests"
        done
    done

    # Same answers? Every probe once to each server: faces found and labels, matched by box overlap.
    "$py" - "$issc_url" "$py_url" "$tmp/probes" >>"$results" <<'PY'
import json, os, sys, urllib.request

def ask(url, path):
    ct = "image/png" if path.lower().endswith(".png") else "image/jpeg"
    req = urllib.request.Request(url, data=open(path, "rb").read(), headers={"Content-Type": ct})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["faces"]

def iou(a, b):
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)

issc_url, py_url, probes = sys.argv[1:4]
n = dict(photos=0, issc_faces=0, python_faces=0, matched=0, same_label=0, disagreements=[])
for name in sorted(os.listdir(probes)):
    path = os.path.join(probes, name)
    a, b = ask(issc_url, path), ask(py_url, path)
    n["photos"] += 1
    n["issc_faces"] += len(a)
    n["python_faces"] += len(b)
    for fa in a:
        fb = max(b, key=lambda f: iou(fa["box"], f["box"]), default=None)
        if fb is None or iou(fa["box"], fb["box"]) < 0.5:
            continue
        n["matched"] += 1
        if fa["label"] == fb["label"]:
            n["same_label"] += 1
        else:
            n["disagreements"].append(f"{name}: issc {fa['label']} / python {fb['label']} ({fb['similarity']:.3f})")
print(json.dumps({"kind": "agree", "r": n}))
PY
fi

# --- tables ----------------------------------------------------------------------------------------------------------
"$py" - "$results" "${#pin[@]}" "$cores" <<'PY'
import json, statistics as st, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
pinned = sys.argv[2] != "0"
med = st.median
STAGES = ("decode", "detect", "align", "embed")
NAMES = {"issc": "issc (ort, 1 thread)", "issc-reference": "issc reference mode",
         "python-ort": "python (a) onnxruntime", "python-opencv": "python (b) OpenCV"}
SHORT = {"issc": "issc", "issc-reference": "issc reference", "python-ort": "(a)", "python-opencv": "(b)"}
# Keys issc bench has always printed; anything else is shown below the table.
KNOWN = {"engine", "detector", "threads", "photos", "passes_measured", "faces_per_pass", "failed_per_pass", "wall_s",
         "photos_per_s", "faces_per_s", "ms_per_photo", "ms_per_face"}

def bench_table(label):
    runs = {}
    for r in rows:
        if r["kind"] == "bench" and r["set"] == label:
            runs.setdefault(r["who"], []).append(r["r"])
    if not runs:
        return
    first = next(iter(runs.values()))[0]
    print(f"\n== {label}: {first['photos']} photos, {len(next(iter(runs.values())))} round(s), "
          f"{'one core each (taskset -c 0)' if pinned else 'NOT pinned'}, medians over rounds ==")
    print(f"{'':24} {'photos/s':>9} {'(min-max)':>13} {'faces':>6} {'decode':>7} {'detect':>7} {'align':>6} "
          f"{'embed':>7} {'sum':>7}   ms per photo")
    m = {}
    for who, rs in runs.items():
        stage = {s: med(r["ms_per_photo"].get(s, 0.0) for r in rs) for s in STAGES}
        pps = [r["photos_per_s"] for r in rs]
        faces = rs[0].get("faces_per_pass", rs[0].get("faces"))
        m[who] = {"pps": med(pps), **stage}
        print(f"{NAMES.get(who, who):24} {med(pps):9.2f} {f'({min(pps):.1f}-{max(pps):.1f})':>13} {faces:>6} "
              + " ".join(f"{stage[s]:{w}.2f}" for s, w in zip(STAGES, (7, 7, 6, 7)))
              + f" {sum(stage.values()):7.2f}")
    for mine in ("issc", "issc-reference"):
        for who in ("python-ort", "python-opencv"):
            if who in m and mine in m:
                a, b = m[mine], m[who]
                stages = ", ".join(f"{s} {a[s] / b[s]:.2f}" if b[s] else f"{s} -" for s in STAGES)
                print(f"{SHORT[mine]} / {SHORT[who]}: photos/s x{a['pps'] / b['pps']:.2f} (>1: issc faster); "
                      f"time per photo: {stages} (<1: issc faster)")
    for mine in ("issc", "issc-reference"):
        if mine not in runs:
            continue
        issc = runs[mine][0]
        extra = {k: v for k, v in issc.items() if k not in KNOWN}
        extra_stages = {k: v for k, v in issc.get("ms_per_photo", {}).items() if k not in STAGES}
        print(f"{SHORT[mine]}: engine {issc.get('engine')}, detector {issc.get('detector')}, "
              f"threads {issc.get('threads')}"
              + "".join(f", {k} {json.dumps(v)}" for k, v in extra.items())
              + "".join(f", ms_per_photo.{k} {v:.2f}" for k, v in extra_stages.items()))
    py = runs.get("python-ort", [{}])[0].get("versions")
    if py:
        print("python: " + ", ".join(f"{k} {v}" for k, v in py.items()))

bench_table("identity")
bench_table("detection")

serve = [r for r in rows if r["kind"] == "serve"]
if serve:
    print(f"\n== /predict: issc serve (defaults, ORT) vs Flask + gunicorn (-w {sys.argv[3]}), "
          f"{serve[0]['r']['requests']} requests per run, {max(r['round'] for r in serve)} round(s), medians ==")
    print(f"{'server':8} {'c':>3} {'req/s':>7} {'200/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'503 %':>6} {'other':>6}")
    m = {}
    for c in sorted({r["concurrency"] for r in serve}):
        for who in ("issc", "python"):
            rs = [r["r"] for r in serve if r["who"] == who and r["concurrency"] == c]
            if not rs:
                continue
            ok = [x["status"].get("200", 0) / x["seconds"] for x in rs]
            refused = [x["status"].get("503", 0) / x["requests"] for x in rs]
            other = sum(v for x in rs for k, v in x["status"].items() if k not in ("200", "503"))
            m[who, c] = (med(x["requests_per_second"] for x in rs), med(ok), med(x["p50_ms"] for x in rs),
                         med(x["p99_ms"] for x in rs))
            print(f"{who:8} {c:>3} {m[who, c][0]:7.1f} {m[who, c][1]:7.1f} {m[who, c][2]:8.0f} {m[who, c][3]:8.0f} "
                  f"{100 * med(refused):6.1f} {other:>6}")
        if ("issc", c) in m and ("python", c) in m:
            a, b = m["issc", c], m["python", c]
            print(f"{'':8} {c:>3} issc / python: req/s x{a[0] / b[0]:.2f}, 200/s x{a[1] / b[1]:.2f}, "
                  f"p50 x{a[2] / b[2]:.2f}, p99 x{a[3] / b[3]:.2f}")
    print("(req/s counts every answer, 503 included; 200/s only answered photos; p50/p99 over all answers)")
for r in rows:
    if r["kind"] == "agree":
        a = r["r"]
        print(f"answers on the {a['photos']} probes: faces issc {a['issc_faces']}, python {a['python_faces']}; "
              f"{a['same_label']}/{a['matched']} matched faces get the same label"
              + "".join(f"\n  {d}" for d in a["disagreements"]))
PY
echo "bench-vs-python: raw results in $results" >&2
