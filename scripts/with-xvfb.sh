#!/usr/bin/env bash
# with-xvfb.sh CMD [ARG…]: run CMD with a private X display (Xvfb) and a private session bus.
#
# It installs what the desktop tests need when it is missing (xvfb xauth xdotool x11-utils
# libgtk-3-dev libayatana-appindicator3-dev; quiet and quick when present), starts Xvfb on a
# free display (Xvfb -displayfd picks it; -noreset, so the server does not reset when its last
# client leaves) with a throwaway MIT-MAGIC-COOKIE, starts a dbus-run-session, exports DISPLAY,
# XAUTHORITY and LATCHKEY_TEST_DISPLAY=1, and runs CMD.
# Xvfb, the bus and the temporary directory end with CMD; CMD's exit status is the script's.
#
# Compose it OUTSIDE scripts/with-keyring.sh (`with-xvfb.sh with-keyring.sh CMD`): each starts
# its own session bus, and CMD runs on the innermost one, which then has both.
#
# When a package cannot be installed or Xvfb does not start: with CI=true it fails (exit 1);
# otherwise it warns and runs CMD without a display (the display tests then skip).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARG…]" >&2; exit 2; }

PKGS="xvfb xauth xdotool x11-utils libgtk-3-dev libayatana-appindicator3-dev libx11-dev pkg-config gcc dbus"

degrade() {
	echo "with-xvfb: $1" >&2
	shift
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "with-xvfb: running without a display; display tests will skip (CI=true makes this an error)" >&2
	unset DISPLAY LATCHKEY_TEST_DISPLAY
	exec "$@"
}

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]; }

ensure_packages() {
	command -v dpkg-query >/dev/null 2>&1 || return 0 # not Debian-like: rely on what is there
	local missing=() p
	for p in $PKGS; do installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "missing ${missing[*]} and not root (apt-get install ${missing[*]})"; return 1; }
		sudo="sudo -n"
	fi
	local log
	log=$(mktemp)
	export DEBIAN_FRONTEND=noninteractive
	local apt=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
	if ! { $sudo apt-get update -qq "${apt[@]}" && $sudo apt-get install -y -qq "${apt[@]}" "${missing[@]}"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		echo "apt-get install ${missing[*]} failed (see above)"
		return 1
	fi
	rm -f "$log"
	echo "with-xvfb: installed ${missing[*]}" >&2
}

if ! msg=$(ensure_packages); then degrade "$msg" "$@"; fi
for c in Xvfb xauth dbus-run-session mcookie; do
	command -v "$c" >/dev/null 2>&1 || degrade "$c not found" "$@"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-xvfb.XXXXXX")
chmod 700 "$tmp"
xvfb_pid=""
cleanup() {
	if [ -n "$xvfb_pid" ]; then
		kill "$xvfb_pid" 2>/dev/null || true
		wait "$xvfb_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server loads every cookie in its -auth file whatever the display number, so the
# cookie can be written before Xvfb has chosen its display.
cookie=$(mcookie)
xauth -q -f "$tmp/server.auth" add :0 . "$cookie" 2>/dev/null
Xvfb -displayfd 3 -auth "$tmp/server.auth" -nolisten tcp -noreset -screen 0 1280x1024x24 \
	3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
n=""
for _ in $(seq 100); do
	n=$(head -n1 "$tmp/display" 2>/dev/null || true)
	[ -n "$n" ] && break
	kill -0 "$xvfb_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$n" ]; then
	tail -n 20 "$tmp/xvfb.log" >&2 || true
	kill "$xvfb_pid" 2>/dev/null || true
	xvfb_pid=""
	degrade "Xvfb did not start within 10s" "$@"
fi
xauth -q -f "$tmp/client.auth" add ":$n" . "$cookie" 2>/dev/null

# NO_AT_BRIDGE: GTK would otherwise have the bus start the accessibility bus and registry,
# which outlive CMD and keep its output open.
export DISPLAY=":$n" XAUTHORITY="$tmp/client.auth" LATCHKEY_TEST_DISPLAY=1 NO_AT_BRIDGE=1
unset WAYLAND_DISPLAY
set +e
dbus-run-session -- "$@" 2> >(grep --line-buffered -v -e 'Failed to set fd limit' -e 'insufficient process capabilities' >&2)
rc=$?
set -e
exit "$rc"
