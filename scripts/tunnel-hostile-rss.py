#!/usr/bin/env python3
"""The server's RSS under each hostile peer, measured in its own process (the hostile suite measures in-process).

  scripts/tunnel-hostile-rss.py [path/to/replica]   (default: .build/release/replica)

A `replica tunnel server` runs as a child process on a fresh memory store, with mutual TLS from `replica tunnel
keygen`. A legitimate `replica tunnel client` carries one echo flow first (the baseline), then each case plays an
authenticated hostile peer written here in Python (TLS 1.3 with the client certificate, frames as in
docs/PROTOCOL.md), and the script prints the server's VmRSS after the case, its peak during it, its open files,
how the hostile link ended, and whether a legitimate echo flow still carries every byte. Ports 31500-31503.
"""
import os, shutil, socket, ssl, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tunnel_common import ECHO_SERVER, hello_frame, start, stop_all, wait_port  # noqa: E402

REPLICA = sys.argv[1] if len(sys.argv) > 1 else ".build/release/replica"
TUNNEL, ECHO, LOCAL = 31500, 31501, 31502
PKI = tempfile.mkdtemp(prefix="replica-hostile-pki-")
HELLO, GOAWAY, OPEN, DATA, RESET, PING, CHUNK_REQUEST = 0x01, 0x02, 0x10, 0x11, 0x14, 0x20, 0x30


def frame(kind, stream, payload=b"", flags=0):
    return struct.pack(">BBII", kind, flags, stream, len(payload)) + payload


def hello():
    return hello_frame()


def open_frame(stream, window=1 << 20):
    host = b"127.0.0.1"
    return frame(OPEN, stream, struct.pack(">IHB", window, ECHO, len(host)) + host)


def data_frame(stream, decoded, encoded, references=()):
    payload = struct.pack(">IQH", decoded, 0, len(references)) + b"".join(references) + encoded
    return frame(DATA, stream, payload)


class Peer:
    """One authenticated hostile link."""

    def __init__(self, say_hello=True):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(f"{PKI}/ca.pem")
        context.load_cert_chain(f"{PKI}/client.pem", f"{PKI}/client.key")
        context.check_hostname = False
        raw = socket.create_connection(("127.0.0.1", TUNNEL))
        self.sock = context.wrap_socket(raw, server_hostname="server")
        if say_hello:
            self.sock.sendall(hello())

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def goaway(self, timeout=20):
        """Reads until the link ends; returns the GOAWAY's reason, or how the link ended."""
        self.sock.settimeout(timeout)
        buffer = b""
        try:
            while True:
                part = self.sock.recv(65536)
                if not part:
                    return "closed without GOAWAY"
                buffer += part
                while len(buffer) >= 10:
                    kind, _, _, length = struct.unpack(">BBII", buffer[:10])
                    if len(buffer) < 10 + length:
                        break
                    if kind == GOAWAY:
                        return buffer[14:10 + length].decode(errors="replace")
                    buffer = buffer[10 + length:]
        except (OSError, ssl.SSLError) as error:
            return f"ended: {error.__class__.__name__}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def echo_ok():
    payload = os.urandom(256 << 10)
    s = socket.create_connection(("127.0.0.1", LOCAL))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    s.settimeout(30)
    while part := s.recv(65536):
        got += part
    s.close()
    return got == payload


def bomb_stream():
    """64 MiB of zeros as one Replica stream (`replica -c`, lz4 and a 32 MiB window, within the decoder's memory
    limit): declared as 64 KiB, it must fail at the block that would pass the declared length."""
    out = subprocess.run([REPLICA, "-c", "--codec", "lz4", "--window", "32M"], input=bytes(64 << 20),
                         stdout=subprocess.PIPE, check=True).stdout
    return out[:-32]  # no trailer (32 bytes): a link carries whole blocks only


def case_bomb():
    peer = Peer()
    peer.send(open_frame(1))
    time.sleep(0.5)
    peer.send(data_frame(1, 64 << 10, bomb_stream()))
    return peer


def case_unopened():
    peer = Peer()
    peer.send(data_frame(5, 200_000, os.urandom(200_000)))
    return peer


def case_ping_flood():
    peer = Peer()
    burst = frame(PING, 0, struct.pack(">Q", 1)) * 1000
    for _ in range(200):
        if not peer.send(burst):
            break
    return peer


def case_chunk_requests():
    peer = Peer()
    guess = os.urandom(16)
    for _ in range(8):
        peer.send(frame(CHUNK_REQUEST, 0, struct.pack(">H", 4096) + guess * 4096))
    return peer


def case_open_reset():
    peer = Peer()
    stream = 1
    for _ in range(50):
        frames = []
        for _ in range(500):
            frames.append(open_frame(stream, 1 << 16))
            frames.append(frame(RESET, stream, struct.pack(">I", 1) + b"bye"))
            stream += 2
        if not peer.send(b"".join(frames)):
            break
    return peer


def run_case(name, server, play, links=None):
    before = status(server.pid, "VmRSS")
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], status(server.pid, "VmRSS"))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    if links:
        ended = links()
    else:
        peer = play()
        ended = peer.goaway()
        peer.close()
    ok = echo_ok()
    time.sleep(0.5)
    done.set()
    sampler.join()
    after = status(server.pid, "VmRSS")
    print(f"   {name:34s} before {before / 1024:6.1f}  peak {peak[0] / 1024:6.1f}  after {after / 1024:6.1f} MiB"
          f"  files {files(server.pid):3d}  echo {'ok' if ok else 'FAILED'}  ({ended[:70]})")


def case_links():
    silent = [Peer(say_hello=False) for _ in range(200)]
    idle = [Peer() for _ in range(200)]
    time.sleep(1)
    for peer in silent + idle:
        peer.close()
    return "400 links (200 without hello) opened, then closed"


def main():
    subprocess.run([REPLICA, "tunnel", "keygen", PKI, "server", "client"], check=True, stdout=subprocess.DEVNULL)
    start([sys.executable, "-c", ECHO_SERVER, str(ECHO)])
    wait_port(ECHO)
    tls = lambda name: ["--ca", f"{PKI}/ca.pem", "--cert", f"{PKI}/{name}.pem", "--key", f"{PKI}/{name}.key"]
    server = start([REPLICA, "tunnel", "server", "--listen", f"127.0.0.1:{TUNNEL}", "--allow", f"127.0.0.1:{ECHO}",
                    "--permit", f"*=127.0.0.1:{ECHO}", "--max-links-per-address", "1024", "--quiet",
                    "--admin", "off"] + tls("server"))
    wait_port(TUNNEL)
    start([REPLICA, "tunnel", "client", "--peer", f"127.0.0.1:{TUNNEL}", "-L", f"{LOCAL}:127.0.0.1:{ECHO}",
           "--quiet", "--admin", "off", "--link-wait", "10"] + tls("client"))
    wait_port(LOCAL)
    print(f"replica: {REPLICA}; server pid {server.pid}; load average {os.getloadavg()[0]:.1f}")
    print(f"   baseline echo {'ok' if echo_ok() else 'FAILED'}; server RSS {status(server.pid, 'VmRSS') / 1024:.1f} MiB")
    run_case("bomb: 64 MiB of zeros as 64 KiB", server, case_bomb)
    run_case("DATA on a stream never opened", server, case_unopened)
    run_case("PING flood, never reading", server, case_ping_flood)
    run_case("8 x 4,096 CHUNK_REQUESTs of a guess", server, case_chunk_requests)
    run_case("OPEN+RESET loop", server, case_open_reset)
    run_case("400 links", server, None, links=case_links)
    print(f"   (load average {os.getloadavg()[0]:.1f})")


try:
    main()
finally:
    shutil.rmtree(PKI, ignore_errors=True)
    stop_all()
