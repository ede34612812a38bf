#!/usr/bin/env bash
# vulncheck.sh: govulncheck at a pinned version over every package, failing on any
# vulnerability the code calls that scripts/vulncheck/accepted.txt does not list.
#
# The vulnerability database is, in order:
#   - $GOVULNDB when set (an https:// mirror or a file:// directory in the v1 layout);
#   - https://vuln.go.dev when it answers;
#   - otherwise a local copy built from the golang.org/x/vulndb module at the pinned
#     VULNDB_SNAPSHOT (taken from the Go module proxy like any module; its OSV files
#     indexed by the module's own cmd/indexdb), cached under bin/tools/. That copy is as
#     old as the snapshot: bump VULNDB_SNAPSHOT to a newer pseudo-version to refresh it.
# The script says which database it used.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_SNAPSHOT=${VULNDB_SNAPSHOT:-v0.0.0-20261105234957-e22db6528018}

db=${GOVULNDB:-}
if [ -z "$db" ] && curl -fsS -m 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then
	db=https://vuln.go.dev
fi
if [ -z "$db" ]; then
	dir=$PWD/bin/tools/vulndb-$VULNDB_SNAPSHOT
	if [ ! -s "$dir/index/modules.json" ]; then
		echo "vulncheck: vuln.go.dev is unreachable; building a local database from golang.org/x/vulndb@$VULNDB_SNAPSHOT"
		src=$(GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$VULNDB_SNAPSHOT" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
			echo "vulncheck: golang.org/x/vulndb@$VULNDB_SNAPSHOT has no data/osv: no database to check against" >&2
			exit 1
		fi
		rm -rf "$dir.tmp"
		mkdir -p "$(dirname "$dir")"
		GOFLAGS= go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_SNAPSHOT" -vulns "$src/data/osv" -out "$dir.tmp"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	db=file://$dir
	echo "vulncheck: using the golang.org/x/vulndb snapshot $VULNDB_SNAPSHOT (vuln.go.dev unreachable)"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# govulncheck -format json exits 0 whatever it finds; report.go judges the findings.
GOFLAGS= go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "$db" -format json ./... >"$out"
go run scripts/vulncheck/report.go scripts/vulncheck/accepted.txt <"$out"
