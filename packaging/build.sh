#!/usr/bin/env bash
# build.sh: build the latchkey .deb into bin/ (make package).
#
#   packaging/build.sh            VERSION and COMMIT from git unless set
#
# Builds latchkey (cgo + tray when GTK/appindicator dev packages are present,
# else without) and latchkey-store (CGO_ENABLED=0) with the version and commit
# stamped in (-ldflags -X main.version -X main.commit), generates the man
# pages (the hidden gen-man command, from the cobra commands) and the shell
# completions, and packs it all with nfpm (pinned; installed into bin/tools).
# Prints the path of the .deb on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

NFPM_VERSION=${NFPM_VERSION:-v2.48.0}
nfpm=bin/tools/nfpm-$NFPM_VERSION
if [ ! -x "$nfpm" ]; then
	mkdir -p bin/tools
	tmp=$(mktemp -d)
	GOBIN=$tmp go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	mv "$tmp/nfpm" "$nfpm"
	rm -rf "$tmp"
fi

COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
if [ -z "${VERSION:-}" ]; then
	# A release tag v1.2.3 gives 1.2.3; otherwise 0.0.0~git<commit date>.<commit>.
	if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
		VERSION=${tag#v}
	else
		VERSION="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S).$COMMIT"
	fi
fi
GOARCH=$(go env GOARCH)
export VERSION COMMIT GOARCH

PKGROOT=bin/pkgroot # named in nfpm.yaml
rm -rf "$PKGROOT"
mkdir -p "$PKGROOT/bin" "$PKGROOT/man" "$PKGROOT/completions"

ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"
cgo=0
if command -v gcc >/dev/null && pkg-config --exists gtk+-3.0 ayatana-appindicator3-0.1 2>/dev/null; then cgo=1
else echo "package: GTK/appindicator dev packages missing: latchkey is built without cgo (no tray); scripts/deps.sh tray adds them" >&2; fi
CGO_ENABLED=$cgo go build -trimpath -ldflags "$ldflags" -o "$PKGROOT/bin/latchkey" ./cmd/latchkey
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$PKGROOT/bin/latchkey-store" ./cmd/latchkey-store

for b in latchkey latchkey-store; do
	"$PKGROOT/bin/$b" gen-man "$PKGROOT/man"
	"$PKGROOT/bin/$b" completion bash >"$PKGROOT/completions/$b.bash"
	"$PKGROOT/bin/$b" completion zsh >"$PKGROOT/completions/_$b"
	"$PKGROOT/bin/$b" completion fish >"$PKGROOT/completions/$b.fish"
done
gzip -9n "$PKGROOT"/man/*.1

deb="bin/latchkey_${VERSION}_${GOARCH}.deb"
rm -f bin/latchkey_*.deb
"$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$deb" >/dev/null
echo "$deb"
