#!/usr/bin/env bash
# `make appliance-test`: the appliance scenario in real podman containers (deploy/compose.yaml).
#
#   build the images; compose up (dnsmasq, hub, branch, linked by mutual TLS); a plaintext peer refused and
#   counted; traffic through the branch's forward; metrics; 200 busy flows of 4 MiB through a hub and a branch
#   each capped at 256 MiB (no OOM kill); kill -9 of the hub and its restart by policy (time to /readyz, polled), with the store
#   verified; `replica store purge` and a restart give an empty, working accelerator; compose down.
#   READY_STORE_GIB=10 adds: fill a store volume with that many GiB, run a 256 MiB-capped server on it, and time
#   /readyz after its start and after a kill -9 and restart (polled every 20 ms).
# Host networking: everything listens on 127.0.0.1 (ports 27700-27799). Prints its runtime at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}"
start=$(date +%s)
pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
compose() { scripts/container.sh compose "$@"; }
engine=$(scripts/container.sh engine)
helper_pid=""

cleanup() {
    [ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null || true
    compose down -v >/dev/null 2>&1 || true
    $engine rm -f replica_ready >/dev/null 2>&1 || true
    $engine volume rm -f replica_ready-store >/dev/null 2>&1 || true
    if [ -n "${certs:-}" ]; then rm -rf "$certs"; fi
}
trap cleanup EXIT

wait_http() { # URL [seconds]
    local url=$1 deadline=$(($(date +%s) + ${2:-60}))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

[ "${SKIP_IMAGE:-0}" = 1 ] || scripts/container.sh image
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null; }

# The target behind the hub: echo and sink servers on the host (the hub shares the host's network).
python3 scripts/appliance-helper.py serve 27781 &
helper_pid=$!

# Mutual TLS between hub and branch: a CA and both certificates from `replica tunnel keygen` (the binary the image
# holds), readable by the containers' user (uid 10001); compose mounts them at /etc/replica/certs.
certs=$(mktemp -d /tmp/replica-appliance-certs.XXXXXX)
.image/replica tunnel keygen "$certs/pki" hub branch >/dev/null
chown -R 10001:10001 "$certs/pki"
export REPLICA_CERTS="$certs/pki"

compose down -v >/dev/null 2>&1 || true
compose up -d
wait_http http://127.0.0.1:27790/healthz 60 && ok "hub /healthz" || bad "hub /healthz"
wait_http http://127.0.0.1:27791/readyz 60 && ok "branch /readyz (link up)" || bad "branch /readyz"
# Without systemd podman cannot schedule health checks on a timer (it logs so); run them by hand.
if [ "$engine" = podman ]; then
    $engine healthcheck run replica_hub_1 && $engine healthcheck run replica_branch_1 \
        && ok "HEALTHCHECK (replica tunnel status --check) passes in both accelerators" || bad "HEALTHCHECK"
fi

# The link is mutual TLS: the branch names the hub by its certificate, and a plaintext peer is refused and counted.
$engine logs replica_branch_1 2>&1 | grep -q "link to hub at" && ok "branch-hub link is mutual TLS (hub named by its certificate)" \
    || bad "no TLS link named hub in the branch log"
python3 scripts/appliance-helper.py plaintext 27700 && ok "a plaintext peer is refused by the hub" || bad "plaintext peer"
tls_errors=$(curl -fsS http://127.0.0.1:27790/metrics | awk '/^replica_handshake_failures_total\{reason="tls_error"\}/{print $2}')
[ "${tls_errors:-0}" -ge 1 ] 2>/dev/null && ok "hub counted it: replica_handshake_failures_total{reason=\"tls_error\"} $tls_errors" \
    || bad "tls_error not counted ($tls_errors)"

python3 scripts/appliance-helper.py traffic 27780 && ok "traffic through the branch forward" || bad "traffic"
python3 scripts/appliance-helper.py metrics 27791 27790 && ok "link bytes: branch sent == hub received" \
    || bad "metrics"

# 200 busy flows of 4 MiB through the hub and the branch, both capped at 256 MiB: neither may be OOM-killed. Podman's OOMKilled
# flag is reset when the policy restarts the container, so the restart count and the kernel's OOM log decide.
oom_kills() { dmesg 2>/dev/null | grep -c "Memory cgroup out of memory: Killed process" || true; }
kills_before=$(oom_kills)
branch_restarts_before=$($engine inspect --format '{{.RestartCount}}' replica_branch_1)
hub_restarts_before=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
if python3 scripts/appliance-helper.py busy 27780 200 4 2>/dev/null; then ok "200 busy flows of 4 MiB completed"
else
    bad "200 busy flows"
    for c in replica_branch_1 replica_hub_1; do  # why: the links' last words
        $engine logs "$c" 2>&1 | grep -v "refusing stream\|reset stream\|level=error msg=\"unable" | tail -5 | sed "s/^/     $c: /"
    done
fi
oom=$($engine inspect --format '{{.State.OOMKilled}}' replica_branch_1)
branch_restarts=$($engine inspect --format '{{.RestartCount}}' replica_branch_1)
hub_restarts=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
kills=$(( $(oom_kills) - kills_before ))
cgroup_peak() { cat /sys/fs/cgroup/memory/libpod_parent/libpod-"$($engine inspect --format '{{.Id}}' "$1")"/memory.max_usage_in_bytes 2>/dev/null || echo "?"; }
peak="branch $(cgroup_peak replica_branch_1), hub $(cgroup_peak replica_hub_1)"
echo "     branch OOMKilled $oom, restarts $branch_restarts_before -> $branch_restarts; hub restarts" \
    "$hub_restarts_before -> $hub_restarts; kernel OOM kills during the run: $kills; cgroup peaks: $peak bytes"
dmesg 2>/dev/null | grep "Memory cgroup out of memory: Killed process" | tail -n "$kills" | sed 's/^/     /' || true
[ "$oom" = false ] && [ "$branch_restarts" = "$branch_restarts_before" ] && [ "$hub_restarts" = "$hub_restarts_before" ] \
    && [ "$kills" = 0 ] && ok "neither accelerator OOM-killed or restarted (both --memory 256m)" \
    || bad "an accelerator was OOM-killed or restarted"

# kill -9 of the hub's process (from the host: inside its PID namespace, PID 1 ignores a SIGKILL sent there):
# restart: unless-stopped brings it back; the store survives and verifies.
restarts_before=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
kill_and_time_ready() { # CONTAINER ADMIN_PORT: kill -9 its process, poll /readyz until 200; prints seconds
    local pid; pid=$($engine inspect --format '{{.State.Pid}}' "$1")
    local t0; t0=$(date +%s.%N)
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done  # the old process must not answer the first poll
    python3 scripts/appliance-helper.py ready "$2" 120 >/dev/null || return 1
    echo "$(date +%s.%N) - $t0" | bc
}
if ready_after=$(kill_and_time_ready replica_hub_1 27790); then ok "hub back after kill -9"; else bad "hub not restarted"; fi
restarts_after=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
echo "     hub restarts: $restarts_before -> $restarts_after; /readyz 200 ${ready_after:-?} s after the kill (polled)"
[ "$restarts_after" -gt "$restarts_before" ] && ok "restart policy restarted the hub" || bad "no restart counted"
wait_http http://127.0.0.1:27791/readyz 60 || true
python3 scripts/appliance-helper.py traffic 27780 && ok "traffic after the restart" || bad "traffic after restart"
compose stop hub >/dev/null
$engine run --rm -v replica_hub-store:/var/lib/replica localhost/replica:latest store verify /var/lib/replica/store \
    && ok "hub store verifies after kill -9" || bad "store verify"

# Purge and restart: an empty, working accelerator.
$engine run --rm -v replica_hub-store:/var/lib/replica localhost/replica:latest store purge /var/lib/replica/store \
    && ok "store purge" || bad "store purge"
compose start hub >/dev/null
wait_http http://127.0.0.1:27790/readyz 60 && ok "hub ready after purge" || bad "hub after purge"
wait_http http://127.0.0.1:27791/readyz 60 || true
chunks=$(curl -fsS http://127.0.0.1:27790/metrics | awk '/^replica_store_chunks /{print $2}')
echo "     hub store chunks after purge: $chunks"
python3 scripts/appliance-helper.py traffic 27780 && ok "traffic after purge" || bad "traffic after purge"

compose down -v >/dev/null

# Time to /readyz with a big store (READY_STORE_GIB), start and restart after kill -9, polled every 20 ms.
if [ "${READY_STORE_GIB:-0}" -gt 0 ]; then
    gib=$READY_STORE_GIB
    $engine rm -f replica_ready >/dev/null 2>&1 || true
    $engine volume rm -f replica_ready-store >/dev/null 2>&1 || true
    fill_start=$(date +%s)
    $engine run --rm -v replica_ready-store:/var/lib/replica localhost/replica:latest \
        store init /var/lib/replica/store --capacity "$((gib + 1))G" >/dev/null
    # openssl dies of SIGPIPE when head has had enough: not a failure (pipefail is on).
    { openssl enc -aes-128-ctr -pass pass:replica -nosalt -pbkdf2 < /dev/zero 2>/dev/null || true; } \
        | head -c "$((gib << 30))" \
        | $engine run -i --rm -v replica_ready-store:/var/lib/replica localhost/replica:latest \
            compress --codec none --store /var/lib/replica/store -c > /dev/null
    $engine run --rm -v replica_ready-store:/var/lib/replica localhost/replica:latest store stats /var/lib/replica/store \
        | sed 's/^/     /'
    echo "     filled $gib GiB in $(($(date +%s) - fill_start)) s"
    t0=$(date +%s.%N)
    $engine run -d --name replica_ready --network host --memory 256m --restart unless-stopped \
        -v replica_ready-store:/var/lib/replica localhost/replica:latest tunnel server --listen 127.0.0.1:27760 \
        --insecure-plaintext --allow 127.0.0.1:27781 --store /var/lib/replica/store --admin 127.0.0.1:27792 >/dev/null
    if python3 scripts/appliance-helper.py ready 27792 120 >/dev/null; then
        ok "$gib GiB store: /readyz 200 $(echo "$(date +%s.%N) - $t0" | bc) s after podman run (container start included)"
    else bad "$gib GiB store: never ready"; fi
    for round in 1 2 3; do
        if seconds=$(kill_and_time_ready replica_ready 27792); then
            ok "$gib GiB store: /readyz 200 $seconds s after kill -9 (restart by policy, round $round)"
        else bad "$gib GiB store: not ready after kill -9"; fi
    done
    $engine logs replica_ready 2>&1 | grep -m3 "store\|memory cap" | sed 's/^/     /' || true
    $engine rm -f replica_ready >/dev/null
    $engine volume rm -f replica_ready-store >/dev/null
fi
echo "appliance-test: $pass passed, $fail failed ($(($(date +%s) - start)) s)"
[ "$fail" = 0 ]
