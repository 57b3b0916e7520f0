#!/usr/bin/env bash
# Build the server image from the Dockerfile and check that it serves, as a user would run it.
#
#   scripts/docker-smoke.sh MODEL_DIR [TAG]
#   ISSC_SMOKE_IMAGE=TAG scripts/docker-smoke.sh MODEL_DIR     (check an image already built; no build)
#
# MODEL_DIR: an exported model (`issc run --config examples/pipeline.toml --work W` leaves one in W/model).
# Uses `docker` when its daemon answers, else `podman`; on a machine with neither (no daemon, e.g. inside a
# container) it builds and runs with `buildah` (chroot isolation, host network). The checks:
#   1. the image builds from a clean tree (multi-stage, `--locked`);
#   2. the server runs as the image's non-root user (uid 10001) with the ENTRYPOINT and CMD of the image;
#   3. /healthz and /readyz answer 200; /predict without a key answers 401; with the key a photo of a person the
#      model knows comes back with that person's name;
#   4. with `--store /data` (the image's volume) the Face API creates a large person group, so uid 10001 can
#      write its store.
# Prints one line per check and exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(cd "${1:?usage: scripts/docker-smoke.sh MODEL_DIR [TAG]}" && pwd -P)"
tag="${2:-localhost/issc-serve:smoke}"
port="${ISSC_SMOKE_PORT:-18080}"
key="smoke-$RANDOM$RANDOM"
photo="examples/people/Barack_Obama/$(ls examples/people/Barack_Obama | head -1)"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n "${cid:-}" ]] && "$engine" rm -f "$cid" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then engine=docker
elif podman info >/dev/null 2>&1; then engine=podman
elif command -v buildah >/dev/null; then engine=buildah; port=8080
else fail "no container engine: install docker, podman or buildah"; fi
echo "engine: $engine"

start=$(date +%s)
if [[ -n "${ISSC_SMOKE_IMAGE:-}" ]]; then
    tag="$ISSC_SMOKE_IMAGE"
    ok "image $tag (given by ISSC_SMOKE_IMAGE, not rebuilt)"
elif [[ "$engine" == buildah ]]; then
    buildah build --network host --layers -t "$tag" . >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "build"; }
else
    "$engine" build -t "$tag" . >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "build"; }
fi
[[ -n "${ISSC_SMOKE_IMAGE:-}" ]] || ok "image $tag built in $(( $(date +%s) - start )) s"

# Start the image's own command: its ENTRYPOINT, then the given arguments or, with none, its CMD; as the image's
# user, with the model at /model and a fresh directory as the /data volume.
serve() {
    local name="$1"; shift
    if [[ "$engine" == buildah ]]; then
        # The image's config: ENTRYPOINT, CMD and USER, one per line.
        local config user argv
        config="$(buildah inspect --type image "$tag")"
        user="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["OCIv1"]["config"].get("User", ""))' "$config")"
        mapfile -t argv < <(python3 -c '
import json, sys
c = json.loads(sys.argv[1])["OCIv1"]["config"]
print("\n".join((c.get("Entrypoint") or []) + (sys.argv[2:] or c.get("Cmd") or [])))' "$config" "$@")
        cid="$(buildah from "$tag")"
        # Host network: the server binds the image's 0.0.0.0:8080 on this machine.
        buildah run --network host --user "$user" -e ISSC_API_KEYS="$key" \
            -v "$model:/model:ro" -v "$work/data:/data" "$cid" -- "${argv[@]}" >"$work/$name.log" 2>&1 &
        pids+=($!)
    else
        cid="$("$engine" run -d -p "127.0.0.1:$port:8080" -e ISSC_API_KEYS="$key" \
            -v "$model:/model:ro" -v "$work/data:/data" "$tag" "$@")"
    fi
    for _ in $(seq 150); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    cat "$work/$name.log" 2>/dev/null || "$engine" logs "$cid" || true
    fail "$name: the server did not answer /healthz"
}
stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pids=()
    if [[ "$engine" == buildah ]]; then buildah rm "$cid" >/dev/null; else "$engine" rm -f "$cid" >/dev/null; fi
    cid=""
}
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }

mkdir -p "$work/data"
# The volume must be writable by the image's user, as a named volume is (the Dockerfile creates /data for it).
chown 10001:10001 "$work/data" 2>/dev/null || chmod 777 "$work/data"
base="http://127.0.0.1:$port"

serve model
[[ "$(code "$base/healthz")" == 200 ]] || fail "/healthz"
[[ "$(code "$base/readyz")" == 200 ]] || fail "/readyz: $(cat "$work/body")"
ok "/healthz and /readyz answer 200"
if [[ "$engine" == buildah ]]; then
    # The process that listens on the port (it shares this machine's process table).
    pid="$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"
    uid="$(ps -o uid= -p "${pid:-0}" | tr -d ' ')"
    [[ "$uid" == 10001 ]] || fail "the server (pid ${pid:-?}) runs as uid '$uid', not 10001"
    ok "the server runs as uid 10001"
else
    [[ "$("$engine" exec "$cid" id -u)" == 10001 ]] || fail "the server does not run as uid 10001"
    ok "the server runs as uid 10001"
fi
[[ "$(code -H 'Content-Type: image/jpeg' --data-binary "@$photo" "$base/predict")" == 401 ]] || fail "/predict without a key"
ok "/predict without a key answers 401"
[[ "$(code -H "X-API-Key: $key" -H 'Content-Type: image/jpeg' --data-binary "@$photo" "$base/predict")" == 200 ]] \
    || fail "/predict: $(cat "$work/body")"
label="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["faces"][0]["label"])' "$work/body")"
[[ "$label" == Barack_Obama ]] || fail "/predict named '$label' on $photo"
ok "/predict names $photo: $label"
stop

serve store --model /model --store /data
status="$(code -X PUT -H "Ocp-Apim-Subscription-Key: $key" -H 'Content-Type: application/json' \
    -d '{"name":"smoke","recognitionModel":"recognition_04"}' "$base/face/v1.2/largepersongroups/smoke")"
[[ "$status" == 200 ]] || fail "Face API: create a large person group answered $status: $(cat "$work/body")"
[[ "$(code -H "Ocp-Apim-Subscription-Key: $key" "$base/face/v1.2/largepersongroups/smoke")" == 200 ]] || fail "Face API: read it back"
ls "$work/data" | grep -q . || fail "nothing written to the /data volume"
ok "Face API store on the /data volume: $(ls "$work/data" | tr '\n' ' ')"
stop
echo "all checks passed"
