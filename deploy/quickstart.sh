#!/usr/bin/env bash
# Quickstart: builds ddlgate and runs it in front of a throw-away MariaDB until Ctrl-C.
#
# Usage: deploy/quickstart.sh [--no-install] [--port N] [--backend-port N]
#                             [--admin-port N] [--smoke]
#   --no-install      skip apt-get (packages must already be installed)
#   --port N          ddlgate's client port (default 3307, or the next free one)
#   --backend-port N  MariaDB's port (default 3306, or the next free one)
#   --admin-port N    admin HTTP port (default 9307, or the next free one)
#   --smoke           start everything, run one query through ddlgate, stop
#
# Everything it starts lives in a temporary directory that is removed on
# exit; the system's MariaDB service is never touched. Re-running is safe.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
INSTALL=1
SMOKE=0
PROXY_PORT=""
BACKEND_PORT=""
ADMIN_PORT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-install) INSTALL=0 ;;
	--smoke) SMOKE=1 ;;
	--port) PROXY_PORT=${2:?--port needs a value}; shift ;;
	--backend-port) BACKEND_PORT=${2:?--backend-port needs a value}; shift ;;
	--admin-port) ADMIN_PORT=${2:?--admin-port needs a value}; shift ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "quickstart: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
export DEBIAN_FRONTEND=noninteractive

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'quickstart: %s\n' "$*" >&2
	exit 1
}

PACKAGES=(
	build-essential cmake pkg-config libevent-dev libssl-dev
	default-libmysqlclient-dev libpcre2-dev libinih-dev libjansson-dev zlib1g-dev
	mariadb-server mariadb-client curl ca-certificates
)

if [ "$INSTALL" = 1 ]; then
	missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		[ "$(id -u)" -eq 0 ] || die "run as root to install: ${missing[*]} (or use --no-install)"
		say "installing ${missing[*]}"
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
	else
		say "packages already installed"
	fi
fi

say "building ddlgate (Release) in build/"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DDDLGATE_TESTS=OFF >/dev/null
cmake --build "$ROOT/build" -j"$(nproc 2>/dev/null || echo 2)" --target ddlgate
DDLGATE=$ROOT/build/cli/ddlgate
[ -x "$DDLGATE" ] || die "build did not produce $DDLGATE"

# A port is taken when something on 127.0.0.1 accepts on it.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the wanted port if free, else the first free one from wanted+10000.
pick_port() {
	local p=$1
	if ! port_busy "$p"; then
		echo "$p"
		return
	fi
	for ((p = $1 + 10000; p < $1 + 10100; p++)); do
		if ! port_busy "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port near $1"
}

if [ -n "$BACKEND_PORT" ]; then
	port_busy "$BACKEND_PORT" && die "port $BACKEND_PORT is in use"
else
	BACKEND_PORT=$(pick_port 3306)
fi
if [ -n "$PROXY_PORT" ]; then
	port_busy "$PROXY_PORT" && die "port $PROXY_PORT is in use"
else
	PROXY_PORT=$(pick_port 3307)
fi
if [ -n "$ADMIN_PORT" ]; then
	port_busy "$ADMIN_PORT" && die "port $ADMIN_PORT is in use"
else
	ADMIN_PORT=$(pick_port 9307)
fi
[ "$PROXY_PORT" != "$BACKEND_PORT" ] && [ "$ADMIN_PORT" != "$PROXY_PORT" ] &&
	[ "$ADMIN_PORT" != "$BACKEND_PORT" ] || die "the three ports must differ"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ddlgate-quickstart.XXXXXX")
DB_PID=""
GATE_PID=""

stop_pid() { # pid, seconds to wait before SIGKILL
	local pid=$1 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	say "stopping"
	stop_pid "$GATE_PID" 15
	stop_pid "$DB_PID" 30
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

show_log() {
	echo "---- $1 (last lines) ----" >&2
	tail -n 30 "$1" >&2 || true
}

MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
INSTALL_DB=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
[ -x "$MARIADBD" ] || die "mariadbd not found (install mariadb-server)"
ME=$(id -un)

say "initialising a throw-away MariaDB in $TMP/data"
mkdir -p "$TMP/tmp"
"$INSTALL_DB" --no-defaults --datadir="$TMP/data" --tmpdir="$TMP/tmp" --user="$ME" --skip-test-db \
	>"$TMP/install-db.log" 2>&1 || {
	show_log "$TMP/install-db.log"
	die "mariadb-install-db failed"
}

say "starting MariaDB on 127.0.0.1:$BACKEND_PORT"
"$MARIADBD" --no-defaults --datadir="$TMP/data" --tmpdir="$TMP/tmp" --user="$ME" \
	--bind-address=127.0.0.1 --port="$BACKEND_PORT" --socket="$TMP/mysqld.sock" \
	--pid-file="$TMP/mysqld.pid" --log-error="$TMP/mariadb.log" \
	--skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=64M </dev/null 2>>"$TMP/mariadb.log" &
DB_PID=$!

SQL=(mariadb --no-defaults --socket="$TMP/mysqld.sock" -u"$ME")
for ((i = 0; i < 600; i++)); do
	"${SQL[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break
	kill -0 "$DB_PID" 2>/dev/null || {
		show_log "$TMP/mariadb.log"
		die "MariaDB exited during start-up"
	}
	sleep 0.1
done
"${SQL[@]}" -e 'SELECT 1' >/dev/null 2>&1 || {
	show_log "$TMP/mariadb.log"
	die "MariaDB did not come up within 60s"
}

# app: the application; migrator: listed in [migration] users; the prober
# is the read-only account of live guard probes, with a random password.
PROBE_PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
say "creating database demo, users app/app and migrator/migrator, a read-only prober"
"${SQL[@]}" <<EOF
CREATE DATABASE IF NOT EXISTS demo;
CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON demo.* TO 'app'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'migrator'@'127.0.0.1' IDENTIFIED BY 'migrator';
GRANT ALL PRIVILEGES ON demo.* TO 'migrator'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'ddlgate_prober'@'127.0.0.1' IDENTIFIED BY '$PROBE_PW';
GRANT SELECT ON *.* TO 'ddlgate_prober'@'127.0.0.1';
EOF

# The config is the shipped example with this run's ports; its relative
# paths (the audit log) land in the temporary directory next to it.
CFG=$TMP/ddlgate.ini
sed -e "s/^listen = 127\.0\.0\.1:3307\b/listen = 127.0.0.1:$PROXY_PORT/" \
	-e "s/^backend = 127\.0\.0\.1:3306\b/backend = 127.0.0.1:$BACKEND_PORT/" \
	-e "s/^listen = 127\.0\.0\.1:9307\b/listen = 127.0.0.1:$ADMIN_PORT/" \
	-e "s/^;users = migrator\b.*/users = migrator/" \
	-e "s/^;user = prober\b.*/user = ddlgate_prober/" \
	-e "s/^;password = secret\b.*/password = $PROBE_PW/" \
	"$ROOT/config/ddlgate.example.ini" >"$CFG"
chmod 600 "$CFG"
grep -q "^listen = 127.0.0.1:$PROXY_PORT" "$CFG" &&
	grep -q "^backend = 127.0.0.1:$BACKEND_PORT" "$CFG" &&
	grep -q "^listen = 127.0.0.1:$ADMIN_PORT" "$CFG" &&
	grep -q "^users = migrator" "$CFG" && grep -q "^user = ddlgate_prober" "$CFG" &&
	grep -q "^password = $PROBE_PW" "$CFG" ||
	die "could not derive the config from config/ddlgate.example.ini"
"$DDLGATE" serve --check-config -c "$CFG" >/dev/null

say "starting ddlgate on 127.0.0.1:$PROXY_PORT"
"$DDLGATE" serve -c "$CFG" </dev/null >"$TMP/ddlgate.log" 2>&1 &
GATE_PID=$!
for ((i = 0; i < 300; i++)); do
	port_busy "$PROXY_PORT" && break
	kill -0 "$GATE_PID" 2>/dev/null || {
		show_log "$TMP/ddlgate.log"
		die "ddlgate exited during start-up"
	}
	sleep 0.1
done
port_busy "$PROXY_PORT" || {
	show_log "$TMP/ddlgate.log"
	die "ddlgate did not listen within 30s"
}
for ((i = 0; i < 100; i++)); do
	curl -fsS "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

cat <<EOF

ddlgate is running in front of a throw-away MariaDB.

  connect:   mariadb -h127.0.0.1 -P$PROXY_PORT -uapp -papp demo
  migration: mariadb -h127.0.0.1 -P$PROXY_PORT -umigrator -pmigrator demo
             (a migration session: while it is connected, DDL from app is refused)
  admin:     http://127.0.0.1:$ADMIN_PORT/status   (also /metrics, /sessions, /healthz)
  config:    $CFG
  audit log: $TMP/audit.jsonl
  logs:      $TMP/ddlgate.log, $TMP/mariadb.log
  MariaDB:   127.0.0.1:$BACKEND_PORT (direct, bypassing ddlgate)

Everything is removed when you press Ctrl-C.
EOF

if [ "$SMOKE" = 1 ]; then
	say "smoke test: a query through ddlgate"
	out=$(mariadb --no-defaults -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp demo -N \
		-e "SELECT CONCAT('through ddlgate: ', 6 * 7)") || {
		show_log "$TMP/ddlgate.log"
		die "query through ddlgate failed"
	}
	echo "$out"
	curl -fsS "http://127.0.0.1:$ADMIN_PORT/healthz" || die "admin /healthz failed"
	exit 0
fi

# Stay in the foreground until Ctrl-C, or until one of the two stops.
while kill -0 "$GATE_PID" 2>/dev/null && kill -0 "$DB_PID" 2>/dev/null; do
	wait -n "$GATE_PID" "$DB_PID" 2>/dev/null || true
done
if ! kill -0 "$GATE_PID" 2>/dev/null; then
	show_log "$TMP/ddlgate.log"
	die "ddlgate stopped"
fi
show_log "$TMP/mariadb.log"
die "MariaDB stopped"
