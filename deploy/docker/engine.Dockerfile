# Written for the Dockerfile frontend built into Docker Engine (no `# syntax=` line, so a build
# needs no registry to fetch a frontend from; COPY --chmod works there since Engine 20.10).
#
# The engine (`crates/edge`, binary `edge`) as a container image: one process that terminates
# TLS + HTTP/2 on 8443, serves the static files from memory, verifies JWTs in-process and, in
# its default `EDGE_MODE=fused`, runs the app server in the same process (plain HTTP/1.1 on
# 8080, which HttpArena's readiness probe and this image's health check use; /metrics on
# 127.0.0.1:9091 and 127.0.0.1:9092).
#
# Build context: the checkout root (deploy/compose.engine.yml sets `context: ..`). In an
# HttpArena export the same file is frameworks/<name>/Dockerfile with SRC=frameworks/<name>,
# because HttpArena builds with its repository root as the context (`context: ../../`).
#
# Same layers as server.Dockerfile, slowest first, each cached until its inputs change:
#   1. planner: the dependency skeleton (manifests + lock + empty target stand-ins);
#   2. build:   `cargo build` of the skeleton = every dependency of `edge`, compiled once;
#   3. build:   our sources on top, so an edit recompiles only our crates;
#   4. runtime: debian:bookworm-slim + the binary + a bash health probe, as a non-root user.
#
# The process runs as `app` (uid 10001), so the mounted TLS key must be readable by that uid:
# HttpArena's certs/ come from git (mode 0644); a key written by `prodstack data` is 0600 and
# needs `chmod 0644` before `docker compose up` (it is the benchmark's throwaway self-signed
# key). nginx reads its key as root and then drops privileges; this binary does not.
ARG SRC=.

FROM rust:1.95-bookworm AS planner
ARG SRC
WORKDIR /src
COPY ${SRC}/ ./
RUN sh deploy/docker/cargo-skeleton.sh /skeleton

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p edge
ARG SRC
COPY ${SRC}/ ./
# COPY keeps the files' own timestamps, which may be older than the stand-ins' build: touch the
# real sources so cargo rebuilds our crates instead of keeping the empty stand-ins.
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p edge --bin edge \
    && install -m 0755 target/release/edge /usr/local/bin/edge

FROM debian:bookworm-slim
ARG SRC
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /usr/local/bin/edge /usr/local/bin/edge
COPY --chmod=0755 ${SRC}/deploy/docker/http-probe.sh /usr/local/bin/http-probe
USER app
# HttpArena's layout: certs in /certs, static files in /data/static, the dataset at
# /data/dataset.json (the binary's defaults name the first two). Fused is the engine entry's
# mode; DATABASE_URL, DATABASE_MAX_CONN and REDIS_URL come from the compose file.
ENV EDGE_MODE=fused \
    LISTEN=127.0.0.1:8080 \
    DATASET_PATH=/data/dataset.json
EXPOSE 8443 8080
# Liveness of the fused process on its plain-HTTP listener (the image has neither curl nor an
# HTTPS client); the compose files ask /readyz instead, which also waits for Postgres.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["http-probe", "8080", "/healthz"]
ENTRYPOINT ["/usr/local/bin/edge"]
