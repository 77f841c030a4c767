# prodstack stand-in for nginx:1.27-alpine: Debian 12's nginx (1.22, with its CVE backports)
# laid out as the official image: /etc/nginx with mime.types and conf.d, /var/cache/nginx,
# the `nginx` user the workers run as, logs to the container's stdout/stderr, and a wget that
# speaks TLS for health checks (GNU wget: the same -q -O --no-check-certificate flags).
FROM debian:bookworm-slim
ARG STAND_IN
LABEL org.prodstack.stand-in="nginx:1.27-alpine" org.prodstack.stand-in-version="${STAND_IN}"
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx wget ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin nginx \
    && mkdir -p /etc/nginx/conf.d /var/cache/nginx \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
