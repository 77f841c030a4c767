# prodstack stand-in for redis:7-alpine: Debian 12's Redis 7.0 with redis-server and redis-cli
# on PATH, /data as the working directory, as the official image.
FROM debian:bookworm-slim
ARG STAND_IN
LABEL org.prodstack.stand-in="redis:7-alpine" org.prodstack.stand-in-version="${STAND_IN}"
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
