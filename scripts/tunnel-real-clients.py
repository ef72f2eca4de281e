#!/usr/bin/env python3
"""Issue 10, goal 3: real clients through a real tunnel on loopback, each warm step beside its baselines.

  scripts/tunnel-real-clients.py [path/to/replica] [corpora dir]
      (defaults: .build/release/replica, ./corpora as made by scripts/fetch-corpora.sh; needs git, curl, rsync, zstd)

A `replica tunnel server` and `replica tunnel client` run with TLS (certificates from `replica tunnel keygen`) and a
DiskChunkStore on each end, a fresh pair (fresh stores) per scenario. Behind the server sit real servers:
  git     `git daemon` serving a repository whose tags are the openssl release trees (3.0.17, .20, .22) committed in
          turn; `git clone --depth 1 --branch TAG` of each tag in turn (the first cold, the next ones warm).
  curl    `python3 -m http.server` serving the openssl release tars and the numpy wheels; one `curl` per version.
  rsync   an rsync daemon serving each openssl release tree as a module; `rsync -a` of each into an empty directory.
Two relays count bytes: LINK sits between the tunnel client and server (the TLS bytes on the link, each way), and
APP between the tunnel server and the real server; it records what the real server sent in each step, so the
baselines run on exactly the application bytes the tunnel carried:
  replica --store   `replica compress --store DIR` of each step's bytes in turn, into one store (warmed, like the
                    tunnel's, with the previous steps' bytes);
  patch-from        `zstd -3 --long=27 --patch-from=PREVIOUS` (the previous step's bytes).
With APP_PIECES=random the APP relay forwards what the server sends in pieces of random size (1 byte to 64 KiB,
TCP_NODELAY), so the tunnel server reads other sizes than with whole 64 KiB reads.
With TUNNEL_ARGS="--level 3" both tunnel ends run at the CLI's default zstd level (the tunnel's default is 1).
Ports: 32000-32009 (REAL_PORT_BASE moves them). Work files: .build/real-clients (REAL_WORK moves them).
"""
import os, random, shutil, socket, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import start, stop_all, wait_port  # noqa: E402

REPLICA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica")
CORPORA = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "corpora")
WORK = os.path.abspath(os.environ.get("REAL_WORK", ".build/real-clients"))
BASE = int(os.environ.get("REAL_PORT_BASE", "32000"))
PIECES = os.environ.get("APP_PIECES", "whole")
TUNNEL_ARGS = os.environ.get("TUNNEL_ARGS", "").split()  # more options for both ends, e.g. "--level 3"
GIT, HTTP, RSYNC, TUNNEL, LINK, APP, LOCAL = (BASE + i for i in range(7))
OPENSSL = ["3.0.17", "3.0.20", "3.0.22"]


class Relay:
    """A TCP relay on 127.0.0.1 that counts the bytes of every connection, each way, and can record downstream."""

    def __init__(self, port, target, pieces="whole"):
        self.target, self.pieces = target, pieces
        self.up = self.down = 0
        self.capture = None
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, True), daemon=True).start()

    def pump(self, source, sink, downstream):
        rng = random.Random(10)  # the same pieces in every run
        if downstream and self.pieces == "random":
            sink.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := source.recv(1 << 16):
                with self.lock:
                    if downstream:
                        self.down += len(data)
                        if self.capture:
                            self.capture.write(data)
                    else:
                        self.up += len(data)
                if downstream and self.pieces == "random":
                    view = memoryview(data)
                    while view:
                        n = rng.randint(1, 1 << 16)
                        sink.sendall(view[:n])
                        view = view[n:]
                else:
                    sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        """Stops accepting (shutdown wakes the accepting thread, so the port is free at once)."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def counts(self):
        with self.lock:
            return self.up, self.down


def run(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def prepare():
    """Extracts the openssl trees, commits them as tags of one repository, and lays out the HTTP directory."""
    trees = os.path.join(WORK, "tree")
    for version in OPENSSL:
        tree = os.path.join(trees, version)
        if not os.path.isdir(tree):
            os.makedirs(tree + ".tmp", exist_ok=True)
            run("tar", "-xf", f"{CORPORA}/source/openssl-{version}.tar", "-C", tree + ".tmp", "--strip-components=1")
            os.rename(tree + ".tmp", tree)
    repo = os.path.join(WORK, "git", "openssl.git")
    if not os.path.isdir(repo):
        run("git", "init", "-q", "--bare", repo + ".tmp")
        for version in OPENSSL:
            git = ["git", "--git-dir", repo + ".tmp", "--work-tree", os.path.join(trees, version),
                   "-c", "user.name=replica", "-c", "user.email=replica@localhost"]
            run(*git, "add", "-A")
            run(*git, "commit", "-q", "-m", f"openssl {version}", env={**os.environ,
                "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"})
            run(*git, "tag", f"v{version}")
        os.rename(repo + ".tmp", repo)
    http = os.path.join(WORK, "http")
    os.makedirs(http, exist_ok=True)
    for path in [f"{CORPORA}/source/openssl-{v}.tar" for v in OPENSSL] + sorted(
            os.path.join(f"{CORPORA}/numpy", n) for n in os.listdir(f"{CORPORA}/numpy")):
        link = os.path.join(http, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(path, link)
    with open(os.path.join(WORK, "rsyncd.conf"), "w") as conf:
        conf.write("use chroot = false\nread only = true\nuid = nobody\ngid = nogroup\n")
        for version in OPENSSL:
            conf.write(f"[{version}]\npath = {trees}/{version}\n")


def start_servers():
    start(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={GIT}", "--export-all",
           f"--base-path={WORK}/git", "--informative-errors"])
    start([sys.executable, "-m", "http.server", str(HTTP), "--bind", "127.0.0.1", "--directory", f"{WORK}/http"])
    start(["rsync", "--daemon", "--no-detach", "--address=127.0.0.1", f"--port={RSYNC}",
           f"--config={WORK}/rsyncd.conf"])
    for port in (GIT, HTTP, RSYNC):
        wait_port(port)


def start_tunnel(scenario, target):
    """A fresh tunnel pair with empty disk stores, forwarding LOCAL to the APP relay in front of `target`."""
    pki = os.path.join(WORK, "pki")
    if not os.path.isdir(pki):
        run(REPLICA, "tunnel", "keygen", pki, "server", "client", stdout=subprocess.DEVNULL)
    stores = os.path.join(WORK, "stores", scenario)
    shutil.rmtree(stores, ignore_errors=True)
    os.makedirs(stores)
    server = start([REPLICA, "tunnel", "server", "--listen", f"127.0.0.1:{TUNNEL}", "--allow", f"127.0.0.1:{APP}",
                    "--permit", f"*=127.0.0.1:{APP}", "--quiet", "--admin", "off", "--store", f"{stores}/server",
                    "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/server.pem", "--key", f"{pki}/server.key"] + TUNNEL_ARGS)
    wait_port(TUNNEL)
    client = start([REPLICA, "tunnel", "client", "--peer", f"127.0.0.1:{LINK}", "-L", f"{LOCAL}:127.0.0.1:{APP}",
                    "--quiet", "--link-wait", "10", "--admin", "off", "--store", f"{stores}/client",
                    "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/client.pem", "--key", f"{pki}/client.key"] + TUNNEL_ARGS)
    wait_port(LOCAL)
    time.sleep(0.5)
    return [client, server]


def settle(relay):
    """Waits until the relay's counts stop moving (the link's trailing acknowledgements)."""
    last = None
    while (now := relay.counts()) != last:
        last = now
        time.sleep(0.5)
    return now


def measure(scenario, steps, client_command):
    """Runs one scenario through a fresh tunnel; returns one row per step."""
    link = Relay(LINK, TUNNEL)
    app = Relay(APP, {"git": GIT, "curl": HTTP, "rsync": RSYNC}[scenario.split("-")[0]], PIECES)
    processes = start_tunnel(scenario, app.target)
    store = os.path.join(WORK, "stores", scenario, "cli")
    captures, rows = [], []
    try:
        for index, step in enumerate(steps):
            capture = os.path.join(WORK, "captures", f"{scenario}-{index}.bin")
            os.makedirs(os.path.dirname(capture), exist_ok=True)
            before = settle(link)
            with open(capture, "wb") as f:
                app.capture = f
                run(*client_command(step, index), stdout=subprocess.DEVNULL)
                settle(app)
                app.capture = None
            after = settle(link)
            up, down = after[0] - before[0], after[1] - before[1]
            encoded = os.path.join(WORK, "captures", "out.rpl")
            run(REPLICA, "compress", "-q", "--store", store, "-f", "-o", encoded, capture)
            store_bytes = os.path.getsize(encoded)
            zstd = ["zstd", "-q", "-f", "-3", "--long=27"] + ([f"--patch-from={captures[-1]}"] if captures else [])
            run(*zstd, capture, "-o", encoded)
            zstd_bytes = os.path.getsize(encoded)
            os.remove(encoded)
            captures.append(capture)
            rows.append((scenario, step, os.path.getsize(capture), down, up, store_bytes, zstd_bytes, index > 0))
    finally:
        for p in processes:
            p.terminate()
            p.wait(timeout=15)
        for relay in (link, app):
            relay.close()
    return rows


def main():
    prepare()
    start_servers()
    print(f"replica: {REPLICA} {' '.join(TUNNEL_ARGS)}; TCP pieces from the server: {PIECES}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    dest = os.path.join(WORK, "dest")
    numpy = sorted(n for n in os.listdir(f"{WORK}/http") if n.startswith("numpy"))

    def fresh(index):
        path = os.path.join(dest, str(index))
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        os.makedirs(dest, exist_ok=True)
        return path

    scenarios = [
        ("git", [f"v{v}" for v in OPENSSL], lambda tag, i: [
            "git", "-c", "advice.detachedHead=false", "clone", "-q", "--depth", "1", "--branch", tag, f"git://127.0.0.1:{LOCAL}/openssl.git", fresh(i)]),
        ("curl-tar", [f"openssl-{v}.tar" for v in OPENSSL], lambda name, i: [
            "curl", "-sSf", "-o", fresh(i), f"http://127.0.0.1:{LOCAL}/{name}"]),
        ("curl-whl", numpy, lambda name, i: ["curl", "-sSf", "-o", fresh(i), f"http://127.0.0.1:{LOCAL}/{name}"]),
        ("rsync", OPENSSL, lambda module, i: ["rsync", "-a", f"rsync://127.0.0.1:{LOCAL}/{module}/", fresh(i)]),
    ]
    only = os.environ.get("REAL_SCENARIOS")
    rows = []
    for name, steps, command in scenarios:
        if only and name not in only.split(","):
            continue
        rows += measure(name, steps, command)
    print(f"\n{'scenario':9s} {'step':>22s} {'app bytes':>11s} {'link down':>11s} {'link up':>8s} "
          f"{'--store':>10s} {'patch-from':>10s} {'link/--store':>12s} {'link/patch':>10s}")
    worst = 0.0
    for scenario, step, app_bytes, down, up, store_bytes, zstd_bytes, warm in rows:
        ratio = (down + up) / store_bytes
        if warm:
            worst = max(worst, ratio)
        print(f"{scenario:9s} {step[:22]:>22s} {app_bytes:11,d} {down:11,d} {up:8,d} {store_bytes:10,d} "
              f"{zstd_bytes:10,d} {ratio:11.3f}x {(down + up) / zstd_bytes:9.3f}x{'' if warm else '  (cold)'}")
    print(f"\nlink bytes (both ways, TLS included) / replica --store, worst warm step: {worst:.3f}x (target <= 1.1x)"
          f"; load average {os.getloadavg()[0]:.1f}")
    return 0 if worst <= 1.1 else 1


if __name__ == "__main__":
    status = 1
    try:
        status = main()
    finally:
        stop_all()
    sys.exit(status)
