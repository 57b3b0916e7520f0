#!/usr/bin/env bash
# Make the ONNX Runtime shared library available to isshesarahconnor without any
# non-registry download: the library is taken from the official `onnxruntime`
# wheel on PyPI (fetched with pip, the ordinary registry client), verified against
# pinned SHA-256 values and extracted to <repo>/.ort/lib/libonnxruntime.so.
#
# The `ort` crate (feature `load-dynamic`) then loads it at run time, e.g.
#     export ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh)"
# Without it, the pure-Rust tract engine (ort-tract) is used instead.
#
# Usage: scripts/fetch-onnxruntime.sh        (from any directory)
# Prints the absolute path of the library on stdout; progress goes to stderr.
# Needs: python3 with pip (network access to PyPI, or a pip find-links/index
# that holds the pinned wheel). Idempotent: does nothing when the library is
# already there with the expected hash.
set -euo pipefail

ORT_VERSION="1.32.0"
WHEEL_PLATFORM="manylinux_2_28_x86_64"
WHEEL_PYTHON="3.11"
WHEEL_FILE="onnxruntime-${ORT_VERSION}-cp311-cp311-${WHEEL_PLATFORM}.whl"
# sha256 of the wheel as published on PyPI (matches PyPI's recorded digest).
WHEEL_SHA256="5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d"
# Member of the wheel holding the C API library, and its sha256.
LIB_MEMBER="onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}"
LIB_SHA256="6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"

log() { printf 'fetch-onnxruntime: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "${script_dir}/.." && pwd -P)"
ort_dir="${repo_root}/.ort"
lib_dir="${ort_dir}/lib"
lib_path="${lib_dir}/libonnxruntime.so"

os="$(uname -s)"
arch="$(uname -m)"
if [[ "${os}" != "Linux" || "${arch}" != "x86_64" ]]; then
    log "the pinned ONNX Runtime ${ORT_VERSION} wheel is for x86_64 Linux only (this is ${os}/${arch})."
    log "Nothing to do: isshesarahconnor will use the pure-Rust tract engine (ort-tract)."
    log "To use ONNX Runtime anyway, get libonnxruntime ${ORT_VERSION} for your platform and set"
    log "  ORT_DYLIB_PATH=/path/to/libonnxruntime.{so,dylib,dll}"
    exit 0
fi

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum -- "$1" | cut -d' ' -f1
    else
        python3 - "$1" <<'PY'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
PY
    fi
}

if [[ -f "${lib_path}" ]]; then
    if [[ "$(sha256_of "${lib_path}")" == "${LIB_SHA256}" ]]; then
        log "already present and verified (onnxruntime ${ORT_VERSION})"
        printf '%s\n' "${lib_path}"
        exit 0
    fi
    log "${lib_path} exists but its sha256 does not match; fetching again"
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required (with pip) to fetch the onnxruntime wheel"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available for python3 (try: python3 -m ensurepip)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/fetch-onnxruntime.XXXXXX")"
trap 'rm -rf -- "${tmp}"' EXIT

log "downloading ${WHEEL_FILE} (about 28 MB) with pip"
python3 -m pip download "onnxruntime==${ORT_VERSION}" \
    --no-deps --only-binary=:all: \
    --platform "${WHEEL_PLATFORM}" --python-version "${WHEEL_PYTHON}" \
    --disable-pip-version-check --quiet \
    -d "${tmp}" >&2 || die "pip could not download onnxruntime==${ORT_VERSION} (is PyPI reachable?)"

wheel="${tmp}/${WHEEL_FILE}"
[[ -f "${wheel}" ]] || die "pip did not produce ${WHEEL_FILE} in ${tmp}"
got="$(sha256_of "${wheel}")"
[[ "${got}" == "${WHEEL_SHA256}" ]] || die "sha256 mismatch for ${WHEEL_FILE}: got ${got}, expected ${WHEEL_SHA256}"
log "wheel sha256 verified"

mkdir -p -- "${lib_dir}"
# Extract with Python's zipfile (no unzip needed) to a temp file in the target
# directory, verify it, then rename into place atomically. The wheel's LICENSE and
# ThirdPartyNotices.txt go next to it (ONNX Runtime is MIT; the notice must travel
# with the binary).
python3 - "${wheel}" "${LIB_MEMBER}" "${lib_dir}" "${ort_dir}" "${LIB_SHA256}" <<'PY'
import hashlib, os, sys, tempfile, zipfile

wheel, member, lib_dir, ort_dir, want = sys.argv[1:6]

def extract(zf, name, dest_dir, dest_name, mode, sha=None):
    fd, tmp = tempfile.mkstemp(prefix=dest_name + ".", suffix=".tmp", dir=dest_dir)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(name) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha is not None and h.hexdigest() != sha:
            sys.exit(f"fetch-onnxruntime: error: sha256 mismatch for {name}: got {h.hexdigest()}, expected {sha}")
        os.chmod(tmp, mode)
        os.replace(tmp, os.path.join(dest_dir, dest_name))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    if member not in names:
        sys.exit(f"fetch-onnxruntime: error: {member} not found in {os.path.basename(wheel)}")
    for extra, dest in (("onnxruntime/LICENSE", "LICENSE"),
                        ("onnxruntime/ThirdPartyNotices.txt", "ThirdPartyNotices.txt")):
        if extra in names:
            extract(zf, extra, ort_dir, dest, 0o644)
    extract(zf, member, lib_dir, "libonnxruntime.so", 0o755, want)
PY

log "installed onnxruntime ${ORT_VERSION}; use: export ORT_DYLIB_PATH=${lib_path}"
printf '%s\n' "${lib_path}"
