#!/usr/bin/env bash
# mcp-deps.sh: make the MCP client-test component present, idempotently and quietly:
# e2e/mcp/node_modules/@modelcontextprotocol/sdk at the version e2e/mcp/package.json
# pins, installed with `npm ci` (from package-lock.json) when missing or another version.
#
#   eval "$(scripts/mcp-deps.sh)"       # prints `export LATCHKEY_TEST_MCP=…`
#
# The installer's output is shown only when it fails. Under CI=true a failed install
# is an error (exit 1); otherwise the script warns, exports nothing and the tests skip.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
dir="$root/e2e/mcp"
fail() {
	echo "mcp-deps: $1" >&2
	if [ "${CI:-}" = true ]; then exit 1; fi
	exit 0
}
command -v npm >/dev/null 2>&1 || fail "npm is missing; install Node.js 20+ and npm"
want=$(sed -n 's/.*"@modelcontextprotocol\/sdk": *"\([0-9][^"]*\)".*/\1/p' "$dir/package.json" | head -n1)
have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/@modelcontextprotocol/sdk/package.json" 2>/dev/null | head -n1)
if [ -z "$have" ] || [ "$have" != "$want" ]; then
	log=$(mktemp) || exit 1
	if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		fail "npm ci in $dir failed (see above)"
	fi
	rm -f "$log"
fi
echo "export LATCHKEY_TEST_MCP=$dir"
