# syntax=docker/dockerfile:1
# issc serve: multi-stage build, non-root runtime, bundled models and ONNX Runtime.
#
#   docker build -t issc-serve .
#   docker run --rm -p 8080:8080 -e ISSC_API_KEYS=change-me -v "$PWD/model:/model:ro" issc-serve
#   # with the Azure-compatible Face API and its store on a volume (docs/face-api.md):
#   docker run --rm -p 8080:8080 -e ISSC_API_KEYS=change-me -v issc-faces:/data issc-serve --store /data
#   scripts/docker-smoke.sh MODEL_DIR     # build it and check that it serves (docker, podman or buildah)
#
# Only package registries are used: crates.io (cargo), PyPI (the pinned onnxruntime wheel, sha256-checked by
# scripts/fetch-onnxruntime.sh) and Debian. The models are the repository's own files (models/SHA256SUMS).

FROM rust:1.95-bookworm AS build
# nasm: libjpeg-turbo's SIMD decoder (scripts/fetch-nasm.sh); python3-pip: the ONNX Runtime wheel.
RUN apt-get update && apt-get install -y --no-install-recommends nasm python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# No line tables in the image (the binary drops from ~380 MB to ~64 MB); symbol names stay for backtraces.
RUN CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --locked -p issc \
 && scripts/fetch-onnxruntime.sh >/dev/null \
 && (cd models && sha256sum -c SHA256SUMS)

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libstdc++6 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin issc \
 && install -d -o 10001 -g 10001 /data
COPY --from=build /src/target/release/issc /usr/local/bin/issc
COPY --from=build /src/models /opt/issc/models
COPY --from=build /src/.ort/lib/libonnxruntime.so /opt/issc/lib/libonnxruntime.so
ENV ISSC_MODELS_DIR=/opt/issc/models \
    ORT_DYLIB_PATH=/opt/issc/lib/libonnxruntime.so \
    ISSC_ENGINE=ort
USER 10001:10001
# The Face API store (--store /data); a named volume keeps it across containers.
VOLUME /data
EXPOSE 8080
# Listening beyond loopback needs ISSC_API_KEYS (the server refuses to start without keys).
ENTRYPOINT ["issc", "serve", "--addr", "0.0.0.0:8080"]
CMD ["--model", "/model"]
