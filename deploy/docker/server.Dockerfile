# Written for the Dockerfile frontend built into Docker Engine (no `# syntax=` line, so a build
# needs no registry to fetch a frontend from; COPY --chmod works there since Engine 20.10).
#
# The app server (`crates/server`) as a container image.
#
# Build context: the checkout root (deploy/compose.*.yml set `context: ..`). In an HttpArena
# export the same file is frameworks/<name>/Dockerfile with SRC=frameworks/<name>, because
# HttpArena builds with its repository root as the context (`context: ../../`).
#
# Layers, slowest first, each cached until its inputs change:
#   1. planner: the dependency skeleton (manifests + lock + empty target stand-ins);
#   2. build:   `cargo build` of the skeleton = every dependency, compiled once;
#   3. build:   our sources on top, so an edit recompiles only our crates;
#   4. runtime: debian:bookworm-slim + the binary + a bash health probe, as a non-root user.
# The workspace's release profile (fat LTO, codegen-units 1), as benchmarked natively: measured,
# a cold build fits HttpArena's 300 s validation window, which includes this build, and a
# lighter profile costs more CPU, not less (README, "Deploying with Docker Compose").
ARG SRC=.

FROM rust:1.95-bookworm AS planner
ARG SRC
WORKDIR /src
COPY ${SRC}/ ./
RUN sh deploy/docker/cargo-skeleton.sh /skeleton

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p server
ARG SRC
COPY ${SRC}/ ./
# COPY keeps the files' own timestamps, which may be older than the stand-ins' build: touch the
# real sources so cargo rebuilds our crates instead of keeping the empty stand-ins.
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p server --bin server \
    && install -m 0755 target/release/server /usr/local/bin/server

FROM debian:bookworm-slim
ARG SRC
# /run/prodstack holds the server's Unix socket (LISTEN_UNIX) where a compose file mounts the
# socket volume the edge shares (Tuned); the folder is the app user's in the image as well.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0755 /run/prodstack
COPY --from=build /usr/local/bin/server /usr/local/bin/server
COPY --chmod=0755 ${SRC}/deploy/docker/http-probe.sh /usr/local/bin/http-probe
USER app
# HttpArena's layout: the dataset is mounted at /data/dataset.json; everything else (DATABASE_URL,
# DATABASE_MAX_CONN, REDIS_URL) comes from the compose file.
# The app port on loopback (it trusts X-User-Id from the edge beside it); the compose files
# set it too.
ENV LISTEN=127.0.0.1:8080 \
    DATASET_PATH=/data/dataset.json
EXPOSE 8080
# /readyz answers 200 once Postgres does: the edge (depends_on: service_healthy) opens only then.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["http-probe", "8080", "/readyz"]
ENTRYPOINT ["/usr/local/bin/server"]
