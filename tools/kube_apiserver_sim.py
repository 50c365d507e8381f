#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A Kubernetes API-server SIMULATOR for the tests of `sluiced --kubernetes`
(no kube-apiserver can be installed on the test machines). It is not an API
server: it speaks the part of the protocol a list-and-watch client uses,
in the JSON shapes the API server emits (Kubernetes API reference):

  - HTTPS with a test CA's certificate; every request needs
    "Authorization: Bearer TOKEN" (else 401 with a Status object);
  - LIST  GET /api/v1/services, /api/v1/pods, /api/v1/secrets,
          /apis/discovery.k8s.io/v1/endpointslices,
          /apis/networking.istio.io/v1/<plural>
    -> {"kind": "<Kind>List", "apiVersion": ..., "metadata":
        {"resourceVersion": "N"}, "items": [...]} (items without kind and
        apiVersion, as the API server sends them); with ?limit=L in pages,
        metadata.continue naming the next (?continue=TOKEN; 410 once
        compacted past it);
  - ?fieldSelector=F on both: F a comma-separated list of type=V, type==V or
    type!=V (the field Secrets are selected by), and metadata.name /
    metadata.namespace the same way; any other field is a 400 BadRequest
    ("field label not supported"), as the API server answers. A watch
    sends the events of matching objects only;
  - WATCH the same with ?watch=1&resourceVersion=N[&allowWatchBookmarks=true]
    -> a chunked stream of {"type": "ADDED|MODIFIED|DELETED|BOOKMARK",
       "object": {...}} lines; a resourceVersion older than the last
       compaction gets one ERROR event with a 410 Status ("Expired"), as a
       real watch does;
  - a watch from a resourceVersion newer than the server's (after a
    restart on a new series) gets one ERROR event with a 504 Status
    ("Timeout", "Too large resource version"), as the watch cache answers;
  - with --client-ca, a client certificate signed by that CA authenticates
    a request too (as the API server's x509 authenticator does), the
    bearer token then not needed;
  - unknown paths: 404 with a Status object.

A control listener (plain HTTP, for the test only) changes the simulated
cluster: POST /put (a JSON object; its kind picks the resource), POST
/delete (the same), POST /compact (old resourceVersions now answer 410),
POST /drop (close every open watch), POST /restart?base=N (an API server
restarted on a restored store: watches dropped, history gone, the
resourceVersion series starting again at N, default 1), POST /forbid (the
body a resource path, e.g. /api/v1/secrets: from then on LIST and WATCH of
it answer 403 Forbidden, as the API server does when RBAC grants no
list/watch), GET /stats
(requests seen). A change's reply is "ok RV TIME" (TIME: its wall clock,
for benchmarks).

usage: kube_apiserver_sim.py --addr A --port P --control-port C
                              --cert CRT --key KEY --token TOKEN [--client-ca CA]
"""
import argparse
import http.server
import json
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlparse, parse_qs

RESOURCES = {
    # path -> (kind, apiVersion, namespaced plural)
    "/api/v1/services": ("Service", "v1"),
    "/api/v1/pods": ("Pod", "v1"),
    "/api/v1/secrets": ("Secret", "v1"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
}
for plural, kind in (("serviceentries", "ServiceEntry"), ("workloadentries", "WorkloadEntry"),
                     ("destinationrules", "DestinationRule"), ("virtualservices", "VirtualService"),
                     ("gateways", "Gateway"), ("sidecars", "Sidecar")):
    RESOURCES["/apis/networking.istio.io/v1/" + plural] = (kind, "networking.istio.io/v1")
KIND_PATH = {v[0]: k for k, v in RESOURCES.items()}

lock = threading.Condition()
state = {"rv": 1, "compacted": 0, "epoch": 0, "changed_at": 0.0}
forbidden = set()                       # paths answered 403 (POST /forbid)
store = {p: {} for p in RESOURCES}      # path -> {(ns, name): object}
events = []                             # (rv, path, type, object)
stats = {"list": 0, "watch": 0, "unauthorized": 0, "gone": 0, "ahead": 0}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def change(obj, etype):
    kind = obj.get("kind")
    path = KIND_PATH.get(kind)
    if not path:
        raise ValueError("unknown kind %s" % kind)
    md = obj.setdefault("metadata", {})
    key = (md.get("namespace", "default"), md["name"])
    with lock:
        state["rv"] += 1
        md["resourceVersion"] = str(state["rv"])
        if etype == "DELETED":
            item_cache.pop((path, key), None)
            obj = store[path].pop(key, obj)
            obj["metadata"]["resourceVersion"] = str(state["rv"])
        else:
            etype = "MODIFIED" if key in store[path] else "ADDED"
            store[path][key] = obj
        events.append((state["rv"], path, etype, obj))
        state["changed_at"] = time.time()
        lock.notify_all()


def sorted_keys(path):
    """The path's keys in order, sorted once per change (a paged list of
    50,000 objects reads them a hundred times). Under lock."""
    c = sorted_cache.get(path)
    if c is None or c[0] != state["rv"]:
        c = sorted_cache[path] = (state["rv"], sorted(store[path]))
    return c[1]


sorted_cache = {}


def pending(since, path):
    """Events of path after since, oldest first (the log is in rv order:
    read from its end, so a watch costs what it sends, not the history)."""
    out = []
    for e in reversed(events):
        if e[0] <= since:
            break
        if e[1] == path:
            out.append(e)
    out.reverse()
    return out


FIELDS = {"type": lambda o: o.get("type", "Opaque"),
          "metadata.name": lambda o: o.get("metadata", {}).get("name", ""),
          "metadata.namespace": lambda o: o.get("metadata", {}).get("namespace", "")}


def parse_selector(sel):
    """A fieldSelector as [(getter, value, equal)]; ValueError with the
    API server's message for a field it does not index."""
    out = []
    for term in filter(None, sel.split(",")):
        if "!=" in term:
            f, v = term.split("!=", 1)
            eq = False
        elif "==" in term:
            f, v = term.split("==", 1)
            eq = True
        elif "=" in term:
            f, v = term.split("=", 1)
            eq = True
        else:
            raise ValueError("invalid field selector: %s" % term)
        if f not in FIELDS:
            raise ValueError('"%s" is not a known field selector: only "%s"' %
                             (f, '", "'.join(FIELDS)))
        out.append((FIELDS[f], v, eq))
    return out


def selected(sel, obj):
    return all((g(obj) == v) == eq for g, v, eq in sel)


def bare(obj):
    o = dict(obj)
    o.pop("kind", None)
    o.pop("apiVersion", None)
    return o


item_cache = {}                         # (path, key) -> (object, rv, its JSON as an item)


def item_json(path, key):
    """The object's JSON as a list item (bare), kept until the object or its
    resourceVersion changes: a paged list of 50,000 objects is joined from
    these, as the API server serves lists from its watch cache, so that
    what a benchmark times is the client, not this simulator. Under lock."""
    obj = store[path][key]
    rv = obj.get("metadata", {}).get("resourceVersion")
    c = item_cache.get((path, key))
    if c is None or c[0] is not obj or c[1] != rv:
        c = item_cache[(path, key)] = (obj, rv, json.dumps(bare(obj)))
    return c[2]


class API(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, body):
        self.send_body(code, json.dumps(body).encode())

    def send_body(self, code, data):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def client_cert_ok(self):
        try:
            return bool(self.server.client_ca and self.connection.getpeercert())
        except (AttributeError, ValueError):
            return False

    def do_GET(self):
        if (self.headers.get("Authorization") != "Bearer " + self.server.token
                and not self.client_cert_ok()):
            stats["unauthorized"] += 1
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path not in RESOURCES:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                               "the requested resource"))
        kind, api = RESOURCES[u.path]
        if u.path in forbidden:
            verb = "watch" if q.get("watch", ["0"])[0] in ("1", "true") else "list"
            plural = u.path.rsplit("/", 1)[1]
            group = "" if u.path.startswith("/api/") else u.path.split("/")[2]
            return self.send_json(403, status(403, "Forbidden", (
                '%s is forbidden: User "system:serviceaccount:sluice-system:sluiced" cannot '
                '%s resource "%s" in API group "%s" at the cluster scope') %
                (plural, verb, plural, group)))
        try:
            sel = parse_selector(q.get("fieldSelector", [""])[0])
        except ValueError as e:
            return self.send_json(400, status(400, "BadRequest", str(e)))
        if q.get("watch", ["0"])[0] in ("1", "true"):
            return self.watch(u.path, kind, api, q, sel)
        stats["list"] += 1
        stats["list " + u.path] = stats.get("list " + u.path, 0) + 1
        limit = int(q.get("limit", ["0"])[0] or 0)
        cont = q.get("continue", [""])[0]
        start, rv0 = 0, None
        if cont:
            try:
                rv0, start = (int(x) for x in cont.split(":"))
            except ValueError:
                return self.send_json(400, status(400, "BadRequest", "invalid continue token"))
        with lock:
            if rv0 is not None and rv0 < state["compacted"]:
                return self.send_json(410, status(410, "Expired", "the provided continue "
                                                  "parameter is too old"))
            keys = sorted_keys(u.path)
            if sel:
                keys = [k for k in keys if selected(sel, store[u.path][k])]
            end = start + limit if limit else len(keys)
            items = [item_json(u.path, k) for k in keys[start:end]]
            rv = rv0 if rv0 is not None else state["rv"]
            more = end < len(keys)
        md = {"resourceVersion": str(rv)}
        if more:
            # pages read the live store from the offset (a simulator: no
            # snapshot per list); enough when nothing changes meanwhile
            md["continue"] = "%d:%d" % (rv, end)
            md["remainingItemCount"] = len(keys) - end
        # the List as json.dumps would write it, the items joined as held
        self.send_body(200, ('{"kind": %s, "apiVersion": %s, "metadata": %s, "items": [%s]}' % (
            json.dumps(kind + "List"), json.dumps(api), json.dumps(md), ", ".join(items))).encode())

    def chunk(self, body):
        data = (json.dumps(body) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, path, kind, api, q, sel):
        stats["watch"] += 1
        self.close_connection = True     # a watch ends with its connection
        since = int(q.get("resourceVersion", ["0"])[0] or 0)
        bookmarks = q.get("allowWatchBookmarks", ["false"])[0] == "true"
        until = time.time() + int(q.get("timeoutSeconds", ["300"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            with lock:
                gone = since < state["compacted"]
                ahead = since > state["rv"]
                epoch = state["epoch"]
                rv = state["rv"]
            if ahead:
                stats["ahead"] += 1
                self.chunk({"type": "ERROR", "object": status(
                    504, "Timeout", "Too large resource version: %d, current: %d" % (since, rv))})
                self.wfile.write(b"0\r\n\r\n")
                return
            if gone:
                stats["gone"] += 1
                self.chunk({"type": "ERROR", "object": status(410, "Expired",
                                                              "too old resource version")})
                self.wfile.write(b"0\r\n\r\n")
                return
            last_bookmark = time.time()
            while time.time() < until:
                with lock:
                    todo = pending(since, path)
                    if not todo and state["epoch"] == epoch:
                        lock.wait(0.5)
                        todo = pending(since, path)
                    if state["epoch"] != epoch:
                        # dropped: the connection closes mid-stream
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    rv = state["rv"]
                for e in todo:
                    since = e[0]
                    if not selected(sel, e[3]):
                        continue
                    o = dict(e[3])
                    o["kind"], o["apiVersion"] = kind, api
                    self.chunk({"type": e[2], "object": o})
                if bookmarks and time.time() - last_bookmark > 1:
                    self.chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api,
                        "metadata": {"resourceVersion": str(rv)}}})
                    since = max(since, rv)
                    last_bookmark = time.time()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass


class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, json.dumps(stats))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        try:
            if self.path in ("/put", "/delete"):
                for obj in json.loads(body):
                    change(obj, "DELETED" if self.path == "/delete" else "PUT")
            elif self.path == "/compact":
                with lock:
                    # history up to now is compacted: every resourceVersion a
                    # client holds answers 410; a new list starts at rv + 1
                    state["rv"] += 1
                    state["compacted"] = state["rv"]
                    state["epoch"] += 1
                    lock.notify_all()
            elif self.path.startswith("/restart"):
                q = parse_qs(urlparse(self.path).query)
                with lock:
                    base = int(q.get("base", ["1"])[0])
                    events.clear()
                    state["rv"] = base
                    state["compacted"] = base
                    state["epoch"] += 1
                    for objs in store.values():
                        for o in objs.values():
                            o["metadata"]["resourceVersion"] = str(base)
                    lock.notify_all()
            elif self.path == "/forbid":
                path = body.decode().strip()
                if path not in RESOURCES:
                    raise ValueError("unknown resource path %s" % path)
                with lock:
                    forbidden.add(path)
                    state["epoch"] += 1     # open watches end, as on a policy change
                    lock.notify_all()
            elif self.path == "/drop":
                with lock:
                    state["epoch"] += 1
                    lock.notify_all()
            else:
                return self.reply(404, "no such control\n")
        except (ValueError, KeyError) as e:
            return self.reply(400, "bad request: %s\n" % e)
        # the wall time of the last change: benchmarks time from it
        self.reply(200, "ok %d %.6f\n" % (state["rv"], state["changed_at"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    # one request per thread under one interpreter lock: the default 5 ms
    # switch interval made a watch's reply or a one-page list wait a second
    # behind the pages of a 50,000-Pod relist (a convoy at every socket call)
    sys.setswitchinterval(0.0005)
    http.server.ThreadingHTTPServer.daemon_threads = True
    # a listen backlog of 128, as a real API server's, not socketserver's 5:
    # the ten watches a compaction drops reconnect at once, and a SYN the
    # full queue dropped waited out TCP's 1 s retransmission
    http.server.ThreadingHTTPServer.request_queue_size = 128
    api = http.server.ThreadingHTTPServer((a.addr, a.port), API)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    api.socket = ctx.wrap_socket(api.socket, server_side=True)
    api.token = a.token
    api.client_ca = a.client_ca
    ctl = http.server.ThreadingHTTPServer((a.addr, a.control_port), Control)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    print("ready", flush=True)
    api.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
