#!/usr/bin/env python3
"""Traffic and checks for scripts/appliance-test.sh (loopback only, bounded).

  appliance-helper.py serve PORT              echo server until killed
  appliance-helper.py traffic PORT            4 MiB round trip, twice (the second deduplicated)
  appliance-helper.py metrics CLIENT SERVER   client link bytes sent == server link bytes received (quiet link)
  appliance-helper.py busy PORT N             N concurrent flows, each echoing 1 MiB of fresh data
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
        results = []
        def flow():
            results.append(round_trip(port, os.urandom(1 << 20), timeout=300))
        threads = [threading.Thread(target=flow) for _ in range(count)]
        begin = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(400)
        good = sum(results)
        print(f"     {good}/{count} flows of 1 MiB echoed intact in {time.time() - begin:.1f} s")
        sys.exit(0 if good == count else 1)


if __name__ == "__main__":
    main()
