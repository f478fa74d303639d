#!/bin/bash
# HTTP benchmark: HTTPBench (the Swift HTTP module) and a plain-C libcurl reference
# (reference/http_ref.c: one reused easy handle; a multi handle for the concurrent case) doing the
# same keep-alive POSTs of 1 KiB JSON against the same local nginx (`return 201`).
# Builds nothing in Swift: the caller runs `swift build -c release` first; binaries are in $BIN_DIR.
# Starts its own nginx on 127.0.0.1 (free port, config in a temp dir) and stops it on exit.
# Env: BIN_DIR (default .build/release), LEDGERLINE_HTTP_BENCH_REQUESTS (20000),
#      LEDGERLINE_HTTP_BENCH_SECONDS (10), LEDGERLINE_HTTP_BENCH_INFLIGHT (32),
#      LEDGERLINE_HTTP_BENCH_ROUNDS (3, alternating Swift/C sequential rounds), NGINX (nginx).
# Needs: nginx (Debian: nginx-light), gcc, libcurl4-openssl-dev, python3 (to pick a free port).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-.build/release}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
REQUESTS=${LEDGERLINE_HTTP_BENCH_REQUESTS:-20000}
SECONDS_LIMIT=${LEDGERLINE_HTTP_BENCH_SECONDS:-10}
INFLIGHT=${LEDGERLINE_HTTP_BENCH_INFLIGHT:-32}
ROUNDS=${LEDGERLINE_HTTP_BENCH_ROUNDS:-3}

WORK=$(mktemp -d /tmp/ledgerline-http-bench.XXXXXX)
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/logs" "$WORK/tmp"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location / { return 201; }
    }
}
CONF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then break; fi
    sleep 0.1
done
URL="http://127.0.0.1:$PORT/invoices"

gcc -O2 -o "$WORK/http_ref" "$HERE/reference/http_ref.c" $(pkg-config --cflags --libs libcurl)

export LEDGERLINE_HTTP_BENCH_URL=$URL LEDGERLINE_HTTP_BENCH_REQUESTS=$REQUESTS
export LEDGERLINE_HTTP_BENCH_SECONDS=$SECONDS_LIMIT LEDGERLINE_HTTP_BENCH_INFLIGHT=$INFLIGHT
"$WORK/http_ref" seq "$URL" 200 "$SECONDS_LIMIT" > /dev/null  # warm-up (HTTPBench warms up by itself)

# The machine is noisy, so the sequential runs alternate Swift and C for $ROUNDS rounds and each
# figure is the median of its rounds; every raw run is printed as a comment.
: > "$WORK/raw"
for round in $(seq "$ROUNDS"); do
    LEDGERLINE_HTTP_BENCH_PHASES=sequential,executor "$BIN_DIR/HTTPBench" | tee -a "$WORK/raw" | sed 's/^FIGURE/# round '"$round"':/'
    "$WORK/http_ref" seq "$URL" "$REQUESTS" "$SECONDS_LIMIT" | tee -a "$WORK/raw" | sed 's/^FIGURE/# round '"$round"':/'
done
LEDGERLINE_HTTP_BENCH_PHASES=concurrent "$BIN_DIR/HTTPBench" | tee -a "$WORK/raw" | sed 's/^FIGURE/# run:/'
"$WORK/http_ref" multi "$URL" "$REQUESTS" "$SECONDS_LIMIT" "$INFLIGHT" | tee -a "$WORK/raw" | sed 's/^FIGURE/# run:/'

median() { grep "^FIGURE $1 " "$WORK/raw" | awk '{print $3}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
SEQ_SWIFT=$(median http.keepalive_post.swift)
SEQ_EXECUTOR=$(median http.keepalive_post_client_executor.swift)
SEQ_C=$(median http.keepalive_post.reference)
echo "# sequential medians over $ROUNDS rounds: swift $SEQ_SWIFT ($(( 100 * SEQ_SWIFT / SEQ_C )) % of C)," \
     "swift on client executor $SEQ_EXECUTOR ($(( 100 * SEQ_EXECUTOR / SEQ_C )) % of C), C $SEQ_C"
echo "FIGURE http.keepalive_post.swift $SEQ_SWIFT req/s"
echo "FIGURE http.keepalive_post.reference $SEQ_C req/s"
# The executor variant does the same work as the same C loop, so it is listed against the same reference.
echo "FIGURE http.keepalive_post_client_executor.swift $SEQ_EXECUTOR req/s"
echo "FIGURE http.keepalive_post_client_executor.reference $SEQ_C req/s"
echo "FIGURE http.concurrent${INFLIGHT}_post.swift $(median "http.concurrent${INFLIGHT}_post.swift") req/s"
echo "FIGURE http.concurrent${INFLIGHT}_post.reference $(median "http.concurrent${INFLIGHT}_post.reference") req/s"
