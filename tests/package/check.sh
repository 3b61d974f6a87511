#!/usr/bin/env bash
# Builds the Debian package from a release build and smoke-tests it.
#
# Usage: tests/package/check.sh [--no-install]
#   --no-install   build the .deb but do not apt-get install it; the checks
#                  then run on the package's files unpacked into a temp dir
# Environment:
#   DDLGATE_PKG_BUILD_DIR  build directory (default: build-pkg in the repo),
#                          configured for /usr without sanitizers, tests, bench
#
# Checks: `ddlgate --version` prints the package version; the shipped
# /etc/ddlgate/ddlgate.ini passes `ddlgate serve --check-config`; the unit
# passes `systemd-analyze verify` (skipped, with a message, where systemd-analyze
# is missing or does not work, as in some containers). Installed, also: the
# ddlgate account exists and can read the config, the config is a conffile
# owned root:ddlgate 0640. Called by tests/run.sh; exits non-zero on failure.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
INSTALL=1
for arg in "$@"; do
	case "$arg" in
	--no-install) INSTALL=0 ;;
	-h | --help)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "tests/package/check.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
BUILD=${DDLGATE_PKG_BUILD_DIR:-$ROOT/build-pkg}
export DEBIAN_FRONTEND=noninteractive

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

failures=0
ok() { printf '  ok    %s\n' "$*"; }
fail() {
	printf '  FAIL  %s\n' "$*" >&2
	failures=$((failures + 1))
}
skip() { printf '  skip  %s\n' "$*"; }

# ---- build ---------------------------------------------------------------
start=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DDDLGATE_SANITIZE=OFF -DDDLGATE_FUZZ=OFF -DDDLGATE_TESTS=OFF -DDDLGATE_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"
rm -f "$BUILD"/ddlgate_*.deb
cpack --config "$BUILD/CPackConfig.cmake" -B "$BUILD" </dev/null
debs=("$BUILD"/ddlgate_*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
	echo "tests/package/check.sh: cpack made no single ddlgate_*.deb in $BUILD" >&2
	exit 1
fi
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version)
echo "built $(basename "$deb") in $(($(date +%s) - start))s"
dpkg-deb -f "$deb" Package Version Architecture Depends

# ---- where the checks look -------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$INSTALL" = 1 ] && [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
	skip "apt-get install: not root and no sudo; checking the unpacked package instead"
	INSTALL=0
fi
if [ "$INSTALL" = 1 ]; then
	# --reinstall: a rebuilt package of the same version must replace the old one.
	as_root apt-get install -y -qq --reinstall -o DPkg::Lock::Timeout=300 "$deb" </dev/null
	root=""
	echo "installed: $(dpkg-query -W -f='${Package} ${Version} ${Status}' ddlgate)"
else
	dpkg-deb -x "$deb" "$tmp/root"
	root=$tmp/root
	echo "--no-install: checking the package's files unpacked in a temp dir"
fi
bin=$root/usr/bin/ddlgate
conf=$root/etc/ddlgate/ddlgate.ini
unit=$root/usr/lib/systemd/system/ddlgate.service

# ---- checks ----------------------------------------------------------------
depends=$(dpkg-deb -f "$deb" Depends)
if [[ "$depends" == *libc6* && "$depends" == *libmariadb* ]]; then
	ok "Depends from dpkg-shlibdeps"
else
	fail "Depends lacks the shared libraries (dpkg-shlibdeps?): '$depends'"
fi

if readelf -d "$bin" | grep -Eq 'NEEDED.*lib(a|ub|t)san'; then
	fail "the packaged ddlgate links a sanitizer runtime"
else
	ok "no sanitizer runtime linked"
fi

out=$("$bin" --version 2>&1) || true
if [ "$out" = "ddlgate $version" ]; then
	ok "ddlgate --version: $out"
else
	fail "ddlgate --version printed '$out', expected 'ddlgate $version'"
fi

if out=$("$bin" serve --check-config -c "$conf" 2>&1); then
	ok "serve --check-config -c /etc/ddlgate/ddlgate.ini: $out"
else
	fail "serve --check-config -c /etc/ddlgate/ddlgate.ini: $out"
fi

if dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles 2>/dev/null | grep -qx /etc/ddlgate/ddlgate.ini; then
	ok "conffiles: /etc/ddlgate/ddlgate.ini"
else
	fail "/etc/ddlgate/ddlgate.ini is not a conffile"
fi

for want in "ExecStart=/usr/bin/ddlgate serve -c /etc/ddlgate/ddlgate.ini" \
	"ExecStartPre=/usr/bin/ddlgate serve --check-config -c /etc/ddlgate/ddlgate.ini"; do
	if grep -qxF "$want" "$unit"; then
		ok "unit: $want"
	else
		fail "unit lacks: $want"
	fi
done

if [ "$INSTALL" = 1 ]; then
	if getent passwd ddlgate >/dev/null; then
		ok "account ddlgate: $(getent passwd ddlgate)"
	else
		fail "no ddlgate account after install"
	fi
	perms=$(stat -c '%U:%G %a' "$conf")
	if [ "$perms" = "root:ddlgate 640" ]; then
		ok "config owner and mode: $perms"
	else
		fail "config is $perms, expected root:ddlgate 640"
	fi
	if command -v runuser >/dev/null; then
		if out=$(as_root runuser -u ddlgate -- "$bin" serve --check-config -c "$conf" 2>&1); then
			ok "the ddlgate account reads the config"
		else
			fail "as ddlgate: $out"
		fi
	fi
	dpkg -L ddlgate | sed 's/^/        /'
fi

# systemd-analyze verify: probe it on a trivial unit first, since inside a
# container it may be missing or unable to load the unit tree.
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify: systemd-analyze not installed"
else
	mkdir -p "$tmp/probe"
	printf '[Service]\nExecStart=/bin/true\n' >"$tmp/probe/ddlgate-probe.service"
	if ! probe=$(systemd-analyze verify "$tmp/probe/ddlgate-probe.service" 2>&1) || [ -n "$probe" ]; then
		skip "systemd-analyze verify: does not work here: ${probe:-non-zero exit}"
	else
		target=$unit
		if [ -n "$root" ]; then
			# Not installed: point the unit's commands at the unpacked binary.
			sed "s#/usr/bin/ddlgate#$bin#g" "$unit" >"$tmp/ddlgate.service"
			target=$tmp/ddlgate.service
		fi
		# Unknown keys are only warnings (exit 0): any output is a failure.
		if out=$(systemd-analyze verify "$target" 2>&1) && [ -z "$out" ]; then
			ok "systemd-analyze verify ddlgate.service"
		else
			fail "systemd-analyze verify ddlgate.service: ${out:-non-zero exit}"
		fi
	fi
fi

if [ "$failures" -ne 0 ]; then
	echo "tests/package/check.sh: $failures check(s) failed" >&2
	exit 1
fi
echo "package checks passed ($(basename "$deb"), $(($(date +%s) - start))s)"
