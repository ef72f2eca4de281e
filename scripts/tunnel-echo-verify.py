#!/usr/bin/env python3
"""Are the bytes intact? Four echo flows at once through a `replica tunnel` pair (mutual TLS), each the same
123 MiB of repeated and fresh random blocks and log text, written in pieces of 1 B, 1,000 B, 64 KiB and 1 MiB; the
SHA-256 of what each flow gets back is compared with what it sent. tunnel-bench.py sinks into /dev/null, so this is
the end-to-end check of the release binary's bytes.

  scripts/tunnel-echo-verify.py path/to/replica [tunnel options for both ends, e.g. --offload always]

Exits 1 on any mismatch. Ports VERIFY_PORT_BASE (34100) to +2 on 127.0.0.1; every process it starts is stopped.
"""
import hashlib, os, shutil, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import ECHO_SERVER, start, stop_all, wait_port
R = sys.argv[1]; extra = sys.argv[2:]
BASE = int(os.environ.get("VERIFY_PORT_BASE", "34100"))
ECHO, TUN, LE = BASE, BASE + 1, BASE + 2
pki = tempfile.mkdtemp(prefix="replica-verify-pki-")
ok = False
subprocess.run([R, "tunnel", "keygen", pki, "server", "client"], check=True, stdout=subprocess.DEVNULL)
def sec(n): return ["--ca", f"{pki}/ca.pem", "--cert", f"{pki}/{n}.pem", "--key", f"{pki}/{n}.key"]
try:
    start([sys.executable, "-c", ECHO_SERVER, str(ECHO)]); wait_port(ECHO)
    t = f"127.0.0.1:{ECHO}"
    start([R, "tunnel", "server", "--listen", f"127.0.0.1:{TUN}", "--allow", t, "--permit", f"*={t}", "--quiet", "--admin", "off"] + sec("server") + extra)
    wait_port(TUN)
    start([R, "tunnel", "client", "--peer", f"127.0.0.1:{TUN}", "-L", f"{LE}:{t}", "--quiet", "--link-wait", "10", "--admin", "off"] + sec("client") + extra)
    wait_port(LE); time.sleep(0.5)
    block = os.urandom(8 << 20)
    parts = []
    for i in range(16):
        parts.append(block if i % 3 == 0 else os.urandom(4 << 20))
        parts.append(b"".join(b"line %d of some log text with words\n" % j for j in range(i * 1000, i * 1000 + 60000)))
    data = b"".join(parts)
    def flow(k, out):
        s = socket.create_connection(("127.0.0.1", LE))
        got = hashlib.sha256(); n = 0
        def rd():
            nonlocal n
            while True:
                b = s.recv(1 << 16)
                if not b: break
                got.update(b); n += len(b)
        th = threading.Thread(target=rd); th.start()
        mv = memoryview(data); off = 0
        while off < len(mv):
            step = [1, 1000, 65536, 1 << 20][(off // 7919 + k) % 4]
            s.sendall(mv[off:off + step]); off += step
        s.shutdown(socket.SHUT_WR); th.join(); s.close()
        out[k] = (n, got.hexdigest())
    out = {}
    ths = [threading.Thread(target=flow, args=(k, out)) for k in range(4)]
    t0 = time.time(); [x.start() for x in ths]; [x.join() for x in ths]
    want = hashlib.sha256(data).hexdigest()
    ok = all(v == (len(data), want) for v in out.values())
    print(f"{' '.join(extra) or 'default'}: 4 echo flows x {len(data) >> 20} MiB in {time.time() - t0:.1f} s: "
          f"{'all intact' if ok else 'MISMATCH ' + str(out)}")
finally:
    stop_all()
    shutil.rmtree(pki, ignore_errors=True)
sys.exit(0 if ok else 1)
