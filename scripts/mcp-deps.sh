#!/usr/bin/env bash
# mcp-deps.sh: make the MCP test component present, idempotently and quietly:
# e2e/mcp/node_modules with @modelcontextprotocol/sdk (the TypeScript SDK client),
# @modelcontextprotocol/conformance (the conformance suite) and node (Node 22, which
# the suite needs where Debian's nodejs is older) at the versions e2e/mcp/package.json
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
stale=""
for pkg in @modelcontextprotocol/sdk @modelcontextprotocol/conformance node; do
	want=$(sed -n "s|.*\"$pkg\": *\"\([0-9][^\"]*\)\".*|\1|p" "$dir/package.json" | head -n1)
	have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/$pkg/package.json" 2>/dev/null | head -n1)
	if [ -z "$have" ] || [ "$have" != "$want" ]; then stale=1; fi
done
if [ -n "$stale" ]; then
	log=$(mktemp) || exit 1
	if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		fail "npm ci in $dir failed (see above)"
	fi
	rm -f "$log"
fi
echo "export LATCHKEY_TEST_MCP=$dir"
