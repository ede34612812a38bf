// Command loadtest is the injector's load harness (`make bench`).
//
// It starts, each in its own process, on loopback:
//
//	(a) a small upstream: a ~2 KB JSON body, 401 unless the request carries
//	    the expected Authorization header;
//	(b) nginx from the system packages as a reverse proxy to it that adds a
//	    static Authorization header (its own config, prefix, pid and temp
//	    directories, on a free port; never the system nginx);
//	(c) the injector doing the daemon's full per-request work: verification
//	    of the caller's JWT by a real auth.Verifier, the token read through
//	    a real vault (the sealed record from its SQLite store, opened and
//	    decoded) on every request, injection, the proxy, and the audit trail
//	    appended to that SQLite store;
//
// then runs wrk against a, b and c at each concurrency (default 1, 16, 64),
// interleaved, several times (default 3), and prints the median requests/s,
// p50 and p99 latency, the ratios c/a and c/b (the median of the per-round
// ratios: a, b and c of one round run back to back), and the latency each
// proxy adds at p50 over direct.
//
//	go run ./injector/loadtest [-d 5s] [-runs 3] [-c 1,16,64] [-cpuprofile injector.pprof]
//
// It needs nginx (nginx-light) and wrk (Debian packages).
package main
