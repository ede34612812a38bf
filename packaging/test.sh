#!/usr/bin/env bash
# test.sh: check the .deb that build.sh made (make package-test; a step of make test).
#
#   packaging/test.sh [bin/latchkey_VERSION_ARCH.deb]
#
# Unpacks it into a throwaway root with `dpkg -x` (nothing touches the machine) and
# checks that: the installed binaries run and carry the package's version and commit
# (`latchkey version`, `latchkey-store version`); `latchkey-store serve` answers
# /healthz; every man page and completion file is there and well-formed; the unit
# files pass `systemd-analyze verify` with no finding at all (it exits 0 on warnings,
# so any output fails), the system unit inside the root, the user unit with its
# ExecStart pointed into the root; the desktop files pass desktop-file-validate.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:-$(ls -t bin/latchkey_*.deb 2>/dev/null | head -n1)}
[ -f "$deb" ] || { echo "package-test: no bin/latchkey_*.deb: run make package first" >&2; exit 1; }
for tool in dpkg-deb systemd-analyze curl desktop-file-validate; do
	command -v "$tool" >/dev/null || { echo "package-test: $tool is missing (scripts/deps.sh package)" >&2; exit 1; }
done

root=$(mktemp -d)
store_pid=
cleanup() {
	if [ -n "$store_pid" ]; then kill "$store_pid" 2>/dev/null || true; wait "$store_pid" 2>/dev/null || true; fi
	rm -rf "$root"
}
trap cleanup EXIT
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }

dpkg-deb -x "$deb" "$root"
version=$(dpkg-deb -f "$deb" Version)
commit=${version##*.}

# The binaries run and say which build they are.
out=$("$root/usr/bin/latchkey" version)
[[ $out == "latchkey $version (commit "* ]] || fail "latchkey version printed: $out"
json=$("$root/usr/bin/latchkey" version --json)
grep -q "\"version\": \"$version\"" <<<"$json" || fail "latchkey version --json: $json"
out=$("$root/usr/bin/latchkey-store" version)
[[ $out == "latchkey-store $version (commit "* ]] || fail "latchkey-store version printed: $out"
case $version in *~git*) [[ $out == *"(commit $commit)" ]] || fail "latchkey-store: commit is not $commit: $out" ;; esac
ok "latchkey and latchkey-store $version run"

# latchkey-store serve answers /healthz (the key set is fetched lazily: no provider needed to start).
log="$root/store.log"
XDG_STATE_HOME="$root/state" "$root/usr/bin/latchkey-store" serve --listen 127.0.0.1:0 \
	--jwks-url "http://127.0.0.1:9/jwks" --audience package-test >"$log" 2>&1 &
store_pid=$!
healthy=false
for _ in $(seq 1 100); do
	addr=$(sed -n 's/.*latchkey-store serving" addr=\([0-9.:]*\).*/\1/p' "$log" | head -n1)
	if [ -n "$addr" ] && curl -fsS "http://$addr/healthz" 2>/dev/null | grep -q '"status":"ok"'; then healthy=true; break; fi
	kill -0 "$store_pid" 2>/dev/null || break
	sleep 0.1
done
$healthy || { cat "$log" >&2; fail "latchkey-store serve did not answer /healthz"; }
kill "$store_pid"; wait "$store_pid" 2>/dev/null || true; store_pid=
[ "$(stat -c %a "$root/state/latchkey/store.db")" = 600 ] || fail "the store's database is not 0600"
ok "latchkey-store serve answered /healthz"

# Man pages (gzip, roff) and completions.
for page in latchkey latchkey-daemon latchkey-configure latchkey-status latchkey-store latchkey-store-serve; do
	f="$root/usr/share/man/man1/$page.1.gz"
	[ -f "$f" ] && zcat "$f" | grep -q '^\.TH' || fail "man page $page(1) missing or not roff"
done
zcat "$root/usr/share/man/man1/latchkey-store-serve.1.gz" | grep -qF -- '--secrets-key-file' || fail "latchkey-store-serve(1) lacks --secrets-key-file"
for f in bash-completion/completions/latchkey bash-completion/completions/latchkey-store \
	zsh/vendor-completions/_latchkey zsh/vendor-completions/_latchkey-store \
	fish/vendor_completions.d/latchkey.fish fish/vendor_completions.d/latchkey-store.fish; do
	[ -s "$root/usr/share/$f" ] || fail "completion $f missing or empty"
done
bash -n "$root/usr/share/bash-completion/completions/latchkey" || fail "the bash completion does not parse"
ok "man pages and completions"

# Unit files: systemd-analyze verify, with the host's units beside ours in the root.
cp -rn /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/" 2>/dev/null || true
findings=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" /usr/lib/systemd/system/latchkey-store.service 2>&1) ||
	fail "systemd-analyze verify latchkey-store.service: $findings"
[ -z "$findings" ] || fail "systemd-analyze verify latchkey-store.service: $findings"
userdir=$(mktemp -d -p "$root")
sed "s|/usr/bin/|$root/usr/bin/|g" "$root/usr/lib/systemd/user/latchkey.service" >"$userdir/latchkey.service"
mkdir -m 0700 "$root/run-user"
findings=$(MANPATH="$root/usr/share/man" XDG_RUNTIME_DIR="$root/run-user" systemd-analyze --user verify "$userdir/latchkey.service" 2>&1) ||
	fail "systemd-analyze --user verify latchkey.service: $findings"
[ -z "$findings" ] || fail "systemd-analyze --user verify latchkey.service: $findings"
grep -q '^WantedBy=graphical-session.target$' "$root/usr/lib/systemd/user/latchkey.service" || fail "the user unit is not started with the graphical session"
grep -q '^User=latchkey-store$' "$root/usr/lib/systemd/system/latchkey-store.service" || fail "the store unit has no user of its own"
grep -q '^u latchkey-store ' "$root/usr/lib/sysusers.d/latchkey-store.conf" || fail "no sysusers entry for latchkey-store"
ok "systemd-analyze verify: latchkey.service (user), latchkey-store.service (system)"

dpkg-deb -e "$deb" "$root/DEBIAN"
for s in postinst prerm postrm; do
	sh -n "$root/DEBIAN/$s" || fail "maintainer script $s does not parse"
done
grep -q 'systemctl --global enable latchkey.service' "$root/DEBIAN/postinst" || fail "postinst does not enable the user unit"
ok "maintainer scripts"

desktop-file-validate "$root/usr/share/applications/latchkey.desktop" "$root/etc/xdg/autostart/latchkey.desktop" ||
	fail "desktop-file-validate"
ok "desktop entry and autostart file"
echo "package-test: $deb passed"
