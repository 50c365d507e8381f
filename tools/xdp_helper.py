#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Servers and clients for tests/e2e/test_xdp_*.sh (run inside the test's
network namespaces; never run on its own).

  serve PREFIX PORT [ADDR]
                          echo server on ADDR (default 0.0.0.0; "::" for
                          IPv6): answers each line with "PREFIX line";
                          PREFIX "@addr" answers with the local address the
                          connection arrived on (identifies the backend)
  split VIP PORT N CHANGE_CMD
                          hold one connection, run N short connections,
                          run CHANGE_CMD <version-of-held> (a weight change
                          that sends new connections to the other version),
                          check the held connection and 200 new ones;
                          prints key=value lines
  sources VIP PORT SRC_PREFIX N
                          one connection from each of N source addresses
                          SRC_PREFIX.(i//250).(i%250+1); prints "src backend"
  count VIP PORT N        N connections; prints "ok=N fails=N" (stops after
                          3 failures: a broken path does not wait out N timeouts)
VIP and ADDR may be IPv4 or IPv6 literals.
"""
import socket
import socketserver
import subprocess
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(prefix, port, addr="0.0.0.0"):
    class H(socketserver.StreamRequestHandler):
        def handle(self):
            me = self.connection.getsockname()[0]
            for line in self.rfile:
                tag = me if prefix == "@addr" else prefix
                self.wfile.write(tag.encode() + b" " + line)

    class S(socketserver.ThreadingTCPServer):
        address_family = family(addr)
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024

    S((addr, port), H).serve_forever()


def once(vip, port, src=None, timeout=5.0):
    s = socket.socket(family(vip), socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    try:
        s.connect((vip, port))
        peer = s.getpeername()[0]
        s.sendall(b"hello\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode().split(" ")[0], peer
    finally:
        s.close()


def connect_retry(vip, port, src=None):
    """One logical connection; a lost SYN is retried by TCP itself, a
    failure here is a real failure, but allow one fresh attempt."""
    try:
        return once(vip, port, src)
    except OSError:
        return once(vip, port, src)


def split(vip, port, n, change_cmd):
    held = socket.create_connection((vip, port), timeout=5)
    held.sendall(b"held\n")
    held_ver = held.recv(256).decode().split(" ")[0]
    counts, fails, peers_ok = {}, 0, True
    t0 = time.time()
    for _ in range(n):
        try:
            ver, peer = connect_retry(vip, port)
        except OSError:
            fails += 1
            continue
        counts[ver] = counts.get(ver, 0) + 1
        peers_ok = peers_ok and peer == vip
    dt = time.time() - t0
    print(f"held={held_ver}")
    for k, v in sorted(counts.items()):
        print(f"count_{k}={v}")
    print(f"fails={fails}")
    print(f"peers_are_vip={int(peers_ok)}")
    print(f"conn_per_s={n / dt:.0f}")
    subprocess.run(change_cmd.split() + [held_ver], check=True)
    held.sendall(b"again\n")
    print(f"held_after={held.recv(256).decode().split(' ')[0]}")
    held.close()
    after = {}
    for _ in range(200):
        ver, _peer = connect_retry(vip, port)
        after[ver] = after.get(ver, 0) + 1
    for k, v in sorted(after.items()):
        print(f"after_{k}={v}")
    sys.stdout.flush()


def sources(vip, port, prefix, n):
    for i in range(n):
        src = f"{prefix}.{i // 250}.{i % 250 + 1}"
        try:
            be, _peer = connect_retry(vip, port, src)
        except OSError:
            be = "FAIL"
        print(src, be)
    sys.stdout.flush()


def count(vip, port, n):
    ok = fails = 0
    for _ in range(n):
        try:
            connect_retry(vip, port)
            ok += 1
        except OSError:
            fails += 1
            if fails == 3:
                break
    print(f"ok={ok} fails={fails}")
    sys.stdout.flush()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
    elif cmd == "count":
        count(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "split":
        split(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "sources":
        sources(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(2)
