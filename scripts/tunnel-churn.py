#!/usr/bin/env python3
"""RSS and open files of a `replica tunnel server` process before and after 1,000 link churns (connect, hello,
read the server's hello, close). Port 22150 on 127.0.0.1.

  scripts/tunnel-churn.py [path/to/replica]   (default: .build/release/replica)
"""
import os, shutil, socket, struct, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import start, stop_all, wait_port  # noqa: E402

R = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
work = tempfile.mkdtemp(prefix="replica-churn-")
srv = start([R, "tunnel", "server", "--listen", "127.0.0.1:22150", "--allow", "127.0.0.1:22151",
             "--store", f"{work}/s", "--store-capacity", "1G", "--quiet", "--admin", "off"])
def rss():
    for line in open(f"/proc/{srv.pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
def fds(): return len(os.listdir(f"/proc/{srv.pid}/fd"))
try:
    wait_port(22150, 60)
    time.sleep(0.5)
    before = (rss(), fds())
    def hello():
        payload = b"RPLT" + struct.pack(">HI", 1, 1) + os.urandom(16) + struct.pack(">II", 2 << 20, 64 << 20)
        return struct.pack(">BBII", 1, 0, 0, len(payload)) + payload
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", 22150))
        s.sendall(hello())
        s.recv(64)
        s.close()
    time.sleep(2)
    after = (rss(), fds())
    print(f"server RSS before {before[0]:.1f} MiB, after 1,000 link churns {after[0]:.1f} MiB; fds {before[1]} -> {after[1]}")
finally:
    stop_all()
    shutil.rmtree(work, ignore_errors=True)
