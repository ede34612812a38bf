// Command loadtest is latchkey's load harness (`make bench`): it measures
// the daemon binary as a user runs it against nginx configured as a
// production reverse proxy.
//
// It starts, each in its own process, on loopback:
//
//	(a) a small upstream: a ~2 KB JSON body, 401 unless the request carries
//	    the expected Authorization header; it also answers Docebo's token
//	    endpoint (client_credentials, a day-long access token, so the
//	    daemon does not refresh during a run) and its session lookup;
//	(b) nginx from the system packages as a reverse proxy to it that adds a
//	    static Authorization header, tuned as in production: worker_processes
//	    equal to the daemon's CPUs, multi_accept on, tcp_nodelay on,
//	    keepalive_requests 100000 towards the client and the upstream, an
//	    upstream keepalive pool, HTTP/1.1 upstream, access_log off (its own
//	    config, prefix, pid and temp directories, on a free port; never the
//	    system nginx);
//	(c) the latchkey daemon binary (-latchkey PATH, else ./cmd/latchkey
//	    built without cgo) in a home of its own (isolated XDG directories,
//	    the private Secret Service keychain of scripts/with-keyring.sh, which
//	    it requires): `latchkey configure docebo --url <upstream>` with the
//	    client secret on stdin, `latchkey daemon --no-tray`, `latchkey
//	    connect docebo --grant client_credentials`, and wrk drives
//	    /v1/proxy/docebo/… with a JWT from `latchkey token`. Its full
//	    per-request work is on: the caller's JWT checked, the token opened
//	    from the vault, the audit trail written (checked with `latchkey
//	    audit` after the rounds);
//	(d) with -inprocess, a second row, not the daemon: the injector package
//	    assembled inside this harness (vault on SQLite, audit to SQLite);
//	(e) with -ab-bin or -ab-env, a second daemon (another latchkey binary,
//	    or this one with more environment) measured in the same rounds.
//
// then runs wrk against each at each concurrency (default 1 and 64),
// several rounds (default 5), the order reversed every other round, and
// prints the median requests/s, p50 and p99, the throughput ratio to nginx
// (median and range of the per-round ratios), the latency each proxy adds
// over direct at p50 relative to what nginx adds (per round), the CPU each
// proxy and the upstream spend per request, the machine's load average, and
// the verdicts against the targets (c/b >= 0.8 at c=64; added p50 at c=1 at
// most 1.5x nginx's).
//
//	go run ./injector/loadtest [-latchkey bin/latchkey] [-d 5s] [-runs 5] [-c 1,64] [-procs N] [-inprocess]
//
// It needs nginx (nginx-light) and wrk (Debian packages), and a private
// keychain: run it through `make bench` or scripts/with-keyring.sh.
package main
