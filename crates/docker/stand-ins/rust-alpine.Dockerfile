# prodstack stand-in for rust:1-alpine: the rust stand-in (Debian, glibc) with an `apk` that
# accepts `apk add` of what HttpArena's authsvc Dockerfile asks for (musl-dev, pkgconfig:
# not needed for a glibc build, or already there).
FROM rust:1.95-bookworm
ARG STAND_IN
LABEL org.prodstack.stand-in="rust:1-alpine" org.prodstack.stand-in-version="${STAND_IN}"
COPY apk /sbin/apk
RUN chmod 0755 /sbin/apk
