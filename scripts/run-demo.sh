#!/usr/bin/env bash
# run-demo.sh (`make run`): latchkey on the embedded SQLite store, connected to the Docebo
# sandbox, with how to open the menu printed (launcher file, one-time link). Ctrl+C stops everything.
#
# What it does:
#   1. installs the keychain packages (scripts/deps.sh keyring) and builds bin/ (make build);
#   2. keeps all demo state under ./.demo/ (XDG_STATE_HOME, XDG_DATA_HOME, XDG_CONFIG_HOME,
#      XDG_RUNTIME_DIR, logs; 0700) and writes ./.demo/env to source in another terminal;
#   3. keychain: a desktop user whose session bus already has a Secret Service keeps their
#      own; otherwise a private bus with gnome-keyring whose files stay in ./.demo/keyring
#      (same throwaway password every run, so the salt — and the sealed tokens — persist);
#   4. starts bin/docebo-sandbox (auto-approving consent) and bin/document360-sandbox;
#   5. `latchkey configure docebo` (secret on stdin), `latchkey daemon --listen`,
#      `latchkey connect docebo --no-browser`, follows the printed consent URL with curl
#      (the sandbox approves it and redirects to the daemon), then `latchkey menu --print-url`.
#   6. with STORE=1 (`make run STORE=1`): also an OpenID Provider (bin/oidc-sandbox) and
#      bin/latchkey-store on SQLite beside the daemon, as an organisation rolls it out: the
#      administrator alice (group staff) enables Docebo in the store's console at /admin
#      (curl fills the forms), nobody runs `latchkey configure docebo`; the employee bob's
#      daemon signs in (`latchkey login`, the sandbox's form filled by curl), receives
#      Docebo from the store, connects it, and pushes every sealed record there.
#
# The CLI verbs and sandbox flags it assumes are collected in the "Assumptions" block below,
# so a change in the CLI is a one-line edit here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

# ---- Assumptions (adjust here) -------------------------------------------------------
LISTEN=${LATCHKEY_DEMO_LISTEN:-127.0.0.1:7788}       # latchkey daemon --listen
DOCEBO_ADDR=${LATCHKEY_DEMO_DOCEBO:-127.0.0.1:8801}  # docebo-sandbox --listen
D360_ADDR=${LATCHKEY_DEMO_D360:-127.0.0.1:8802}      # document360-sandbox --listen
CLIENT_ID=latchkey-demo
# The sandbox's demo client secret: a public, fake value for a local sandbox (not a real
# credential). Passed to the sandbox with --client-secret when it has that flag.
DOCEBO_SECRET=${LATCHKEY_DEMO_DOCEBO_SECRET:-latchkey-demo-secret}
KEYRING_PASSWORD=latchkey-demo                       # throwaway; unlocks ./.demo/keyring
DEMO=$ROOT/.demo
LOGS=$DEMO/logs
LK=$ROOT/bin/latchkey

D360_PROJECT=5d1f4b6a-8c2e-4f0a-9b7d-3e6a1c9f0b21           # document360 sandbox defaults
D360_VERSION=0e7b9c3d-1a2f-4d5e-8f6a-7b8c9d0e1f2a
D360_TOKEN_FILE=$DEMO/sandbox/document360.token          # the sandbox creates it (0600)
D360_WIDGET_SECRET=latchkey-demo-widget-secret             # fake, for the local sandbox
OIDC_ADDR=${LATCHKEY_DEMO_OIDC:-127.0.0.1:8803}            # oidc-sandbox --listen (STORE=1)
OIDC_SECRET=latchkey-demo-oidc-secret                      # fake, for the local sandbox
OIDC_USER=bob OIDC_PASSWORD=bob-password                   # the employee (a seeded sandbox user)
ADMIN_USER=alice ADMIN_PASSWORD=alice-password             # the administrator (group staff)
STORE_ADDR=${LATCHKEY_DEMO_STORE_ADDR:-127.0.0.1:8787}     # latchkey-store --listen (STORE=1)

# The sandboxes take their secrets from the environment or files, never from flags.
docebo_sandbox() {
	DOCEBO_SANDBOX_CLIENT_SECRET=$DOCEBO_SECRET exec "$ROOT/bin/docebo-sandbox" \
		--listen "$DOCEBO_ADDR" --client-id "$CLIENT_ID" --auto-approve
}
d360_sandbox() {
	DOCUMENT360_SANDBOX_CLIENT_SECRET=$D360_WIDGET_SECRET exec "$ROOT/bin/document360-sandbox" \
		--listen "$D360_ADDR" --api-token-file "$D360_TOKEN_FILE" --widget-id latchkey-demo-widget
}
# signin=token_exchange (experimental): course links from the menu carry a 30-second single-use
# token minted at an endpoint only the sandbox serves (no Docebo documentation describes it).
configure_docebo() {
	printf '%s' "$DOCEBO_SECRET" | "$LK" configure docebo --url "http://$DOCEBO_ADDR" --client-id "$CLIENT_ID" \
		--signin token_exchange
}
configure_d360() {
	"$LK" configure document360 --url "http://$D360_ADDR" --project "$D360_PROJECT" \
		--version "$D360_VERSION" --secret token <"$D360_TOKEN_FILE" &&
		printf '%s' "$D360_WIDGET_SECRET" | "$LK" configure document360 --secret client \
			--set widget_id=latchkey-demo-widget --set reader_groups=demo-readers
}
oidc_sandbox() {
	OIDC_SANDBOX_CLIENT_SECRET=$OIDC_SECRET exec "$ROOT/bin/oidc-sandbox" --listen "$OIDC_ADDR" \
		--client-id latchkey --redirect-uri "http://$LISTEN/identity/connected" \
		--redirect-uri "http://$STORE_ADDR/admin/callback"
}
# The store's secrets key and the console's client secret (the sandbox's, fake) in 0600 files.
store_files() {
	(umask 077
		[ -s "$DEMO/store/secrets.key" ] || "$ROOT/bin/latchkey-store" new-secrets-key >"$DEMO/store/secrets.key"
		printf '%s' "$OIDC_SECRET" >"$DEMO/store/console.secret"
		printf '%s' "$DOCEBO_SECRET" >"$DEMO/store/docebo.secret")
}
store_server() {
	exec "$ROOT/bin/latchkey-store" serve --listen "$STORE_ADDR" --db "sqlite://$DEMO/store/store.db" \
		--issuer "http://$OIDC_ADDR" --audience latchkey --admin-claim groups --admin-value staff \
		--secrets-key-file "$DEMO/store/secrets.key" \
		--console-client-id latchkey --console-client-secret-file "$DEMO/store/console.secret"
}
# admin_enable_docebo: the administrator signs in to the console and enables Docebo for the
# organisation (Configure → Save and enable), as a browser would.
admin_enable_docebo() {
	local jar=$DEMO/store/console-cookies base="http://$STORE_ADDR" page req csrf
	rm -f "$jar"
	page=$(curl -fsSL -c "$jar" -b "$jar" "$base/admin/login") || return 1
	req=$(sed -n 's/.*name="authRequestID" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n1)
	[ -n "$req" ] || { echo "the console's sign-in reached no login form" >&2; return 1; }
	curl -fsSL -o /dev/null -c "$jar" -b "$jar" --data-urlencode "authRequestID=$req" \
		--data-urlencode "username=$ADMIN_USER" --data-urlencode "password=$ADMIN_PASSWORD" "http://$OIDC_ADDR/login" || return 1
	page=$(curl -fsSL -c "$jar" -b "$jar" "$base/admin/integrations/docebo") || return 1
	csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n1)
	[ -n "$csrf" ] || { echo "the console's Configure page has no form (not signed in?)" >&2; return 1; }
	page=$(curl -fsSL -c "$jar" -b "$jar" --data-urlencode "csrf=$csrf" --data-urlencode action=enable \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret@$DEMO/store/docebo.secret" \
		--data-urlencode "url=http://$DOCEBO_ADDR" --data-urlencode "display_name=Acme Learning" \
		--data-urlencode "widget_title=Acme courses" "$base/admin/integrations/docebo") || return 1
	rm -f "$jar"
	grep -q 'saved and enabled' <<<"$page" || { echo "the console did not save Docebo" >&2; return 1; }
}
# docebo_managed: the daemon has Docebo from the organisation.
docebo_managed() { "$LK" status --json 2>/dev/null | tr -d ' \n' | grep -q '"name":"docebo","state":"[a-z_]*","configured":true.*"managed":true'; }
configure_identity() { printf '%s' "$OIDC_SECRET" | "$LK" configure identity --issuer "http://$OIDC_ADDR" --client-id latchkey; }
start_daemon() { exec "$LK" daemon --listen "$LISTEN"; }
connect_docebo() { "$LK" connect docebo --no-browser; }
login() { "$LK" login --no-browser; }
menu_url() { "$LK" menu --print-url; }
# ---------------------------------------------------------------------------------------

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# tcp_up HOST:PORT: something accepts connections there.
tcp_up() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# wait_for DESC SECONDS CMD…: poll CMD until it succeeds, or fail after SECONDS.
wait_for() {
	local desc=$1 secs=$2 i=0
	shift 2
	until "$@"; do
		i=$((i + 1))
		[ "$i" -le $((secs * 10)) ] || return 1
		sleep 0.1
	done
}

if [ -z "${LATCHKEY_DEMO_INNER:-}" ]; then
	# ---- Phase 1: packages, binaries, directories, keychain ----------------------------
	say "checking packages (scripts/deps.sh keyring)…"
	scripts/deps.sh --strict keyring
	say "building bin/ …"
	make -s build >"${TMPDIR:-/tmp}/latchkey-demo-build.log" 2>&1 || {
		cat "${TMPDIR:-/tmp}/latchkey-demo-build.log" >&2
		die "make build failed (see above)"
	}
	for b in latchkey docebo-sandbox; do [ -x "bin/$b" ] || die "bin/$b was not built (is its package in the tree yet?)"; done

	umask 077
	mkdir -p "$DEMO"/{state,data,config,runtime,keyring,sandbox,store} "$LOGS"
	chmod 700 "$DEMO" "$DEMO"/{state,data,config,runtime,keyring,sandbox,store} "$LOGS"
	export XDG_STATE_HOME=$DEMO/state XDG_DATA_HOME=$DEMO/data XDG_CONFIG_HOME=$DEMO/config XDG_RUNTIME_DIR=$DEMO/runtime
	export LATCHKEY_DEMO_INNER=1

	for a in "$LISTEN" "$DOCEBO_ADDR" "$D360_ADDR" ${LATCHKEY_DEMO_STORE:+"$OIDC_ADDR" "$STORE_ADDR"}; do
		tcp_up "$a" && die "$a is already in use (another \`make run\`?): stop it, or set LATCHKEY_DEMO_LISTEN / _DOCEBO / _D360"
	done

	own=false
	if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] &&
		dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
			string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
		own=true
	fi
	if $own; then
		say "using your desktop session's keychain (Secret Service on your session bus)"
		LATCHKEY_DEMO_OWN_KEYCHAIN=1 exec "$0" "$@"
	fi
	say "private session bus + gnome-keyring, files in .demo/keyring"
	LATCHKEY_KEYRING_DIR=$DEMO/keyring LATCHKEY_KEYRING_PASSWORD=$KEYRING_PASSWORD exec scripts/with-keyring.sh "$0" "$@"
fi

# ---- Phase 2: inside the session with a keychain --------------------------------------
umask 077
# GTK (the tray) would try the accessibility bus of a desktop session and warn on stderr.
export NO_AT_BRIDGE=1
pids=()
stopping=false
stop_all() {
	$stopping && return
	stopping=true
	trap '' INT TERM
	echo
	say "stopping…"
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=false
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=true; done
		$alive || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	say "stopped (state kept in .demo/; \`make distclean\` removes it)"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# start NAME CMD…: run CMD in the background, output to .demo/logs/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$LOGS/$name.log" 2>&1 &
	pids+=($!)
}
# must_live PID NAME: fail with the log's tail when a started process has died.
dead() { ! kill -0 "$1" 2>/dev/null; }
log_tail() { echo "--- .demo/logs/$1.log:" >&2; tail -n 20 "$LOGS/$1.log" >&2; }
# printed_url NAME PID: the first URL the started command NAME printed on a line of its
# own, waited for up to 20 s (empty when it exits or times out without one).
# (-s: the started command's redirection may not have created the log yet)
url_in_log() { grep -sqE '^https?://' "$LOGS/$1.log" || dead "$2"; }
printed_url() {
	wait_for "a URL from $1" 20 url_in_log "$1" "$2" || true
	grep -s -m1 -E '^https?://' "$LOGS/$1.log" || true
}
# finished NAME PID WHAT: wait up to 30 s for the started command to exit; fail unless it
# succeeded.
finished() {
	wait_for "$1 to finish" 30 dead "$2" || { log_tail "$1"; die "$3 did not finish"; }
	wait "$2" || { log_tail "$1"; die "$3 failed"; }
}

say "starting the Docebo sandbox on $DOCEBO_ADDR"
start docebo-sandbox docebo_sandbox
dpid=${pids[-1]}
d360=false
if [ -x bin/document360-sandbox ]; then
	say "starting the Document360 sandbox on $D360_ADDR"
	start document360-sandbox d360_sandbox
	d360=true
fi
wait_for "docebo sandbox" 15 tcp_up "$DOCEBO_ADDR" || { log_tail docebo-sandbox; die "the Docebo sandbox did not listen on $DOCEBO_ADDR"; }

if [ -z "${LATCHKEY_DEMO_STORE:-}" ]; then
	say "configuring docebo (client id $CLIENT_ID, secret on stdin)"
	configure_docebo >"$LOGS/configure.log" 2>&1 || { log_tail configure; die "latchkey configure docebo failed"; }
fi
if $d360; then
	if wait_for "document360 sandbox" 15 tcp_up "$D360_ADDR" && [ -s "$D360_TOKEN_FILE" ]; then
		say "configuring document360 (API token on stdin)"
		configure_d360 >"$LOGS/configure-d360.log" 2>&1 || { log_tail configure-d360; die "latchkey configure document360 failed"; }
	else
		log_tail document360-sandbox
		say "the Document360 sandbox did not come up; continuing with Docebo only"
	fi
fi

if [ -n "${LATCHKEY_DEMO_STORE:-}" ]; then
	for b in oidc-sandbox latchkey-store; do [ -x "bin/$b" ] || die "bin/$b was not built"; done
	say "starting the OpenID Provider sandbox on $OIDC_ADDR and latchkey-store (SQLite) on $STORE_ADDR"
	start oidc-sandbox oidc_sandbox
	wait_for "oidc sandbox" 15 tcp_up "$OIDC_ADDR" || { log_tail oidc-sandbox; die "the OIDC sandbox did not listen on $OIDC_ADDR"; }
	store_files
	start latchkey-store store_server
	wait_for "latchkey-store" 15 tcp_up "$STORE_ADDR" || { log_tail latchkey-store; die "latchkey-store did not listen on $STORE_ADDR"; }
	say "the administrator $ADMIN_USER enables Docebo for the organisation in the console (http://$STORE_ADDR/admin/)"
	admin_enable_docebo >"$LOGS/console.log" 2>&1 || { log_tail console; log_tail latchkey-store; die "enabling Docebo in the console failed"; }
	configure_identity >"$LOGS/configure-identity.log" 2>&1 || { log_tail configure-identity; die "latchkey configure identity failed"; }
	export LATCHKEY_STORE=http://$STORE_ADDR
	export LATCHKEY_ORG_PULL_INTERVAL=${LATCHKEY_ORG_PULL_INTERVAL:-30s} # the demo: a central change shows within 30 s
fi

say "starting latchkey daemon on $LISTEN"
start daemon start_daemon
lpid=${pids[-1]}
healthy() { dead "$lpid" && return 1; curl -fsS -o /dev/null "http://$LISTEN/healthz" 2>/dev/null; }
wait_for daemon 20 healthy || { log_tail daemon; die "the daemon did not answer http://$LISTEN/healthz"; }

if [ -n "${LATCHKEY_DEMO_STORE:-}" ]; then
	say "signing in to the OpenID Provider as $OIDC_USER (latchkey login; the form filled by curl)"
	start login login
	lipid=${pids[-1]}
	signin=$(printed_url login "$lipid")
	[ -n "$signin" ] || { log_tail login; die "latchkey login printed no URL"; }
	jar=$DEMO/sandbox/oidc-cookies
	page=$(curl -fsSL -c "$jar" -b "$jar" "$signin") || { log_tail oidc-sandbox; die "the sign-in page did not load"; }
	req=$(sed -n 's/.*name="authRequestID" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n1)
	[ -n "$req" ] || die "the sign-in page had no form"
	curl -fsSL -o /dev/null -c "$jar" -b "$jar" --data-urlencode "authRequestID=$req" \
		--data-urlencode "username=$OIDC_USER" --data-urlencode "password=$OIDC_PASSWORD" "http://$OIDC_ADDR/login" ||
		{ log_tail oidc-sandbox; die "signing in failed"; }
	rm -f "$jar"
	finished login "$lipid" "latchkey login"
	say "waiting for the daemon to receive Docebo from the organisation (no latchkey configure)"
	wait_for "docebo from the store" 30 docebo_managed || { log_tail daemon; die "the daemon did not receive Docebo from latchkey-store"; }
fi

say "connecting docebo (consent approved automatically by the sandbox)"
start connect connect_docebo
cpid=${pids[-1]}
consent=$(printed_url connect "$cpid")
[ -n "$consent" ] || { log_tail connect; die "latchkey connect docebo printed no consent URL"; }
curl -fsSL -o "$LOGS/consent.html" "$consent" || { log_tail connect; die "following the consent URL failed"; }
finished connect "$cpid" "latchkey connect docebo (after consent)"

menu=$(menu_url 2>"$LOGS/menu.log") || { log_tail menu; die "latchkey menu --print-url failed"; }
launcher="file://$XDG_RUNTIME_DIR/latchkey/menu.html"
[ -f "$XDG_RUNTIME_DIR/latchkey/menu.html" ] || launcher="(no launcher file: see .demo/logs/daemon.log)"

{
	echo "# source this file to use the demo's latchkey from another shell"
	printf 'export XDG_STATE_HOME=%q XDG_DATA_HOME=%q XDG_CONFIG_HOME=%q XDG_RUNTIME_DIR=%q\n' \
		"$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
	[ -n "${LATCHKEY_DEMO_OWN_KEYCHAIN:-}" ] || printf 'export DBUS_SESSION_BUS_ADDRESS=%q\n' "$DBUS_SESSION_BUS_ADDRESS"
	[ -z "${LATCHKEY_STORE:-}" ] || printf 'export LATCHKEY_STORE=%q\n' "$LATCHKEY_STORE"
	printf 'export PATH=%q:"$PATH"\n' "$ROOT/bin"
} >"$DEMO/env"
chmod 600 "$DEMO/env"

cat <<EOF

  latchkey is running (daemon $LISTEN, Docebo sandbox $DOCEBO_ADDR, Document360 sandbox $D360_ADDR,
  state in .demo/)${LATCHKEY_STORE:+, pushing sealed records to latchkey-store at $LATCHKEY_STORE}.

  Menu:  $launcher
         opens the menu every time while the demo runs (a browser on this machine; bookmark it).
         Or a one-time link, valid once within ${LATCHKEY_MENU_CODE_TTL:-30s}:
         $menu
         (\`latchkey menu --print-url\` prints a fresh one; \`latchkey menu\` opens one;
         with a display, Ctrl+Shift+E or the tray open the menu too)

  In another terminal:
      source .demo/env
      latchkey status
      latchkey courses --json
      latchkey search onboarding --json
      curl -H "Authorization: Bearer \$(latchkey token)" http://$LISTEN/v1/courses

  Logs: .demo/logs/   Ctrl+C stops everything.

EOF
if [ -n "${LATCHKEY_DEMO_STORE:-}" ]; then
	cat <<EOF
  Organisation rollout: the admin console is http://$STORE_ADDR/admin/
      administrator: $ADMIN_USER / $ADMIN_PASSWORD   (Docebo is enabled there as "Acme Learning")
      employee:      $OIDC_USER / $OIDC_PASSWORD     (this daemon; it never ran latchkey configure docebo)
  Disable Docebo in the console: the employee's Docebo disconnects at the next pull (within 30 s here; 5 minutes by default).

EOF
fi

# Wait until Ctrl+C, or until the daemon or the Docebo sandbox dies.
while :; do
	if dead "$lpid"; then
		# Quit in the tray ends the daemon with status 0: the demo ends too, cleanly.
		if wait "$lpid"; then say "the daemon was quit (tray Quit)"; exit 0; fi
		log_tail daemon
		die "the daemon exited"
	fi
	if dead "$dpid"; then log_tail docebo-sandbox; die "the Docebo sandbox exited"; fi
	sleep 1 &
	wait $! || true
done
