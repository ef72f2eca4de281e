#!/usr/bin/env python3
"""Traffic and checks for scripts/appliance-test.sh (loopback only, bounded).

  appliance-helper.py serve PORT              echo server until killed
  appliance-helper.py traffic PORT            4 MiB round trip, twice (the second deduplicated)
  appliance-helper.py metrics CLIENT SERVER   client link bytes sent == server link bytes received (quiet link)
  appliance-helper.py busy PORT N [MIB]       N concurrent flows, each echoing MIB (default 4) MiB of fresh data
  appliance-helper.py plaintext PORT          a plaintext peer: the TLS listener must close the connection
  appliance-helper.py ready PORT [SECONDS]    polls /readyz every 20 ms; prints the seconds until it answers 200
"""
import os, socket, sys, threading, time, urllib.request


def echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def serve(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(512)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def round_trip(port, payload, timeout=120):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        reader_out = bytearray()
        def read():
            while data := s.recv(65536):
                reader_out.extend(data)
        t = threading.Thread(target=read)
        t.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        t.join(timeout)
    return bytes(reader_out) == payload


def metric(port, name, direction):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{") and f'direction="{direction}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(int(sys.argv[2]))
    elif mode == "traffic":
        payload = os.urandom(2 << 20) + b"branch office " * (150 << 10)
        ok = round_trip(int(sys.argv[2]), payload) and round_trip(int(sys.argv[2]), payload)
        sys.exit(0 if ok else 1)
    elif mode == "metrics":
        client, server = int(sys.argv[2]), int(sys.argv[3])
        for _ in range(50):
            sent = metric(client, "replica_link_bytes_total", "sent")
            received = metric(server, "replica_link_bytes_total", "received")
            if sent == received and sent > 0:
                print(f"     link bytes: branch sent {sent:.0f}, hub received {received:.0f}")
                sys.exit(0)
            time.sleep(0.1)
        print(f"     link bytes differ: branch sent {sent:.0f}, hub received {received:.0f}")
        sys.exit(1)
    elif mode == "busy":
        port, count = int(sys.argv[2]), int(sys.argv[3])
        mib = int(sys.argv[4]) if len(sys.argv) > 4 else 4
        results = []
        def flow():
            results.append(round_trip(port, os.urandom(mib << 20), timeout=600))
        threads = [threading.Thread(target=flow) for _ in range(count)]
        begin = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(700)
        good = sum(results)
        print(f"     {good}/{count} flows of {mib} MiB echoed intact in {time.time() - begin:.1f} s")
        sys.exit(0 if good == count else 1)
    elif mode == "plaintext":
        # A v1-era peer speaking the tunnel protocol in the clear: TLS answers with an alert at most, then closes.
        with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=30) as s:
            s.sendall(b"\x00\x00\x00\x10RPLC hello in the clear")
            got = b""
            try:
                while data := s.recv(4096):
                    got += data
            except ConnectionResetError:
                pass
        print(f"     a plaintext peer got {len(got)} bytes back, then the connection closed")
        sys.exit(0 if len(got) < 1024 else 1)
    elif mode == "ready":
        port = int(sys.argv[2])
        limit = float(sys.argv[3]) if len(sys.argv) > 3 else 120
        begin = time.monotonic()
        while time.monotonic() - begin < limit:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        print(f"{time.monotonic() - begin:.3f}")
                        sys.exit(0)
            except OSError:
                pass
            time.sleep(0.02)
        sys.exit(1)


if __name__ == "__main__":
    main()
