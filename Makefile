# latchkey — build, test, run.
#
#   make run     the daemon on the embedded store with the Docebo sandbox (how to open the menu printed)
#   make test    everything: lint, unit + real keychain/PostgreSQL/Xvfb/browser tests, fuzz, cross-builds
#   make bench   benchmarks and the injector load test
#   make package the .deb in bin/ (make package-test also unpacks and checks it)
#   make help    all targets
#
# Each target installs the Debian/npm packages it needs (scripts/deps.sh,
# scripts/browser-deps.sh) when missing, quietly when present. With CI=true a missing
# component is an error, never a skip. `go test ./...` alone stays quick: the tests that
# need a real component skip there (internal/testenv).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Go from /usr/local/go when it is not on PATH already; nginx lives in /usr/sbin.
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin:/sbin
# Every build, test and package of make runs on this Go: a patch release with the standard
# library's security fixes, fetched once through the module proxy (checksummed by sum.golang.org)
# when the machine's Go is older. It is go.mod's toolchain line; `go` run by hand keeps the
# machine's Go (GOTOOLCHAIN=local here) unless told GOTOOLCHAIN=go1.26.11 too.
export GOTOOLCHAIN ?= $(shell sed -n 's/^toolchain //p' go.mod)

BINARIES := latchkey latchkey-store docebo-sandbox document360-sandbox oidc-sandbox
FUZZTIME ?= 10s
TESTFLAGS ?= -race -count=1 -timeout 30m
PKGS ?= ./...
# Where the browser tests write their screenshots (every menu view at 600×420 and 900×700).
export LATCHKEY_TEST_ARTIFACTS ?= $(CURDIR)/e2e/browser/artifacts
# Flags of the load test in `make bench` (go run ./injector/loadtest -h), e.g. '-runs 7 -inprocess'.
LOADTEST_FLAGS ?=

# with_components CMD…: run CMD with every real component up, in ONE environment:
# Chromium + playwright-core (LATCHKEY_TEST_BROWSER, exported by browser-deps.sh), the
# MCP TypeScript SDK (LATCHKEY_TEST_MCP, mcp-deps.sh), then
# Xvfb (DISPLAY, LATCHKEY_TEST_DISPLAY), a throwaway PostgreSQL cluster
# (LATCHKEY_TEST_POSTGRES), and innermost a private session bus with an unlocked
# gnome-keyring (LATCHKEY_TEST_KEYRING). with-xvfb.sh and with-keyring.sh each start a
# session bus; CMD runs on the innermost one, so the tray tests and the keychain share it.
# A wrapper that is absent is an error under CI=true, a warning otherwise.
define with_components
	b=$$(scripts/browser-deps.sh); eval "$$b"
	m=$$(scripts/mcp-deps.sh); eval "$$m"
	chain=()
	for w in with-xvfb with-postgres with-keyring; do
		if [ -x scripts/$$w.sh ]; then chain+=(scripts/$$w.sh)
		elif [ "$${CI:-}" = true ]; then echo "make: scripts/$$w.sh is missing" >&2; exit 1
		else echo "make: scripts/$$w.sh is missing; its tests will skip" >&2; fi
	done
	if command -v wrk >/dev/null && command -v nginx >/dev/null; then export LATCHKEY_TEST_BENCH=1; fi
	"$${chain[@]}"
endef

.PHONY: help
help: ## this list
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install every apt package the tests and the demo need (idempotent)
	@scripts/deps.sh all

.PHONY: build
build: ## go build ./... and the binaries into ./bin (cgo + tray when GTK/appindicator are present)
	@scripts/deps.sh tray
	go build ./...
	mkdir -p bin
	cgo=0
	if command -v gcc >/dev/null && pkg-config --exists gtk+-3.0 ayatana-appindicator3-0.1 2>/dev/null; then cgo=1
	else echo "build: GTK/appindicator dev packages missing: bin/latchkey is built without cgo (no tray, no hotkey); scripts/deps.sh tray adds them" >&2; fi
	mains=$$(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./...)
	for b in $(BINARIES); do
		pkg=$$(grep -E "/$$b\$$" <<<"$$mains" | head -n1 || true)
		if [ -z "$$pkg" ]; then
			echo "build: no main package named $$b in the tree" >&2
			if [ "$${CI:-}" = true ]; then exit 1; fi; continue
		fi
		c=0; if [ "$$b" = latchkey ]; then c=$$cgo; fi
		CGO_ENABLED=$$c go build -o bin/$$b "$$pkg"
	done
	ls bin/

.PHONY: run
run: ## start the demo: keyring, sandboxes, daemon, consent; prints the menu URL (STORE=1: with latchkey-store + an OIDC provider)
	@LATCHKEY_DEMO_STORE=$${STORE:-$${LATCHKEY_DEMO_STORE:-}} scripts/run-demo.sh

.PHONY: test
test: ## everything: deps → lint → vulncheck → go test -race with all components → fuzz → cross-builds → package
	@start=$$SECONDS
	step() { local t=$$SECONDS; echo "==> $$1"; shift; "$$@"; echo "==> done in $$((SECONDS - t))s"; }
	step "deps (apt: all groups)" scripts/deps.sh all
	step "lint" $(MAKE) lint
	step "vulncheck (govulncheck, pinned)" $(MAKE) vulncheck
	step "go test $(TESTFLAGS) $(PKGS) (keychain, PostgreSQL, Xvfb, browser)" $(MAKE) test-go
	step "fuzz ($(FUZZTIME) per target)" $(MAKE) fuzz
	step "cross-builds" $(MAKE) cross
	step "package (.deb built, unpacked in a throwaway root, checked)" $(MAKE) package-test
	echo "make test: all steps passed in $$((SECONDS - start))s"

.PHONY: test-go
test-go: ## only the go test run, inside the component wrappers
	@$(with_components) go test $(TESTFLAGS) $(PKGS)

.PHONY: fuzz
fuzz: ## a short run of every Fuzz* target found in *_test.go (FUZZTIME=10s)
	@# Start from the committed corpora only: a large corpus generated by earlier runs
	@# (in GOCACHE) can take longer to replay than FUZZTIME, which go test reports as a failure.
	go clean -fuzzcache
	n=0
	while IFS= read -r f; do
		dir=./$$(dirname "$${f#./}")
		for fn in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*\(' "$$f" | sed 's/^func //; s/($$//'); do
			echo "fuzz: $$fn in $$dir"
			go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$dir" </dev/null > >(grep -vE '^fuzz: elapsed' || true)
			n=$$((n + 1))
		done
	done < <(grep -rlE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.demo --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
	echo "fuzz: $$n target(s) ran"

.PHONY: cross
cross: ## CGO_ENABLED=0 builds: windows and darwin (./...), linux latchkey-store
	@for os in windows darwin; do
		echo "cross: GOOS=$$os CGO_ENABLED=0 go build ./..."
		GOOS=$$os GOARCH=amd64 CGO_ENABLED=0 go build ./...
	done
	echo "cross: GOOS=linux CGO_ENABLED=0 go build ./cmd/latchkey-store"
	CGO_ENABLED=0 go build -o /dev/null ./cmd/latchkey-store

.PHONY: package
package: ## the .deb (nfpm, pinned): latchkey + latchkey-store, systemd units, desktop + autostart files, man pages, completions → bin/
	@scripts/deps.sh tray
	packaging/build.sh

.PHONY: package-test
package-test: package ## build the .deb, unpack it in a throwaway root: binaries run, /healthz, man pages, systemd-analyze verify
	@scripts/deps.sh package
	packaging/test.sh

.PHONY: bench
bench: ## benchmarks (ns/op, B/op) and the load test: the latchkey daemon against tuned nginx (wrk)
	@scripts/deps.sh bench keyring postgres display
	echo "==> go test -bench (raw output for benchstat: bin/bench.txt)"
	mkdir -p bin
	$(with_components) go test -run '^$$' -bench . -benchmem $(PKGS) > >(tee bin/bench.txt | awk '
		/^pkg:/ { print ""; print $$2; next }
		/^Benchmark/ { printf "  %-44s %10s", $$1, $$2; for (i = 3; i < NF; i += 2) printf " %12s %-9s", $$i, $$(i+1); print ""; next }
		/^(FAIL|--- FAIL|panic)/ { print }')
	echo "==> load test: bin/latchkey daemon (connected, audit on) vs nginx tuned for production (LOADTEST_FLAGS=$(LOADTEST_FLAGS))"
	if [ -d injector/loadtest ]; then
		$(MAKE) build >/dev/null
		scripts/with-keyring.sh go run ./injector/loadtest -latchkey bin/latchkey $(LOADTEST_FLAGS)
	else echo "bench: injector/loadtest is not in the tree yet; no load test run"; fi

.PHONY: lint
lint: ## gofmt -l empty, go vet, staticcheck (pinned)
	@scripts/lint.sh

.PHONY: vulncheck
vulncheck: ## govulncheck (pinned) against vuln.go.dev or a local copy of the Go vulnerability database; fails on any called vulnerability not in scripts/vulncheck/accepted.txt
	@scripts/vulncheck.sh

.PHONY: fmt
fmt: ## gofmt -w every Go file
	@find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -not -path './.demo/*' -not -path './bin/*' -print0 | xargs -0 -r gofmt -w

.PHONY: clean
clean: ## remove bin/ and test artefacts (keeps .demo/ state and node_modules)
	@rm -rf bin coverage.out *.test *.prof
	go clean -testcache

.PHONY: distclean
distclean: clean ## also remove the demo state (.demo/, its keyring included) and e2e/browser/node_modules
	@rm -rf .demo e2e/browser/node_modules
