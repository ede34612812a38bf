#!/usr/bin/env bash
# deps.sh: install the Debian packages a part of latchkey needs, idempotently and quietly.
#
#   scripts/deps.sh [group…]        groups: keyring tray display postgres browser bench verify package
#                                   (none or "all" = every group)
#
# Each package is checked with dpkg-query first; `apt-get update` and `apt-get install` run
# only when something is missing, and their output is shown only when they fail. A package
# written "a|b" is satisfied by either and installs the first one apt knows.
#
# On failure it prints one line saying what is missing. With CI=true (or --strict) that is
# an error (exit 1); otherwise it is a warning (exit 0) and the tests needing that part skip.
# npm packages for the browser tests are scripts/browser-deps.sh's job, not this script's.
set -uo pipefail

pkgs_for() {
	case "$1" in
	keyring) echo "gnome-keyring dbus dbus-user-session libsecret-tools" ;;
	tray) echo "gcc pkg-config libgtk-3-dev libayatana-appindicator3-dev libx11-dev" ;;
	display) echo "xvfb xauth xdotool x11-utils" ;;
	postgres) echo "postgresql" ;;
	browser) echo "chromium" ;;
	bench) echo "nginx-light|nginx wrk" ;;
	verify) echo "systemd" ;;
	package) echo "systemd man-db desktop-file-utils curl" ;;
	*) return 1 ;;
	esac
}
ALL_GROUPS="keyring tray display postgres browser bench verify package"

strict=false
[ "${CI:-}" = "true" ] && strict=true
groups=()
for a in "$@"; do
	case "$a" in
	--strict) strict=true ;;
	all) read -r -a groups <<<"$ALL_GROUPS" ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) groups+=("$a") ;;
	esac
done
[ ${#groups[@]} -eq 0 ] && read -r -a groups <<<"$ALL_GROUPS"

fail() {
	echo "deps.sh: $*" >&2
	if $strict; then exit 1; fi
	echo "deps.sh: continuing without it (tests that need it will skip; CI=true makes this an error)" >&2
	exit 0
}

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]; }

command -v dpkg-query >/dev/null 2>&1 || fail "not a Debian-like system (no dpkg-query): install the packages for [${groups[*]}] by hand"

missing=()
for g in "${groups[@]}"; do
	list=$(pkgs_for "$g") || fail "unknown group '$g' (known: $ALL_GROUPS)"
	for spec in $list; do
		ok=false
		IFS='|' read -r -a alts <<<"$spec"
		for p in "${alts[@]}"; do installed "$p" && { ok=true; break; }; done
		$ok || missing+=("$spec")
	done
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || fail "missing packages (${missing[*]}) and not root, no sudo: apt-get install ${missing[*]//|/ or }"
	sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
APT=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

t0=$SECONDS
# The list lock is not covered by DPkg::Lock::Timeout on every apt: retry a busy update.
updated=false
for _ in 1 2 3 4 5 6; do
	if $sudo apt-get update -qq "${APT[@]}" >"$log" 2>&1; then updated=true; break; fi
	sleep 5
done
$updated || { cat "$log" >&2; fail "apt-get update failed (see above); needed for: ${missing[*]}"; }

# Resolve "a|b" to the first alternative apt has a candidate for.
want=()
for spec in "${missing[@]}"; do
	IFS='|' read -r -a alts <<<"$spec"
	pick=""
	for p in "${alts[@]}"; do
		if [[ "$(apt-cache policy "$p" 2>/dev/null)" == *"Candidate: "[!\(]* ]]; then pick=$p; break; fi
	done
	[ -n "$pick" ] || fail "no apt candidate for ${spec//|/ or }"
	want+=("$pick")
done

if ! $sudo apt-get install -y -qq "${APT[@]}" "${want[@]}" >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	fail "apt-get install ${want[*]} failed (see above)"
fi
echo "deps.sh: installed ${want[*]} ($((SECONDS - t0))s)" >&2
