#!/usr/bin/env python3
"""Does one busy peer stall another? p99 of a legitimate echo flow, idle and while another client pushes fresh data
into the server's disk store, in one run.

  scripts/tunnel-busy-peer.py [path/to/replica]   (default: .build/release/replica; needs socat)
  PUSH_MIB=2048 (default) sets how much the busy client pushes.
  BUSY_STORE=memory runs every end on its memory store instead (256 MiB), whose engine runs on the event loops
  (TunnelEngineExecution.automatic): the figure for a busy peer sharing the hub's event loops.

One `replica tunnel server` on a disk store (--store in a temporary directory, 1 GiB so it evicts), two
`replica tunnel client`s (each its own disk store): the legitimate one forwards to an echo server, the busy one
to a sink. The busy client's data is fresh and compressible (random bytes over a 64-letter alphabet), so every
batch goes through the engine and every chunk is written to both stores. The echo flow sends 1 KiB and waits for
it back, continuously; its latencies are split into "idle" (before the push) and "during the push".
Ports 22100-22199 on 127.0.0.1 (BUSY_PORT_BASE moves them); every process it starts is stopped at the end.
"""
import os, shutil, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import ECHO_SERVER, start, stop_all, wait_port  # noqa: E402

REPLICA = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
PUSH = int(os.environ.get("PUSH_MIB", "2048")) << 20
BASE = int(os.environ.get("BUSY_PORT_BASE", "22100"))
ECHO, SINK, TUNNEL, LOCAL_ECHO, LOCAL_SINK = (BASE + i for i in range(5))
def percentile(samples, q):
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * q))] * 1e3


def main():
    work = tempfile.mkdtemp(prefix="replica-busy-peer-")
    try:
        start([sys.executable, "-c", ECHO_SERVER, str(ECHO)])
        start(["socat", "-u", f"TCP-LISTEN:{SINK},reuseaddr,fork", "OPEN:/dev/null"])
        wait_port(ECHO), wait_port(SINK)
        memory = os.environ.get("BUSY_STORE") == "memory"
        common = ["--quiet", "--admin", "off"] + ([] if memory else ["--store-capacity", "1G"])

        def store(name):
            return [] if memory else ["--store", f"{work}/{name}"]
        # Mutual TLS, as deployed: certificates from `replica tunnel keygen`.
        pki = f"{work}/pki"
        subprocess.run([REPLICA, "tunnel", "keygen", pki, "hub", "legit", "busy"], check=True,
                       stdout=subprocess.DEVNULL)

        def tls(name):
            return ["--ca", f"{pki}/ca.pem", "--cert", f"{pki}/{name}.pem", "--key", f"{pki}/{name}.key"]
        start([REPLICA, "tunnel", "server", "--listen", f"127.0.0.1:{TUNNEL}",
               "--allow", f"127.0.0.1:{ECHO},127.0.0.1:{SINK}", "--permit", f"legit=127.0.0.1:{ECHO}",
               "--permit", f"busy=127.0.0.1:{SINK}"] + store("server") + tls("hub") + common)
        wait_port(TUNNEL, 60)
        start([REPLICA, "tunnel", "client", "--peer", f"127.0.0.1:{TUNNEL}", "-L", f"{LOCAL_ECHO}:127.0.0.1:{ECHO}"]
              + store("legit") + tls("legit") + common)
        start([REPLICA, "tunnel", "client", "--peer", f"127.0.0.1:{TUNNEL}", "-L", f"{LOCAL_SINK}:127.0.0.1:{SINK}"]
              + store("busy") + tls("busy") + common)
        wait_port(LOCAL_ECHO, 60), wait_port(LOCAL_SINK, 60)
        time.sleep(1)
        print(f"replica: {REPLICA} on {'memory' if memory else 'disk'} stores; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"push {PUSH >> 20} MiB")

        phase = ["idle"]
        samples = {"idle": [], "push": []}
        stop = threading.Event()

        def echo():
            s = socket.create_connection(("127.0.0.1", LOCAL_ECHO))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = os.urandom(1024)
            while not stop.is_set():
                t = time.perf_counter()
                s.sendall(msg)
                got = 0
                while got < 1024:
                    got += len(s.recv(2048))
                samples[phase[0]].append(time.perf_counter() - t)
                time.sleep(0.002)
            s.close()

        prober = threading.Thread(target=echo)
        prober.start()
        time.sleep(5)
        phase[0] = "push"
        alphabet = bytes(range(48, 112)) * 4  # 256 -> 64 letters: ~6 bits per byte, never repeats
        s = socket.create_connection(("127.0.0.1", LOCAL_SINK))
        t = time.perf_counter()
        sent = 0
        while sent < PUSH:
            block = os.urandom(8 << 20).translate(alphabet)
            s.sendall(block)
            sent += len(block)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        elapsed = time.perf_counter() - t
        s.close()
        stop.set()
        prober.join()
        print(f"busy client pushed {sent >> 20} MiB in {elapsed:.1f} s ({sent / elapsed / 1e6:.0f} MB/s)")
        for name in ("idle", "push"):
            values = samples[name]
            print(f"echo 1 KiB, {name:4s}: {len(values):6d} round trips, p50 {percentile(values, 0.5):7.2f} ms, "
                  f"p99 {percentile(values, 0.99):7.2f} ms, max {max(values) * 1e3:7.2f} ms")
        if not memory:
            sizes = {d: sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(f"{work}/{d}") for f in fs)
                     for d in ("server", "busy")}
            print(f"store sizes: server {sizes['server'] >> 20} MiB, busy client {sizes['busy'] >> 20} MiB")
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


main()
