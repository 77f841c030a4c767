# prodstack stand-in for alpine:3.20: Debian 12 with ca-certificates and the `apk` shim. It
# runs what the rust-alpine stand-in builds (a glibc binary).
FROM debian:bookworm-slim
ARG STAND_IN
LABEL org.prodstack.stand-in="alpine:3.20" org.prodstack.stand-in-version="${STAND_IN}"
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates wget >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY apk /sbin/apk
RUN chmod 0755 /sbin/apk
