#!/usr/bin/env bash
# with-keyring.sh CMD [ARG…]: run CMD with a private, unlocked Secret Service keychain.
#
# It starts a private session bus (dbus-run-session) with gnome-keyring unlocked by a
# throwaway password, waits until org.freedesktop.secrets has an owner, exports
# LATCHKEY_TEST_KEYRING=1 and runs CMD on that bus. The keyring's files live in a fresh
# temporary directory (never ~/.local/share/keyrings), removed afterwards; the bus and the
# keyring daemon end with CMD. CMD's exit status is the script's.
#
#   LATCHKEY_KEYRING_DIR=DIR   keep the keyring files in DIR instead (reused across runs,
#                              so a salt stored there persists; scripts/run-demo.sh uses it)
#   LATCHKEY_KEYRING_PASSWORD  the throwaway unlock password (default "latchkey-test")
#
# When gnome-keyring or dbus-run-session is missing: with CI=true it fails; otherwise it
# warns and runs CMD without a keychain (the keychain tests then skip).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARG…]" >&2; exit 2; }

missing=""
for c in dbus-run-session dbus-send gnome-keyring-daemon; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
	echo "with-keyring: missing$missing (install them: scripts/deps.sh keyring)" >&2
	[ "${CI:-}" = "true" ] && exit 1
	echo "with-keyring: running without a keychain; keychain tests will skip" >&2
	exec "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-keyring.XXXXXX")
chmod 700 "$tmp"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kdir=${LATCHKEY_KEYRING_DIR:-$tmp/data}
mkdir -p "$kdir" "$tmp/run"
chmod 700 "$kdir" "$tmp/run"

# The keyring daemon (and anything the bus activates) gets the private data and runtime
# dirs, so it never touches, or unlocks, a desktop user's own keyring. CMD gets the caller's
# XDG_DATA_HOME back, and XDG_RUNTIME_DIR if it had one (else the private one).
export LK_ORIG_DATA_HOME="${XDG_DATA_HOME-}" LK_ORIG_DATA_HOME_SET="${XDG_DATA_HOME+1}"
export LK_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$tmp/run}"
export LK_KEYRING_PASSWORD="${LATCHKEY_KEYRING_PASSWORD:-latchkey-test}"

set +e
XDG_DATA_HOME=$kdir XDG_RUNTIME_DIR=$tmp/run \
	dbus-run-session -- sh -c '
	set -e
	printf %s "$LK_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
	unset LK_KEYRING_PASSWORD
	i=0
	until dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			echo "with-keyring: gnome-keyring did not take org.freedesktop.secrets within 10s" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ -n "$LK_ORIG_DATA_HOME_SET" ]; then export XDG_DATA_HOME="$LK_ORIG_DATA_HOME"; else unset XDG_DATA_HOME; fi
	export XDG_RUNTIME_DIR="$LK_RUNTIME_DIR"
	unset LK_ORIG_DATA_HOME LK_ORIG_DATA_HOME_SET LK_RUNTIME_DIR
	export LATCHKEY_TEST_KEYRING=1
	exec "$@"
' with-keyring "$@" 2> >(
	# The filter outlives a Ctrl+C, so CMD can still report while it shuts down.
	trap '' INT TERM
	exec grep --line-buffered -v -e 'Failed to set fd limit' -e 'insufficient process capabilities' \
		-e 'dbus-daemon\[[0-9]*\]: \[session .*\] \(Activating\|Successfully activated\) service' >&2
)
rc=$?
set -e
exit "$rc"
