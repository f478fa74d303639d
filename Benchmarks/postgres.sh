#!/bin/bash
# Postgres benchmark: PostgresBench (the Swift Postgres module) and pgbench doing the same work on the
# same server and table: INSERT … ON CONFLICT (idem_key) DO NOTHING of a ~1 KiB jsonb document with a
# unique key, one connection, prepared statements (pgbench -M prepared), in three shapes:
#   single_commit  one row per commit            (reference/pg_single.sql)
#   tx100          BEGIN, 100 INSERTs, COMMIT     (written by batch_script below)
#   pipeline100    100 INSERTs in one pipeline    (written by batch_script below)
# plus prepared `SELECT 1` round trips (reference/pg_select1.sql), which show the client's own overhead
# without the commit (fsync) cost that dominates the other shapes.
# The Swift bench also prints pg.pipeline_stream.swift and pg.single_commit_pool.swift (no reference).
# Builds nothing: the caller runs `swift build -c release` first; binaries are in $BIN_DIR.
# The two programs alternate shape by shape, so drift on a noisy machine hits both alike; the printed
# figures are the medians of the rounds, in rows/s (queries/s for SELECT 1).
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD (from
#      `deploy/local-stack.sh env`), LEDGERLINE_PG_BENCH_SECONDS (5, per figure and program),
#      LEDGERLINE_PG_BENCH_ROUNDS (3).
# Needs: pgbench and psql (postgresql-client), python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-.build/release}
SECONDS_PER_RUN=${LEDGERLINE_PG_BENCH_SECONDS:-5}
ROUNDS=${LEDGERLINE_PG_BENCH_ROUNDS:-3}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
export LEDGERLINE_PG_BENCH_SECONDS=$SECONDS_PER_RUN
export PGPASSWORD=${LEDGERLINE_POSTGRES_PASSWORD:-}
URL=$LEDGERLINE_POSTGRES_URL
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)
PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)

WORK=$(mktemp -d /tmp/ledgerline-pg-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PAYLOAD=$("$BIN_DIR/PostgresBench" --payload)   # the very document the Swift bench sends

# Creates and empties the table, warms up; the Swift bench does the same before each run.
LEDGERLINE_PG_BENCH_SECONDS=0.5 "$BIN_DIR/PostgresBench" select1 > /dev/null

pgbench_rows() {   # script, rows per transaction, figure name[, unit]
    "$PSQL" -X -q "$URL" -c "TRUNCATE bench_pg_events" > /dev/null
    local tps
    local script=$1
    case "$script" in /*) ;; *) script=$HERE/reference/$script ;; esac
    tps=$("$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -f "$script" \
        -D "payload=$PAYLOAD" "$URL" 2>/dev/null | awk '/^tps = / { print $3; exit }')
    [ -n "$tps" ] || { echo "pgbench failed for $1" >&2; exit 1; }
    python3 -c "print(f'FIGURE $3 {float($tps) * $2:.0f} ${4:-rows/s}')"
}

# A pgbench script of 100 single-row INSERTs (the statement of reference/pg_single.sql) between
# two lines, e.g. BEGIN/COMMIT or \startpipeline/\endpipeline.
batch_script() {   # name open close
    {
        for i in $(seq 100); do echo "\\set k$i random(1, 9000000000000000000)"; done
        echo "$2"
        for i in $(seq 100); do
            echo "INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k$i, :payload) ON CONFLICT (idem_key) DO NOTHING;"
        done
        echo "$3"
    } > "$WORK/$1"
}
batch_script pg_tx100.sql 'BEGIN;' 'COMMIT;'
batch_script pg_pipeline100.sql '\startpipeline' '\endpipeline'

swift_rows() {   # PostgresBench mode (it empties the table and warms up first)
    "$BIN_DIR/PostgresBench" "$1" | grep '^FIGURE'
}

# Each shape runs Swift then pgbench back to back, so both see the same machine weather.
for round in $(seq "$ROUNDS"); do
    echo "# round $round" >&2
    {
        swift_rows single
        pgbench_rows pg_single.sql 1 pg.single_commit.pgbench
        swift_rows tx100
        pgbench_rows "$WORK/pg_tx100.sql" 100 pg.tx100.pgbench
        swift_rows pipeline100
        pgbench_rows "$WORK/pg_pipeline100.sql" 100 pg.pipeline100.pgbench
        swift_rows select1
        pgbench_rows pg_select1.sql 1 pg.select1.pgbench queries/s
        swift_rows stream
        swift_rows pool
    } | tee -a "$WORK/figures" >&2
done
"$PSQL" -X -q "$URL" -c "TRUNCATE bench_pg_events" > /dev/null

python3 - "$WORK/figures" <<'PY'
import statistics, sys
values = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 4 and parts[0] == "FIGURE":
        values.setdefault((parts[1], " ".join(parts[3:])), []).append(float(parts[2]))
for (name, unit), samples in sorted(values.items()):
    print(f"FIGURE {name} {statistics.median(samples):.0f} {unit}")
for shape, unit in (("single_commit", "rows/s"), ("tx100", "rows/s"), ("pipeline100", "rows/s"), ("select1", "queries/s")):
    swift = values.get((f"pg.{shape}.swift", unit))
    ref = values.get((f"pg.{shape}.pgbench", unit))
    if swift and ref:
        # Each round ran the two back to back, so the per-round ratio is the steadier comparison.
        paired = statistics.median(s / r for s, r in zip(swift, ref))
        print(f"# {shape}: swift/pgbench = {statistics.median(swift) / statistics.median(ref) * 100:.0f} % of medians,"
              f" {paired * 100:.0f} % median of per-round ratios")
PY
