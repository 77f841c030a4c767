#!/bin/sh
# The `cache` service's entrypoint (redis:7-alpine runs it as `sh /entrypoint.sh`).
#
# Same behaviour as HttpArena's data/redis-entrypoint.sh (contract §4.3): a plain cache, not a
# database — protected mode off, bind 0.0.0.0, port 6379, 4 I/O threads with threaded reads,
# no RDB snapshots, no AOF, no maxmemory. Once Redis answers PING, /seed.txt is piped into
# redis-cli (HttpArena's seed is just `PING`: Redis starts empty), then the script waits on the
# server and forwards SIGTERM/SIGINT to it, so `docker compose down` stops Redis cleanly.
#
# `prodstack data` installs this file as data/redis-entrypoint.sh, next to data/redis-seed.txt,
# so the compose files mount both exactly as HttpArena does. The defaults below are HttpArena's;
# the variables exist for the tuned profile (REDIS_IO_THREADS) and for tests, which must not
# use the default port.
set -eu

port="${REDIS_PORT:-6379}"
bind="${REDIS_BIND:-0.0.0.0}"
io_threads="${REDIS_IO_THREADS:-4}"
seed="${REDIS_SEED:-/seed.txt}"

case "$io_threads" in
    '' | *[!0-9]* | 0)
        echo "redis-entrypoint: REDIS_IO_THREADS=$io_threads is not a positive integer" >&2
        exit 2
        ;;
esac

redis-server \
    --port "$port" \
    --bind "$bind" \
    --protected-mode no \
    --io-threads "$io_threads" \
    --io-threads-do-reads yes \
    --save "" \
    --appendonly no &
pid=$!

# From here on a stop request goes to Redis; the `wait` at the end then returns its status.
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT

# One bounded PING: if something else holds the port and accepts without answering, a bare
# redis-cli would wait forever. (`timeout` is busybox's in the alpine image.)
answers_ping() {
    timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG
}

# Wait (up to 30 s) for PING; give up at once if redis-server died (bad flag, port taken).
tries=0
until kill -0 "$pid" 2>/dev/null && answers_ping; do
    if ! kill -0 "$pid" 2>/dev/null; then
        status=0
        wait "$pid" || status=$?
        echo "redis-entrypoint: redis-server exited during start-up (status $status)" >&2
        exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 300 ]; then
        echo "redis-entrypoint: redis-server did not answer PING within 30 s" >&2
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" || true
        exit 1
    fi
    sleep 0.1
done

if [ -f "$seed" ]; then
    if ! redis-cli -h 127.0.0.1 -p "$port" < "$seed" > /dev/null; then
        echo "redis-entrypoint: seeding from $seed failed" >&2
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" || true
        exit 1
    fi
    echo "redis-entrypoint: seeded from $seed"
else
    echo "redis-entrypoint: no seed file at $seed; starting empty"
fi

status=0
wait "$pid" || status=$?
# A trapped signal makes `wait` return early while Redis is still shutting down: wait again.
while kill -0 "$pid" 2>/dev/null; do
    status=0
    wait "$pid" || status=$?
done
exit "$status"
