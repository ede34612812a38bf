#!/usr/bin/env bash
# lint.sh: gofmt (no file may need formatting), go vet, and staticcheck at a pinned version.
# Exits non-zero on the first finding; prints one line per check when clean.
#
# staticcheck is installed with `go install …@$STATICCHECK_VERSION` into bin/tools/ (not go.mod).
# Bump the pin here; versions the module proxy serves are listed by `go list -m -versions
# honnef.co/go/tools`. v0.8.2 = staticcheck 2026.2.2, which understands Go 1.26.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}

# 1. gofmt: every tracked or new Go file outside vendored/generated trees.
files=$(find . -name '*.go' \
	-not -path './.git/*' -not -path './bin/*' -not -path './.demo/*' \
	-not -path '*/node_modules/*' -not -path '*/testdata/*' | sort)
if [ -n "$files" ]; then
	# shellcheck disable=SC2086
	bad=$(gofmt -l $files)
	if [ -n "$bad" ]; then
		echo "lint: gofmt: these files need formatting (run \`make fmt\`):" >&2
		echo "$bad" | sed 's/^/  /' >&2
		exit 1
	fi
fi
echo "lint: gofmt ok"

# 2. go vet.
go vet ./...
echo "lint: go vet ok"

# 3. staticcheck, pinned.
sc=bin/tools/staticcheck-$STATICCHECK_VERSION
if [ ! -x "$sc" ]; then
	mkdir -p bin/tools
	tmp=$(mktemp -d)
	if ! GOBIN=$tmp GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" 2>"$tmp/log"; then
		cat "$tmp/log" >&2
		echo "lint: could not install staticcheck $STATICCHECK_VERSION from the module proxy (see above)" >&2
		rm -rf "$tmp"
		exit 1
	fi
	mv "$tmp/staticcheck" "$sc"
	rm -rf "$tmp"
fi
"$sc" ./...
echo "lint: staticcheck $("$sc" -version | awk '{print $2}') ok"
