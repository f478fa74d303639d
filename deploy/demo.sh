#!/usr/bin/env bash
# Ledgerline on a built-in demo, from a fresh clone on a Debian machine:
# installs what is missing, starts a local RabbitMQ and Postgres (loopback, ports 5673 / 5433,
# data in /tmp/ledgerline-stack; kept running afterwards), builds, applies the migrations and the
# RabbitMQ topology, and shows what it set up. Run it again at any time: it reuses what runs.
# Stop the servers with: deploy/local-stack.sh down
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "starting the local stack"
deploy/local-stack.sh up
eval "$(deploy/local-stack.sh env)"

step "building"
swift build --product syncctl
BIN=$(swift build --show-bin-path)

step "applying database migrations"
"$BIN/syncctl" migrate

step "declaring the RabbitMQ topology"
"$BIN/syncctl" topology

step "status"
"$BIN/syncctl" status
cat <<TXT

The stack is up. To use it from this shell:
  eval "\$(deploy/local-stack.sh env)"
  $BIN/syncctl --help
Stop it with: deploy/local-stack.sh down
TXT
