# prodstack stand-in for postgres:18: Debian 12's PostgreSQL (15) behind an entrypoint with the
# official image's contract: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, the scripts in
# /docker-entrypoint-initdb.d run once on an empty data directory, extra arguments (`-c
# max_connections=256`) passed to postgres, and pg_isready / psql on PATH.
FROM debian:bookworm-slim
ARG STAND_IN
LABEL org.prodstack.stand-in="postgres:18" org.prodstack.stand-in-version="${STAND_IN}"
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql /var/lib/postgresql/data \
    && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
# The server's own binaries first, so `docker exec … psql` / `pg_isready` need no cluster
# configuration (Debian's /usr/bin wrappers would).
ENV PGDATA=/var/lib/postgresql/data \
    PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN pg_isready --version && psql --version
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
