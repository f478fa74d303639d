#!/bin/bash
# AMQP benchmark: AMQPBench (the Swift AMQP module) and a plain-C rabbitmq-c reference doing the same
# work on the same broker: confirmed publishing of persistent 1 KiB messages to a durable quorum queue in
# batches (each batch waits for all its confirms), then consume with prefetch and one ack per message.
# Builds nothing in Swift: the caller runs `swift build -c release` first; binaries are in $BIN_DIR.
# The two programs alternate, one round each at a time, so drift on a noisy machine hits both alike;
# the printed figures are the medians of the rounds.
# Env: BIN_DIR (default .build/release), LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD (from
#      `deploy/local-stack.sh env`), LEDGERLINE_AMQP_BENCH_MESSAGES (20000), LEDGERLINE_AMQP_BENCH_BATCH (100),
#      LEDGERLINE_AMQP_BENCH_PREFETCH (100), LEDGERLINE_AMQP_BENCH_ROUNDS (5),
#      LEDGERLINE_AMQP_BENCH_SECONDS (60, per program run).
# Needs: gcc, librabbitmq-dev, pkg-config, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${BIN_DIR:-.build/release}
MESSAGES=${LEDGERLINE_AMQP_BENCH_MESSAGES:-20000}
BATCH=${LEDGERLINE_AMQP_BENCH_BATCH:-100}
PREFETCH=${LEDGERLINE_AMQP_BENCH_PREFETCH:-100}
ROUNDS=${LEDGERLINE_AMQP_BENCH_ROUNDS:-5}
SECONDS_LIMIT=${LEDGERLINE_AMQP_BENCH_SECONDS:-60}
: "${LEDGERLINE_AMQP_URL:?set it with eval \"\$(deploy/local-stack.sh env)\"}"
: "${LEDGERLINE_AMQP_PASSWORD:?set it with eval \"\$(deploy/local-stack.sh env)\"}"

WORK=$(mktemp -d /tmp/ledgerline-amqp-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -o "$WORK/amqp_ref" "$HERE/reference/amqp_ref.c" $(pkg-config --cflags --libs librabbitmq)

export LEDGERLINE_AMQP_BENCH_MESSAGES=$MESSAGES LEDGERLINE_AMQP_BENCH_BATCH=$BATCH
export LEDGERLINE_AMQP_BENCH_PREFETCH=$PREFETCH LEDGERLINE_AMQP_BENCH_SECONDS=$SECONDS_LIMIT
export LEDGERLINE_AMQP_BENCH_ROUNDS=1

# Warm-up (broker and page cache), not counted.
LEDGERLINE_AMQP_BENCH_MESSAGES=2000 "$BIN_DIR/AMQPBench" > /dev/null
"$WORK/amqp_ref" 2000 "$BATCH" "$PREFETCH" 1 "$SECONDS_LIMIT" > /dev/null

for round in $(seq "$ROUNDS"); do
    "$BIN_DIR/AMQPBench" | tee -a "$WORK/figures" | sed "s/^# round 0/# swift round $round/" | grep '^#'
    "$WORK/amqp_ref" "$MESSAGES" "$BATCH" "$PREFETCH" 1 "$SECONDS_LIMIT" | tee -a "$WORK/figures" \
        | sed "s/^# round 0/# reference round $round/" | grep '^#'
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
for base in ("amqp.publish_confirmed", "amqp.consume_ack"):
    swift = [v for (n, _), v in values.items() if n == base + ".swift"]
    ref = [v for (n, _), v in values.items() if n == base + ".reference"]
    if swift and ref:
        print(f"# {base}: wrapper / reference = {100 * statistics.median(swift[0]) / statistics.median(ref[0]):.0f} %")
PY
