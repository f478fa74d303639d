#!/bin/bash
# Log writer benchmark: LogWriterBench measures audit events written per second through AuditTrailWriter
# (the log writer's batch path: per-tenant chain lock, duplicate check, SHA-256 hash chain, multi-row
# INSERT under row-level security, sync-session counts, commit) and, in the same run on the same
# server, a plain COPY of the same rows into a copy of the table (same columns and indexes; no chain,
# no duplicate check, no sessions, no row-level security) as the reference. It also prints the rate with
# the JSON decoding of the AMQP bodies included. Rounds alternate; the printed figures are medians.
# Builds nothing: the caller runs `swift build -c release --product LogWriterBench`; binaries in $BIN_DIR.
# Env: BIN_DIR (default .build/release), LEDGERLINE_POSTGRES_URL / LEDGERLINE_POSTGRES_PASSWORD (a
#      superuser of a throwaway database, from `deploy/local-stack.sh env`; the bench applies
#      deploy/migrations and creates the login role ledgerline_bench_writer; audit rows it writes stay:
#      the trail is append-only), LEDGERLINE_LOGWRITER_BENCH_EVENTS (50000 per round),
#      LEDGERLINE_LOGWRITER_BENCH_BATCH (1000), LEDGERLINE_LOGWRITER_BENCH_TENANTS (4),
#      LEDGERLINE_LOGWRITER_BENCH_SECONDS (60 per measurement), LEDGERLINE_LOGWRITER_BENCH_ROUNDS (3).
# Needs: python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-.build/release}
ROUNDS=${LEDGERLINE_LOGWRITER_BENCH_ROUNDS:-3}
: "${LEDGERLINE_POSTGRES_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
export LEDGERLINE_MIGRATIONS_DIR=${LEDGERLINE_MIGRATIONS_DIR:-$HERE/../deploy/migrations}
export LEDGERLINE_LOGWRITER_BENCH_EVENTS=${LEDGERLINE_LOGWRITER_BENCH_EVENTS:-50000}

WORK=$(mktemp -d /tmp/ledgerline-logwriter-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for round in $(seq "$ROUNDS"); do
    "$BIN_DIR/LogWriterBench" | tee -a "$WORK/figures" | sed "s/^FIGURE/# round $round:/"
done

python3 - "$WORK/figures" <<'PY'
import statistics, sys
values = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 4 and parts[0] == "FIGURE":
        values.setdefault((parts[1], " ".join(parts[3:])), []).append(float(parts[2]))
for (name, unit), samples in sorted(values.items()):
    print(f"FIGURE {name} {statistics.median(samples):.0f} {unit}")
swift = [v for (n, _), v in values.items() if n == "logwriter.append_batched.swift"]
ref = [v for (n, _), v in values.items() if n == "logwriter.append_batched.reference"]
if swift and ref:
    print(f"# logwriter.append_batched: writer / plain COPY = {100 * statistics.median(swift[0]) / statistics.median(ref[0]):.0f} %")
PY
