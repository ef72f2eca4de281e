#!/usr/bin/env python3
"""End-to-end appliance test without containers (run by `make test`).

  scripts/appliance-e2e.py [path/to/replica]

A tunnel server and client started from YAML config files (mutual TLS with `replica tunnel keygen` certificates,
per-peer permissions), their link passing through a counting TCP relay:
  0. dnsmasq on 127.0.0.1 with --no-resolv and local records only: the server resolves the target through it;
  1. `replica config check` accepts both files and rejects a broken one (and one naming a missing certificate)
     with FILE:LINE: KEY: REASON;
  2. traffic through a forward comes back intact; /readyz answers 200 once the link is up;
  3. the link byte counters of /metrics agree at both ends, and the relay saw them plus only the TLS overhead;
     the frame, flush and fsync histograms are filled; a client of another CA is counted by reason;
  4. SIGHUP with a new forward in the file opens it while a flow keeps running; an invalid file is refused and
     the process goes on; SIGHUP with a lower link limit refuses the next connection (counted as admission)
     and keeps the link up now;
  5. SIGTERM lets an open flow finish and the process exits 0.
The server and client run as nobody (setpriv) when the test runs as root.
Everything listens on 127.0.0.1 ports 27400-27499 (E2E_PORT_BASE moves them), every loop is bounded, and every process is stopped at the end.
"""
import os, signal, socket, ssl, subprocess, sys, tempfile, threading, time, urllib.request

REPLICA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug/replica")
BASE = int(os.environ.get("E2E_PORT_BASE", "27400"))  # another range when several checkouts test at once
ECHO, SERVER, RELAY, FORWARD, FORWARD2, ADMIN_S, ADMIN_C, DNS = (BASE + i for i in range(8))
procs, failures, passed = [], [], []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    (passed if ok else failures).append(what)


def wait_for(predicate, timeout=20.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


def serve(port, handler):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    def loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return listener


def echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


relayed = {"up": 0, "down": 0}
relay_lock = threading.Lock()


def relay(conn):
    try:
        upstream = socket.create_connection(("127.0.0.1", SERVER))
    except OSError:  # the server is not listening yet: the client reconnects
        conn.close()
        return
    def pump(src, dst, key):
        try:
            while data := src.recv(65536):
                with relay_lock:
                    relayed[key] += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    threading.Thread(target=pump, args=(upstream, conn, "down"), daemon=True).start()
    pump(conn, upstream, "up")


def round_trip(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while data := s.recv(65536):
            got += data
    return bytes(got)


def http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def main():
    work = tempfile.mkdtemp(prefix="replica-e2e-")
    os.chmod(work, 0o777)  # the daemons run as nobody when this runs as root
    dnsmasq = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
                                "--listen-address=127.0.0.1", f"--port={DNS}", "--host-record=app.e2e.test,127.0.0.1",
                                "--pid-file=", "--log-facility=-"], stderr=subprocess.DEVNULL)
    procs.append(dnsmasq)
    listeners = [serve(ECHO, echo), serve(RELAY, relay)]
    server_yaml, client_yaml = os.path.join(work, "server.yaml"), os.path.join(work, "client.yaml")
    # Mutual TLS, as deployed: a CA and one certificate per end from `replica tunnel keygen`.
    pki = os.path.join(work, "pki")
    r = subprocess.run([REPLICA, "tunnel", "keygen", pki, "hub", "branch"], capture_output=True, text=True)
    check(r.returncode == 0, f"replica tunnel keygen makes the CA and certificates ({r.stderr.strip()!r})")
    if os.geteuid() == 0:  # the daemons run as nobody and must read their own keys (mode 0600)
        import pwd
        nobody = pwd.getpwnam("nobody")
        for name in [""] + os.listdir(pki):
            os.chown(os.path.join(pki, name), nobody.pw_uid, nobody.pw_gid)

    def tls(name):
        return f"ca: {pki}/ca.pem\ncert: {pki}/{name}.pem\nkey: {pki}/{name}.key\n"
    with open(server_yaml, "w") as f:
        f.write(f"role: server\nlisten: 127.0.0.1:{SERVER}\nallow:\n  - app.e2e.test:{ECHO}\n"
                f"permit:\n  - branch=app.e2e.test:{ECHO}\nmax-links: 64\n" + tls("hub") +
                f"store: {work}/server-store\nstore-capacity: 64MiB\nadmin: 127.0.0.1:{ADMIN_S}\n"
                f"log-format: json\nresolver: 127.0.0.1:{DNS}\n")
    client_base = (f"role: client\npeer: 127.0.0.1:{RELAY}\nserver-name: hub\n" + tls("branch") +
                   f"store: {work}/client-store\nstore-capacity: 64MiB\n"
                   f"admin: 127.0.0.1:{ADMIN_C}\nlog-format: logfmt\ndrain-timeout: 20\nlink-wait: 10\nforward:\n"
                   f"  - 127.0.0.1:{FORWARD}:app.e2e.test:{ECHO}\n")
    with open(client_yaml, "w") as f:
        f.write(client_base)
    bad_yaml = os.path.join(work, "bad.yaml")
    with open(bad_yaml, "w") as f:
        f.write("role: client\npeer: 127.0.0.1:1\nforward: [\"127.0.0.1:1:h:1\"]\ncodec: brotli\ninsecure-plaintext: true\n")

    for path in (server_yaml, client_yaml):
        r = subprocess.run([REPLICA, "config", "check", path], capture_output=True, text=True)
        check(r.returncode == 0 and "ok" in r.stdout, f"config check accepts {os.path.basename(path)}")
    r = subprocess.run([REPLICA, "config", "check", bad_yaml], capture_output=True, text=True)
    check(r.returncode != 0 and f"{bad_yaml}:4: codec:" in r.stderr,
          f"config check names file, line and key: {r.stderr.strip()!r}")
    no_cert_yaml = os.path.join(work, "no-cert.yaml")
    with open(no_cert_yaml, "w") as f:
        f.write(f"role: client\npeer: 127.0.0.1:1\nforward: [\"127.0.0.1:1:h:1\"]\nca: {pki}/ca.pem\n"
                f"cert: {pki}/missing.pem\nkey: {pki}/branch.key\n")
    r = subprocess.run([REPLICA, "config", "check", no_cert_yaml], capture_output=True, text=True)
    check(r.returncode != 0 and f"{no_cert_yaml}:" in r.stderr and "missing.pem" in r.stderr,
          f"config check loads the TLS files and names the bad one: {r.stderr.strip()!r}")

    logs = {name: open(os.path.join(work, name + ".log"), "w+") for name in ("server", "client")}
    # Daemons run unprivileged, as users run them: as root, drop to nobody with setpriv.
    unprivileged = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    server = subprocess.Popen(unprivileged + [REPLICA, "tunnel", "--config", server_yaml], stderr=logs["server"])
    procs.append(server)
    # The server first: a link attempt the relay cannot forward would be counted by the client, not the relay.
    check(wait_for(lambda: http(ADMIN_S, "/healthz")[0] == 200), "server /healthz answers 200")
    client = subprocess.Popen(unprivileged + [REPLICA, "tunnel", "--config", client_yaml], stderr=logs["client"])
    procs.append(client)
    check(wait_for(lambda: http(ADMIN_C, "/readyz")[0] == 200), "client /readyz answers 200 once the link is up")

    payload = os.urandom(1 << 20) + b"replica " * (256 << 10)
    check(round_trip(FORWARD, payload) == payload, "3 MiB round trip through the forward")
    check(round_trip(FORWARD, payload) == payload, "the same data again (deduplicated) comes back intact")

    # Quiescent link: the two ends' counters must agree, and the relay, which sees the TLS records, must carry
    # them plus the TLS overhead only (handshake and record headers: under 3% + 16 KiB). Keepalive PINGs may be
    # in flight, so compare a few times until both sides agree.
    def tls_overhead_only(relay, link):
        return link <= relay <= link * 1.03 + (16 << 10)

    def counters_match():
        c, s = http(ADMIN_C, "/metrics")[1], http(ADMIN_S, "/metrics")[1]
        with relay_lock:
            up, down = relayed["up"], relayed["down"]
        client_sent = metric(c, "replica_link_bytes_total", direction="sent")
        server_sent = metric(s, "replica_link_bytes_total", direction="sent")
        return (client_sent == metric(s, "replica_link_bytes_total", direction="received")
                and server_sent == metric(c, "replica_link_bytes_total", direction="received")
                and tls_overhead_only(up, client_sent) and tls_overhead_only(down, server_sent))
    matched = wait_for(counters_match, timeout=10, step=0.05)
    c = http(ADMIN_C, "/metrics")[1]
    check(matched, f"link bytes agree at both ends and the relay carried them plus TLS overhead (client sent {metric(c, 'replica_link_bytes_total', direction='sent'):.0f},"
                   f" relay saw {relayed['up']})")
    check(metric(c, "replica_app_bytes_total", direction="sent") >= 2 * len(payload), "app bytes counted")
    check(metric(c, "replica_references_total") > 0, "the second copy was sent as references")
    check(all(l.split("{")[0].split(" ")[0].startswith("replica_")
              for l in c.splitlines() if l and not l.startswith("#")), "every metric name starts with replica_")
    s = http(ADMIN_S, "/metrics")[1]
    check(metric(s, "replica_dns_cache_hits") >= 2, f"the server resolved the target through dnsmasq "
          f"(hits.bind {metric(s, 'replica_dns_cache_hits'):.0f}, misses.bind {metric(s, 'replica_dns_cache_misses'):.0f})")
    status = subprocess.run([REPLICA, "tunnel", "status", "--once", f"127.0.0.1:{ADMIN_C}"], capture_output=True,
                            text=True)
    check(status.returncode == 0 and "link bytes sent" in status.stdout, "replica tunnel status prints the table")
    check(metric(c, "replica_frame_seconds_count", stage="encode") > 0
          and metric(s, "replica_frame_seconds_count", stage="decode") > 0
          and metric(c, "replica_flush_seconds_count") > 0,
          "frame (encode, decode) and flush latency histograms are filled")
    check(wait_for(lambda: metric(http(ADMIN_S, "/metrics")[1], "replica_store_fsync_seconds_count") > 0, timeout=10),
          "the store's fsync time histogram is filled")

    # Handshake failures by reason: a client whose certificate comes from another CA is refused and counted.
    rogue = os.path.join(work, "rogue")
    subprocess.run([REPLICA, "tunnel", "keygen", rogue, "rogue"], capture_output=True, check=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(f"{rogue}/rogue.pem", f"{rogue}/rogue.key")
    try:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", SERVER), timeout=10)) as rogue_link:
            rogue_link.recv(1)  # TLS 1.3: the server judges the client's certificate after the client's Finished
    except (ssl.SSLError, OSError):
        pass
    failures_by = lambda reason: metric(http(ADMIN_S, "/metrics")[1], "replica_handshake_failures_total",
                                        reason=reason)
    check(wait_for(lambda: failures_by("untrusted_certificate") == 1) and failures_by("tls_error") == 0,
          "a client of another CA is counted as reason=untrusted_certificate (and not as tls_error)")

    # SIGHUP mid-flow: a slow flow keeps going while a new forward opens.
    slow = socket.create_connection(("127.0.0.1", FORWARD), timeout=20)
    slow.sendall(b"before reload\n")
    with open(client_yaml, "w") as f:
        f.write(client_base + f"  - 127.0.0.1:{FORWARD2}:app.e2e.test:{ECHO}\n")
    client.send_signal(signal.SIGHUP)
    check(wait_for(lambda: round_trip(FORWARD2, b"new forward") == b"new forward"), "SIGHUP opened the new forward")
    slow.sendall(b"after reload\n")
    slow.shutdown(socket.SHUT_WR)
    got = b""
    while data := slow.recv(4096):
        got += data
    check(got == b"before reload\nafter reload\n", "the flow open across the reload was not dropped")
    with open(client_yaml, "w") as f:
        f.write(client_base + "stream-window: lots\n")
    client.send_signal(signal.SIGHUP)
    refused = wait_for(lambda: "reload refused" in open(logs["client"].name).read(), timeout=20)
    check(refused and client.poll() is None,
          "an invalid file on SIGHUP is refused and the client keeps running")
    check(round_trip(FORWARD2, b"still") == b"still", "the last good config stays in force")

    # SIGHUP reloads limits too: one link per address from now on. The link up now (through the relay, from
    # 127.0.0.1) stays, and the next connection from the same address is refused and counted.
    with open(server_yaml, "a") as f:
        f.write("max-links-per-address: 1\n")
    server.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "1 per address" in open(logs["server"].name).read(), timeout=20),
          "SIGHUP reloads the server's limits")
    admitted_before = failures_by("admission")
    with socket.create_connection(("127.0.0.1", SERVER), timeout=10) as extra:
        extra.settimeout(10)
        try:
            closed = extra.recv(1) == b""
        except ConnectionResetError:
            closed = True
    check(closed and wait_for(lambda: failures_by("admission") == admitted_before + 1),
          "a second connection from the same address is refused under the new limit, reason=admission")
    check(http(ADMIN_C, "/readyz")[0] == 200 and round_trip(FORWARD2, b"kept") == b"kept",
          "the link up before the new limit keeps carrying flows")

    # SIGTERM drain: an open flow finishes, then exit 0.
    draining = socket.create_connection(("127.0.0.1", FORWARD), timeout=20)
    draining.sendall(b"x" * 1000)
    time.sleep(0.3)
    client.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    draining.sendall(b"y" * 1000)
    draining.shutdown(socket.SHUT_WR)
    got = b""
    while data := draining.recv(65536):
        got += data
    check(got == b"x" * 1000 + b"y" * 1000, "a flow open at SIGTERM drains to the end")
    try:
        code = client.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    check(code == 0, f"the client exits 0 after draining (exit {code})")
    for l in listeners:
        l.close()


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    print(f"appliance-e2e: {len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
