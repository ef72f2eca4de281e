#!/usr/bin/env bash
# WAN lab: two network namespaces joined by a veth pair shaped like a WAN link, and the accelerator pair across it.
#
#   sudo scripts/wan-lab.sh [path/to/replica]      (default .build/release/replica; needs ip, tc, socat, python3)
#
# Shape: tbf rate limiting on both veth ends (RATE, default 100mbit). Delay: this kernel class has no netem
# qdisc, so a userspace delay line (a small TCP proxy in the near namespace) holds every byte for ONE_WAY_MS
# (default 20 ms) in each direction, giving a 40 ms RTT on every connection that crosses it. The script says
# which it used. It moves a versioned corpus three ways: directly, through the tunnel cold (empty stores), and
# through the tunnel warm (version 2 after version 1 went through), and prints wall time and bytes on the link.
# Every process and namespace it creates is removed on exit.
set -euo pipefail

REPLICA=$(realpath "${1:-.build/release/replica}")
RATE=${RATE:-100mbit}
ONE_WAY_MS=${ONE_WAY_MS:-20}
CORPUS_MIB=${CORPUS_MIB:-64}
NEAR=rpl-near FAR=rpl-far
NEAR_IP=10.77.0.1 FAR_IP=10.77.0.2
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del $NEAR 2>/dev/null || true
    ip netns del $FAR 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

in_near() { ip netns exec $NEAR "$@"; }
in_far() { ip netns exec $FAR "$@"; }
# bg NS COMMAND...: start COMMAND in namespace NS in the background and remember its pid (ip netns exec execs
# the command, so $! is the command itself and cleanup can stop it).
bg() { local ns=$1; shift; ip netns exec "$ns" "$@" & PIDS+=($!); }

ip netns add $NEAR
ip netns add $FAR
ip link add veth-near type veth peer name veth-far
ip link set veth-near netns $NEAR
ip link set veth-far netns $FAR
in_near ip addr add $NEAR_IP/24 dev veth-near
in_far ip addr add $FAR_IP/24 dev veth-far
for ns in $NEAR $FAR; do ip netns exec $ns ip link set lo up; done
in_near ip link set veth-near up
in_far ip link set veth-far up
in_near tc qdisc add dev veth-near root tbf rate "$RATE" burst 64kb latency 400ms
in_far tc qdisc add dev veth-far root tbf rate "$RATE" burst 64kb latency 400ms
if in_near tc qdisc add dev lo root netem delay 0ms 2>/dev/null; then
    in_near tc qdisc del dev lo root
    echo "note: netem exists here, but the lab uses the userspace delay line everywhere for comparable runs"
fi
echo "link: tbf $RATE each way; delay: userspace delay line, ${ONE_WAY_MS} ms each way (netem is missing)"

# The delay line: a TCP proxy that forwards each received piece after ONE_WAY_MS, in both directions.
cat > "$WORK/delay.py" <<'PY'
import asyncio, sys, time
listen_port, target_host, target_port, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000
async def pump(reader, writer):
    queue = asyncio.Queue()
    async def feed():
        while data := await reader.read(1 << 16):
            await queue.put((time.monotonic() + delay, data))
        await queue.put((time.monotonic() + delay, None))
    async def drain():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0: await asyncio.sleep(wait)
            if data is None:
                try: writer.write_eof()
                except OSError: pass
                return
            writer.write(data); await writer.drain()
    await asyncio.gather(feed(), drain())
async def handle(r1, w1):
    r2, w2 = await asyncio.open_connection(target_host, target_port)
    try: await asyncio.gather(pump(r1, w2), pump(r2, w1))
    except Exception: pass
    finally: w1.close(); w2.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, limit=1 << 20)
    async with server: await server.serve_forever()
asyncio.run(main())
PY

# Versioned corpus: version 1 is text-like data with some random blocks; version 2 edits 1% of it in place and
# inserts a few runs, the way a new release of a file tree differs from the last.
python3 - "$WORK" "$CORPUS_MIB" <<'PY'
import os, random, sys
work, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
parts = []
size = 0
while size < mib << 20:
    if rng.random() < 0.2:
        part = rng.randbytes(64 << 10)
    else:
        part = b" ".join(rng.choice(words) for _ in range(12000)) + b"\n"
    parts.append(part); size += len(part)
v1 = bytearray(b"".join(parts))[: mib << 20]
open(f"{work}/v1", "wb").write(v1)
v2 = bytearray(v1)
for _ in range(len(v2) // 100 // 64):
    at = rng.randrange(len(v2) - 64)
    v2[at:at + 64] = rng.randbytes(64)
for _ in range(20):
    at = rng.randrange(len(v2))
    v2[at:at] = rng.randbytes(rng.randint(1, 4096))
open(f"{work}/v2", "wb").write(v2)
PY

tx_bytes() { in_near cat /sys/class/net/veth-near/statistics/tx_bytes 2>/dev/null || in_near ip -s link show veth-near | awk '/TX:/{getline; print $1}'; }
rx_bytes() { in_near cat /sys/class/net/veth-near/statistics/rx_bytes 2>/dev/null || in_near ip -s link show veth-near | awk '/RX:/{getline; print $1}'; }

# Far end: a sink that reads until EOF; the tunnel server.
bg $FAR socat -u TCP-LISTEN:9000,reuseaddr,fork OPEN:/dev/null

# send FILE PORT: send through 127.0.0.1:PORT in the near namespace, wait for the far end's EOF.
send() {
    in_near python3 -c '
import socket, sys, time
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
t = time.perf_counter(); s.sendall(data); s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
print(f"{time.perf_counter() - t:.2f}")' "$1" "$2"
}

measure() {  # measure LABEL FILE PORT
    local before_tx before_rx seconds after_tx after_rx
    before_tx=$(tx_bytes); before_rx=$(rx_bytes)
    seconds=$(send "$2" "$3")
    after_tx=$(tx_bytes); after_rx=$(rx_bytes)
    printf "%-28s %8s s   link bytes near->far %12d  far->near %10d\n" "$1" "$seconds" \
        $((after_tx - before_tx)) $((after_rx - before_rx))
}

# Mutual TLS as deployed: a CA and one certificate per end.
"$REPLICA" tunnel keygen "$WORK/pki" far near > /dev/null
tls() { echo --ca "$WORK/pki/ca.pem" --cert "$WORK/pki/$1.pem" --key "$WORK/pki/$1.key"; }

start_tunnel() {
    bg $FAR "$REPLICA" tunnel server --listen $FAR_IP:7000 --allow 127.0.0.1:9000 --permit near=127.0.0.1:9000 \
        $(tls far) --quiet
    sleep 0.5
    bg $NEAR python3 "$WORK/delay.py" 7001 $FAR_IP 7000 "$ONE_WAY_MS"
    sleep 0.3
    bg $NEAR "$REPLICA" tunnel client --peer 127.0.0.1:7001 -L 8000:127.0.0.1:9000 --server-name far $(tls near) --quiet
    sleep 1
}

stop_tunnel() {
    local n=${#PIDS[@]}
    for i in 1 2 3; do kill "${PIDS[$((n - i))]}" 2>/dev/null || true; done
    for i in 1 2 3; do wait "${PIDS[$((n - i))]}" 2>/dev/null || true; done
    PIDS=("${PIDS[@]:0:$((n - 3))}")
}

# Direct: through the same delay line, no accelerator.
bg $NEAR python3 "$WORK/delay.py" 7101 $FAR_IP 9000 "$ONE_WAY_MS"
sleep 0.5
echo "corpus: version 1 and version 2, $CORPUS_MIB MiB each"
measure "direct (v2)" "$WORK/v2" 7101

start_tunnel
measure "tunnel cold (v2)" "$WORK/v2" 8000
stop_tunnel

start_tunnel
measure "tunnel, version 1 first" "$WORK/v1" 8000
measure "tunnel warm (v2 after v1)" "$WORK/v2" 8000
stop_tunnel
