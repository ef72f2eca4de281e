#!/usr/bin/env python3
"""RSS and open files of a `replica tunnel server` process before and after 1,000 link churns (connect, mutual
TLS handshake with a `replica tunnel keygen` certificate, hello, read the server's hello, close). Port 22150 on
127.0.0.1.

  scripts/tunnel-churn.py [path/to/replica]   (default: .build/release/replica)
"""
import os, shutil, socket, ssl, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import hello_frame, start, stop_all, wait_port  # noqa: E402

R = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
work = tempfile.mkdtemp(prefix="replica-churn-")
pki = f"{work}/pki"
subprocess.run([R, "tunnel", "keygen", pki, "hub", "churn"], check=True, stdout=subprocess.DEVNULL)
srv = start([R, "tunnel", "server", "--listen", "127.0.0.1:22150", "--allow", "127.0.0.1:22151",
             "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/hub.pem", "--key", f"{pki}/hub.key",
             "--max-links-per-address", "1024",
             "--store", f"{work}/s", "--store-capacity", "1G", "--quiet", "--admin", "off"])
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
tls.minimum_version = ssl.TLSVersion.TLSv1_3
tls.check_hostname = False  # the server's name is checked by its CA signature only, as the CLI does without --server-name
tls.load_verify_locations(f"{pki}/ca.pem")
tls.load_cert_chain(f"{pki}/churn.pem", f"{pki}/churn.key")
def rss():
    for line in open(f"/proc/{srv.pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
def fds(): return len(os.listdir(f"/proc/{srv.pid}/fd"))
try:
    wait_port(22150, 60)
    time.sleep(0.5)
    before = (rss(), fds())
    for i in range(1000):
        s = tls.wrap_socket(socket.create_connection(("127.0.0.1", 22150)))
        s.sendall(hello_frame())
        s.recv(64)
        s.close()
    time.sleep(2)
    after = (rss(), fds())
    print(f"server RSS before {before[0]:.1f} MiB, after 1,000 link churns {after[0]:.1f} MiB; fds {before[1]} -> {after[1]}")
finally:
    stop_all()
    shutil.rmtree(work, ignore_errors=True)
