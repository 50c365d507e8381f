#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TLS peers for tests/e2e/test_gateway_passthrough.sh (Python's ssl, OpenSSL).

server  --addr A --port P --name N --cert C --key K
        a TLS server: per connection, answers "N <server name it was asked
        for>\\n" to one line, then closes.
client  --addr A --port P --sni S|- --ca CA --n N
        N connections, each verifying the server's certificate for S against
        CA; prints JSON {"names": {N: count}, "errors": count, "sni": [...]}.
raw-server --addr A --port P
        plain TCP: reads until the peer's end of stream, then answers
        "<bytes> <sha256>\\n" and closes (half-close check).
raw-client --addr A --port P --sni S [--pieces K] [--stop-after B]
        sends a real ClientHello for S (made with a memory BIO) plus 100000
        bytes, the hello in K pieces 100 ms apart (default 1), shuts its
        write side, prints what comes back and the local count and sha256 of
        what it sent. --stop-after B: send only B bytes, then wait for the
        proxy to close; print the bytes received and the seconds waited.
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time


def server(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    seen = {}

    def sni_cb(sock, name, _ctx):
        seen[id(sock)] = name

    ctx.sni_callback = sni_cb
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(256)

    def serve(c):
        try:
            with ctx.wrap_socket(c, server_side=True) as t:
                t.settimeout(5)
                t.recv(100)
                t.sendall(("%s %s\n" % (a.name, seen.pop(id(t), None) or "-")).encode())
        except Exception:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    sni = None if a.sni == "-" else a.sni
    if sni is None:
        ctx.check_hostname = False
    names, errors, snis = {}, 0, set()
    for _ in range(a.n):
        try:
            with socket.create_connection((a.addr, a.port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname=sni) as t:
                    t.sendall(b"hello\n")
                    line = b""
                    while not line.endswith(b"\n"):
                        b = t.recv(100)
                        if not b:
                            break
                        line += b
            name, got = line.decode().split()
            names[name] = names.get(name, 0) + 1
            snis.add(got)
        except Exception as e:  # refused, closed, verification failure
            errors += 1
            last = repr(e)
    out = {"names": names, "errors": errors, "sni": sorted(snis)}
    if errors:
        out["last_error"] = last
    print(json.dumps(out))


def raw_server(a):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(16)
    while True:
        c, _ = ls.accept()
        h, n = hashlib.sha256(), 0
        c.settimeout(10)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                h.update(b)
                n += len(b)
            c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
        except Exception:
            pass
        c.close()


def raw_client(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    t = ctx.wrap_bio(i, o, server_hostname=a.sni)
    try:
        t.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = o.read()
    data = hello + os.urandom(100000)
    s = socket.create_connection((a.addr, a.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if a.stop_after:
        t0 = time.monotonic()
        s.sendall(hello[:a.stop_after])
        got = s.recv(100)
        print(len(got), round(time.monotonic() - t0, 1))
        return
    k = max(1, a.pieces)
    cut = [len(hello) * i // k for i in range(k + 1)]
    for i in range(k):
        s.sendall(hello[cut[i]:cut[i + 1]])
        if i < k - 1:
            time.sleep(0.1)
    s.sendall(data[len(hello):])
    s.shutdown(socket.SHUT_WR)
    back = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        back += b
    s.close()
    print(back.decode().strip(), "|", len(data), hashlib.sha256(data).hexdigest())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--sni")
    p.add_argument("--ca")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--pieces", type=int, default=1)
    p.add_argument("--stop-after", type=int, default=0)
    a = p.parse_args()
    {"server": server, "client": client, "raw-server": raw_server,
     "raw-client": raw_client}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
