# Written for the Dockerfile frontend built into Docker Engine (no `# syntax=` line, so a build
# needs no registry to fetch a frontend from; COPY --chmod works there since Engine 20.10).
#
# Our JWT sidecar (`crates/authsvc`) as a container image, for deploy/compose.*.yml.
# (An HttpArena export does not use it: Production and Tuned entries must run HttpArena's
# shared sidecar unmodified, `build: ../_shared/authsvc`.)
#
# Build context: the checkout root. Same layering as server.Dockerfile: dependency skeleton,
# dependencies, our sources, then a debian:bookworm-slim runtime as a non-root user.

FROM rust:1.95-bookworm AS planner
WORKDIR /src
COPY . ./
RUN sh deploy/docker/cargo-skeleton.sh /skeleton

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p authsvc
COPY . ./
# Real sources are older than the stand-ins' build output: touch them so cargo recompiles.
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p authsvc --bin authsvc \
    && install -m 0755 target/release/authsvc /usr/local/bin/authsvc

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /usr/local/bin/authsvc /usr/local/bin/authsvc
COPY --chmod=0755 deploy/docker/http-probe.sh /usr/local/bin/http-probe
USER app
# Loopback: the edge shares the host network (compose files say so too).
ENV AUTHSVC_LISTEN=127.0.0.1:9090
EXPOSE 9090
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["http-probe", "9090", "/_health"]
ENTRYPOINT ["/usr/local/bin/authsvc"]
