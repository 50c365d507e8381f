#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bounded keep-alive HTTP client for the sluice-http tests (stdlib only).

Sends N requests to ADDR:PORT and prints one JSON object:
  {"status": {code: n}, "backend": {name: n}, "users": {user: {name: n}},
   "errors": n, "seconds": s}
The backend is the x-backend response header ("-" when absent).
--users K sends request i with cookie "<cookie-name>=u<i % K>" (a new user
every request when K >= N).
"""
import argparse
import http.client
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--host", default=None)
    ap.add_argument("--path", default="/")
    ap.add_argument("--method", default="GET")
    ap.add_argument("--data", default=None)
    ap.add_argument("-H", action="append", default=[])
    ap.add_argument("--users", type=int, default=0)
    ap.add_argument("--cookie-name", default="user")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    status, backend, users = {}, {}, {}
    errors = 0
    conn = None
    t0 = time.time()
    for i in range(a.n):
        hdrs = {}
        for h in a.H:
            k, v = h.split(":", 1)
            hdrs[k.strip()] = v.strip()
        if a.host:
            hdrs["Host"] = a.host
        user = None
        if a.users:
            user = "u%d" % (i % a.users)
            hdrs["Cookie"] = "%s=%s" % (a.cookie_name, user)
        try:
            if conn is None:
                conn = http.client.HTTPConnection(a.addr, a.port, timeout=a.timeout)
            conn.request(a.method, a.path, body=a.data, headers=hdrs)
            r = conn.getresponse()
            r.read()
            code = r.status
            be = r.getheader("x-backend", "-")
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (http.client.HTTPException, OSError):
            if conn:
                conn.close()
            conn = None
            code, be = "error", "-"
            errors += 1
        status[str(code)] = status.get(str(code), 0) + 1
        backend[be] = backend.get(be, 0) + 1
        if user is not None:
            u = users.setdefault(user, {})
            u[be] = u.get(be, 0) + 1
    out = {"status": status, "backend": backend, "errors": errors,
           "seconds": round(time.time() - t0, 3)}
    if a.users:
        out["users"] = users
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
