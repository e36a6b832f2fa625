# Spindle — the two commands: `make run` and `make test`. Both install what they need first.
#
#   make run           build the example in release and start it
#   make test          build and run every test, in debug and in release
#   make bench-fibers  fiber benchmarks (see Docs/benchmarks.md)

SHELL := /bin/bash
APT_PACKAGES := liburing-dev libboost-context-dev libmimalloc-dev pkg-config
BENCH_PACKAGES := golang-go strace
SWIFT ?= swift

.PHONY: run test test-debug test-release build deps bench bench-fibers clean

# Installs the Debian packages that are missing (non-interactive; `apt-get update` only then).
deps:
	@./.ci/install-deps $(APT_PACKAGES)

build: deps
	$(SWIFT) build -c release

run: deps
	$(SWIFT) build -c release --product FiberDemo
	@echo "Running Examples/FiberDemo (release): 100,000 fibers ping-ponging over channels"
	./.build/release/FiberDemo

test: test-debug test-release

test-debug: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The fiber tests again in release: optimisation changes stack use and ARC, which fibers feel.
test-release: deps
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

bench: bench-fibers

bench-fibers: deps
	@./.ci/install-deps $(BENCH_PACKAGES)
	$(MAKE) -C bench fibers

clean:
	rm -rf .build bench/.build
