#!/bin/bash
# Pull benchmark: initial-sync records/s of the real pull path (PullProcessor: connector pages through the
# rate-limited transport, each page applied + checkpointed in one transaction) against erp-sim WITH its real rate
# limits, as a fraction of what the ERP's documented request limit allows (requests/s × page size):
#   Xero 60 calls/min × 100 per page = 100 records/s; QuickBooks Online 500 calls/min × 1000 per page.
# No reference program: the ceiling is the documented limit itself (printed as pull.initial_sync.limit_allows.*).
# Builds nothing: the caller runs `swift build -c release` for erp-sim, syncctl and PullBench; binaries in $BIN_DIR.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD (from
#      `deploy/local-stack.sh env`), PULL_BENCH_SIM_PORT (8798), LEDGERLINE_PULLBENCH_* (see PullBench/main.swift).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
SIM_PORT=${PULL_BENCH_SIM_PORT:-8798}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
for binary in erp-sim PullBench; do
  [ -x "$BIN_DIR/$binary" ] || { echo "missing $BIN_DIR/$binary: swift build -c release --product $binary" >&2; exit 1; }
done

SIM_PID=
cleanup() {
  if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -x "$BIN_DIR/syncctl" ]; then
  export LEDGERLINE_MIGRATIONS_DIR=$ROOT/deploy/migrations
  "$BIN_DIR/syncctl" migrate >/dev/null
fi

LEDGERLINE_ERPSIM_PORT=$SIM_PORT LEDGERLINE_ERPSIM_RATE_LIMITS=on LEDGERLINE_ADMIN_PORT=0 LEDGERLINE_LOG_LEVEL=error \
  "$BIN_DIR/erp-sim" >/dev/null 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/health" >/dev/null || { echo "erp-sim did not start on $SIM_PORT" >&2; exit 1; }

LEDGERLINE_PULLBENCH_SIM="http://127.0.0.1:$SIM_PORT" "$BIN_DIR/PullBench"
