#!/usr/bin/env bash
# End-to-end benchmark (issue 5 point 8): invoices/s from the shop's signed HTTP POST to `synced` in
# sync_documents, per ERP, through the real executables — erp-sim, ingest (HTTP intake + outbox relay),
# log-writer (when built), worker-quickbooks-online, worker-xero — on the stack given by the environment.
#
# 1. Limits on (the simulator's defaults and the workers' declared limits): QuickBooks Online (500/min, 10/s,
#    10 concurrent) and Xero (60/min, 5,000/day, 5 concurrent) run at the same time, each against its own erp-sim
#    process (so /_sim/stats counts one ERP). Reported: invoices/s, ERP requests/s and /min, the fraction of the
#    per-minute limit achieved over the measured window (first send → last invoice synced) and after the first
#    minute (steady state), the bound the workers' token bucket allows for that window (burst b = max(1, n/100),
#    then (0.97 n − b)/min: b + (0.97 n − b)·T/60 calls in T seconds), and the 429s the simulator answered.
# 2. Limits off (`POST /_sim/limits {"enabled":false}` for fresh companies, workers restarted with
#    LEDGERLINE_WORKER_RATE_LIMITS=off and LEDGERLINE_WORKER_CONCURRENCY=$E2E_OFF_CONCURRENCY, log level error as in
#    WorkerBench): each ERP alone, invoices/s, and the fraction of the runtime's ceiling
#    `worker.jobs_per_s.1_replica` (from E2E_WORKER_CEILING, else Benchmarks/worker.sh is run after the e2e
#    workers stopped, when WorkerBench is in BIN_DIR).
#
# Every tenant gets its own simulator company (POST /_sim/companies; the OAuth "browser" picks it with
# sim_company=), its own location `shop-01`, and the demo mapping (deploy/demo/mapping-<erp>.json) with its
# location key renamed. Events are invoice.created (deploy/demo/shop_day.py's lines, taxes and totals), sent in
# signed JSON-array batches of $E2E_BATCH.
#
# Builds nothing: the caller runs `swift build -c release` for erp-sim, ingest, log-writer, syncctl,
# worker-quickbooks-online, worker-xero (and WorkerBench for the ceiling); binaries are in $BIN_DIR.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD,
#      LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD (from `deploy/local-stack.sh env`),
#      E2E_QBO_INVOICES (1000), E2E_XERO_INVOICES (100), E2E_CUSTOMERS (10), E2E_OFF_INVOICES (2000),
#      E2E_OFF_CUSTOMERS (20), E2E_OFF_CONCURRENCY (8), E2E_BATCH (100), E2E_WORKER_CEILING (jobs/s; optional),
#      E2E_SKIP_ON / E2E_SKIP_OFF (1 skips that part), E2E_KEEP_LOGS (1 keeps the run directory).
# Prints `FIGURE e2e.<erp>.<name> <value> <unit>` lines (and `# …` notes); bounded: each wait has a timeout,
# the whole run takes about 5 minutes on 2 cores.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
: "${LEDGERLINE_AMQP_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
for binary in erp-sim ingest syncctl worker-quickbooks-online worker-xero; do
  [ -x "$BIN_DIR/$binary" ] || { echo "missing $BIN_DIR/$binary: swift build -c release --product $binary" >&2; exit 1; }
done
QBO_N=${E2E_QBO_INVOICES:-1000}
XERO_N=${E2E_XERO_INVOICES:-100}
CUSTOMERS=${E2E_CUSTOMERS:-10}
OFF_N=${E2E_OFF_INVOICES:-2000}
OFF_CUSTOMERS=${E2E_OFF_CUSTOMERS:-20}
OFF_CONCURRENCY=${E2E_OFF_CONCURRENCY:-8}
export E2E_BATCH=${E2E_BATCH:-100}

export LEDGERLINE_SECRETS_KEY=${LEDGERLINE_SECRETS_KEY:-ZTJlLXRlc3RzLW9ubHktc2VjcmV0cy1rZXktMzJieXQ=}
export LEDGERLINE_LOG_FORMAT=json
export LEDGERLINE_MIGRATIONS_DIR=$ROOT/deploy/migrations LEDGERLINE_TOPOLOGY_FILE=$ROOT/deploy/rabbitmq/topology.json
RUN=$(mktemp -d /tmp/ledgerline-e2ebench.XXXXXX)
RUN_ID=$(date +%H%M%S)
PIDS=()

stop_pid() {  # pid: SIGTERM, then SIGKILL after 15 s
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ "${E2E_KEEP_LOGS:-0}" = 1 ]; then echo "# logs kept in $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

# ---- helpers (Python: free ports, mapping, the sender/poller) ----
cat >"$RUN/e2e.py" <<'PY'
import hashlib, hmac, json, os, random, socket, subprocess, sys, time, urllib.error, urllib.request, uuid
from datetime import datetime, timezone
from decimal import Decimal

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def http(method, url, body=None, headers=None, timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

def psql(sql):
    out = subprocess.run(["psql", os.environ["LEDGERLINE_POSTGRES_URL"], "-Atq", "-F", "|", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines() if line]

def stats(sim):
    return json.loads(http("GET", sim + "/_sim/stats")[1])

def run(a):
    sys.path.insert(0, os.path.join(os.environ["E2E_ROOT"], "deploy", "demo"))
    import shop_day
    rng = random.Random(20261122)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    shop = shop_day.Shop(a["location"], a["currency"], a["prefix"], a["invoices"], rng, date, source="e2e-bench")
    events = []
    for n in range(1, a["invoices"] + 1):
        k = (n - 1) % a["customers"]
        base = shop_day.CUSTOMERS[k % len(shop_day.CUSTOMERS)]
        invoice_id = f"{a['prefix'].lower()}-inv-{n:05d}"
        shop.invoices[invoice_id] = {"number": f"{a['prefix']}-{10000 + n}", "customer": base,
                                     "vehicle": rng.choice(shop_day.VEHICLES), "version": 1}
        snapshot = shop.snapshot(invoice_id, 1, shop.lines())
        name = base[0] if k < len(shop_day.CUSTOMERS) else f"{base[0]} {k // len(shop_day.CUSTOMERS) + 1}"
        snapshot["customer"] = {"customer_id": f"{a['prefix']}-C{k + 1:03d}", "name": name, "tax_exempt": False}
        event = shop.event("invoice.created", invoice_id, 1, "v1", invoice=snapshot)
        event["tenant_id"] = a["tenant"]
        events.append(event)
    batch = int(os.environ.get("E2E_BATCH", "100"))
    bodies = [json.dumps(events[i:i + batch], separators=(",", ":")).encode() for i in range(0, len(events), batch)]
    sim, n, deadline_s = a["sim"], a["invoices"], a["timeout"]
    samples = []  # (seconds since t0, api requests so far, 429s so far)
    stat_calls = 0
    first = stats(sim)
    t0 = time.monotonic()
    samples.append((0.0, 0, 0))
    accepted = 0
    for index, body in enumerate(bodies):
        for attempt in range(30):
            timestamp = str(int(time.time()))
            signature = hmac.new(a["secret"].encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            status, answer = http("POST", a["ingest"] + "/v1/events", body, {
                "Content-Type": "application/json", "Ledgerline-Tenant": a["tenant"], "Ledgerline-Timestamp": timestamp,
                "Ledgerline-Signature": f"v1={signature}", "Idempotency-Key": f"{a['tenant']}-batch-{index}"}, timeout=60)
            if status == 503:
                time.sleep(1); continue
            break
        if status not in (200, 202):
            raise SystemExit(f"ingest answered {status}: {answer[:500]!r}")
        accepted += json.loads(answer).get("accepted", 0)
    sent_s = time.monotonic() - t0
    if accepted != n:
        raise SystemExit(f"ingest accepted {accepted} of {n} events")
    synced = parked = 0
    first_synced_s = None
    next_sample = t0 + 5
    while True:
        now = time.monotonic()
        row = psql(f"SELECT count(*) FILTER (WHERE state = 'synced'), count(*) FILTER (WHERE state = 'parked') "
                   f"FROM sync_documents WHERE tenant_id = '{a['tenant']}' AND document_kind = 'invoice'")[0]
        synced, parked = int(row[0]), int(row[1])
        if synced and first_synced_s is None:
            first_synced_s = now - t0
        if synced + parked >= n:
            break
        if now - t0 > deadline_s:
            break
        if now >= next_sample:
            s = stats(sim); stat_calls += 1
            samples.append((now - t0, s["requests"] - first["requests"] - stat_calls, s["rate_limited"] - first["rate_limited"]))
            next_sample = now + 5
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    last = stats(sim); stat_calls += 1
    requests = last["requests"] - first["requests"] - stat_calls
    samples.append((elapsed, requests, last["rate_limited"] - first["rate_limited"]))
    documents = json.loads(http("GET", sim + "/_sim/documents?company=" + a["company"])[1])
    retried = psql(f"SELECT coalesce(reason, '-'), count(*) FROM sync_documents WHERE tenant_id = '{a['tenant']}' "
                   f"AND attempt > 1 GROUP BY 1")
    print(json.dumps({
        "erp": a["erp"], "tenant": a["tenant"], "invoices": n, "synced": synced, "parked": parked,
        "seconds": elapsed, "sent_seconds": sent_s, "first_synced_seconds": first_synced_s,
        "requests": requests, "rate_limited": last["rate_limited"] - first["rate_limited"],
        "documents_created": last["documents_created"] - first["documents_created"],
        "refresh_calls": last["refresh_calls"] - first["refresh_calls"], "duplicates": len(documents["duplicates"]),
        "invoices_at_erp": documents["counts"].get("Invoice", 0),
        "retried_documents": {r[0]: int(r[1]) for r in retried}, "samples": samples}))

def report(path, mode, per_minute, label):
    r = json.load(open(path))
    erp, T, n = r["erp"], r["seconds"], r["invoices"]
    pre = f"e2e.{erp}.{mode}"
    print(f"# {label}: {r['synced']}/{n} synced, {r['parked']} parked in {T:.1f} s (sent in {r['sent_seconds']:.1f} s, "
          f"first synced after {r['first_synced_seconds'] or 0:.1f} s); {r['requests']} ERP requests "
          f"({r['requests'] / n:.2f} per invoice), {r['documents_created']} documents created ({r['invoices_at_erp']} invoices, "
          f"{r['duplicates']} duplicates at the ERP), {r['rate_limited']} x 429, "
          f"retried documents by last reason: {r['retried_documents'] or 'none'}")
    if r["synced"] < n:
        print(f"# {label}: NOT COMPLETE within the timeout")
    print(f"FIGURE {pre}.invoices_per_s {r['synced'] / T:.2f} invoices/s")
    print(f"FIGURE {pre}.erp_requests_per_s {r['requests'] / T:.2f} req/s")
    print(f"FIGURE {pre}.seconds {T:.1f} s")
    if per_minute:
        b = max(1, per_minute // 100)  # the workers' sizing: burst n/100, refill (0.97 n - b) per minute
        refill = 0.97 * per_minute - b
        achieved = r["requests"] / T * 60
        bound = min(per_minute * T / 60, b + refill * T / 60)
        print(f"FIGURE {pre}.erp_requests_per_min {achieved:.1f} req/min")
        print(f"FIGURE {pre}.fraction_of_limit {100 * achieved / per_minute:.1f} %")
        print(f"FIGURE {pre}.bucket_bound_fraction {100 * bound / (per_minute * T / 60):.1f} %")
        print(f"FIGURE {pre}.fraction_of_bucket_bound {100 * r['requests'] / bound:.1f} %")
        # Steady state: from the first sample at or after 60 s to the end (the burst spent).
        steady = [s for s in r["samples"] if s[0] >= 60]
        if len(steady) >= 2 and steady[-1][0] - steady[0][0] >= 20:
            rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) * 60
            print(f"FIGURE {pre}.steady_fraction_of_limit {100 * rate / per_minute:.1f} %")
            print(f"# {label}: steady {rate:.1f} req/min from {steady[0][0]:.0f} s to {steady[-1][0]:.0f} s "
                  f"(the bucket's steady refill allows {refill:.1f} req/min = {100 * refill / per_minute:.0f} %)")
        print(f"FIGURE {pre}.rate_limited_429 {r['rate_limited']} responses")
        print("# " + label + ": requests by time (s: requests, 429s): " +
              ", ".join(f"{s[0]:.0f}: {s[1]}, {s[2]}" for s in r["samples"]))

if __name__ == "__main__":
    command = sys.argv[1]
    if command == "port":
        print(free_port())
    elif command == "mapping":
        source, location, out = sys.argv[2:5]
        mapping = json.load(open(source))
        mapping["locations"] = {location: next(iter(mapping["locations"].values()))}
        json.dump(mapping, open(out, "w"))
    elif command == "run":
        run(json.loads(sys.argv[2]))
    elif command == "report":
        report(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
PY
export E2E_ROOT=$ROOT
py() { python3 "$RUN/e2e.py" "$@"; }
psql_q() { PGPASSWORD="${LEDGERLINE_POSTGRES_PASSWORD:-}" psql "$LEDGERLINE_POSTGRES_URL" -Atq -c "$1"; }
export PGPASSWORD="${LEDGERLINE_POSTGRES_PASSWORD:-}"

start() {  # name, then env assignments and the command; sets LAST_PID
  local name=$1; shift
  env "$@" >"$RUN/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
wait_http() {  # name, pid, url
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$3" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "$1 exited; its log:" >&2; tail -20 "$RUN/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$1 did not answer $3; see $RUN/$1.log" >&2; exit 1
}
start_worker() {  # erp, label, extra env…
  local erp=$1 label=$2 port; shift 2
  port=$(py port)
  start "worker-$erp-$label" LEDGERLINE_ADMIN_PORT="$port" LEDGERLINE_OAUTH_CLIENT_ID=ledgerline-sim \
    LEDGERLINE_OAUTH_CLIENT_SECRET=ledgerline-sim-secret "$@" "$BIN_DIR/worker-$erp"
  wait_http "worker-$erp-$label" "$LAST_PID" "http://127.0.0.1:$port/healthz"
  eval "WORKER_PID_${erp//-/_}=$LAST_PID WORKER_ADMIN_${erp//-/_}=$port"
}

"$BIN_DIR/syncctl" migrate >/dev/null
"$BIN_DIR/syncctl" topology >/dev/null
# Earlier runs' companies lived in simulators that are gone: retire their connections and open documents, so
# the sweepers do not hand this run's workers jobs that can only fail.
psql_q "UPDATE erp_connections SET status = 'disconnected' WHERE tenant_id LIKE 'e2eb-%' AND status <> 'disconnected'" >/dev/null
psql_q "UPDATE sync_documents SET state = 'parked', reason = 'sync.connection_inactive', updated_at = now()
        WHERE tenant_id LIKE 'e2eb-%' AND state NOT IN ('synced', 'parked')" >/dev/null

# ---- services ----
declare -A SIM
for erp in quickbooks-online xero; do
  port=$(py port)
  start "erp-sim-$erp" LEDGERLINE_ERPSIM_PORT="$port" LEDGERLINE_ADMIN_PORT="$(py port)" LEDGERLINE_LOG_LEVEL=warning \
    "$BIN_DIR/erp-sim"
  SIM[$erp]="http://127.0.0.1:$port"
  wait_http "erp-sim-$erp" "$LAST_PID" "${SIM[$erp]}/_sim/health"
done
INGEST_PORT=$(py port)
INGEST_ADMIN=$(py port)
start ingest LEDGERLINE_INGEST_HTTP_PORT="$INGEST_PORT" LEDGERLINE_ADMIN_PORT="$INGEST_ADMIN" "$BIN_DIR/ingest"
wait_http ingest "$LAST_PID" "http://127.0.0.1:$INGEST_ADMIN/healthz"
if [ -x "$BIN_DIR/log-writer" ]; then
  port=$(py port)
  start log-writer LEDGERLINE_ADMIN_PORT="$port" "$BIN_DIR/log-writer"
  wait_http log-writer "$LAST_PID" "http://127.0.0.1:$port/healthz"
else
  echo "# log-writer not in $BIN_DIR: audit events stay in their queue" >&2
fi

# tenant ERP LABEL: a tenant, location shop-01, a connection to a fresh simulator company; sets T_* variables.
tenant() {
  local erp=$1 label=$2 company api authorize token out
  T_ID="e2eb-$label-$RUN_ID"
  if [ "$erp" = xero ]; then company=$(python3 -c 'import uuid; print(uuid.uuid4())')
  else company="93414530$(python3 -c 'import random; print(random.randint(10**7, 10**8 - 1))')"; fi
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"erp\":\"$erp\",\"id\":\"$company\"}" "${SIM[$erp]}/_sim/companies"
  T_SECRET=$("$BIN_DIR/ingest" admin tenant-add --tenant "$T_ID" --name "E2E bench $label" --location shop-01 \
    --location-name "Shop" --time-zone America/Los_Angeles | sed -n 's/^secret=//p')
  T_CONNECTION=$("$BIN_DIR/ingest" admin connection-add --tenant "$T_ID" --location shop-01 --erp "$erp" \
    | sed -n 's/^connection_id=//p')
  py mapping "$ROOT/deploy/demo/mapping-$erp.json" shop-01 "$RUN/mapping-$T_ID.json"
  if [ "$erp" = xero ]; then api="${SIM[$erp]}/api.xro/2.0" authorize=/identity/connect/authorize token=/connect/token
  else api="${SIM[$erp]}" authorize=/connect/oauth2 token=/oauth2/v1/tokens/bearer; fi
  "$BIN_DIR/syncctl" connection configure "$T_CONNECTION" --api-base-url "$api" --authorize-url "${SIM[$erp]}$authorize" \
    --token-url "${SIM[$erp]}$token" --mapping "$RUN/mapping-$T_ID.json" >/dev/null
  printf '#!/bin/sh\nexec curl -sS -L -o /dev/null "$1&sim_company=%s"\n' "$company" >"$RUN/browser-$company.sh"
  chmod +x "$RUN/browser-$company.sh"
  LEDGERLINE_OAUTH_CLIENT_SECRET=ledgerline-sim-secret "$BIN_DIR/syncctl" connection connect "$T_CONNECTION" \
    --client-id ledgerline-sim --redirect-port "$(py port)" --open-with "$RUN/browser-$company.sh" --timeout 20 >/dev/null
  T_COMPANY=$company
}
measure_args() {  # erp tenant secret prefix currency invoices customers timeout company
  printf '{"erp":"%s","tenant":"%s","secret":"%s","prefix":"%s","currency":"%s","invoices":%d,"customers":%d,"timeout":%d,"company":"%s","location":"shop-01","sim":"%s","ingest":"http://127.0.0.1:%s"}' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${SIM[$1]}" "$INGEST_PORT"
}
metrics_note() {  # erp label admin-port
  curl -fsS "http://127.0.0.1:$3/metrics" 2>/dev/null \
    | grep -E '^ledgerline_worker_(rate_limited_total|retries_total|jobs_total|erp_failures_total|swept_total)' \
    | sed "s/^/# $2 worker metrics: /" || true
}

# ---- 1. limits on ----
if [ "${E2E_SKIP_ON:-0}" != 1 ]; then
  start_worker quickbooks-online on
  start_worker xero on
  tenant quickbooks-online "qbo-on"; QBO_T=$T_ID QBO_S=$T_SECRET QBO_C=$T_COMPANY
  tenant xero "xero-on"; XERO_T=$T_ID XERO_S=$T_SECRET XERO_C=$T_COMPANY
  echo "# limits on: $QBO_N QuickBooks Online invoices and $XERO_N Xero invoices ($CUSTOMERS customers each), both at once" >&2
  py run "$(measure_args quickbooks-online "$QBO_T" "$QBO_S" QON USD "$QBO_N" "$CUSTOMERS" 420 "$QBO_C")" >"$RUN/qbo-on.json" &
  QBO_JOB=$!
  py run "$(measure_args xero "$XERO_T" "$XERO_S" XON AUD "$XERO_N" "$CUSTOMERS" 420 "$XERO_C")" >"$RUN/xero-on.json" &
  XERO_JOB=$!
  wait "$QBO_JOB" || { echo "QuickBooks Online limits-on run failed" >&2; exit 1; }
  wait "$XERO_JOB" || { echo "Xero limits-on run failed" >&2; exit 1; }
  py report "$RUN/qbo-on.json" limits_on 500 "quickbooks-online limits on"
  metrics_note quickbooks-online "quickbooks-online limits on" "$WORKER_ADMIN_quickbooks_online"
  py report "$RUN/xero-on.json" limits_on 60 "xero limits on"
  metrics_note xero "xero limits on" "$WORKER_ADMIN_xero"
  # The workers' buckets after the run (a daily budget's bucket bursts n/2, then refills 0.47 n over the day).
  psql_q "SELECT format('# %s bucket %s: capacity %s, refill %s/min, tokens left %s', b.tenant_id, b.limit_name,
                 b.capacity, round(b.refill_per_sec * 60, 2), round(b.tokens, 1))
          FROM erp_rate_buckets b WHERE b.tenant_id IN ('$QBO_T', '$XERO_T') ORDER BY 1"
  psql_q "SELECT format('# %s audit: %s x %s (%s)', tenant_id, count(*), action, coalesce(reason_code, '-'))
          FROM audit_trail WHERE tenant_id IN ('$QBO_T', '$XERO_T') AND action <> 'Invoice Created'
          GROUP BY tenant_id, action, reason_code ORDER BY 1"
  stop_pid "$WORKER_PID_quickbooks_online"
  stop_pid "$WORKER_PID_xero"
fi

# ---- 2. limits off ----
if [ "${E2E_SKIP_OFF:-0}" != 1 ]; then
  for erp in quickbooks-online xero; do
    start_worker "$erp" off LEDGERLINE_WORKER_RATE_LIMITS=off LEDGERLINE_WORKER_CONCURRENCY="$OFF_CONCURRENCY" \
      LEDGERLINE_LOG_LEVEL=error
  done
  for erp in quickbooks-online xero; do
    if [ "$erp" = xero ]; then prefix=XOF currency=AUD short=xero; else prefix=QOF currency=USD short=qbo; fi
    tenant "$erp" "$short-off"
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d "{\"company\":\"$erp:$T_COMPANY\",\"enabled\":false}" "${SIM[$erp]}/_sim/limits"
    echo "# limits off: $OFF_N $erp invoices ($OFF_CUSTOMERS customers), worker concurrency $OFF_CONCURRENCY" >&2
    py run "$(measure_args "$erp" "$T_ID" "$T_SECRET" "$prefix" "$currency" "$OFF_N" "$OFF_CUSTOMERS" 240 "$T_COMPANY")" >"$RUN/$short-off.json"
    py report "$RUN/$short-off.json" limits_off 0 "$erp limits off" | tee "$RUN/$short-off.figures"
  done
  stop_pid "$WORKER_PID_quickbooks_online"
  stop_pid "$WORKER_PID_xero"

  CEILING=${E2E_WORKER_CEILING:-}
  if [ -z "$CEILING" ] && [ -x "$BIN_DIR/WorkerBench" ]; then
    echo "# the runtime's ceiling: Benchmarks/worker.sh (jobs seeded by SQL, one worker-xero, concurrency 8)" >&2
    WORKER_BENCH_SIM_PORT=$(py port) BIN_DIR="$BIN_DIR" bash "$HERE/worker.sh" >"$RUN/worker.out" 2>&1 || {
      echo "worker.sh failed:" >&2; tail -20 "$RUN/worker.out" >&2; }
    grep -E '^(FIGURE|#)' "$RUN/worker.out" || true
    CEILING=$(awk '$1 == "FIGURE" && $2 == "worker.jobs_per_s.1_replica" { print $3 }' "$RUN/worker.out")
  fi
  if [ -n "$CEILING" ]; then
    echo "FIGURE e2e.worker_ceiling.jobs_per_s.1_replica $CEILING jobs/s"
    for short in qbo xero; do
      erp=$([ "$short" = qbo ] && echo quickbooks-online || echo xero)
      awk -v c="$CEILING" -v e="$erp" '$1 == "FIGURE" && $2 == "e2e." e ".limits_off.invoices_per_s" {
        printf "FIGURE e2e.%s.limits_off.fraction_of_worker_ceiling %.1f %%\n", e, 100 * $3 / c }' "$RUN/$short-off.figures"
    done
  else
    echo "# no ceiling: set E2E_WORKER_CEILING or build WorkerBench" >&2
  fi
fi
