#!/usr/bin/env bash
# Ledgerline local stack: a throwaway (or persistent) RabbitMQ node and Postgres cluster in data
# directories of their own, loopback only, no systemd, no Docker.
#
#   deploy/local-stack.sh install            install the Debian packages when missing (root)
#   deploy/local-stack.sh up                 start both (reuses servers that are already running)
#   deploy/local-stack.sh down               stop both cleanly
#   deploy/local-stack.sh status             say what runs
#   deploy/local-stack.sh env                print the connection settings as shell exports
#   deploy/local-stack.sh restart-rabbitmq | stop-rabbitmq | start-rabbitmq
#   deploy/local-stack.sh restart-postgres | stop-postgres | start-postgres
#
# Settings (environment): LEDGERLINE_STACK_DIR (default /tmp/ledgerline-stack),
# LEDGERLINE_AMQP_PORT (5673), LEDGERLINE_PG_PORT (5433). Several stacks can run side by side
# when each has its own directory and ports.
set -euo pipefail

# Close descriptors inherited from the caller (e.g. the pipe a test runner watches to learn that
# this script exited): the servers started below would otherwise hold them open for ever.
for inherited in /proc/$$/fd/*; do
  n=${inherited##*/}
  if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
done

STACK_DIR=${LEDGERLINE_STACK_DIR:-/tmp/ledgerline-stack}
AMQP_PORT=${LEDGERLINE_AMQP_PORT:-5673}
PG_PORT=${LEDGERLINE_PG_PORT:-5433}
PG_DB=${LEDGERLINE_PG_DB:-ledgerline}
RUN_AS=${LEDGERLINE_STACK_USER:-postgres}   # initdb refuses root; RabbitMQ runs as the same user
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
RMQBIN=/usr/lib/rabbitmq/bin   # not /usr/sbin/rabbitmq-server: that wrapper su's and logs to /var/log

say() { printf 'local-stack: %s\n' "$*" >&2; }
# Runs a command as the stack's user with the given VAR=value settings (env after runuser, so HOME sticks).
user_cmd() { if [ "$(id -u)" = 0 ]; then echo runuser -u "$RUN_AS" -- env; else echo env; fi; }
as_user() { $(user_cmd) "$@"; }

install_packages() {
  local missing=()
  for pkg in rabbitmq-server postgresql libpq-dev librabbitmq-dev libcurl4-openssl-dev pkg-config openssl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then say "missing packages (${missing[*]}); run as root to install them"; exit 1; fi
  say "installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
}

rmq_env() {
  local home=$STACK_DIR/rabbitmq
  RMQ_ENV=(HOME="$home" RABBITMQ_NODENAME="ledgerline$AMQP_PORT@localhost"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$AMQP_PORT"
    RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$((AMQP_PORT - 1300))
    RABBITMQ_MNESIA_BASE="$home/mnesia" RABBITMQ_LOG_BASE="$home/log" RABBITMQ_PID_FILE="$home/rabbit.pid"
    RABBITMQ_ENABLED_PLUGINS_FILE="$home/enabled_plugins" RABBITMQ_CONFIG_FILE="$home/rabbitmq.conf"
    RABBITMQ_CONF_ENV_FILE="$home/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$home/advanced.config"
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
}
rmqctl() { rmq_env; as_user "${RMQ_ENV[@]}" "$RMQBIN/rabbitmqctl" -n "ledgerline$AMQP_PORT@localhost" "$@"; }
rabbitmq_running() { rmqctl -q status >/dev/null 2>&1; }

start_rabbitmq() {
  if rabbitmq_running; then say "RabbitMQ already running on 127.0.0.1:$AMQP_PORT"; return 0; fi
  local home=$STACK_DIR/rabbitmq
  mkdir -p "$home/mnesia" "$home/log"
  echo '[].' > "$home/enabled_plugins"; : > "$home/rabbitmq-env.conf"
  printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users.guest = true\ndisk_free_limit.absolute = 50MB\nlog.console = false\nlog.file.level = warning\n' \
    "$AMQP_PORT" > "$home/rabbitmq.conf"
  [ "$(id -u)" = 0 ] && chown -R "$RUN_AS" "$home"
  rm -f "$home/rabbit.pid"
  rmq_env
  (cd "$home" && exec setsid $(user_cmd) "${RMQ_ENV[@]}" "$RMQBIN/rabbitmq-server" \
      >"$home/log/stdout.log" 2>&1 </dev/null) &
  if ! rmqctl -q wait --timeout 60 "$home/rabbit.pid" || ! rmqctl -q await_startup --timeout 90; then
    say "RabbitMQ did not start; see $home/log"; tail -n 20 "$home/log/stdout.log" >&2 || true; exit 1
  fi
  say "RabbitMQ ready on 127.0.0.1:$AMQP_PORT"
}

stop_rabbitmq() {
  rmq_env
  if rabbitmq_running; then rmqctl -q shutdown --timeout 60 >/dev/null 2>&1 || true; fi
  local pidfile=$STACK_DIR/rabbitmq/rabbit.pid
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  as_user ERL_EPMD_PORT=$((AMQP_PORT - 1300)) epmd -kill >/dev/null 2>&1 || true
}

pg_ctl_() { as_user "$PGBIN/pg_ctl" -D "$STACK_DIR/postgres/data" "$@"; }
postgres_running() { [ -f "$STACK_DIR/postgres/data/postmaster.pid" ] && pg_ctl_ status >/dev/null 2>&1; }

start_postgres() {
  if postgres_running; then say "Postgres already running on 127.0.0.1:$PG_PORT"; return 0; fi
  local dir=$STACK_DIR/postgres
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    install -d -m 700 "$dir"; [ "$(id -u)" = 0 ] && chown "$RUN_AS" "$dir"
    as_user "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = on
CONF
  fi
  pg_ctl_ -l "$dir/server.log" -w -t 60 start >/dev/null
  "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc "select 1 from pg_database where datname = '$PG_DB'" postgres | grep -q 1 \
    || "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc "create database $PG_DB" postgres >/dev/null
  say "Postgres ready on 127.0.0.1:$PG_PORT (database $PG_DB)"
}

stop_postgres() {
  if postgres_running; then pg_ctl_ -m fast -w -t 60 stop >/dev/null 2>&1 || true; fi
}

print_env() {
  cat <<ENV
export LEDGERLINE_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB
export LEDGERLINE_AMQP_URL=amqp://guest@127.0.0.1:$AMQP_PORT/%2F
export LEDGERLINE_AMQP_PASSWORD=guest
export LEDGERLINE_STACK_DIR=$STACK_DIR
export LEDGERLINE_AMQP_PORT=$AMQP_PORT
export LEDGERLINE_PG_PORT=$PG_PORT
ENV
}

prepare_dir() { mkdir -p "$STACK_DIR"; chmod 755 "$STACK_DIR"; }

case "${1:-}" in
  install) install_packages ;;
  up) install_packages; prepare_dir; start_postgres; start_rabbitmq
      say "connect with: eval \"\$($0 env)\"" ;;
  down) stop_rabbitmq; stop_postgres; say "stopped" ;;
  status)
    if postgres_running; then echo "postgres: running on 127.0.0.1:$PG_PORT"; else echo "postgres: stopped"; fi
    if rabbitmq_running; then echo "rabbitmq: running on 127.0.0.1:$AMQP_PORT"; else echo "rabbitmq: stopped"; fi ;;
  env) print_env ;;
  start-rabbitmq) start_rabbitmq ;;
  stop-rabbitmq) stop_rabbitmq ;;
  restart-rabbitmq) stop_rabbitmq; start_rabbitmq ;;
  start-postgres) start_postgres ;;
  stop-postgres) stop_postgres ;;
  restart-postgres) stop_postgres; start_postgres ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
