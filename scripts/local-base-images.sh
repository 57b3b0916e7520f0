#!/usr/bin/env bash
# Stand-ins for the Dockerfile's two base images on a machine that cannot pull from Docker Hub but can reach a
# Debian mirror: `debian:bookworm-slim` from mmdebstrap, and `rust:1.95-bookworm` as that plus a C toolchain and
# this machine's Rust 1.95 toolchain (copied from rustup, no download). Then `scripts/docker-smoke.sh` builds the
# Dockerfile unchanged. Needs root, buildah and mmdebstrap (Debian packages); images go to buildah's storage.
#
#   scripts/local-base-images.sh [--ca-bundle FILE]
#
# --ca-bundle FILE replaces the Rust image's CA bundle with FILE (e.g. /etc/ssl/certs/ca-certificates.crt), for
# networks whose HTTPS proxy signs with a local CA: cargo and pip in the build stage then trust it. Docker Hub's
# images need none of this; it only exists so the image can be built and checked where they cannot be pulled.
set -euo pipefail
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
toolchain="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/1.95.0-x86_64-unknown-linux-gnu"
ca=""
[[ "${1:-}" == --ca-bundle ]] && ca="${2:?--ca-bundle needs a file}"
[[ -d "$toolchain" ]] || { echo "no Rust 1.95 toolchain at $toolchain (rustup toolchain install 1.95.0)" >&2; exit 1; }
rustup_bin="$(command -v rustup)" || { echo "rustup not found" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mmdebstrap --variant=minbase bookworm "$work/rootfs.tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
c="$(buildah from scratch)"
buildah add "$c" "$work/rootfs.tar" / >/dev/null
buildah config --cmd /bin/bash "$c"
buildah commit -q "$c" docker.io/library/debian:bookworm-slim >/dev/null
buildah rm "$c" >/dev/null
echo "built docker.io/library/debian:bookworm-slim"

c="$(buildah from docker.io/library/debian:bookworm-slim)"
buildah run --network host "$c" -- bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends ca-certificates curl git gcc g++ libc6-dev make pkg-config \
    python3 xz-utils >/dev/null && rm -rf /var/lib/apt/lists/*'
# The toolchain without its HTML docs (800 MB), laid out as the official image does (RUSTUP_HOME, CARGO_HOME).
mkdir -p "$work/toolchain" && cp -a "$toolchain/." "$work/toolchain/"
rm -rf "$work/toolchain/share/doc"
buildah copy "$c" "$work/toolchain" /usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu >/dev/null
buildah copy "$c" "$(readlink -f "$rustup_bin")" /usr/local/cargo/bin/rustup >/dev/null
[[ -n "$ca" ]] && buildah copy "$c" "$ca" /etc/ssl/certs/ca-certificates.crt >/dev/null
buildah run "$c" -- bash -c 'cd /usr/local/cargo/bin && for b in cargo rustc rustdoc; do ln -s rustup $b; done
    printf "version = \"12\"\ndefault_toolchain = \"1.95.0-x86_64-unknown-linux-gnu\"\n" > /usr/local/rustup/settings.toml'
buildah config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo --env RUST_VERSION=1.95.0 \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
buildah run "$c" -- cargo --version
buildah commit -q "$c" docker.io/library/rust:1.95-bookworm >/dev/null
buildah rm "$c" >/dev/null
echo "built docker.io/library/rust:1.95-bookworm"
