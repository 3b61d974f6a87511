#!/usr/bin/env bash
# Runs every ddlgate test from a fresh clone: packages, sanitizer build, the
# Debian package (built, installed, smoke-tested), ctest.
#
# Usage: tests/run.sh [--no-install] [ctest -L regex]
#   --no-install   do not call apt-get / npm (everything must already be there);
#                  the .deb is still built and checked, but not installed
#   The optional regex selects test labels (default: unit|fuzz-replay|integration).
# Environment:
#   DDLGATE_BUILD_DIR     build directory (default: build-test in the repo)
#   DDLGATE_PKG_BUILD_DIR release build for the .deb (default: build-pkg)
#   DDLGATE_PACKAGE       OFF skips the package step (default: ON)
#   DDLGATE_TEST_TIMEOUT  cap in seconds for the whole ctest run (default: 900)
#   DDLGATE_SANITIZE      ON (default) builds with ASan + UBSan
#   DDLGATE_IT_JOBS       integration tests run at once (default: 2)
#
# Works without a TTY and without stdin (CI=true); needs root (or sudo) only
# when a package is missing and to install the .deb (not with --no-install).
# Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
INSTALL=1
LABELS='unit|fuzz-replay|integration'
for arg in "$@"; do
	case "$arg" in
	--no-install) INSTALL=0 ;;
	-h | --help)
		sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "tests/run.sh: unknown option $arg" >&2
		exit 2
		;;
	*) LABELS=$arg ;;
	esac
done
BUILD=${DDLGATE_BUILD_DIR:-$ROOT/build-test}
TIMEOUT=${DDLGATE_TEST_TIMEOUT:-900}
SANITIZE=${DDLGATE_SANITIZE:-ON}
JOBS=$(nproc 2>/dev/null || echo 2)
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n==> %s\n' "$*"; }

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

# Build and runtime libraries, then what the test suites drive: MariaDB,
# the client tools the integration tests run (sqitch, percona-toolkit,
# Django, Alembic, Active Record, skeema, Liquibase's Java and Connector/J),
# MariaDB's own test suite and C API test program and the client-matrix
# drivers (PHP mysqlnd, Ruby mysql2, Connector/J with a JDK to compile its
# driver program), sanitizers and fuzzing (clang), load tools.
PACKAGES=(
	build-essential cmake pkg-config dpkg-dev libevent-dev libssl-dev
	default-libmysqlclient-dev libpcre2-dev libinih-dev libjansson-dev zlib1g-dev
	mariadb-server mariadb-client
	libcmocka-dev clang libclang-rt-14-dev
	sysbench haproxy python3-pymysql libdbd-mariadb-perl libdbd-mysql-perl
	sqitch percona-toolkit netcat-openbsd openssl ca-certificates
	python3-django python3-mysqldb alembic ruby-activerecord ruby-mysql2 skeema
	mariadb-test php-cli php-mysql default-jre-headless default-jdk-headless
	libmariadb-java
)

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	# Node may come from Debian or from another source; only its commands matter.
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		missing+=(nodejs npm)
	fi
	if [ ${#missing[@]} -eq 0 ]; then
		echo "all packages present"
		return 0
	fi
	echo "installing: ${missing[*]}"
	as_root apt-get update -q
	as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

install_npm() {
	local dir=$ROOT/tests/integration
	if [ ! -f "$dir/package.json" ]; then
		echo "no tests/integration/package.json: skipping npm"
		return 0
	fi
	if [ -d "$dir/node_modules" ] && (cd "$dir" && npm ls --omit=dev >/dev/null 2>&1); then
		echo "node modules present"
		return 0
	fi
	# npm install follows package-lock.json's versions. (npm ci would refuse
	# the lock: npm records only this platform's binary package of dbmate's
	# optional per-platform ones, and ci then reports the others missing.)
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error </dev/null)
}

if [ "$INSTALL" = 1 ]; then
	step "packages"
	install_packages
	step "npm modules for the integration tests"
	install_npm
fi

step "configure ($BUILD, sanitizers $SANITIZE)"
cmake -S "$ROOT" -B "$BUILD" -DDDLGATE_SANITIZE="$SANITIZE" -DCMAKE_BUILD_TYPE=RelWithDebInfo

step "build (-j$JOBS)"
build_start=$(date +%s)
cmake --build "$BUILD" -j"$JOBS"
echo "built in $(($(date +%s) - build_start))s"

# The .deb from its own release build (no sanitizer runtime in a package):
# cpack, apt-get install (unless --no-install), then smoke checks. A failure
# here fails the run, after the tests have run too.
pkg_status=0
if [ "${DDLGATE_PACKAGE:-ON}" != OFF ]; then
	step "package (.deb from ${DDLGATE_PKG_BUILD_DIR:-$ROOT/build-pkg}$([ "$INSTALL" = 1 ] || echo ', not installed'))"
	pkg_args=()
	[ "$INSTALL" = 1 ] || pkg_args+=(--no-install)
	bash "$ROOT/tests/package/check.sh" "${pkg_args[@]}" </dev/null || pkg_status=1
fi

# Sanitizer reports fail the test that triggered them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CI=${CI:-true}

step "ctest -L '$LABELS' (cap ${TIMEOUT}s)"
# Unit and fuzz-replay tests are independent processes: run them in parallel.
# Integration tests each start a MariaDB; two at a time keeps a 2-core box sane.
status=0
start=$(date +%s)
if ctest --test-dir "$BUILD" -N -L "$LABELS" | grep -q 'Total Tests: [1-9]'; then
	unit_labels=$(printf '%s' "$LABELS" | tr '|' '\n' | grep -Ev '^integration$' | paste -sd'|' || true)
	if [ -n "$unit_labels" ]; then
		timeout --foreground -k 10 "$TIMEOUT" \
			ctest --test-dir "$BUILD" -L "$unit_labels" -j"$JOBS" --output-on-failure \
			--timeout 300 || status=1
	fi
	if printf '%s' "$LABELS" | tr '|' '\n' | grep -qx integration; then
		left=$((TIMEOUT - ($(date +%s) - start)))
		if [ "$left" -le 30 ]; then
			echo "tests/run.sh: no time left for the integration tests" >&2
			status=1
		else
			timeout --foreground -k 10 "$left" \
				ctest --test-dir "$BUILD" -L integration -j"${DDLGATE_IT_JOBS:-2}" \
				--output-on-failure \
				--timeout 600 || status=1
		fi
	fi
else
	echo "tests/run.sh: no tests match labels '$LABELS'" >&2
	status=1
fi

elapsed=$(($(date +%s) - start))
if [ "$pkg_status" -ne 0 ]; then
	echo "tests/run.sh: the package step failed (see '==> package' above)" >&2
	status=1
fi
if [ "$status" -ne 0 ]; then
	step "FAILED after ${elapsed}s"
	exit 1
fi
step "all tests passed in ${elapsed}s"
