#!/usr/bin/env bash
# Foundation benchmarks: each wrapper beside a reference doing the same work on the same servers.
# Builds in release mode, starts a throwaway stack of its own (ports 5675 / 5435), runs
# Benchmarks/{amqp,postgres,http}.sh, prints a table and writes docs/benchmarks.md.
# Loops are bounded in count and time; the whole run takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export LEDGERLINE_STACK_DIR=${LEDGERLINE_BENCH_STACK_DIR:-/tmp/ledgerline-bench-stack}
export LEDGERLINE_AMQP_PORT=${LEDGERLINE_BENCH_AMQP_PORT:-5675}
export LEDGERLINE_PG_PORT=${LEDGERLINE_BENCH_PG_PORT:-5435}

deploy/local-stack.sh install
for pkg in nginx-light gcc; do dpkg -s "$pkg" >/dev/null 2>&1 || NEED="${NEED:-} $pkg"; done
if [ -n "${NEED:-}" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $NEED >/dev/null; fi

echo "==> building release binaries" >&2
swift build -c release --product AMQPBench >&2
swift build -c release --product PostgresBench >&2
swift build -c release --product HTTPBench >&2
swift build -c release --product LogWriterBench >&2
export BIN_DIR=$(swift build -c release --show-bin-path)

deploy/local-stack.sh down >/dev/null 2>&1 || true
rm -rf "$LEDGERLINE_STACK_DIR"
trap 'deploy/local-stack.sh down >/dev/null 2>&1 || true' EXIT
deploy/local-stack.sh up >&2
eval "$(deploy/local-stack.sh env)"

OUT=$(mktemp)
for area in amqp postgres http logwriter; do
  echo "==> $area" >&2
  bash "Benchmarks/$area.sh" | tee -a "$OUT" | grep '^FIGURE' >&2 || { echo "$area benchmark failed" >&2; exit 1; }
done

# Turn FIGURE lines into a table: wrapper beside reference, ratio.
python3 - "$OUT" "$ROOT/docs/benchmarks.md" <<'PY'
import sys, datetime, platform, os
figures = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 4 and parts[0] == "FIGURE":
        figures[parts[1]] = (float(parts[2]), " ".join(parts[3:]))
rows = []
for name, (value, unit) in sorted(figures.items()):
    if name.endswith(".swift"):
        base = name[: -len(".swift")]
        ref = figures.get(base + ".reference") or figures.get(base + ".pgbench")
        ratio = f"{100 * value / ref[0]:.0f} %" if ref and ref[0] > 0 else "–"
        rows.append((base, f"{value:,.0f} {unit}", f"{ref[0]:,.0f} {ref[1]}" if ref else "–", ratio))
    elif not (name.endswith(".reference") or name.endswith(".pgbench")):
        rows.append((name, f"{value:,.0f} {unit}", "–", "–"))
table = ["| measurement | Ledgerline wrapper | reference | wrapper / reference |", "|---|---|---|---|"]
table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
print("\n".join(table))
doc = sys.argv[2]
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\n"
begin, end = "<!-- run.sh figures -->", "<!-- /run.sh figures -->"
stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
block = begin + "\n" + f"Last run: {stamp}, {os.cpu_count()} cores, `Benchmarks/run.sh`.\n\n" + "\n".join(table) + "\n" + end
if begin in text and end in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n## Latest run\n\n" + block + "\n"
with open(doc, "w") as f:
    f.write(text)
PY
