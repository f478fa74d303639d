#!/bin/bash
# Scheduler benchmark: SchedulerBench measures, for 10,000 connections (each with an hourly sweep and an
# end-of-day batch, in 30 time zones, 2 pending invoices each), the pure evaluation of every trigger, the
# planning of 20,000 new triggers, the worst minute (all 10,000 hourly sweeps due at once: 10,000 fires with
# their jobs and session events), the busiest end-of-day minute and a quiet minute (12 passes with nothing
# due), through the scheduler's FireEngine on a real Postgres. Target: under 1 s of work per minute of schedule.
# Reference (same server, same run): the same rows as the worst minute written by plain set-based SQL in one
# transaction (reference/scheduler_fire.sql, via psql), i.e. the database's floor for that work.
# Builds nothing: the caller runs `swift build -c release --product SchedulerBench`; binaries in $BIN_DIR.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL / LEDGERLINE_POSTGRES_PASSWORD (a superuser of
#      a throwaway database, from `deploy/local-stack.sh env`; the bench applies deploy/migrations and leaves its
#      tenant's rows behind, except outbox rows), LEDGERLINE_SCHEDULER_BENCH_CONNECTIONS (10000),
#      LEDGERLINE_SCHEDULER_BENCH_INVOICES (2), LEDGERLINE_SCHEDULER_BENCH_ROUNDS (3).
# Needs: psql, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-.build/release}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
export LEDGERLINE_MIGRATIONS_DIR=${LEDGERLINE_MIGRATIONS_DIR:-$HERE/../deploy/migrations}
CONNECTIONS=${LEDGERLINE_SCHEDULER_BENCH_CONNECTIONS:-10000}
INVOICES=${LEDGERLINE_SCHEDULER_BENCH_INVOICES:-2}
ROUNDS=${LEDGERLINE_SCHEDULER_BENCH_ROUNDS:-3}
export LEDGERLINE_SCHEDULER_BENCH_CONNECTIONS=$CONNECTIONS LEDGERLINE_SCHEDULER_BENCH_INVOICES=$INVOICES LEDGERLINE_SCHEDULER_BENCH_ROUNDS=$ROUNDS
[ -x "$BIN_DIR/SchedulerBench" ] || { echo "missing $BIN_DIR/SchedulerBench: swift build -c release --product SchedulerBench" >&2; exit 1; }
PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
export PGPASSWORD=${LEDGERLINE_POSTGRES_PASSWORD:-} PGOPTIONS="--client-min-messages=warning"

WORK=$(mktemp -d /tmp/ledgerline-scheduler-bench.XXXXXX)
trap 'rm -rf "$WORK"; "$PSQL" -q "$LEDGERLINE_POSTGRES_URL" -c "DROP SCHEMA IF EXISTS scheduler_bench_ref CASCADE" >/dev/null 2>&1 || true' EXIT

"$BIN_DIR/SchedulerBench" | tee "$WORK/figures"

# The reference: copies of the tables (same columns, defaults and indexes), the same rows per round.
"$PSQL" -q -v ON_ERROR_STOP=1 "$LEDGERLINE_POSTGRES_URL" >/dev/null <<SQL
DROP SCHEMA IF EXISTS scheduler_bench_ref CASCADE;
CREATE SCHEMA scheduler_bench_ref;
CREATE TABLE scheduler_bench_ref.fires (LIKE schedule_fires INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY);
CREATE TABLE scheduler_bench_ref.outbox (LIKE outbox INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE SEQUENCE scheduler_bench_ref.outbox_seq;
CREATE TABLE scheduler_bench_ref.triggers (LIKE schedule_triggers INCLUDING DEFAULTS INCLUDING INDEXES);
ALTER TABLE scheduler_bench_ref.triggers DROP CONSTRAINT IF EXISTS schedule_triggers_check;
INSERT INTO scheduler_bench_ref.triggers (connection_id, trigger_kind, tenant_id, interval_seconds, next_fire_at)
SELECT md5('c' || g)::uuid, 'interval', 'ref', 3600, now() FROM generate_series(1, $CONNECTIONS) AS g;
SQL
for round in $(seq "$ROUNDS"); do
  start=$(date +%s%N)
  "$PSQL" -q "$LEDGERLINE_POSTGRES_URL" -v connections="$CONNECTIONS" -v invoices="$INVOICES" -v run="r$round" \
    -v window="2030-01-01T0$round:00:00Z" -f "$HERE/reference/scheduler_fire.sql" >/dev/null
  end=$(date +%s%N)
  echo "FIGURE scheduler.worst_minute_${CONNECTIONS}_sweeps.reference $(( (end - start) / 1000000 )) ms" | tee -a "$WORK/reference" \
    | sed "s/^FIGURE/# round $round:/"
done

python3 - "$WORK/reference" "$WORK/figures" <<'PY'
import statistics, sys
ref = {}
for line in open(sys.argv[1]):
    parts = line.split()
    ref.setdefault(parts[1], []).append(float(parts[2]))
for name, samples in ref.items():
    print(f"FIGURE {name} {statistics.median(samples):.0f} ms")
swift = [float(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("FIGURE scheduler.worst_minute_")]
if swift and ref:
    r = statistics.median(next(iter(ref.values())))
    print(f"# scheduler worst minute: fire engine / plain SQL floor = {100 * swift[0] / r:.0f} % (target: under 1000 ms of work per minute)")
PY
