#!/usr/bin/env bash
# Make NASM available to the build, so that libjpeg-turbo's decoder (mozjpeg-sys, feature `nasm_simd`) is built with
# its SIMD kernels: JPEG decoding about 1.7x faster, the same pixels (libjpeg-turbo's SIMD and C paths give
# bit-identical output; the parity tests hold either way). Without NASM the build still works: mozjpeg-sys prints
# "NASM not installed. Mozjpeg's SIMD won't be enabled" and builds the C code.
#
# Usage: PATH="$(scripts/fetch-nasm.sh):$PATH" cargo build --release ...   (from any directory)
# Prints the directory holding `nasm` on stdout (nothing when none could be had); progress goes to stderr.
# Where it comes from, in order: a `nasm` already on PATH; <repo>/.nasm (a previous run); the Debian/Ubuntu package,
# fetched with `apt-get download` (the distribution's signed archive; no root needed) and unpacked into <repo>/.nasm.
# Always exits 0: NASM only makes the build faster.
set -uo pipefail

log() { printf 'fetch-nasm: %s\n' "$*" >&2; }

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "${script_dir}/.." && pwd -P)"
dest="${repo_root}/.nasm"
bin="${dest}/usr/bin"

usable() { "$1" -v 2>/dev/null | grep -q '^NASM version [2-9]'; }

if command -v nasm >/dev/null 2>&1 && usable nasm; then
    dirname -- "$(command -v nasm)"
    exit 0
fi
if [[ -x "${bin}/nasm" ]] && usable "${bin}/nasm"; then
    echo "${bin}"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    log "no nasm, and no apt-get to fetch it: JPEG decoding is built without SIMD (slower, same pixels)."
    log "Install NASM 2.x (e.g. 'apt install nasm', 'dnf install nasm', 'brew install nasm') for the faster decoder."
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf -- "${tmp}"' EXIT
log "fetching the nasm package from the distribution's archive (apt-get download)"
if ! (cd "${tmp}" && apt-get download nasm >&2) || ! deb="$(ls "${tmp}"/nasm_*.deb 2>/dev/null | head -n1)" \
    || [[ -z "${deb}" ]]; then
    log "apt-get download nasm failed (no package lists? try 'apt-get update' as root): JPEG decoding is built"
    log "without SIMD (slower, same pixels). Install NASM 2.x for the faster decoder."
    exit 0
fi
rm -rf -- "${dest}"
if dpkg-deb -x "${deb}" "${dest}" && usable "${bin}/nasm"; then
    log "$("${bin}/nasm" -v) in ${bin}"
    echo "${bin}"
else
    log "the nasm package did not unpack to a working nasm: JPEG decoding is built without SIMD."
    rm -rf -- "${dest}"
fi
exit 0
