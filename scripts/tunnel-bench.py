#!/usr/bin/env python3
"""Loopback figures for `replica tunnel`, each next to its baseline from the same run.

  scripts/tunnel-bench.py [path/to/replica [tunnel options...]]   (default: .build/release/replica; needs socat)

4. (only when asked for in BENCH_PARTS) the builds in turn, three rounds of one TLS transfer each: MB/s and the
   CPU time the client and the server spent per byte (utime + stime from /proc/PID/stat), which a busy machine
   disturbs less than a best-of-3 throughput, and their minor page faults per MiB carried (fresh pages touched).

Environment: BENCH_MIB (256), BENCH_PORT_BASE (31100), BENCH_PARTS (which of 1,2,3,4 to run; 1,2,3 by default),
BENCH_BEFORE=path/to/older/replica (parts 1, 3 and 4 also run that build, in the same run, labelled "before").

1. Throughput of incompressible data: direct, through a plain TCP relay (socat), through the tunnel with
   mutual TLS (the default) and through the tunnel in --insecure-plaintext mode.
2. 1 KiB request/response latency, p50 and p99: direct, through a socat relay and through both tunnels.
3. Resident memory (VmRSS) of the tunnel client and server: idle, with 1,000 idle flows, and at the peak
   of 100 busy flows.
Everything runs on 127.0.0.1, bounded in size and time; every process it starts is stopped at the end.
"""
import os, shutil, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import ECHO_SERVER, start, stop_all, wait_port  # noqa: E402

REPLICA = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
EXTRA = sys.argv[2:]  # more tunnel options for both ends, e.g. --codec lz4
BASE = int(os.environ.get("BENCH_PORT_BASE", "31100"))
PARTS = set(os.environ.get("BENCH_PARTS", "1,2,3").split(","))
BEFORE = os.environ.get("BENCH_BEFORE")
BUILDS = ([("before", BEFORE)] if BEFORE else []) + [("", REPLICA)]
SINK, ECHO, RELAY, TUNNEL, LOCAL_SINK, LOCAL_ECHO, ECHO_RELAY = (BASE + i for i in range(7))
PKI = tempfile.mkdtemp(prefix="replica-bench-pki-")


def security(mode, name):
    """The tunnel options of one end: mutual TLS with certificates from `replica tunnel keygen`, or plaintext."""
    if mode == "plaintext":
        return ["--insecure-plaintext"]
    return ["--ca", f"{PKI}/ca.pem", "--cert", f"{PKI}/{name}.pem", "--key", f"{PKI}/{name}.key"]


def transfer(port, data):
    """Sends data, half-closes, waits for the far end's EOF; returns seconds."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    t = time.perf_counter()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    elapsed = time.perf_counter() - t
    s.close()
    return elapsed


def latency(port, rounds=3000):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = os.urandom(1024)
    samples = []
    for i in range(rounds + 200):
        t = time.perf_counter()
        s.sendall(msg)
        got = 0
        while got < 1024:
            got += len(s.recv(2048))
        if i >= 200:
            samples.append(time.perf_counter() - t)
    s.close()
    samples.sort()
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def start_tunnel(mode="tls", replica=REPLICA):
    """Starts a fresh tunnel pair (empty stores) and returns (client, server)."""
    targets = f"127.0.0.1:{SINK},127.0.0.1:{ECHO}"
    server = start([replica, "tunnel", "server", "--listen", f"127.0.0.1:{TUNNEL}", "--allow", targets,
                    "--permit", f"*={targets}", "--quiet", "--admin", "off"] + security(mode, "server") + EXTRA)
    wait_port(TUNNEL)
    client = start([replica, "tunnel", "client", "--peer", f"127.0.0.1:{TUNNEL}",
                    "-L", f"{LOCAL_SINK}:127.0.0.1:{SINK}", "-L", f"{LOCAL_ECHO}:127.0.0.1:{ECHO}", "--quiet"]
                   + ["--link-wait", "10", "--admin", "off"] + security(mode, "client") + EXTRA)
    wait_port(LOCAL_SINK)
    time.sleep(0.5)
    return client, server


def stop(*processes):
    for p in processes:
        p.terminate()
        p.wait(timeout=10)
    time.sleep(0.3)


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def page_faults(pid):
    """Minor page faults so far: fresh pages the process touched (a freed and re-allocated buffer costs them)."""
    return int(proc_stat(pid)[7])


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory(replica, label):
    """Part 3 for one build: RSS idle, with 1,000 idle flows, and at the peak of 100 busy flows."""
    client, server = start_tunnel(replica=replica)
    print(f"   {label}no flows:         client {rss(client.pid):.1f} MiB, server {rss(server.pid):.1f} MiB")
    idle = []
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", LOCAL_ECHO))
        s.sendall(b"x")
        idle.append(s)
    for s in idle:
        s.recv(1)
    time.sleep(0.5)
    print(f"   {label}1,000 idle flows: client {rss(client.pid):.1f} MiB, server {rss(server.pid):.1f} MiB")
    for s in idle:
        s.close()
    stop(client, server)
    client, server = start_tunnel(replica=replica)
    peak = [0.0, 0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(client.pid))
            peak[1] = max(peak[1], rss(server.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    per_flow = 4 << 20
    pool = memoryview(os.urandom(100 * per_flow))  # distinct, incompressible bytes for every flow
    t = time.perf_counter()
    threads = [threading.Thread(target=transfer, args=(LOCAL_SINK, pool[i * per_flow:(i + 1) * per_flow]))
               for i in range(100)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    done.set()
    sampler.join()
    stop(client, server)
    print(f"   {label}100 busy flows x 4 MiB ({100 * per_flow / elapsed / 1e6:.0f} MB/s aggregate): "
          f"peak client {peak[0]:.1f} MiB, server {peak[1]:.1f} MiB")


def main():
    size = int(os.environ.get("BENCH_MIB", "256")) << 20
    start(["socat", "-u", f"TCP-LISTEN:{SINK},reuseaddr,fork,backlog=256", "OPEN:/dev/null"])
    start([sys.executable, "-c", ECHO_SERVER, str(ECHO)])
    start(["socat", f"TCP-LISTEN:{RELAY},reuseaddr,fork", f"TCP:127.0.0.1:{SINK}"])
    start(["socat", f"TCP-LISTEN:{ECHO_RELAY},reuseaddr,fork", f"TCP:127.0.0.1:{ECHO},nodelay"])
    for port in (SINK, ECHO, RELAY, ECHO_RELAY):
        wait_port(port)
    subprocess.run([REPLICA, "tunnel", "keygen", PKI, "server", "client"], check=True, stdout=subprocess.DEVNULL)
    builds = ", ".join(f"{label or 'this'} {path}" for label, path in BUILDS)
    print(f"replica: {builds} {' '.join(EXTRA)}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    if "1" in PARTS:
        data = os.urandom(size)
        print(f"\n1. throughput, {size >> 20} MiB of os.urandom (incompressible), best of 3:")
        results = {}
        for name, port in (("direct", SINK), ("socat relay", RELAY)):
            results[name] = size / min(transfer(port, data) for _ in range(3)) / 1e6
            print(f"   {name:16s} {results[name]:8.0f} MB/s")
        for label, replica in BUILDS:
            for mode in ("tls", "plaintext"):
                client, server = start_tunnel(mode, replica)
                # Fresh data each run: repeating the same bytes would measure deduplication, not throughput.
                best = min(transfer(LOCAL_SINK, os.urandom(size)) for _ in range(3))
                stop(client, server)
                results[label + mode] = size / best / 1e6
                print(f"   tunnel {label + ' ' if label else ''}{mode:9s} {results[label + mode]:8.0f} MB/s")
        for label, _ in BUILDS:
            for mode in ("tls", "plaintext"):
                ratio = results[label + mode] / results["socat relay"] * 100
                print(f"   tunnel {label + ' ' if label else ''}{mode} / socat relay = {ratio:.0f}%")
        print(f"   (load average {os.getloadavg()[0]:.1f})")

    if "2" in PARTS:
        print("\n2. 1 KiB request/response latency (3,000 round trips after 200 warm-up):")
        p99s = {}
        for name, port in (("direct", ECHO), ("socat relay", ECHO_RELAY)):
            p50, p99s[name] = latency(port)
            print(f"   {name:16s} p50 {p50:7.1f} us   p99 {p99s[name]:7.1f} us")
        for mode in ("tls", "plaintext"):
            client, server = start_tunnel(mode)
            p50, p99s[mode] = latency(LOCAL_ECHO)
            stop(client, server)
            print(f"   tunnel {mode:9s} p50 {p50:7.1f} us   p99 {p99s[mode]:7.1f} us")
        for mode in ("tls", "plaintext"):
            print(f"   tunnel {mode} adds {p99s[mode] - p99s['direct']:.1f} us at p99 over direct")

    if "3" in PARTS:
        print("\n3. memory, TLS (a fresh pair: its stores and windows start empty)")
        for label, replica in BUILDS:
            memory(replica, f"{label}: " if label else "")
        print(f"   (load average {os.getloadavg()[0]:.1f})")

    if "4" in PARTS:
        size = int(os.environ.get("BENCH_MIB", "256")) << 20
        print(f"\n4. CPU per byte, TLS, {size >> 20} MiB of os.urandom, builds in turn:")
        for round in range(3):
            for label, replica in BUILDS:
                client, server = start_tunnel("tls", replica)
                before = cpu_seconds(client.pid), cpu_seconds(server.pid)
                faults = page_faults(client.pid), page_faults(server.pid)
                seconds = transfer(LOCAL_SINK, os.urandom(size))
                after = cpu_seconds(client.pid), cpu_seconds(server.pid)
                faults = page_faults(client.pid) - faults[0], page_faults(server.pid) - faults[1]
                stop(client, server)
                print(f"   {label or 'this':6s} {size / seconds / 1e6:6.0f} MB/s, ns per byte: client "
                      f"{(after[0] - before[0]) * 1e9 / size:.2f}, server {(after[1] - before[1]) * 1e9 / size:.2f}"
                      f"; page faults per MiB: client {faults[0] / (size >> 20):.0f}, server "
                      f"{faults[1] / (size >> 20):.0f} (load {os.getloadavg()[0]:.1f})")


try:
    main()
finally:
    shutil.rmtree(PKI, ignore_errors=True)
    stop_all()
