#!/bin/bash
# Ingest benchmark: the built `ingest` service (release) under load over AMQP and HTTP, with durable commits,
# beside the bare ceilings measured in the same run on the same servers:
#   * Postgres: pgbench doing the same inserts per event (reference/ingest_pg_event.sql), one event per
#     transaction with 8 clients (as the HTTP intake commits) and 50 events per transaction with 1 client
#     (as the AMQP intake commits a batch);
#   * RabbitMQ: confirmed publishing of messages of an event's size (measured by IngestBench).
# Builds nothing: the caller runs `swift build -c release` for ingest, syncctl and IngestBench; binaries are
# in $BIN_DIR. Applies the migrations and topology (syncctl), registers a fresh tenant, starts ingest on a
# free port, runs IngestBench, runs pgbench, stops ingest. Prints FIGURE lines and ratios (# lines).
# The paced (latency) phase runs at INGEST_BENCH_RATE and again at half of it.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD,
#      LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD (from `deploy/local-stack.sh env`),
#      INGEST_BENCH_EVENTS (10000), INGEST_BENCH_RATE (500), INGEST_BENCH_PGBENCH_SECONDS (8).
# Needs: pgbench (postgresql), openssl, curl, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
PG_SECONDS=${INGEST_BENCH_PGBENCH_SECONDS:-8}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
: "${LEDGERLINE_AMQP_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
for binary in ingest syncctl IngestBench; do
  [ -x "$BIN_DIR/$binary" ] || { echo "missing $BIN_DIR/$binary: swift build -c release --product $binary" >&2; exit 1; }
done
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBENCH" ] || { echo "pgbench not found (package postgresql)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ledgerline-ingest-bench.XXXXXX)
INGEST_PID=
cleanup() {
  if [ -n "$INGEST_PID" ] && kill -0 "$INGEST_PID" 2>/dev/null; then
    kill -TERM "$INGEST_PID"; wait "$INGEST_PID" 2>/dev/null || true
  fi
  "$BIN_DIR/IngestBench" cleanup >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export LEDGERLINE_MIGRATIONS_DIR=$ROOT/deploy/migrations LEDGERLINE_TOPOLOGY_FILE=$ROOT/deploy/rabbitmq/topology.json
"$BIN_DIR/syncctl" migrate >&2
"$BIN_DIR/syncctl" topology >&2

export LEDGERLINE_SECRETS_KEY=$(openssl rand -base64 32)
RUN=$(date +%s)-$$
TENANT=bench-$RUN
SECRET=$(openssl rand -hex 24)
"$BIN_DIR/ingest" admin tenant-add --tenant "$TENANT" --location loc-01 --secret "$SECRET" >/dev/null
"$BIN_DIR/ingest" admin connection-add --tenant "$TENANT" --location loc-01 --erp xero >/dev/null
"$BIN_DIR/ingest" admin tenant-add --tenant "pg-$TENANT" --location loc-01 --no-secret >/dev/null
"$BIN_DIR/IngestBench" setup

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LEDGERLINE_INGEST_HTTP_PORT=$PORT LEDGERLINE_ADMIN_PORT=0 LEDGERLINE_LOG_LEVEL=warning \
  LEDGERLINE_INGEST_JOBS_EXCHANGE=ingest-bench.jobs LEDGERLINE_INGEST_AUDIT_EXCHANGE=ingest-bench.audit \
  "$BIN_DIR/ingest" > "$WORK/ingest.log" 2>&1 &
INGEST_PID=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/events" && break
  kill -0 "$INGEST_PID" 2>/dev/null || { cat "$WORK/ingest.log" >&2; exit 1; }
  sleep 0.2
done
sleep 1   # the AMQP consumer and the relay connect after the dependency gate opens

INGEST_BENCH_HTTP_URL="http://127.0.0.1:$PORT/v1/events" INGEST_BENCH_TENANT=$TENANT INGEST_BENCH_SECRET=$SECRET \
  "$BIN_DIR/IngestBench" run | tee "$WORK/figures"
# The latency at half the target rate too, to show the curve.
INGEST_BENCH_HTTP_URL="http://127.0.0.1:$PORT/v1/events" INGEST_BENCH_TENANT=$TENANT INGEST_BENCH_SECRET=$SECRET \
  INGEST_BENCH_PHASES=paced INGEST_BENCH_RATE=$(( ${INGEST_BENCH_RATE:-500} / 2 )) \
  "$BIN_DIR/IngestBench" run | tee -a "$WORK/figures"

# Stop ingest once its outbox has drained, so the pgbench ceiling below runs on quiet servers.
PSQL=$(dirname "$PGBENCH")/psql
[ -x "$PSQL" ] || PSQL=psql
export PGPASSWORD=${LEDGERLINE_POSTGRES_PASSWORD:-}
for _ in $(seq 300); do
  PENDING=$("$PSQL" -Atq "$LEDGERLINE_POSTGRES_URL" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL AND tenant_id = '$TENANT'")
  [ "$PENDING" = 0 ] && break
  sleep 0.2
done
kill -TERM "$INGEST_PID"; wait "$INGEST_PID" 2>/dev/null || true
INGEST_PID=

# The Postgres ceiling: the same inserts, one event per transaction (8 clients) and 50 per transaction (1 client).
{ echo '\set id random(1, 2000000000)'; echo 'BEGIN;'; cat "$HERE/reference/ingest_pg_event.sql" | grep -v '^--'; echo 'COMMIT;'; } \
  > "$WORK/event.sql"
{ echo 'BEGIN;'
  for _ in $(seq 50); do echo '\set id random(1, 2000000000)'; grep -v '^--' "$HERE/reference/ingest_pg_event.sql"; done
  echo 'COMMIT;'; } > "$WORK/batch50.sql"
pgbench_tps() {
  "$PGBENCH" -n -M prepared -D tenant="pg-$TENANT" "$@" "$LEDGERLINE_POSTGRES_URL" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1
}
PER_EVENT=$(pgbench_tps -c 8 -j 2 -T "$PG_SECONDS" -f "$WORK/event.sql")
BATCH_TPS=$(pgbench_tps -c 1 -j 1 -T "$PG_SECONDS" -f "$WORK/batch50.sql")
# pgbench's outbox rows name no real exchange: remove them so no relay ever tries them.
"$PSQL" -q "$LEDGERLINE_POSTGRES_URL" -c "DELETE FROM outbox WHERE tenant_id = 'pg-$TENANT'" >/dev/null
echo "FIGURE ingest.ceiling.postgres_per_event_tx $(python3 -c "print(round($PER_EVENT))") events/s" | tee -a "$WORK/figures"
echo "FIGURE ingest.ceiling.postgres_batch50_tx $(python3 -c "print(round($BATCH_TPS * 50))") events/s" | tee -a "$WORK/figures"

python3 - "$WORK/figures" <<'PY'
import sys
f = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 4 and p[0] == "FIGURE":
        f[p[1]] = float(p[2])
def ratio(a, b, label):
    if a in f and b in f and f[b] > 0:
        print(f"# {label}: {100 * f[a] / f[b]:.0f} % ({f[a]:,.0f} / {f[b]:,.0f})")
ratio("ingest.http.accepted", "ingest.ceiling.postgres_per_event_tx", "HTTP single events vs pgbench, one event per transaction")
ratio("ingest.amqp.accepted", "ingest.ceiling.postgres_batch50_tx", "AMQP intake vs pgbench, 50 events per transaction")
ratio("ingest.amqp.accepted", "ingest.ceiling.postgres_per_event_tx", "AMQP intake vs pgbench, one event per transaction")
ratio("ingest.http_batch.accepted", "ingest.ceiling.postgres_batch50_tx", "HTTP batches vs pgbench, 50 events per transaction")
ratio("ingest.amqp.accepted", "ingest.ceiling.amqp_publish_confirmed", "AMQP intake vs confirmed publishing")
PY
grep -iE '"level":"(error|critical)"|error' "$WORK/ingest.log" | head -n 5 >&2 || true
