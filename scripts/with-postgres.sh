#!/usr/bin/env bash
# with-postgres.sh CMD [ARG…]: run CMD beside a throwaway PostgreSQL cluster.
#
# Installs Debian's `postgresql` package when no server binaries are present, then
# initdb's a cluster (as the postgres user when run as root: initdb refuses root) in a
# fresh temporary directory, starts it on a free loopback port (never the standard
# 5432), exports LATCHKEY_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
# and runs CMD. The cluster is stopped and its directory removed on exit (EXIT trap).
# CMD's exit status is the script's. Quiet when everything is already installed.
#
# If PostgreSQL cannot be installed or started: with CI=true that is a failure;
# otherwise it warns and runs CMD without LATCHKEY_TEST_POSTGRES (those tests skip).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARG…]" >&2; exit 2; }

# unavailable MSG CMD…: fail under CI=true, else warn and run CMD without PostgreSQL.
unavailable() {
	local msg=$1
	shift
	echo "with-postgres: $msg" >&2
	[ "${CI:-}" = "true" ] && exit 1
	echo "with-postgres: running without PostgreSQL; PostgreSQL tests will skip" >&2
	if declare -F cleanup >/dev/null; then cleanup; trap - EXIT; fi
	exec "$@"
}

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

PGBIN=$(pgbin)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
	if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
		unavailable "PostgreSQL is not installed and installing needs root (apt-get install postgresql)" "$@"
	fi
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
	export DEBIAN_FRONTEND=noninteractive
	echo "with-postgres: installing postgresql (Debian packages)…" >&2
	if ! { $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends postgresql >/dev/null 2>&1 ||
		{ $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends postgresql >/dev/null; }; }; then
		unavailable "apt-get install postgresql failed" "$@"
	fi
	PGBIN=$(pgbin)
	[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || unavailable "postgresql installed but no initdb under /usr/lib/postgresql" "$@"
fi

# Run the server as the postgres user when we are root; as ourselves otherwise.
asdb() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || unavailable "no postgres system user to run the server as" "$@"
	asdb() { runuser -u postgres -- "$@"; }
fi

PGD=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-pg.XXXXXX")
chmod 700 "$PGD"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGD"

# A free loopback port above the standard one (bind-tested, retried on a start failure).
freeport() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		[ "$p" -eq 5432 ] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

started=""
cleanup() {
	if [ -n "$started" ]; then
		asdb "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$PGD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! asdb "$PGBIN/initdb" -D "$PGD/data" -U postgres -A trust -E UTF8 --no-sync >"$PGD/initdb.log" 2>&1; then
	cat "$PGD/initdb.log" >&2
	unavailable "initdb failed" "$@"
fi

for _ in 1 2 3 4 5; do
	PGPORT=$(freeport) || break
	if asdb "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 30 \
		-o "-p $PGPORT -k $PGD -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null 2>&1; then
		started=1
		break
	fi
done
if [ -z "$started" ]; then
	tail -20 "$PGD/server.log" >&2 2>/dev/null || true
	unavailable "the PostgreSQL server did not start" "$@"
fi

export LATCHKEY_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"
set +e
"$@"
rc=$?
set -e
exit "$rc"
