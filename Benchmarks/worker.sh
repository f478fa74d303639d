#!/bin/bash
# Worker benchmark: jobs/s through the real `worker-xero` executable — 1 process, then 4 replicas (own pools and
# AMQP connections) — against erp-sim with its rate limits off and no faults, and the RSS of each worker process
# under load (VmHWM / VmRSS from /proc). The workers run with LEDGERLINE_WORKER_RATE_LIMITS=off (the Xero
# connector's documented 60 calls/min per connection would otherwise be the whole figure).
# No reference program: nothing else does the same work (claim, record, push, commit + audit per job); the
# figures are the runtime's own.
# Builds nothing: the caller runs `swift build -c release` for worker-xero, erp-sim, syncctl and WorkerBench;
# binaries are in $BIN_DIR. Applies the migrations and the topology (syncctl) when syncctl is there.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD,
#      LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD (from `deploy/local-stack.sh env`),
#      WORKER_BENCH_JOBS (2000), WORKER_BENCH_CONCURRENCY (8), WORKER_BENCH_SIM_PORT (8797).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
SIM_PORT=${WORKER_BENCH_SIM_PORT:-8797}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
: "${LEDGERLINE_AMQP_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
for binary in worker-xero erp-sim WorkerBench; do
  [ -x "$BIN_DIR/$binary" ] || { echo "missing $BIN_DIR/$binary: swift build -c release --product $binary" >&2; exit 1; }
done

SIM_PID=
cleanup() {
  if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -x "$BIN_DIR/syncctl" ]; then
  export LEDGERLINE_MIGRATIONS_DIR=$ROOT/deploy/migrations LEDGERLINE_TOPOLOGY_FILE=$ROOT/deploy/rabbitmq/topology.json
  "$BIN_DIR/syncctl" migrate >/dev/null
  "$BIN_DIR/syncctl" topology >/dev/null
fi

LEDGERLINE_ERPSIM_PORT=$SIM_PORT LEDGERLINE_ERPSIM_RATE_LIMITS=off LEDGERLINE_ADMIN_PORT=0 LEDGERLINE_LOG_LEVEL=error \
  "$BIN_DIR/erp-sim" >/dev/null 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/health" >/dev/null || { echo "erp-sim did not start on $SIM_PORT" >&2; exit 1; }

WORKER_BENCH_SIM_URL="http://127.0.0.1:$SIM_PORT" BIN_DIR="$BIN_DIR" "$BIN_DIR/WorkerBench"
