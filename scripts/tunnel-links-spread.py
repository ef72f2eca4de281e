#!/usr/bin/env python3
"""Do links spread over the server's event loops? Two incompressible flows through one link, then through two
links (two clients), in turn, in one run (issue 10, goal 5).

  scripts/tunnel-links-spread.py [path/to/replica]   (default: .build/release/replica; needs socat)
  SPREAD_MIB=128 (default) per flow; SPREAD_ROUNDS=3.

One `replica tunnel server` (mutual TLS, memory store) forwards to a `socat` sink. "one link": one client, two
concurrent flows. "two links": two clients (the server accepts each link on the next of its event loops), one flow
each. Each flow sends fresh `os.urandom` bytes; the figure is both flows' bytes over the time until both finish, and
the server's CPU time per byte. Ports 31700-31709 on 127.0.0.1.
"""
import os, shutil, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import start, stop_all, wait_port  # noqa: E402

REPLICA = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
MIB = int(os.environ.get("SPREAD_MIB", "128"))
ROUNDS = int(os.environ.get("SPREAD_ROUNDS", "3"))
SINK, TUNNEL, LOCAL_A, LOCAL_B = 31700, 31701, 31702, 31703
PKI = tempfile.mkdtemp(prefix="replica-spread-pki-")


def security(name):
    return ["--ca", f"{PKI}/ca.pem", "--cert", f"{PKI}/{name}.pem", "--key", f"{PKI}/{name}.key"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(port, data):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)


def client(local):
    return start([REPLICA, "tunnel", "client", "--peer", f"127.0.0.1:{TUNNEL}", "-L", f"{local}:127.0.0.1:{SINK}",
                  "--quiet", "--link-wait", "10", "--admin", "off"] + security("client"))


def run(ports):
    flows = [os.urandom(MIB << 20) for _ in ports]
    threads = [threading.Thread(target=send, args=(port, data)) for port, data in zip(ports, flows)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(len(f) for f in flows) / (time.perf_counter() - began) / 1e6


try:
    subprocess.run([REPLICA, "tunnel", "keygen", PKI, "server", "client"], check=True, stdout=subprocess.DEVNULL)
    start(["socat", "-u", f"TCP-LISTEN:{SINK},reuseaddr,fork", "OPEN:/dev/null"])
    wait_port(SINK)
    print(f"replica: {REPLICA}; {MIB} MiB per flow; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for round in range(ROUNDS):
        for label, locals_ in (("one link, two flows", [LOCAL_A, LOCAL_A]), ("two links, a flow each", [LOCAL_A, LOCAL_B])):
            target = f"127.0.0.1:{SINK}"
            server = start([REPLICA, "tunnel", "server", "--listen", f"127.0.0.1:{TUNNEL}", "--allow", target,
                            "--permit", f"*={target}", "--quiet", "--admin", "off"] + security("server"))
            wait_port(TUNNEL)
            clients = [client(port) for port in sorted(set(locals_))]
            for port in set(locals_):
                wait_port(port)
            time.sleep(0.5)
            before = cpu_seconds(server.pid)
            rate = run(locals_)
            server_ns = (cpu_seconds(server.pid) - before) * 1e9 / (2 * (MIB << 20))
            print(f"   round {round + 1}: {label:24s} {rate:6.0f} MB/s, server {server_ns:.2f} ns per byte "
                  f"(load {os.getloadavg()[0]:.1f})")
            for p in clients + [server]:
                p.terminate()
                p.wait()
finally:
    stop_all()
    shutil.rmtree(PKI, ignore_errors=True)
