# Spindle — the two commands: `make run` and `make test`. Both install what they need first.
#
#   make run           build the example server in release and start it (PORT=8080)
#   make run-tls       the example server over HTTPS with a self-signed ECDSA P-256 pair (https://127.0.0.1:8443)
#   make run-heap-profile  the example server on jemalloc with heap profiling (GET :9180/_spindle/heap-profile)
#   make run-todo      the todo example: a JSON API on SQLite (Examples/Todo, PORT=8080)
#   make run-gateway   the gateway example: fan-out with deadlines, a streaming proxy (Examples/Gateway, PORT=8080)
#   make run-chat      the chat example: rooms over WebSocket and Server-Sent Events (Examples/Chat, PORT=8080)
#   make run-files     the files example: a static site and streamed uploads (Examples/Files, PORT=8080)
#   make run-async-bridge  the async bridge example: AsyncHTTPClient called from handlers (Examples/AsyncBridge, PORT=8080)
#   make demo          the fiber demo (100,000 fibers over channels)
#   make test          build and run every test, in debug and in release (I/O and server suites on both
#                      backends), the async bridge example's tests (its own package, debug, both backends),
#                      then build the docs; fails on any compiler or documentation warning
#   make test-async-bridge  only the async bridge example's tests (Examples/AsyncBridge), on both backends
#   make test-asan     build and run every test under AddressSanitizer (scratch path .build-asan)
#   make soak          the server under a mixed load for SOAK_MINUTES (default 30): no wrong answer, no leak, flat RSS (Docs/soak.md)
#   make reload-under-load  SIGHUP reloads of Hello --processes 2 under wrk: 0 non-2xx, 0 socket errors (Docs/processes.md)
#   make fuzz          libFuzzer on each parser for FUZZ_SECONDS (default 180) each; fails on a crash, leak or timeout (Docs/fuzzing.md)
#   make fuzz-diff     the request parser against Python's h11 on the corpus and FUZZ_MUTATIONS mutations of it (Docs/fuzzing.md)
#   make fuzz-corpus   rewrite the seed corpus (Fuzz/corpus/) from the tests' conformance tables
#   make docs          build the DocC documentation of the Spindle target; fails on any warning
#   make live-page-screenshot  Docs/img/live-page.png: the admin listener's live page under load, in headless Chromium
#   make bench         every benchmark below, one after another (about 19 minutes once built)
#   make bench-fibers  fiber benchmarks (Docs/benchmarks/fibers.md)
#   make bench-io      echo over io_uring: Spindle vs a C liburing server (Docs/benchmarks/io.md)
#   make bench-http    plaintext: Spindle vs nginx vs a C liburing responder (Docs/benchmarks/http.md)
#   make bench-peers   Spindle beside nginx, h2o, Go net/http, Hummingbird 2 and gevent (Docs/benchmarks/peers.md)
#   make bench-scale   1k to 1M fibers and 1k to 50k held HTTP requests, beside Go and gevent (Docs/benchmarks/scale.md)
#   make bench-alloc   mimalloc, glibc, jemalloc and tcmalloc under Spindle, pools on/off, memory given back after a spike (Docs/benchmarks/alloc.md)
#   make bench-static  static files: Spindle's StaticFiles vs nginx (sendfile), 4 KiB and 1 MiB (Docs/benchmarks/static.md)
#   make bench-tls     TLS: Spindle vs nginx with the same certificate, keep-alive and full handshakes (Docs/benchmarks/tls.md)
#   make bench-client  the HTTP client: requests per client-CPU-second against nginx, Spindle vs Go net/http (Docs/benchmarks/client.md)
#   make bench-json    a JSONEncoder/JSONDecoder per response vs per thread vs shared (Docs/benchmarks/json.md)
#   make bench-chat    10,000 chat members on one worker: memory per member, Spindle vs Go net/http (Docs/benchmarks/chat.md)
#   make bench-await   one Fiber.await hop beside awaiting in a Task, ns per hop (Docs/benchmarks/await.md)

SHELL := /bin/bash
APT_PACKAGES := liburing-dev libboost-context-dev libmimalloc-dev libssl-dev zlib1g-dev libsqlite3-dev pkg-config
TEST_PACKAGES := python3 python3-websockets nginx-light curl openssl libjemalloc2 libjemalloc-dev chromium
BENCH_PACKAGES := golang-go strace
SWIFT ?= swift

.PHONY: run run-heap-profile run-todo run-gateway run-chat run-files run-async-bridge demo test test-all check docs soak reload-under-load live-page-screenshot test-async-bridge bench-await fuzz fuzz-diff fuzz-corpus test-debug test-debug-run test-async-bridge-run test-release test-asan test-deps build deps bench bench-fibers bench-io bench-http bench-peers bench-alloc bench-client bench-static bench-json bench-chat bench-todo bench-profile clean

# Installs the Debian packages that are missing (non-interactive; `apt-get update` only then).
deps:
	@./.ci/install-deps $(APT_PACKAGES)

build: deps
	$(SWIFT) build -c release

HOST ?= 127.0.0.1
PORT ?= 8080

# Builds the example server (Examples/Hello) in release and serves on http://$(HOST):$(PORT),
# one worker per CPU, until Ctrl-C (graceful shutdown).
run: deps
	$(SWIFT) build -c release --product Hello
	@echo "Spindle example server: http://$(HOST):$(PORT)/plaintext  /json  /sleep?ms=100  POST /echo"
	./.build/release/Hello --host $(HOST) --port $(PORT)

# The example server over HTTPS (Docs/tls.md) on https://$(HOST):$(TLS_PORT), with a self-signed
# ECDSA P-256 certificate for localhost and 127.0.0.1 made once with `openssl` into $(TLS_DIR):
#   curl --cacert .build/tls/cert.pem https://127.0.0.1:8443/plaintext
TLS_PORT ?= 8443
TLS_DIR := .build/tls
.PHONY: run-tls
run-tls: deps
	@./.ci/install-deps openssl
	@mkdir -p $(TLS_DIR)
	@test -f $(TLS_DIR)/cert.pem -a -f $(TLS_DIR)/key.pem || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 30 -subj '/CN=localhost' -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
		-keyout $(TLS_DIR)/key.pem -out $(TLS_DIR)/cert.pem
	$(SWIFT) build -c release --product Hello
	@echo "Spindle example server over TLS: curl --cacert $(TLS_DIR)/cert.pem https://$(HOST):$(TLS_PORT)/plaintext"
	./.build/release/Hello --host $(HOST) --port $(TLS_PORT) --tls-cert $(TLS_DIR)/cert.pem --tls-key $(TLS_DIR)/key.pem

# The example server as `make run` starts it, but on jemalloc with heap profiling
# (Docs/observability.md, "Heap profiles"): LD_PRELOAD puts jemalloc in front of mimalloc, and
# MALLOC_CONF=prof:true samples an allocation every 512 KiB on average (HEAP_SAMPLE=19, log2).
# `curl -o spindle.heap http://127.0.0.1:9180/_spindle/heap-profile` writes a profile;
# `jeprof --text .build/release/Hello spindle.heap` reads it.
HEAP_SAMPLE ?= 19
run-heap-profile: deps
	@./.ci/install-deps libjemalloc2 libjemalloc-dev
	$(SWIFT) build -c release --product Hello
	@echo "Spindle example server on jemalloc with heap profiling: http://$(HOST):$(PORT)/plaintext"
	@echo "  a profile: curl -o spindle.heap http://127.0.0.1:9180/_spindle/heap-profile"
	@echo "  read it:   jeprof --text .build/release/Hello spindle.heap"
	LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_CONF=prof:true,lg_prof_sample:$(HEAP_SAMPLE) \
		./.build/release/Hello --host $(HOST) --port $(PORT)

# The todo example (Examples/Todo) in release on http://$(HOST):$(PORT): a JSON API on SQLite,
# its database todo.sqlite in the temporary directory (created and migrated on first start).
run-todo: deps
	$(SWIFT) build -c release --product Todo
	./.build/release/Todo --host $(HOST) --port $(PORT)

# The gateway example (Examples/Gateway) in release on http://$(HOST):$(PORT), with three demo
# upstreams of its own on 127.0.0.1 (fast, slow, failing) unless given --part options.
run-gateway: deps
	$(SWIFT) build -c release --product Gateway
	./.build/release/Gateway --host $(HOST) --port $(PORT)

# The chat example (Examples/Chat) in release on http://$(HOST):$(PORT): rooms over WebSocket
# (/rooms/NAME/ws) and Server-Sent Events (/rooms/NAME/events), POST /rooms/NAME/messages.
run-chat: deps
	$(SWIFT) build -c release --product Chat
	./.build/release/Chat --host $(HOST) --port $(PORT)

# The files example (Examples/Files) in release on http://$(HOST):$(PORT): the demo site at /,
# PUT/GET/DELETE /uploads/NAME (uploads in spindle-files-uploads in the temporary directory).
run-files: deps
	$(SWIFT) build -c release --product Files
	./.build/release/Files --host $(HOST) --port $(PORT)

# The async bridge example (Examples/AsyncBridge, a package of its own depending on this one by
# path, built in the scratch path .build-async-bridge) in release on http://$(HOST):$(PORT), with
# a demo upstream of its own on 127.0.0.1 unless given --upstream. Its first build compiles
# AsyncHTTPClient, SwiftNIO and BoringSSL (several minutes on two cores).
ASYNC_BRIDGE := --package-path Examples/AsyncBridge --scratch-path .build-async-bridge
run-async-bridge: deps
	$(SWIFT) build -c release $(ASYNC_BRIDGE) --product AsyncBridge
	"$$($(SWIFT) build -c release $(ASYNC_BRIDGE) --show-bin-path)/AsyncBridge" --host $(HOST) --port $(PORT)

# The fiber demo: 100,000 fibers ping-ponging over channels.
demo: deps
	$(SWIFT) build -c release --product FiberDemo
	./.build/release/FiberDemo

# Every test in debug: the root package's (the I/O and server suites on both backends, the
# conformance table under a seccomp filter) and the async bridge example's package, whose build
# overlaps the root package's tests at the lowest CPU priority (.ci/test-debug-overlapped); then
# the docs. About 9 minutes on two cores once the packages are installed.
test: check test-deps
	SWIFT=$(SWIFT) ./.ci/test-debug-overlapped
	$(MAKE) --no-print-directory docs

# What CI runs (.ci/run): `make test`, then every test again in release and under
# AddressSanitizer: about 35 minutes.
test-all: test test-release test-asan

# Static checks of the tree: the C crossings stay fenced (.ci/check-c-crossings).
check:
	@./.ci/check-c-crossings

# The DocC archive of the Spindle target (Sources/Spindle/Spindle.docc, its articles showing the
# snippets of Snippets/), into .build/plugins/Swift-DocC/outputs/Spindle.doccarchive. Any warning
# (a symbol link or a snippet that does not resolve) fails it. The snippets' code is compiled by
# every build, and DocumentationCodeTests checks that each Swift block in README.md, Docs/ and the
# catalog is one of them (Docs/testing.md, "The documentation's code").
docs: deps
	$(SWIFT) package generate-documentation --target Spindle --warnings-as-errors

# The live page (GET /_spindle/ on the admin listener) of Examples/Hello under a mixed load, as
# headless Chromium shows it: Docs/img/live-page.png (.ci/live-page-screenshot; about 3 minutes
# once built).
live-page-screenshot: test-deps
	SWIFT=$(SWIFT) ./.ci/live-page-screenshot

# The I/O and server suites run twice: on io_uring (the default here), then on the epoll
# backend (SPINDLE_IO=epoll, which their probe subprocesses inherit).
EPOLL_SUITES := 'SpindleIOTests|SpindleTests|SpindleTLSTests|SpindleHTTPClientTests|TodoAppTests|GatewayAppTests|ChatAppTests|FilesAppTests'
# The conformance table once more with the whole test process under a seccomp filter that
# denies io_uring (spindle-seccomp-exec, as Docker's default profile does): the servers it
# starts choose epoll by themselves, and testTheBackendIsTheOneThisProcessMayUse checks so.
SECCOMP_SUITES := 'ConformanceTests'

# python3 runs the warnings gate; the TLS tests make certificates with openssl and connect with
# openssl s_client, curl and python3's ssl; the HTTP client's tests start a local nginx (nginx-light); the
# example apps' tests run the curl command lines of README.md; the WebSocket and chat tests'
# clients use python3-websockets; the live page's test opens it in headless chromium, driven over
# the DevTools protocol with python3-websockets. When the python3 on PATH is not Debian's (a
# pyenv, a venv), it does not see Debian's module: pip installs the same version for it.
test-deps: deps
	@./.ci/install-deps $(TEST_PACKAGES)
	@python3 -c "import websockets" 2>/dev/null || python3 -m pip install --quiet "websockets==10.4" \
		|| { echo "the python3 on PATH ($$(command -v python3)) has no websockets module and pip could not install it: install websockets 10.4 for it"; exit 1; }

# Every build of the tests goes through the warnings gate (.ci/check-warnings): it runs
# `swift build` and fails when the project's own code (Sources/, Tests/, Examples/) has a
# warning, including warnings of files this build did not recompile (see the script).
test-debug: test-deps
	SWIFT=$(SWIFT) ./.ci/check-warnings --build-tests
	$(MAKE) --no-print-directory test-debug-run

# The runs of test-debug, on a build that is already there.
test-debug-run:
	$(SWIFT) test --skip-build
	SPINDLE_IO=epoll $(SWIFT) test --skip-build --filter $(EPOLL_SUITES)
	"$$($(SWIFT) build --show-bin-path)/spindle-seccomp-exec" -- $(SWIFT) test --skip-build --filter $(SECCOMP_SUITES)

# The async bridge example's tests, in its own package (so AsyncHTTPClient and SwiftNIO never
# enter the root package's build), through the same warnings gate, on io_uring then on epoll.
# Debug only: a release build of SwiftNIO and BoringSSL would add minutes for nothing the fiber
# tests in release do not already cover.
test-async-bridge: test-deps
	SWIFT=$(SWIFT) ./.ci/check-warnings $(ASYNC_BRIDGE) --build-tests
	$(MAKE) --no-print-directory test-async-bridge-run

# The runs of test-async-bridge, on a build that is already there.
test-async-bridge-run:
	$(SWIFT) test $(ASYNC_BRIDGE) --skip-build
	SPINDLE_IO=epoll $(SWIFT) test $(ASYNC_BRIDGE) --skip-build

# The fiber tests again in release: optimisation changes stack use and ARC, which fibers feel.
test-release: test-deps
	SWIFT=$(SWIFT) ./.ci/check-warnings -c release --build-tests
	$(SWIFT) test -c release --skip-build
	SPINDLE_IO=epoll $(SWIFT) test -c release --skip-build --filter $(EPOLL_SUITES)

# Every suite under AddressSanitizer, built in its own scratch path (debug). Skipped there, each
# saying why: the checks of the allocator itself (mimalloc serving malloc, the malloc counter,
# RSS after frees). No Swift backtracer: ASan reports faults itself, and the backtracer, reading
# poisoned stack memory, trips ASan and hangs. No LeakSanitizer: at exit it reports XCTest's own
# test objects and the side tables of Swift weak references (an object points at its side table
# only through a shifted, flagged word), which would bury a leak of ours.
ASAN_SCRATCH := .build-asan
test-asan: test-deps
	SWIFT=$(SWIFT) ./.ci/check-warnings --build-tests --sanitize=address --scratch-path $(ASAN_SCRATCH)
	SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path $(ASAN_SCRATCH)
	SPINDLE_IO=epoll SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path $(ASAN_SCRATCH) --filter $(EPOLL_SUITES)

# All suites in sequence (never in parallel: they pin CPUs 0 and 1). Each writes bench/out/NAME.*;
# Docs/benchmarks/*.md quote them, and Docs/benchmarks.md sums them up. About 19 minutes on a quiet
# 2-core machine once everything is built, plus about four for bench-alloc's give-back phase (the
# first build of the Hummingbird peer alone takes 5 to 15 minutes).
bench: bench-fibers bench-io bench-http bench-peers bench-alloc bench-scale

bench-fibers: deps
	@./.ci/install-deps $(BENCH_PACKAGES)
	$(MAKE) -C bench fibers

bench-io: deps
	@./.ci/install-deps $(BENCH_PACKAGES)
	$(MAKE) -C bench io

bench-http: deps
	@./.ci/install-deps $(BENCH_PACKAGES) wrk nginx-light
	$(MAKE) -C bench http

# The peers' Debian packages, then gevent and matplotlib for the Python that runs the benchmark
# (pip; Debian's python3-gevent/python3-matplotlib where pip may not install).
bench-peers: deps
	@./.ci/install-deps $(BENCH_PACKAGES) wrk nginx-light h2o python3-pip
	@python3 -c "import gevent, matplotlib" 2>/dev/null || python3 -m pip install --quiet gevent matplotlib \
		|| ./.ci/install-deps python3-gevent python3-matplotlib
	$(MAKE) -C bench peers

# The allocators the benchmark preloads (jemalloc, tcmalloc), wrk, and matplotlib for the plots
# (pip; Debian's python3-matplotlib where pip may not install).
bench-alloc: deps
	@./.ci/install-deps wrk libjemalloc2 libtcmalloc-minimal4 python3-pip
	@python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install --quiet matplotlib \
		|| ./.ci/install-deps python3-matplotlib
	$(MAKE) -C bench alloc

# Go for the Go peer, then gevent, greenlet and matplotlib (plots) for the Python side (pip;
# Debian's packages where pip may not install).
.PHONY: bench-scale
bench-scale: deps
	@./.ci/install-deps $(BENCH_PACKAGES) python3-pip
	@python3 -c "import gevent, greenlet, matplotlib" 2>/dev/null || python3 -m pip install --quiet gevent greenlet matplotlib \
		|| ./.ci/install-deps python3-gevent python3-greenlet python3-matplotlib
	$(MAKE) -C bench scale

# The HTTP client against a local nginx, beside Go's net/http client (not part of `make bench`).
bench-client: deps
	@./.ci/install-deps $(BENCH_PACKAGES) nginx-light
	$(MAKE) -C bench client

bench-static: deps
	@./.ci/install-deps wrk nginx-light
	$(MAKE) -C bench static

# TLS against nginx with the same certificate (Docs/benchmarks/tls.md); not part of `make bench`.
.PHONY: bench-tls
bench-tls: deps
	@./.ci/install-deps wrk nginx-light
	$(MAKE) -C bench tls

# Not part of `make bench`: a micro-benchmark of Foundation's JSON coders, no server involved.
bench-json: deps
	$(MAKE) -C bench json

# Not part of `make bench`: one Fiber.await hop beside awaiting in a Task.
bench-await: deps
	$(MAKE) -C bench await

# Not part of `make bench`: the chat example's members, Spindle beside a Go net/http peer.
bench-chat: deps
	@./.ci/install-deps $(BENCH_PACKAGES)
	$(MAKE) -C bench chat

# Instructions per request under callgrind, at pipelining 1 and 16 (Docs/benchmarks/profile.md);
# BASELINE=<commit> prints what changed against that commit's Hello.
bench-profile: deps
	@./.ci/install-deps $(BENCH_PACKAGES) valgrind wrk curl
	$(MAKE) -C bench profile BASELINE=$(BASELINE)

# The todo API under a 90/10 read/write mix (Docs/benchmarks/todo.md; about a minute and a half).
bench-todo: deps
	@./.ci/install-deps $(BENCH_PACKAGES) wrk
	$(MAKE) -C bench todo

# The soak test (Docs/soak.md): Examples/Hello (release, 2 workers) under a mix of requests,
# resets and slow readers for SOAK_MINUTES (default 30), sampled every 10 s; fails on a wrong
# answer, a leak, or RSS growing more than 1% after the warm-up. Writes Docs/img/soak.csv and
# Docs/img/soak.png (SOAK_CSV, SOAK_PLOT to write elsewhere).
SOAK_MINUTES ?= 30
soak: deps
	@./.ci/install-deps golang-go curl
	@python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install --quiet matplotlib \
		|| ./.ci/install-deps python3-matplotlib
	$(SWIFT) build -c release --product Hello
	@mkdir -p .build/soak
	cd bench/go && GO111MODULE=off go build -o ../../.build/soak/soakdriver soakdriver.go
	SOAK_MINUTES=$(SOAK_MINUTES) bench/soak/soak.sh .build/release/Hello .build/soak/soakdriver

# Reloads under load (Docs/processes.md): Examples/Hello (release) with two worker processes
# under wrk for RELOAD_SECONDS (20), a SIGHUP every RELOAD_EVERY seconds (5); fails on any non-2xx
# answer or socket error wrk counts, or a reload that does not replace every worker.
reload-under-load: deps
	@./.ci/install-deps wrk curl
	$(SWIFT) build -c release --product Hello
	bench/reload/reload.sh .build/release/Hello

# Fuzzing (Fuzz/, its own package; Docs/fuzzing.md). Not part of `make test`, which only checks
# that the committed seed corpus matches the conformance tables (FuzzCorpusTests).
FUZZ_SECONDS ?= 180
FUZZ_JOBS ?= 1
FUZZ_MUTATIONS ?= 100000
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) SWIFT=$(SWIFT) Fuzz/run-fuzzers

# h11 from pip (Debian's python3-h11 where pip may not install). The verdict tool is built
# without sanitizers on a scratch path of its own; the fuzzer's grown request corpus joins the
# committed one when `make fuzz` has run.
fuzz-diff: deps
	@python3 -c "import h11" 2>/dev/null || python3 -m pip install --quiet h11 || ./.ci/install-deps python3-h11
	cd Fuzz && nice -n 10 $(SWIFT) build -c release --scratch-path .build-fuzz-diff --product spindle-request-verdict
	cd Fuzz && nice -n 10 python3 differential.py --verdict .build-fuzz-diff/release/spindle-request-verdict \
		--corpus corpus/request-parser $$([ -d .build-fuzz/corpus/FuzzRequestParser ] && echo --corpus .build-fuzz/corpus/FuzzRequestParser) \
		--mutations $(FUZZ_MUTATIONS) --report .build-fuzz-diff/disagreements.txt

fuzz-corpus: deps
	SPINDLE_FUZZ_CORPUS_WRITE=1 $(SWIFT) test --filter FuzzCorpusTests

clean:
	rm -rf .build .build-asan .build-async-bridge bench/.build Fuzz/.build-fuzz Fuzz/.build-fuzz-diff
