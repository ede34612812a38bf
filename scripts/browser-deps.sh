#!/usr/bin/env bash
# browser-deps.sh: make the browser-test components present, idempotently and quietly.
#
#   - Debian's `chromium` (/usr/bin/chromium), installed with apt-get when missing;
#   - e2e/browser/node_modules/{playwright-core,axe-core}, installed with `npm ci` when
#     missing or not the versions package.json pins (playwright-core never downloads a
#     browser; axe-core checks the menu's accessibility).
#
# Use it either way:
#   source scripts/browser-deps.sh          # exports LATCHKEY_TEST_BROWSER
#   eval "$(scripts/browser-deps.sh)"       # prints `export LATCHKEY_TEST_BROWSER=…`
#
# Output of the installers is shown only when they fail. Under CI=true a failed
# install is an error (exit 1); otherwise the script warns, exports nothing and
# the browser tests skip.

_lk_browser_deps() {
	local root dir log rc want have
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
	dir="$root/e2e/browser"
	log=$(mktemp) || return 1

	if [ ! -x /usr/bin/chromium ]; then
		if ! command -v apt-get >/dev/null 2>&1; then
			echo "browser-deps: /usr/bin/chromium is missing and apt-get is not available; install Chromium by hand" >&2
			rm -f "$log"
			return 1
		fi
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
		if ! { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium; } >"$log" 2>&1; then
			cat "$log" >&2
			echo "browser-deps: installing Debian chromium failed (see above)" >&2
			rm -f "$log"
			return 1
		fi
	fi

	if ! command -v npm >/dev/null 2>&1; then
		echo "browser-deps: npm is missing; install Node.js 20+ and npm" >&2
		rm -f "$log"
		return 1
	fi
	local pkg stale=""
	for pkg in playwright-core axe-core; do
		want=$(sed -n "s/.*\"$pkg\": *\"\([0-9][^\"]*\)\".*/\1/p" "$dir/package.json" | head -n1)
		have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/$pkg/package.json" 2>/dev/null | head -n1)
		if [ -z "$have" ] || [ "$have" != "$want" ]; then stale=1; fi
	done
	if [ -n "$stale" ]; then
		if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
			cat "$log" >&2
			echo "browser-deps: npm ci in $dir failed (see above)" >&2
			rm -f "$log"
			return 1
		fi
	fi
	rm -f "$log"
	LATCHKEY_TEST_BROWSER=$dir
	export LATCHKEY_TEST_BROWSER
	return 0
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
	# Sourced: export into the caller's shell.
	if ! _lk_browser_deps; then
		unset -f _lk_browser_deps
		if [ "${CI:-}" = "true" ]; then return 1; fi
		echo "browser-deps: browser tests will be skipped" >&2
		return 0
	fi
	unset -f _lk_browser_deps
else
	set -u
	if ! _lk_browser_deps; then
		if [ "${CI:-}" = "true" ]; then exit 1; fi
		echo "browser-deps: browser tests will be skipped" >&2
		exit 0
	fi
	printf 'export LATCHKEY_TEST_BROWSER=%q\n' "$LATCHKEY_TEST_BROWSER"
fi
