"""Helpers shared by the tunnel figure scripts (tunnel-bench.py, tunnel-busy-peer.py, tunnel-hostile-rss.py,
tunnel-churn.py)."""
import os, socket, struct, subprocess, time

procs = []

ECHO_SERVER = r'''
import asyncio, sys
async def handle(r, w):
    try:
        while data := await r.read(65536):
            w.write(data); await w.drain()
        w.write_eof()
    except Exception: pass
    finally: w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=2048, limit=1 << 20)
    async with s: await s.serve_forever()
asyncio.run(main())
'''


# The peer protocol version these scripts speak (`TunnelProtocol.version`, docs/PROTOCOL.md).
PROTOCOL_VERSION = 3


def hello_frame():
    """A HELLO frame: magic, version, capabilities, store ID, frame limit, budget, fingerprint key check."""
    payload = b"RPLT" + struct.pack(">HI", PROTOCOL_VERSION, 1) + os.urandom(16) \
        + struct.pack(">III", 2 << 20, 64 << 20, 0)
    return struct.pack(">BBII", 0x01, 0, 0, len(payload)) + payload


def start(args, **kw):
    """Starts a process whose output is discarded; stop_all() ends it."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


def stop_all():
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
