#!/usr/bin/env bash
# Local infrastructure for development and tests, all on 127.0.0.1, no Docker:
#   kafka     Apache Kafka 4.1.1, KRaft combined broker+controller (jars from Maven Central)
#   ferretdb  FerretDB v1.24.2 with the SQLite handler (MongoDB wire protocol; built with Go,
#             patched so that _id reads use the _id index, bulk updates end and idle
#             write-ahead logs are emptied: tools/ferretdb)
#   dovecot   Dovecot IMAP from Debian (own config, own base_dir, plain auth, no TLS)
#   radicale  Radicale CalDAV server in its own venv (htpasswd auth, owner_only rights)
#   xandikos  Xandikos CalDAV server in its own venv (a second CalDAV server; no auth, one user)
#
# Usage: scripts/stack.sh up|down [server...]|status|install|reset [--all]|env|logs [server]
# See scripts/README.md for ports, environment variables and the state layout.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STACK_DIR=$(realpath -m -- "${STACK_DIR:-$REPO_ROOT/.stack}")

# ---------------------------------------------------------------- settings
FERRETDB_VERSION=v1.24.2
RADICALE_VERSION=3.9.0
XANDIKOS_VERSION=0.4.10

KAFKA_PORT=${STACK_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${STACK_KAFKA_CONTROLLER_PORT:-19093}
MONGO_PORT=${STACK_MONGO_PORT:-27017}
IMAP_PORT=${STACK_IMAP_PORT:-10143}
CALDAV_PORT=${STACK_CALDAV_PORT:-15232}
XANDIKOS_PORT=${STACK_XANDIKOS_PORT:-15233}
IMAP_TEST_PASSWORD=${STACK_IMAP_TEST_PASSWORD:-test-password}
DEMO_PASSWORD=demo-password
WAIT_TIMEOUT=${STACK_WAIT_TIMEOUT:-90}   # seconds for a server to answer after start
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-30}   # seconds after SIGTERM before SIGKILL
KAFKA_HEAP_OPTS=${STACK_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
FERRETDB_LOG_LEVEL=${STACK_FERRETDB_LOG_LEVEL:-warn}
# SQLite pragmas of every FerretDB database. journal_size_limit: a write-ahead log that was
# checkpointed is cut back to 4 MB when it starts over, instead of keeping the size a burst
# of writes gave it (docs/operations.md, "Disk").
FERRETDB_SQLITE_PARAMS=${STACK_FERRETDB_SQLITE_PARAMS-_pragma=journal_size_limit(4194304)}

SERVERS=(kafka ferretdb dovecot radicale xandikos)

LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run
BIN_DIR=$STACK_DIR/bin
KAFKA_LIBS=$STACK_DIR/kafka-libs
RADICALE_VENV=$STACK_DIR/radicale-venv
XANDIKOS_VENV=$STACK_DIR/xandikos-venv
KAFKA_POM=$REPO_ROOT/tools/kafka/pom.xml
FERRETDB_MODULE=$REPO_ROOT/tools/ferretdb

JAVA=java
[[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME:-}/bin/java ]] && JAVA=$JAVA_HOME/bin/java

# ---------------------------------------------------------------- helpers
say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif have sudo; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

apt_install() {
  say "apt-get install $* (output in $LOG_DIR/install.log)"
  mkdir -p "$LOG_DIR"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$LOG_DIR/install.log" 2>&1; then
    run_logged "apt-get update" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run_logged "apt-get install $*" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  fi
}

# Run an install step with its output appended to logs/install.log; on failure show the tail.
run_logged() {
  local what=$1; shift
  local log=$LOG_DIR/install.log
  mkdir -p "$LOG_DIR"
  printf '\n===== %s %s: %s =====\n' "$(date '+%F %T')" "$what" "$*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    printf -- '----- last lines of %s -----\n' "$log" >&2
    tail -n 40 "$log" >&2
    die "$what failed (full output in $log)"
  fi
}

port_of() {
  case $1 in
    kafka) echo "$KAFKA_PORT" ;;
    ferretdb) echo "$MONGO_PORT" ;;
    dovecot) echo "$IMAP_PORT" ;;
    radicale) echo "$CALDAV_PORT" ;;
    xandikos) echo "$XANDIKOS_PORT" ;;
  esac
}

# all TCP ports a server binds (checked for conflicts before starting it)
ports_of() {
  if [[ $1 == kafka ]]; then echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT"; else port_of "$1"; fi
}

# A string that only the command line of this stack's instance of the server contains.
marker_of() {
  case $1 in
    kafka) echo "$STACK_DIR/kafka/server.properties" ;;
    ferretdb) echo "--state-dir=$STACK_DIR/ferretdb/state" ;;
    dovecot) echo "$STACK_DIR/dovecot/dovecot.conf" ;;
    radicale) echo "$STACK_DIR/radicale/config" ;;
    xandikos) echo "$STACK_DIR/xandikos/collections" ;;
  esac
}

pidfile_of() { echo "$RUN_DIR/$1.pid"; }
logfile_of() { echo "$LOG_DIR/$1.log"; }

port_open() { timeout 2 bash -c ": >/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# true if pid is a live (non-zombie) process whose command line contains the marker
pid_matches() {
  local pid=$1 marker=$2 stat state args=()
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # (plain redirections: a failing $(<file) would end the script under set -e)
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  state=${stat##*) }
  state=${state%% *}
  [[ -n $state && $state != Z && $state != X ]] || return 1
  { mapfile -d '' args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ " ${args[*]} " == *"$marker"* ]]
}

# prints the pid of this stack's server if it runs (pid file first, then a /proc scan)
live_pid() {
  local s=$1 pidfile pid marker p
  pidfile=$(pidfile_of "$s")
  marker=$(marker_of "$s")
  if [[ -f $pidfile ]]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if pid_matches "$pid" "$marker"; then echo "$pid"; return 0; fi
  fi
  # no valid pid file: look for an orphan of this stack (grep itself also matches, but it has
  # exited by the time pid_matches re-checks the candidates)
  # shellcheck disable=SC2013  # /proc paths have no spaces
  for p in $(grep -lsF -- "$marker" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${p#/proc/}
    pid=${pid%/cmdline}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if pid_matches "$pid" "$marker"; then
      echo "$pid"; return 0
    fi
  done
  return 1
}

# pid file is valid (server process alive)?
pid_alive() {
  local pidfile pid
  pidfile=$(pidfile_of "$1")
  [[ -f $pidfile ]] || return 1
  pid=$(cat "$pidfile" 2>/dev/null || true)
  pid_matches "$pid" "$(marker_of "$1")"
}

# Start "$@" detached (own session/process group) with output appended to the server's log.
# The pid written to the pid file is the pid of the server process itself (exec).
spawn() {
  local s=$1; shift
  local pidfile logfile i
  pidfile=$(pidfile_of "$s")
  logfile=$(logfile_of "$s")
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$STACK_DIR/$s"
  rm -f "$pidfile"
  printf '\n===== %s stack.sh: starting %s =====\n' "$(date '+%F %T')" "$s" >>"$logfile"
  (
    cd "$STACK_DIR/$s"
    # shellcheck disable=SC2016  # $$ and $@ expand in the inner bash
    exec setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$pidfile" "$@"
  ) </dev/null >>"$logfile" 2>&1 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  die "$s: could not start (no pid file); see $logfile"
}

log_tail() {
  local s=$1 logfile
  logfile=$(logfile_of "$s")
  printf -- '----- last lines of %s -----\n' "$logfile" >&2
  tail -n "${2:-40}" "$logfile" >&2 2>/dev/null || true
  printf -- '-----\n' >&2
}

probe_python() {
  if [[ -x $RADICALE_VENV/bin/python ]]; then echo "$RADICALE_VENV/bin/python"; else echo python3; fi
}

# Protocol-level check: mongo ping (OP_MSG), IMAP greeting, any HTTP answer.
proto_probe() {
  "$(probe_python)" - "$1" "$2" <<'PY'
import socket, struct, sys
kind, port = sys.argv[1], int(sys.argv[2])
def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed")
        b += c
    return b
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    if kind == "mongo":
        def cstr(x): return x.encode() + b"\0"
        body = (b"\x10" + cstr("ping") + struct.pack("<i", 1)
                + b"\x02" + cstr("$db") + struct.pack("<i", 6) + b"admin\0")
        doc = struct.pack("<i", len(body) + 5) + body + b"\0"
        payload = struct.pack("<I", 0) + b"\0" + doc
        s.sendall(struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload)
        hdr = recvn(s, 16)
        rest = recvn(s, struct.unpack("<i", hdr[:4])[0] - 16)
        ok = b"\x01ok\x00" + struct.pack("<d", 1.0) in rest
    elif kind == "imap":
        ok = s.recv(1024).startswith(b"* OK")
        s.sendall(b"a LOGOUT\r\n")
    else:
        s.sendall(b"OPTIONS / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        ok = s.recv(1024).startswith(b"HTTP/")
    s.close()
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
}

kafka_tool() {
  # JVM tuned for a short-lived CLI
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$STACK_DIR/kafka/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# real broker check: list topics through the admin API
kafka_ready() {
  timeout 20 "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$STACK_DIR/kafka/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
}

ready_check() {
  case $1 in
    kafka) port_open "$KAFKA_PORT" && kafka_ready ;;
    ferretdb) proto_probe mongo "$MONGO_PORT" ;;
    dovecot) proto_probe imap "$IMAP_PORT" ;;
    radicale) proto_probe http "$CALDAV_PORT" ;;
    xandikos) proto_probe http "$XANDIKOS_PORT" ;;
  esac
}

# Wait until the server answers; returns 1 (after printing its log tail) if it does not.
wait_ready() {
  local s=$1 deadline start
  start=$SECONDS
  deadline=$((SECONDS + WAIT_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! pid_alive "$s"; then
      say "$s: process exited during startup"
      log_tail "$s"
      return 1
    fi
    if port_open "$(port_of "$s")" && ready_check "$s"; then
      say "$s: ready on 127.0.0.1:$(port_of "$s") ($((SECONDS - start)) s)"
      return 0
    fi
    sleep 0.5
  done
  say "$s: not answering on 127.0.0.1:$(port_of "$s") after ${WAIT_TIMEOUT} s"
  log_tail "$s"
  return 1
}

LOCKED=0
take_lock() {
  ((LOCKED)) && return 0
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  flock -w 900 9 || die "another stack.sh holds $RUN_DIR/stack.lock"
  LOCKED=1
}

# ---------------------------------------------------------------- install
install_kafka() {
  if ! have "$JAVA"; then apt_install openjdk-17-jre-headless; fi
  local stamp want
  want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  stamp=$KAFKA_LIBS/.pom.sha256
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  have mvn || apt_install maven
  say "kafka: fetching jars with Maven into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS.tmp"
  run_logged "kafka: mvn dependency:copy-dependencies" \
    mvn -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS.tmp"
  echo "$want" >"$KAFKA_LIBS.tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars"
}

install_ferretdb() {
  local bin=$BIN_DIR/ferretdb stamp want build
  want=$(cat "$FERRETDB_MODULE/go.mod" "$FERRETDB_MODULE/go.sum" "$FERRETDB_MODULE/tools.go" \
    "$FERRETDB_MODULE/patch_sources.py" | sha256sum | cut -d' ' -f1)
  stamp=$BIN_DIR/.ferretdb.sha256
  if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return 0
  fi
  have go || die "ferretdb: 'go' not found in PATH (Go >= 1.24 is needed to build FerretDB)"
  say "ferretdb: building $FERRETDB_VERSION (takes a few minutes the first time)"
  build=$STACK_DIR/build/ferretdb
  rm -rf "$build"
  mkdir -p "$build" "$BIN_DIR"
  cp "$FERRETDB_MODULE/go.mod" "$FERRETDB_MODULE/go.sum" "$FERRETDB_MODULE/tools.go" "$build/"
  # shellcheck disable=SC2016  # the script is expanded by the inner bash
  run_logged "ferretdb: go build" bash -c '
    set -euo pipefail
    cd "$1"
    export GOFLAGS=-buildvcs=false CGO_ENABLED=0
    go mod vendor
    # FerretDB embeds build/version/version.txt and panics at start without it
    echo "$2" >vendor/github.com/FerretDB/FerretDB/build/version/version.txt
    python3 "$4" vendor  # _id reads use the _id index (docs/adr/0012)
    go build -mod=vendor -trimpath -o "$3" github.com/FerretDB/FerretDB/cmd/ferretdb
  ' _ "$build" "$FERRETDB_VERSION" "$bin.tmp" "$FERRETDB_MODULE/patch_sources.py"
  mv "$bin.tmp" "$bin"
  echo "$want" >"$stamp"
  rm -rf "$build"
  rmdir "$STACK_DIR/build" 2>/dev/null || true
  say "ferretdb: built $("$bin" --version 2>&1 | head -n 1)"
}

dovecot_bin() {
  if have dovecot; then command -v dovecot
  elif [[ -x /usr/sbin/dovecot ]]; then echo /usr/sbin/dovecot
  else return 1
  fi
}

install_dovecot() {
  if dovecot_bin >/dev/null && [[ -x /usr/lib/dovecot/imap ]]; then
    return 0
  fi
  say "dovecot: installing from Debian"
  apt_install dovecot-core dovecot-imapd
  dovecot_bin >/dev/null || die "dovecot: still not found after apt-get install"
}

# A server from PyPI, pinned, in a venv of its own (it never depends on the project's venv).
install_pip_server() {
  local name=$1 venv=$2 package=$3 version=$4
  if [[ -x $venv/bin/python ]] &&
    "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
    return 0
  fi
  have python3 || apt_install python3 python3-venv
  say "$name: installing $package==$version into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >>"$LOG_DIR/install.log" 2>&1; then
    # Debian's own python3 needs the python3-venv package for ensurepip
    rm -rf "$venv"
    apt_install python3-venv
    run_logged "$name: python3 -m venv" python3 -m venv "$venv"
  fi
  run_logged "$name: pip install" \
    "$venv/bin/python" -m pip install --disable-pip-version-check "$package==$version"
}

install_radicale() { install_pip_server radicale "$RADICALE_VENV" radicale "$RADICALE_VERSION"; }

install_xandikos() { install_pip_server xandikos "$XANDIKOS_VENV" xandikos "$XANDIKOS_VERSION"; }

# wrk (the HTTP load generator of `make bench`) from Debian's packages, unpacked into the
# state folder with its LuaJIT library rather than installed system-wide; run it through
# $BIN_DIR/wrk, which sets the library path.
WRK_DIR=$STACK_DIR/wrk
WRK_PACKAGES=(wrk libluajit2-5.1-2)

wrk_runs() { [[ -x $BIN_DIR/wrk && $("$BIN_DIR/wrk" -v 2>&1 || true) == wrk* ]]; }

install_wrk() {
  if wrk_runs; then return 0; fi
  say "wrk: unpacking from Debian's packages into $WRK_DIR"
  mkdir -p "$LOG_DIR" "$BIN_DIR"
  local debs deb
  debs=$(mktemp -d)
  if ! (cd "$debs" && apt-get download "${WRK_PACKAGES[@]}") >>"$LOG_DIR/install.log" 2>&1; then
    run_logged "apt-get update" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    (cd "$debs" && run_logged "apt-get download" apt-get download "${WRK_PACKAGES[@]}")
  fi
  rm -rf "$WRK_DIR"
  for deb in "$debs"/*.deb; do
    run_logged "dpkg-deb -x $(basename "$deb")" dpkg-deb -x "$deb" "$WRK_DIR"
  done
  rm -rf "$debs"
  printf '#!/usr/bin/env bash\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
    "$WRK_DIR/usr/lib/x86_64-linux-gnu" "$WRK_DIR/usr/bin/wrk" >"$BIN_DIR/wrk"
  chmod +x "$BIN_DIR/wrk"
  wrk_runs || die "wrk: does not run after unpacking (see $LOG_DIR/install.log)"
}

cmd_bench_tools() {
  take_lock
  install_wrk
  echo "$BIN_DIR/wrk"
}

# The local deployment's own secrets key (Fernet: urlsafe base64 of 32 random bytes), made
# once per state folder: the services have no default key (docs/operations.md).
SECRETS_KEY_FILE=$STACK_DIR/secrets.key

ensure_secrets_key() {
  [[ -s $SECRETS_KEY_FILE ]] && return 0
  (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' >"$SECRETS_KEY_FILE.new")
  mv "$SECRETS_KEY_FILE.new" "$SECRETS_KEY_FILE"
  say "secrets key: generated $SECRETS_KEY_FILE (this stack's own; never use it in production)"
}

cmd_install() {
  take_lock
  mkdir -p "$STACK_DIR" "$LOG_DIR" "$RUN_DIR" "$BIN_DIR"
  ensure_secrets_key
  install_kafka
  install_ferretdb
  install_dovecot
  install_radicale
  install_xandikos
  say "installed: kafka jars, ferretdb $FERRETDB_VERSION, dovecot $("$(dovecot_bin)" --version | cut -d' ' -f1), radicale $RADICALE_VERSION, xandikos $XANDIKOS_VERSION"
}

# CHOSEN=the servers named on the command line (all when none is), in SERVERS' order.
CHOSEN=()
choose_servers() {
  local s
  (($#)) || set -- "${SERVERS[@]}"
  for s in "$@"; do
    [[ " ${SERVERS[*]} " == *" $s "* ]] || die "unknown server '$s' (servers: ${SERVERS[*]})"
  done
  CHOSEN=()
  for s in "${SERVERS[@]}"; do
    [[ " $* " == *" $s "* ]] && CHOSEN+=("$s")
  done
  return 0
}

# ---------------------------------------------------------------- configs + start
start_kafka() {
  local k=$STACK_DIR/kafka
  mkdir -p "$k/data"
  cat >"$k/server.properties" <<EOF
# generated by scripts/stack.sh -- rewritten at every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$k/data
num.partitions=4
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
num.network.threads=2
num.io.threads=4
EOF
  cat >"$k/log4j2.properties" <<'EOF'
# generated by scripts/stack.sh: broker logs INFO to stdout, which goes to logs/kafka.log
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
  cat >"$k/tools-log4j2.properties" <<'EOF'
# generated by scripts/stack.sh: command-line tools only print warnings
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
  if [[ ! -f $k/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid 2>>"$(logfile_of kafka)") \
      || die "kafka: StorageTool random-uuid failed; see $(logfile_of kafka)"
    say "kafka: formatting storage (cluster id $cluster_id)"
    kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$k/server.properties" \
      >>"$(logfile_of kafka)" 2>&1 || { log_tail kafka; die "kafka: storage format failed"; }
  fi
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM flags
  spawn kafka "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$k/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$k/server.properties"
}

start_ferretdb() {
  local f=$STACK_DIR/ferretdb
  mkdir -p "$f/data" "$f/state"
  spawn ferretdb "$BIN_DIR/ferretdb" --handler=sqlite --sqlite-url="file:$f/data/${FERRETDB_SQLITE_PARAMS:+?$FERRETDB_SQLITE_PARAMS}" \
    --state-dir="$f/state" --listen-addr="127.0.0.1:$MONGO_PORT" --debug-addr=- \
    --telemetry=disable --log-level="$FERRETDB_LOG_LEVEL"
}

write_dovecot_conf() {
  local d=$STACK_DIR/dovecot user group login_user internal_user internal_group
  user=$(id -un); group=$(id -gn)
  if [[ $(id -u) -eq 0 ]]; then
    login_user=dovenull; internal_user=dovecot; internal_group=dovecot
  else
    # rootless: every dovecot process runs as the invoking user
    login_user=$user; internal_user=$user; internal_group=$group
  fi
  cat >"$d/dovecot.conf" <<EOF
# generated by scripts/stack.sh -- rewritten at every start
# Standalone instance: nothing from /etc/dovecot is read.
instance_name = stack-$(echo "$STACK_DIR" | sha256sum | cut -c1-8)
base_dir = $d/run
state_dir = $d/state
log_path = $LOG_DIR/dovecot.log
info_log_path = $LOG_DIR/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "

protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
default_login_user = $login_user
default_internal_user = $internal_user
default_internal_group = $internal_group
first_valid_uid = 1
first_valid_gid = 1

# 1) demo users (alice@acme.test, bob@acme.test)
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
}
# 2) any other user name logs in with STACK_IMAP_TEST_PASSWORD
passdb {
  driver = static
  args = password=$IMAP_TEST_PASSWORD
}
userdb {
  driver = static
  args = home=$d/mail/%d/%n
}

# dovecot never accesses mail as root: as root the mail processes run as '$mail_user'
mail_uid = $mail_user
mail_gid = $mail_group
mail_location = maildir:$d/mail/%d/%n
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}

protocol imap {
  mail_max_userip_connections = 200
  imap_idle_notify_interval = 30 secs
}

service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
  # mode 0 disables the per-IP auth penalty: otherwise every failed login from
  # 127.0.0.1 delays the next logins of all tests by 2..15 s
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

start_dovecot() {
  local d=$STACK_DIR/dovecot bin mail_user mail_group
  bin=$(dovecot_bin) || die "dovecot not installed (run: scripts/stack.sh install)"
  mkdir -p "$d/run" "$d/state" "$d/mail"
  if ((${#d} > 80)); then
    say "dovecot: warning: long STACK_DIR; unix socket paths under $d/run may exceed 108 chars"
  fi
  if [[ ! -f $d/users ]]; then
    printf '%s:{PLAIN}%s::::::\n' "alice@acme.test" "$DEMO_PASSWORD" "bob@acme.test" "$DEMO_PASSWORD" >"$d/users"
  fi
  chmod 644 "$d/users"
  if [[ $(id -u) -eq 0 ]]; then
    # dovecot never accesses mail as root: use the system 'mail' user (Debian base-passwd);
    # the auth process (user dovecot) reads the users file
    mail_user=mail; mail_group=mail
    id -u mail >/dev/null 2>&1 || { mail_user=nobody; mail_group=nogroup; }
    chown -R "$mail_user:$mail_group" "$d/mail"
    chmod o+x "$STACK_DIR" "$d"
    runuser -u "$mail_user" -- test -w "$d/mail" 2>/dev/null ||
      die "dovecot: user '$mail_user' cannot write $d/mail (every parent directory needs o+x)"
    runuser -u dovecot -- test -r "$d/users" 2>/dev/null ||
      die "dovecot: user 'dovecot' cannot read $d/users (every parent directory needs o+x)"
  else
    mail_user=$(id -un); mail_group=$(id -gn)
  fi
  write_dovecot_conf
  # the penalty socket is disabled (mode 0, see dovecot.conf); a stale one from an earlier
  # run makes the auth process retry it for 5 s at startup
  rm -f "$d/run/anvil-auth-penalty"
  spawn dovecot "$bin" -F -c "$d/dovecot.conf"
}

start_radicale() {
  local r=$STACK_DIR/radicale
  mkdir -p "$r/collections"
  if [[ ! -f $r/users ]]; then
    printf '%s:%s\n' "alice@acme.test" "$DEMO_PASSWORD" "bob@acme.test" "$DEMO_PASSWORD" >"$r/users"
  fi
  cat >"$r/config" <<EOF
# generated by scripts/stack.sh -- rewritten at every start
[server]
hosts = 127.0.0.1:$CALDAV_PORT
max_connections = 20
delay_on_error = 0

[auth]
type = htpasswd
htpasswd_filename = $r/users
htpasswd_encryption = plain
# re-read the users file on every login so tests can append users at run time
htpasswd_cache = False
cache_logins = False
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = $r/collections

[logging]
level = info
mask_passwords = True
EOF
  spawn radicale "$RADICALE_VENV/bin/python" -m radicale --config "$r/config"
}

# Single-user Xandikos: no authentication (any user name and password are accepted), one
# principal /user/ with a default calendar; tests isolate themselves by calendar name.
start_xandikos() {
  local x=$STACK_DIR/xandikos
  mkdir -p "$x/collections" "$x/state"
  spawn xandikos "$XANDIKOS_VENV/bin/xandikos" serve -d "$x/collections" --defaults \
    --state-dir "$x/state" --no-detect-systemd -l 127.0.0.1 -p "$XANDIKOS_PORT"
}

# ---------------------------------------------------------------- up / down / status
cmd_up() {
  take_lock
  local s pid p pending=() failed=()
  choose_servers "$@"
  if ((${#CHOSEN[@]} == ${#SERVERS[@]})); then
    cmd_install
  else  # only what the named servers need (a second stack of Kafka and FerretDB for tests)
    mkdir -p "$STACK_DIR" "$LOG_DIR" "$RUN_DIR" "$BIN_DIR"
    for s in "${CHOSEN[@]}"; do "install_$s"; done
  fi
  for s in "${CHOSEN[@]}"; do
    if pid=$(live_pid "$s") && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == *" (deleted)" ]]; then
      say "$s: its program was rebuilt since it started (pid $pid); restarting it"
      stop_server "$s"
    fi
    if pid=$(live_pid "$s"); then
      echo "$pid" >"$(pidfile_of "$s")"
      if port_open "$(port_of "$s")"; then
        say "$s: already running (pid $pid, 127.0.0.1:$(port_of "$s"))"
      else
        say "$s: running (pid $pid) but 127.0.0.1:$(port_of "$s") does not answer yet; waiting (if its port setting changed, run 'down' first)"
        pending+=("$s")
      fi
      continue
    fi
    if [[ -f $(pidfile_of "$s") ]]; then
      say "$s: removing stale pid file"
      rm -f "$(pidfile_of "$s")"
    fi
    local busy=""
    for p in $(ports_of "$s"); do
      port_open "$p" && busy="$busy $p"
    done
    if [[ -n $busy ]]; then
      say "$s: port(s)$busy on 127.0.0.1 already in use by another process; set the STACK_*_PORT variables (see scripts/README.md)"
      failed+=("$s")
      continue
    fi
    say "$s: starting"
    "start_$s"
    pending+=("$s")
  done
  for s in "${pending[@]}"; do
    wait_ready "$s" || failed+=("$s")
  done
  if ((${#failed[@]})); then
    die "not up: ${failed[*]} (logs in $LOG_DIR)"
  fi
  say "all up (state in $STACK_DIR)"
}

stop_server() {
  local s=$1 pid deadline
  if ! pid=$(live_pid "$s"); then
    rm -f "$(pidfile_of "$s")"
    say "$s: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_matches "$pid" "$(marker_of "$s")" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if pid_matches "$pid" "$(marker_of "$s")"; then
    say "$s: still running after ${STOP_TIMEOUT} s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  # leftovers of its process group (e.g. dovecot children) — the group id is the pid (setsid)
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$(pidfile_of "$s")"
  say "$s: stopped"
}

cmd_down() {
  [[ -d $STACK_DIR ]] || { say "nothing to stop ($STACK_DIR does not exist)"; return 0; }
  take_lock
  local i
  choose_servers "$@"
  for ((i = ${#CHOSEN[@]} - 1; i >= 0; i--)); do
    stop_server "${CHOSEN[i]}"
  done
}

cmd_status() {
  local s pid port rc=0
  for s in "${SERVERS[@]}"; do
    port=$(port_of "$s")
    if pid=$(live_pid "$s" 2>/dev/null); then
      if port_open "$port"; then
        printf '%-9s up       127.0.0.1:%-6s pid %s\n' "$s" "$port" "$pid"
      else
        printf '%-9s starting 127.0.0.1:%-6s pid %s (running, port not answering)\n' "$s" "$port" "$pid"
        rc=1
      fi
    else
      printf '%-9s down     127.0.0.1:%s\n' "$s" "$port"
      rc=1
    fi
  done
  echo "state: $STACK_DIR"
  return $rc
}

cmd_reset() {
  cmd_down
  if [[ ${1:-} == --all ]]; then
    say "removing $STACK_DIR"
    rm -rf "$STACK_DIR"
  else
    # keep the installed bits (bin/, kafka-libs/, radicale-venv/, xandikos-venv/) so the next up is fast
    say "removing data, configs and logs under $STACK_DIR"
    local s
    for s in "${SERVERS[@]}"; do rm -rf "${STACK_DIR:?}/$s"; done
    rm -rf "$LOG_DIR" "$RUN_DIR" "$STACK_DIR/build"
  fi
}

cmd_env() {
  cat <<EOF
STACK_DIR=$STACK_DIR
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT
IMAP_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
IMAP_TEST_PASSWORD=$IMAP_TEST_PASSWORD
CALDAV_URL=http://127.0.0.1:$CALDAV_PORT/
CALDAV_USERS_FILE=$STACK_DIR/radicale/users
XANDIKOS_URL=http://127.0.0.1:$XANDIKOS_PORT/
SECRETS_KEY=$(cat "$SECRETS_KEY_FILE" 2>/dev/null)
EOF
}

cmd_logs() {
  local s list=("$@")
  ((${#list[@]})) || list=("${SERVERS[@]}")
  for s in "${list[@]}"; do
    log_tail "$s" 30 2>&1
  done
}

usage() {
  cat <<EOF
usage: $0 <command>
  up [s..]  install if needed, start every server (or each one named) not already running,
            wait until all answer
  down [s..] stop all servers, or the ones named (SIGTERM, SIGKILL after ${STOP_TIMEOUT} s)
  status    print up/down per server (exit 1 if any is down)
  install   install/build everything, start nothing
  reset     down + delete data, configs and logs (keeps built binaries); --all deletes $STACK_DIR
  env       print connection settings (KEY=value lines)
  bench-tools  install what make bench needs (wrk, from Debian's packages); prints its path
  logs [s]  print the tail of the server logs
state: $STACK_DIR
EOF
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down | stop) cmd_down "$@" ;;
    status) cmd_status ;;
    install) cmd_install ;;
    reset) cmd_reset "$@" ;;
    env) cmd_env ;;
    bench-tools) cmd_bench_tools ;;
    logs) cmd_logs "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
