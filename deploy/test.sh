#!/usr/bin/env bash
# The whole Ledgerline test suite, from a fresh clone on a Debian machine:
#   1. installs what it needs (Debian packages, as root) when missing,
#   2. starts a throwaway RabbitMQ and Postgres of its own (loopback, ports 5674 / 5434),
#   3. builds once and runs every test, the integration tests against those real servers
#      (REQUIRE_INTEGRATION=1: a missing server fails the run, nothing skips silently),
#   4. stops the servers, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."

export LEDGERLINE_STACK_DIR=${LEDGERLINE_TEST_STACK_DIR:-/tmp/ledgerline-test-stack}
export LEDGERLINE_AMQP_PORT=${LEDGERLINE_TEST_AMQP_PORT:-5674}
export LEDGERLINE_PG_PORT=${LEDGERLINE_TEST_PG_PORT:-5434}

step() { printf '\n==> %s\n' "$*"; }

step "installing what the build and tests need (when missing)"
deploy/local-stack.sh install
need=()
for pkg in python3 openssl nginx-light; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH (expected the Swift 6 toolchain)" >&2; exit 1; }

step "starting a throwaway RabbitMQ and Postgres in $LEDGERLINE_STACK_DIR"
deploy/local-stack.sh down >/dev/null 2>&1 || true
rm -rf "$LEDGERLINE_STACK_DIR"
# On exit stop the servers, and any nginx an HTTP test may have left behind (only ours: they run
# from /tmp/ledgerline-http-test.* directories).
trap 'deploy/local-stack.sh down; pkill -KILL -f "nginx -p /tmp/ledgerline-http-test\." 2>/dev/null || true' EXIT
deploy/local-stack.sh up
eval "$(deploy/local-stack.sh env)"
export REQUIRE_INTEGRATION=1

step "building (once)"
swift build --build-tests

step "applying migrations and the RabbitMQ topology (once, before any test declares them)"
BIN=$(swift build --show-bin-path)
"$BIN/syncctl" migrate
"$BIN/syncctl" topology

# Each test target runs in a process of its own, one after the other: several targets consume the
# same real queues (jobs, audit) and would otherwise take each other's messages. Suites that restart
# a server end in "RestartTests" and run last, on their own.
targets=$(sed -n 's/.*\.testTarget(name: "\([A-Za-z]*\)".*/\1/p' Package.swift)
failed=()
for target in $targets; do
  step "running $target"
  swift test --skip-build --filter "^$target\\." --skip 'RestartTests' || failed+=("$target")
done
step "running the server-restart tests"
swift test --skip-build --no-parallel --filter 'RestartTests' || failed+=("RestartTests")

total=$(( $(echo "$targets" | wc -w) + 1 ))
echo "test runs: $(( total - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
