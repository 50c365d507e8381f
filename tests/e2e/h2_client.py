#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 client behaviours for the sluice-http tests, on python3-h2.

  flood ADDR PORT AUTHORITY N   open N streams, each reset (CANCEL) right
                                after its HEADERS (CVE-2023-44487 style);
                                print "sent=<streams> goaway=<code|none>
                                closed=<0|1>"
  idle ADDR PORT SECONDS [ping|partial]
                                open a connection (preface, SETTINGS), then
                                nothing more (or a PING every 0.5 s, or one
                                HEADERS frame whose header block never ends:
                                no END_HEADERS, no CONTINUATION); print
                                "closed after <s>" when the proxy closes it,
                                or "open" after SECONDS
  grpc ADDR PORT AUTHORITY PATH [NAME=VALUE...]
                                one unary gRPC-shaped call (a 5-byte framed
                                message, metadata NAME=VALUE); print JSON:
                                status, headers, the message, trailers
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def connect(addr, port):
    s = socket.create_connection((addr, int(port)), timeout=5)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def read_events(s, c, until):
    """Events until `until` (monotonic) or EOF; (events, eof)."""
    evs = []
    while time.monotonic() < until:
        s.settimeout(max(0.01, until - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionError:
            return evs, True
        if not d:
            return evs, True
        try:
            evs += c.receive_data(d)
        except h2.exceptions.ProtocolError:
            return evs, True
        out = c.data_to_send()
        if out:
            try:
                s.sendall(out)
            except OSError:
                return evs, True
    return evs, False


def flood(addr, port, authority, n):
    s, c = connect(addr, port)
    hdrs = [(':method', 'GET'), (':path', '/flood'), (':scheme', 'http'),
            (':authority', authority)]
    sent, goaway, closed = 0, None, False
    for i in range(int(n)):
        sid = c.get_next_available_stream_id()
        try:
            c.send_headers(sid, hdrs, end_stream=True)
            c.reset_stream(sid, error_code=8)  # CANCEL
            s.sendall(c.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            closed = True
            break
        sent += 1
        if i % 100 == 99:
            evs, eof = read_events(s, c, time.monotonic() + 0.001)
            for e in evs:
                if isinstance(e, h2.events.ConnectionTerminated):
                    goaway = e.error_code
            if eof:
                closed = True
                break
    evs, eof = read_events(s, c, time.monotonic() + 3)
    for e in evs:
        if isinstance(e, h2.events.ConnectionTerminated):
            goaway = e.error_code
    closed = closed or eof
    name = getattr(goaway, 'name', goaway) if goaway is not None else 'none'
    print(f"sent={sent} goaway={name} closed={int(closed)}")


def idle(addr, port, seconds, how="quiet"):
    s, c = connect(addr, port)
    t0 = time.monotonic()
    if how == "partial":
        # HEADERS on stream 1, flags 0: :method GET, :scheme http, :path /
        # as static-table indices (0x82 0x86 0x84), the block left open
        # (and no frame after it: not even the SETTINGS ACK, which would
        # break the block)
        s.sendall(b"\x00\x00\x03\x01\x00\x00\x00\x00\x01\x82\x86\x84")
        while time.monotonic() < t0 + float(seconds):
            s.settimeout(max(0.01, t0 + float(seconds) - time.monotonic()))
            try:
                if not s.recv(65536):
                    print(f"closed after {time.monotonic() - t0:.1f}")
                    return
            except socket.timeout:
                break
            except ConnectionError:
                print(f"closed after {time.monotonic() - t0:.1f}")
                return
        print("open")
        return
    eof = False
    while not eof and time.monotonic() < t0 + float(seconds):
        if how == "ping":
            try:
                c.ping(b"12345678")
                s.sendall(c.data_to_send())
            except OSError:
                eof = True
                break
        _, eof = read_events(s, c, min(t0 + float(seconds), time.monotonic() + 0.5))
    if eof:
        print(f"closed after {time.monotonic() - t0:.1f}")
    else:
        print("open")


def grpc(addr, port, authority, path, *meta):
    s, c = connect(addr, port)
    sid = c.get_next_available_stream_id()
    hdrs = [(':method', 'POST'), (':path', path), (':scheme', 'http'),
            (':authority', authority), ('content-type', 'application/grpc'), ('te', 'trailers')]
    hdrs += [tuple(m.split('=', 1)) for m in meta]
    c.send_headers(sid, hdrs)
    c.send_data(sid, b'\0\0\0\0\x05hello', end_stream=True)
    s.sendall(c.data_to_send())
    out = {'headers': {}, 'message': '', 'trailers': {}, 'reset': None}
    data = b''
    t_end = time.monotonic() + 10
    done = False
    while not done and time.monotonic() < t_end:
        evs, eof = read_events(s, c, time.monotonic() + 0.5)
        for e in evs:
            if isinstance(e, h2.events.ResponseReceived):
                out['headers'] = dict((k.decode(), v.decode()) for k, v in e.headers)
            elif isinstance(e, h2.events.DataReceived):
                data += e.data
                c.acknowledge_received_data(e.flow_controlled_length, sid)
            elif isinstance(e, h2.events.TrailersReceived):
                out['trailers'] = dict((k.decode(), v.decode()) for k, v in e.headers)
            elif isinstance(e, h2.events.StreamReset):
                out['reset'] = int(e.error_code)
                done = True
            elif isinstance(e, h2.events.StreamEnded):
                done = True
        if eof:
            break
    if len(data) >= 5:
        out['message'] = data[5:5 + int.from_bytes(data[1:5], 'big')].decode()
    print(json.dumps(out))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    {'flood': flood, 'idle': idle, 'grpc': grpc}[mode](*args)


if __name__ == '__main__':
    sys.exit(main())
