# prodstack stand-in for rust:1.95-bookworm (built only where no registry can be reached).
# Debian 12 (the debootstrap stand-in of debian:bookworm-slim) with the host's own Rust
# toolchain, the C toolchain crates with C code need, and the host's CA bundle, so cargo
# reaches crates.io through this machine's TLS-inspecting proxy. Layout as the official image:
# cargo and rustc on PATH, CARGO_HOME=/usr/local/cargo.
FROM debian:bookworm-slim
ARG STAND_IN
LABEL org.prodstack.stand-in="rust:1.95-bookworm" org.prodstack.stand-in-version="${STAND_IN}"
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        gcc libc6-dev make pkg-config binutils git ca-certificates curl >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY toolchain/bin /usr/local/rust/bin
COPY toolchain/lib /usr/local/rust/lib
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && rustc --version && cargo --version
