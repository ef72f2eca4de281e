# Replica: the two commands of the README, and a few more.
#   make demo   compress and decompress the built-in sample, verify the round trip, print ratio and throughput
#   make test   run the whole test suite
# Each installs the Debian packages it needs when they are missing.

APT_PACKAGES := liblz4-dev libzstd-dev libxxhash-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift

.PHONY: deps demo test bench bench-gate bench-gate-update build release docs

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: release
	$(SWIFT) run -c release --skip-build replica demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) run --skip-build replica-bench --quick > .build/bench-quick.txt || { cat .build/bench-quick.txt; exit 1; }
	$(SWIFT) test --skip-build

# The full default set of replica-bench (see docs/PERFORMANCE.md); pass options with BENCH_ARGS="--sweep".
bench: release
	$(SWIFT) run -c release --skip-build replica-bench $(BENCH_ARGS)

# The allocation-count regression gate (nested package Benchmarks/, not part of `make test` or CI).
bench-gate: deps
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --path Thresholds --no-progress

# Rewrites Benchmarks/Thresholds after an intended change; commit the new files with the change.
bench-gate-update: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update \
		--path Thresholds --no-progress

# ReplicaCore's DocC catalogue, built with the toolchain's docc and no package plugin (so the library's users
# resolve no extra dependency); fails on any documentation warning. Output: .build/docs/ReplicaCore.doccarchive
docs: deps
	$(SWIFT) build --scratch-path .build/docs --target ReplicaCore \
		-Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc $(CURDIR)/.build/docs/all-graphs
	rm -rf .build/docs/graphs && mkdir -p .build/docs/graphs && cp .build/docs/all-graphs/ReplicaCore*.symbols.json .build/docs/graphs/
	docc convert Sources/ReplicaCore/ReplicaCore.docc --additional-symbol-graph-dir .build/docs/graphs \
		--fallback-display-name ReplicaCore --fallback-bundle-identifier org.replica.ReplicaCore \
		--output-path .build/docs/ReplicaCore.doccarchive --warnings-as-errors
