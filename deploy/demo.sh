#!/usr/bin/env bash
# Ledgerline end to end, from a fresh clone on a Debian machine:
#   starts RabbitMQ and Postgres (loopback, ports 5673 / 5433, data in /tmp/ledgerline-stack), builds,
#   migrates, starts erp-sim, ingest, the log writer, the QuickBooks Online and Xero workers and the
#   scheduler, sets up a franchise with three locations (two on QuickBooks Online, one on Xero),
#   connects them with the OAuth code flow, sends a day of auto-electrical invoices (updates, payments, a void, one wrong total) and
#   prints what reached each accounting system. Run it again at any time: it starts a new day for a new
#   demo tenant. The servers and services keep running; stop everything with: deploy/demo.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

export LEDGERLINE_STACK_DIR=${LEDGERLINE_STACK_DIR:-/tmp/ledgerline-stack}
RUN="$LEDGERLINE_STACK_DIR/demo"
SIM_PORT=${LEDGERLINE_DEMO_SIM_PORT:-8790}
INGEST_PORT=${LEDGERLINE_DEMO_INGEST_PORT:-8080}
SIM="http://127.0.0.1:$SIM_PORT"

step() { printf '\n==> %s\n' "$*"; }
stop_services() {
    for pidfile in "$RUN"/*.pid; do
        [ -e "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}
if [ "${1:-}" = "stop" ]; then
    stop_services
    deploy/local-stack.sh down
    exit 0
fi
START=$(date +%s)

step "starting the local stack (RabbitMQ, Postgres)"
deploy/local-stack.sh up
eval "$(deploy/local-stack.sh env)"
# The development key (README); set your own for anything real.
export LEDGERLINE_SECRETS_KEY=${LEDGERLINE_SECRETS_KEY:-bGVkZ2VybGluZS1sb2NhbC1kZXZlbG9wbWVudC1rZXk=}
export LEDGERLINE_LOG_FORMAT=${LEDGERLINE_LOG_FORMAT:-json}

step "building"
swift build 2>&1 | grep -E "error|Compiling|Build" | tail -3
BIN=$(swift build --show-bin-path)
BUILT=$(date +%s)

step "migrations and RabbitMQ topology"
"$BIN/syncctl" migrate
"$BIN/syncctl" topology

step "starting erp-sim, ingest, log-writer, scheduler, worker-quickbooks-online, worker-xero (logs in $RUN)"
mkdir -p "$RUN"
stop_services
start() {  # name, admin port, command and environment…
    local name=$1 port=$2
    shift 2
    env LEDGERLINE_ADMIN_PORT="$port" "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}
wait_healthy() {  # name, admin port
    for _ in $(seq 1 150); do
        if curl -fsS "http://127.0.0.1:$2/healthz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; then
            echo "$1 exited; its log:" >&2
            tail -20 "$RUN/$1.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "$1 did not become healthy; see $RUN/$1.log" >&2
    exit 1
}
start erp-sim 9190 LEDGERLINE_ERPSIM_PORT="$SIM_PORT" \
    LEDGERLINE_ERPSIM_COMPANIES="quickbooks-online:9341453000000001,xero:3f5e8a3c-0d4b-4a57-9a3e-7d1c2b6f0001" \
    "$BIN/erp-sim"
start ingest 9101 LEDGERLINE_INGEST_HTTP_PORT="$INGEST_PORT" "$BIN/ingest"
start log-writer 9103 "$BIN/log-writer"
start scheduler 9113 "$BIN/scheduler"
start worker-quickbooks-online 9112 LEDGERLINE_OAUTH_CLIENT_ID=ledgerline-sim \
    LEDGERLINE_OAUTH_CLIENT_SECRET=ledgerline-sim-secret "$BIN/worker-quickbooks-online"
start worker-xero 9111 LEDGERLINE_OAUTH_CLIENT_ID=ledgerline-sim \
    LEDGERLINE_OAUTH_CLIENT_SECRET=ledgerline-sim-secret "$BIN/worker-xero"
for service in erp-sim:9190 ingest:9101 log-writer:9103 scheduler:9113 worker-quickbooks-online:9112 worker-xero:9111; do
    wait_healthy "${service%%:*}" "${service##*:}"
done
echo "all services healthy"

TENANT="sparks-demo-$(date +%H%M%S)"
DAY=$(date -u +%F)
step "setting up tenant $TENANT: three locations and their connections"
SECRET=$("$BIN/ingest" admin tenant-add --tenant "$TENANT" --name "Sparks Auto Electrical (demo)" --location sacramento-01 \
    --location-name "Sacramento" --time-zone America/Los_Angeles | sed -n 's/^secret=//p')
"$BIN/ingest" admin location-add --tenant "$TENANT" --location reno-02 --name "Reno" --time-zone America/Los_Angeles >/dev/null
"$BIN/ingest" admin location-add --tenant "$TENANT" --location brisbane-03 --name "Brisbane" --time-zone Australia/Brisbane >/dev/null
connect() {  # location, erp, api base, authorize path, token path
    local id
    id=$("$BIN/ingest" admin connection-add --tenant "$TENANT" --location "$1" --erp "$2" | sed -n 's/^connection_id=//p')
    "$BIN/syncctl" connection configure "$id" --api-base-url "$3" --authorize-url "$SIM$4" --token-url "$SIM$5" \
        --mapping "deploy/demo/mapping-$2.json" >/dev/null
    # The OAuth code flow, with curl as the browser (the simulator approves at once).
    LEDGERLINE_OAUTH_CLIENT_SECRET=ledgerline-sim-secret "$BIN/syncctl" connection connect "$id" \
        --client-id ledgerline-sim --redirect-port 8765 --open-with "curl -sS -L -o /dev/null" | tail -1
}
connect sacramento-01 quickbooks-online "$SIM" /connect/oauth2 /oauth2/v1/tokens/bearer
connect reno-02 quickbooks-online "$SIM" /connect/oauth2 /oauth2/v1/tokens/bearer
connect brisbane-03 xero "$SIM/api.xro/2.0" /identity/connect/authorize /connect/token

step "the shops send their day ($DAY) to ingest over signed HTTP"
SUMMARY=$(python3 deploy/demo/shop_day.py --url "http://127.0.0.1:$INGEST_PORT" --tenant "$TENANT" --secret "$SECRET" \
    --date "$DAY" --location sacramento-01:USD:SAC:12 --location reno-02:USD:RNO:10 --location brisbane-03:AUD:BNE:8 \
    --mismatch reno-02)

step "waiting for the workers"
psql_q() { PGPASSWORD="${LEDGERLINE_POSTGRES_PASSWORD:-}" psql "$LEDGERLINE_POSTGRES_URL" -Atq -c "$1"; }
for _ in $(seq 1 120); do
    OPEN=$(psql_q "SELECT count(*) FROM sync_documents WHERE tenant_id = '$TENANT' AND state NOT IN ('synced', 'parked')")
    DONE=$(psql_q "SELECT count(*) FROM sync_documents WHERE tenant_id = '$TENANT' AND state IN ('synced', 'parked')")
    ACCEPTED=$(psql_q "SELECT count(*) FROM invoices WHERE tenant_id = '$TENANT'")
    if [ "$OPEN" = 0 ] && [ "$DONE" -ge "$ACCEPTED" ] && [ "$DONE" -gt 0 ]; then break; fi
    if [ "$DONE" != "${LAST:-}" ]; then echo "  $(date +%T) documents finished: $DONE, in progress: $OPEN"; LAST=$DONE; fi
    sleep 1
done
echo "  $(date +%T) documents finished: $DONE, in progress: $OPEN"

step "what happened"
psql_q "
SELECT format('  %-14s %-18s invoices synced %s, payments synced %s, voided %s, parked %s',
              c.location_id, c.erp,
              count(*) FILTER (WHERE d.document_kind = 'invoice' AND d.state = 'synced'),
              count(*) FILTER (WHERE d.document_kind = 'payment' AND d.state = 'synced'),
              count(*) FILTER (WHERE d.document_kind = 'invoice' AND d.state = 'synced' AND i.status = 'voided'),
              count(*) FILTER (WHERE d.state = 'parked'))
FROM erp_connections c
LEFT JOIN sync_documents d ON d.connection_id = c.connection_id
LEFT JOIN invoices i ON d.document_kind = 'invoice' AND i.tenant_id = d.tenant_id AND i.invoice_id = d.document_id
WHERE c.tenant_id = '$TENANT' GROUP BY c.location_id, c.erp ORDER BY c.location_id"
psql_q "SELECT format('  parked: %s %s: %s %s', document_kind, document_id, reason, coalesce(erp_message, ''))
        FROM sync_documents WHERE tenant_id = '$TENANT' AND state = 'parked'"
echo "$SUMMARY" | python3 -c '
import json, sys
for location, result in json.load(sys.stdin).items():
    for bad in result["rejected_events"]:
        print("  rejected by ingest at %s: invoice %s: %s: %s" % (location, bad["invoice"], bad["reason"], bad["message"]))'
curl -fsS "$SIM/_sim/documents" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
counts = ", ".join(f"{entity} {n}" for entity, n in sorted(answer["counts"].items()))
print("  in the simulated accounting systems: %s; duplicate documents: %d" % (counts, len(answer["duplicates"])))'
END=$(date +%s)
cat <<TXT

Done in $((END - BUILT)) s after the build ($((END - START)) s in all).
  sync log:      $BIN/syncctl log sessions --tenant $TENANT
  connections:   $BIN/syncctl connection list --tenant $TENANT
  service logs:  $RUN/*.log      metrics: curl 127.0.0.1:9112/metrics
Stop everything with: deploy/demo.sh stop
TXT
