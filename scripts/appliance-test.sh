#!/usr/bin/env bash
# `make appliance-test`: the appliance scenario in real podman containers (deploy/compose.yaml).
#
#   build the images; compose up (dnsmasq, hub, branch); traffic through the branch's forward; metrics;
#   200 busy flows against a branch capped at 256 MiB (no OOM kill); kill -9 inside the hub container and
#   its restart by policy, with the store verified; `replica store purge` and a restart give an empty, working
#   accelerator; compose down.
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

compose down -v >/dev/null 2>&1 || true
compose up -d
wait_http http://127.0.0.1:27790/healthz 60 && ok "hub /healthz" || bad "hub /healthz"
wait_http http://127.0.0.1:27791/readyz 60 && ok "branch /readyz (link up)" || bad "branch /readyz"
# Without systemd podman cannot schedule health checks on a timer (it logs so); run them by hand.
if [ "$engine" = podman ]; then
    $engine healthcheck run replica_hub_1 && $engine healthcheck run replica_branch_1 \
        && ok "HEALTHCHECK (replica tunnel status --check) passes in both accelerators" || bad "HEALTHCHECK"
fi

python3 scripts/appliance-helper.py traffic 27780 && ok "traffic through the branch forward" || bad "traffic"
python3 scripts/appliance-helper.py metrics 27791 27790 && ok "link bytes: branch sent == hub received" \
    || bad "metrics"

# 200 busy flows against the 256 MiB branch: the container must not be OOM-killed.
python3 scripts/appliance-helper.py busy 27780 200 && ok "200 busy flows completed" || bad "200 busy flows"
oom=$($engine inspect --format '{{.State.OOMKilled}} {{.RestartCount}}' replica_branch_1)
peak=$(cat /sys/fs/cgroup/memory/libpod_parent/libpod-"$($engine inspect --format '{{.Id}}' replica_branch_1)"/memory.max_usage_in_bytes 2>/dev/null || echo "?")
echo "     branch OOMKilled/restarts: $oom; cgroup peak usage: $peak bytes"
[ "${oom%% *}" = false ] && ok "branch not OOM-killed under --memory 256m" || bad "branch OOM-killed"

# kill -9 of the hub's process (from the host: inside its PID namespace, PID 1 ignores a SIGKILL sent there):
# restart: unless-stopped brings it back; the store survives and verifies.
restarts_before=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
kill -9 "$($engine inspect --format '{{.State.Pid}}' replica_hub_1)"
sleep 2
t0=$(date +%s.%N)
wait_http http://127.0.0.1:27790/readyz 60 && ok "hub back after kill -9" || bad "hub not restarted"
t1=$(date +%s.%N)
restarts_after=$($engine inspect --format '{{.RestartCount}}' replica_hub_1)
echo "     hub restarts: $restarts_before -> $restarts_after; ready $(echo "$t1 - $t0" | bc) s after the wait began"
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
echo "appliance-test: $pass passed, $fail failed ($(($(date +%s) - start)) s)"
[ "$fail" = 0 ]
