#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Test backend for the sluice-http end-to-end tests (stdlib only).

Answers every request with "<name> <METHOD> <path>\n" and the header
x-backend: <name>, keep-alive (HTTP/1.1). Request headers steer it:
  x-fail-once: ID   the first request carrying ID gets a 503, later ones 200
  x-count: ID       count requests carrying ID (and remember their Host)
  x-delay-ms: N     sleep N ms before answering
  x-status: N       answer with status N (default: --status, 200)
  x-pad: N          N bytes of "x" after the answer's line
  x-chunked: 1      the answer in chunks of 16 KB (no content-length)
GET /_hits?id=ID returns "<n> <host>": how many requests carried x-fail-once
or x-count ID (and the last Host of an x-count one);
GET /_inflight how many delayed requests are being served now.
Request headers are echoed back as x-echo-<name> (lower-case).
Every request it parses is logged on stdout as "req METHOD PATH", so a test
can count what reached it (a smuggled request included). It reads chunked
bodies leniently, to the next LF, as many real servers do.
"""
import argparse
import http.server
import sys
import threading
import time
from urllib.parse import urlparse, parse_qs

hits = {}
inflight = [0]
lock = threading.Lock()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sluice-test"

    def log_message(self, *a):
        pass

    def handle_any(self):
        print("req", self.command, self.path, flush=True)
        n = int(self.headers.get("content-length") or 0)
        body_in = self.rfile.read(n) if n else b""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body_in = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body_in += self.rfile.read(size)
                self.rfile.readline()
        u = urlparse(self.path)
        if u.path == "/_hits":
            fid = parse_qs(u.query).get("id", [""])[0]
            with lock:
                c = hits.get(fid, 0)
                h = hits.get("host:" + fid, "")
            return self.reply(200, f"{c} {h}\n".encode())
        if u.path == "/_inflight":
            with lock:
                c = inflight[0]
            return self.reply(200, f"{c}\n".encode())
        status = int(self.headers.get("x-status") or self.server.status)
        cid = self.headers.get("x-count")
        if cid:
            with lock:
                hits[cid] = hits.get(cid, 0) + 1
                hits["host:" + cid] = self.headers.get("host", "")
        fid = self.headers.get("x-fail-once")
        if fid:
            with lock:
                seen = hits.get(fid, 0)
                hits[fid] = seen + 1
            if seen == 0:
                status = 503
        d = int(self.headers.get("x-delay-ms") or 0)
        if d:
            with lock:
                inflight[0] += 1
            time.sleep(d / 1000.0)
            with lock:
                inflight[0] -= 1
        body = f"{self.server.name} {self.command} {self.path} {len(body_in)}\n".encode()
        body += b"x" * int(self.headers.get("x-pad") or 0)
        self.reply(status, body, chunked=self.headers.get("x-chunked") == "1")

    def reply(self, status, body, chunked=False):
        self.send_response(status)
        self.send_header("x-backend", self.server.name)
        for k, v in self.headers.items():
            if k.lower().startswith("x-") or k.lower() in ("host", "user-agent"):
                self.send_header("x-echo-" + k.lower(), v)
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(body)
            return
        for i in range(0, len(body), 16384):
            part = body[i:i + 16384]
            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--status", type=int, default=200, help="status of every answer")
    a = ap.parse_args()
    http.server.ThreadingHTTPServer.daemon_threads = True
    # a listen backlog for the proxy's bursts of new upstream connections
    # (socketserver's default of 5 drops SYNs and stalls them for seconds)
    http.server.ThreadingHTTPServer.request_queue_size = 256
    s = http.server.ThreadingHTTPServer((a.addr, a.port), H)
    s.name = a.name
    s.status = a.status
    print("ready", flush=True)
    s.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
