#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Raw HTTP probes for the sluice-http strictness tests (stdlib only).

  http_raw.py send ADDR PORT HEXBYTES      send, read until close/2 s, print
                                           the status codes seen, space-separated
  http_raw.py dump ADDR PORT HEXBYTES      the same, printing the whole answer
  http_raw.py slow ADDR PORT SECONDS       send half a head, then wait: print
                                           "closed <status> <ms>" or "open"
  http_raw.py slowbody ADDR PORT SECONDS   send a head and 10 of 100 body bytes,
                                           then wait: "closed <ms>" or "open"
  http_raw.py conns ADDR PORT N            open N idle connections, print how
                                           many the server closed at once
  http_raw.py silent ADDR PORT N SECONDS   open N connections that send nothing,
                                           then wait: print how many the server
                                           closed and a GET's status on a new one
"""
import re
import socket
import sys
import time


def statuses(data):
    return [m.decode() for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


def idle_closed(addr, port, n, wait):
    """Open n connections that send nothing, wait, count those the server closed."""
    socks = [socket.create_connection((addr, port), timeout=5) for _ in range(n)]
    time.sleep(wait)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    return closed


def main():
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd in ("send", "dump"):
        s = socket.create_connection((addr, port), timeout=5)
        s.sendall(bytes.fromhex(sys.argv[4]))
        s.settimeout(2)
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except socket.timeout:
            pass
        if cmd == "dump":
            sys.stdout.write(data.decode("latin-1"))
        else:
            print(" ".join(statuses(data)) or "none")
    elif cmd == "slow":
        limit = float(sys.argv[4])
        s = socket.create_connection((addr, port), timeout=limit)
        t0 = time.time()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            print("closed", (statuses(data) or ["none"])[0], int((time.time() - t0) * 1000))
        except socket.timeout:
            print("open")
    elif cmd == "slowbody":
        limit = float(sys.argv[4])
        s = socket.create_connection((addr, port), timeout=limit)
        t0 = time.time()
        s.sendall(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 100\r\n\r\n0123456789")
        try:
            while s.recv(65536):
                pass
            print("closed", int((time.time() - t0) * 1000))
        except socket.timeout:
            print("open")
        except ConnectionResetError:
            print("closed", int((time.time() - t0) * 1000))
    elif cmd == "silent":
        closed = idle_closed(addr, port, int(sys.argv[4]), float(sys.argv[5]))
        c = socket.create_connection((addr, port), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except (socket.timeout, ConnectionResetError):
            pass
        print(closed, (statuses(data) or ["none"])[0])
    elif cmd == "conns":
        print(idle_closed(addr, port, int(sys.argv[4]), 0.5))


if __name__ == "__main__":
    sys.exit(main())
