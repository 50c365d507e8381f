#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A gRPC-shaped HTTP/2 backend for the sluice-http tests, on python3-h2:
cleartext HTTP/2 (prior knowledge) only, as gRPC servers speak it.

Every request gets :status 200, content-type application/grpc, x-backend:
NAME, one length-prefixed gRPC message "NAME METHOD PATH BODYLEN PROTO"
(BODYLEN the request's DATA bytes) and the trailers grpc-status (the
request's x-grpc-status metadata, default 0) and grpc-message. Metadata
x-echo-* comes back as response headers. x-fail-once: ID answers
grpc-status 14 (UNAVAILABLE) trailers-only (one HEADERS frame, no message,
as servers answer errors before any message) the first time ID is seen.
x-slow-ack: 1 gives the flow-control window back 20 ms after each DATA
frame (a backend slower than the sender).
Every call is logged on stdout as "req METHOD PATH", every connection as
"conn". 50 ms after each answer it sends a PING, as gRPC servers do to
size their windows: the proxy's pooled connection then gets it idle.
"""
import argparse
import socket
import struct
import sys
import threading

import h2.config
import h2.connection
import h2.events

seen = set()
lock = threading.Lock()


def serve(sock, name):
    mu = threading.Lock()

    def ping():
        with mu:
            try:
                c.ping(b"bdp-ping")
                sock.sendall(c.data_to_send())
            except (OSError, h2.exceptions.ProtocolError):
                pass

    def ack(n, sid):
        with mu:
            try:
                c.acknowledge_received_data(n, sid)
                sock.sendall(c.data_to_send())
            except (OSError, h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
                pass

    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    c.initiate_connection()
    sock.sendall(c.data_to_send())
    reqs = {}
    while True:
        try:
            d = sock.recv(65536)
        except OSError:
            return
        if not d:
            return
        mu.acquire()
        try:
            evs = c.receive_data(d)
        except h2.exceptions.ProtocolError:
            sock.sendall(c.data_to_send())
            mu.release()
            return
        for e in evs:
            if isinstance(e, h2.events.RequestReceived):
                reqs[e.stream_id] = [dict((k.decode(), v.decode()) for k, v in e.headers), 0]
            elif isinstance(e, h2.events.DataReceived):
                reqs[e.stream_id][1] += len(e.data)
                if "x-slow-ack" in reqs[e.stream_id][0]:
                    threading.Timer(0.02, ack, (e.flow_controlled_length, e.stream_id)).start()
                else:
                    c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                hdrs, n = reqs.pop(e.stream_id)
                print("req", hdrs.get(":method"), hdrs.get(":path"), flush=True)
                status = hdrs.get("x-grpc-status", "0")
                fid = hdrs.get("x-fail-once")
                if fid:
                    with lock:
                        first = fid not in seen
                        seen.add(fid)
                    if first:
                        c.send_headers(e.stream_id, [
                            (":status", "200"), ("content-type", "application/grpc"),
                            ("grpc-status", "14"), ("grpc-message", "try again"),
                            ("x-backend", name)], end_stream=True)
                        continue
                msg = f"{name} {hdrs.get(':method')} {hdrs.get(':path')} {n} h2".encode()
                resp = [(":status", "200"), ("content-type", "application/grpc"),
                        ("x-backend", name)]
                resp += [(k, v) for k, v in hdrs.items() if k.startswith("x-echo-")]
                c.send_headers(e.stream_id, resp)
                c.send_data(e.stream_id, struct.pack(">BI", 0, len(msg)) + msg)
                c.send_headers(e.stream_id, [("grpc-status", status),
                                             ("grpc-message", "from " + name)], end_stream=True)
                threading.Timer(0.05, ping).start()
        sock.sendall(c.data_to_send())
        mu.release()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(256)
    print("ready", flush=True)
    while True:
        s, _ = ls.accept()
        print("conn", flush=True)
        threading.Thread(target=serve, args=(s, a.name), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
