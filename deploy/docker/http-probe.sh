#!/bin/bash
# http-probe PORT PATH — the health check of our Debian-slim images (HEALTHCHECK and the compose
# files' `healthcheck`): exits 0 when http://127.0.0.1:PORT/PATH answers a 2xx status within
# 2 seconds, 1 otherwise (refused, timed out, not HTTP, any other status).
#
# The runtime images carry neither curl nor wget; bash (essential in Debian) opens the TCP
# connection itself through /dev/tcp, so the probe adds nothing to the image but this file.
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: http-probe PORT [PATH]" >&2
    exit 2
fi
port=$1
path=${2:-/}
case "$port" in
    '' | *[!0-9]*)
        echo "http-probe: port \`$port\` is not a number" >&2
        exit 2
        ;;
esac

# The connect itself is bounded by the health check's own timeout; reads are bounded here.
if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    echo "http-probe: nothing listens on 127.0.0.1:$port" >&2
    exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3
if ! IFS=' ' read -r -t 2 version status _ <&3; then
    echo "http-probe: no answer from 127.0.0.1:$port within 2 s" >&2
    exit 1
fi
case "$version" in
    HTTP/*) ;;
    *)
        echo "http-probe: 127.0.0.1:$port did not answer HTTP" >&2
        exit 1
        ;;
esac
case "$status" in
    2??) exit 0 ;;
    *)
        echo "http-probe: GET $path answered $status" >&2
        exit 1
        ;;
esac
