# Shell helpers shared by tests/run.sh and tests/package/check.sh (sourced).

# Runs a command as root: directly when we are root, else through
# non-interactive sudo; fails naming the command when neither is possible.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		echo "${0##*/}: need root to run: $*" >&2
		return 1
	fi
}
