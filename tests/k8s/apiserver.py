#!/usr/bin/python3
"""A small Kubernetes API server for the client's tests, with faults on demand.

Not the fake cluster (runtime/fake/, issue 3): just enough REST for cm.k8s, and
the faults the fake cannot produce yet. Every request is appended as one JSON
line to DIR/requests.jsonl (method, path, query, headers, body) so tests can
assert what the client sent. Behaviour is read from DIR/control.json on every
request, so a Lua test changes it by rewriting that file:

  tokens          accepted bearer tokens (and "user:password" for basic auth);
                  absent or empty: no authentication; a verified client
                  certificate is always accepted
  watch_max       end each watch stream after this many events (0: never)
  compacted       resourceVersions below this are gone: watch -> 410
  watch_410       "http" (410 answer) or "event" (ERROR event, default)
  expire_continue a continue token of a list is answered 410 once
  watch_429       the first watch is answered 429 with Retry-After: 1

Each recorded request also says how many requests the server was handling when it
arrived, itself included ("inflight"), and when ("at", seconds since the epoch).

Faults by object name (nodes): a name starting with "slow" answers after 2 s; "gzipped" comes gzip-encoded; "limited" 429 + Retry-After: 1 once; "limited-bare"
429 without Retry-After always; "flaky" 500 + Retry-After: 1 once; "broken" 500
always. A list with labelSelector "fault=reset" has its second page's
connection reset once; with labelSelector "fault=slow" each page comes after 1 s.

Under /idp it is also an OpenID Connect issuer for the oidc auth-provider: discovery
(token_endpoint /idp/token; a 404 with oidc.no_discovery) and the refresh grant, which
accepts control's oidc.refresh_token and answers oidc.id_token and, when set,
oidc.new_refresh_token as the new refresh token.

Usage: apiserver.py DIR [--tls CERT KEY [CLIENT_CA]]; prints the port on stdout.
"""
import copy
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE = {"rv": 100, "objects": {}, "events": [], "once": set(), "uid": 0, "inflight": 0}

RESOURCES = {
    # (prefix, plural): (kind, namespaced)
    ("/api/v1", "nodes"): ("Node", False),
    ("/api/v1", "pods"): ("Pod", True),
    ("/api/v1", "configmaps"): ("ConfigMap", True),
    ("/api/v1", "secrets"): ("Secret", True),
    ("/api/v1", "namespaces"): ("Namespace", False),
    ("/apis/apps/v1", "daemonsets"): ("DaemonSet", True),
}


def discovery(prefix):
    res = []
    for (p, plural), (kind, ns) in RESOURCES.items():
        if p == prefix:
            res.append({"name": plural, "kind": kind, "namespaced": ns,
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
    if prefix == "/api/v1":
        res.append({"name": "pods/eviction", "kind": "Eviction", "namespaced": True,
                    "group": "policy", "version": control().get("eviction_version", "v1"),
                    "verbs": ["create"]})
        res.append({"name": "pods/log", "kind": "Pod", "namespaced": True, "verbs": ["get"]})
        res.append({"name": "pods/status", "kind": "Pod", "namespaced": True, "verbs": ["get", "patch"]})
    gv = prefix[len("/apis/"):] if prefix.startswith("/apis/") else "v1"
    return {"kind": "APIResourceList", "groupVersion": gv, "resources": res}


def control():
    try:
        with open(os.path.join(DIR, "control.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def status(code, reason, message, extra=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if extra:
        s.update(extra)
    return s


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[last]
        elif op["op"] == "test":
            if parent.get(last) != op["value"]:
                raise ValueError("test failed for " + op["path"])
    return doc


def label_match(obj, selector):
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v.lstrip("="):
                return False
        elif labels.get(term) is None:
            return False
    return True


def field_match(obj, selector):
    for term in filter(None, (selector or "").split(",")):
        k, v = term.split("=", 1)
        cur = obj
        for part in k.split("."):
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        if str(cur) != v.lstrip("="):
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    # ---- plumbing ----
    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def record(self, body):
        u = urllib.parse.urlsplit(self.path)
        rec = {"method": self.command, "peer": self.client_address[1], "inflight": STATE["inflight"],
               "at": time.time(), "proxied": self.path.startswith("http://"), "path": u.path, "query": urllib.parse.parse_qs(u.query),
               "headers": {k.lower(): self.headers.get_all(k) for k in set(self.headers.keys())},
               "body": body.decode("utf-8", "replace")}
        with LOCK:
            with open(os.path.join(DIR, "requests.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")

    def authorized(self, ctl):
        tokens = ctl.get("tokens")
        if not tokens:
            return True
        try:
            if self.connection.getpeercert():
                return True
        except (AttributeError, ValueError):
            pass
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in tokens:
            return True
        if auth.startswith("Basic "):
            import base64
            return base64.b64decode(auth[6:]).decode() in tokens
        return False

    def once(self, key):
        with LOCK:
            if key in STATE["once"]:
                return False
            STATE["once"].add(key)
            return True

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        with LOCK:
            STATE["inflight"] += 1
        try:
            self.handle_counted()
        finally:
            with LOCK:
                STATE["inflight"] -= 1

    def handle_counted(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.record(body)
        ctl = control()
        if self.path.startswith("/idp/"):
            return self.issuer(ctl, body)
        if not self.authorized(ctl):
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        path = u.path
        if path in ("/api/v1", "/apis/apps/v1"):
            return self.send_json(200, discovery(path))
        if path.startswith("/apis/"):
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        route = self.route(path)
        if not route:
            return self.send_json(404, status(404, "NotFound", "no route " + path))
        prefix, plural, ns, name, sub = route
        try:
            self.dispatch(ctl, q, body, prefix, plural, ns, name, sub)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, path):
        for (prefix, plural) in RESOURCES:
            if not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1:].split("/")
            ns = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                ns, rest = rest[1], rest[2:]
            if rest[0] != plural:
                continue
            name = rest[1] if len(rest) > 1 else None
            sub = rest[2] if len(rest) > 2 else None
            return prefix, plural, ns, name, sub
        return None

    # ---- an OpenID Connect issuer under /idp ----
    def issuer(self, ctl, body):
        oidc = ctl.get("oidc", {})
        base = "http://127.0.0.1:%d/idp" % self.server.server_address[1]
        if self.path == "/idp/.well-known/openid-configuration":
            if oidc.get("no_discovery"):
                return self.send_json(404, {"error": "no such thing"})
            return self.send_json(200, {"issuer": base, "token_endpoint": base + "/token"})
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if self.path != "/idp/token" or form.get("grant_type") != "refresh_token":
            return self.send_json(400, {"error": "unsupported_grant_type"})
        if form.get("refresh_token") != oidc.get("refresh_token"):
            return self.send_json(400, {"error": "invalid_grant", "error_description": "unknown refresh token"})
        answer = {"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600}
        for key in ("id_token", "new_refresh_token"):
            if oidc.get(key):
                answer[key.replace("new_", "")] = oidc[key]
        return self.send_json(200, answer)

    # ---- REST ----
    def dispatch(self, ctl, q, body, prefix, plural, ns, name, sub):
        kind, namespaced = RESOURCES[(prefix, plural)]
        key = (prefix, plural, ns if namespaced else None, name)
        dry = q.get("dryRun") == "All"
        m = self.command
        if name and plural == "nodes" and m == "GET":
            if name == "limited" and self.once("limited"):
                return self.send_json(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "1"})
            if name == "limited-bare":
                return self.send_json(429, status(429, "TooManyRequests", "slow down, no hint"))
            if name == "flaky" and self.once("flaky"):
                return self.send_json(500, status(500, "InternalError", "hiccup"), {"Retry-After": "1"})
            if name.startswith("slow"):
                time.sleep(2)
            if name == "broken":
                return self.send_json(500, status(500, "InternalError", "always broken"))
            if name == "gzipped":
                import gzip
                data = gzip.compress(json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gzipped"}}).encode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            if name == "warned":
                obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "warned"}}
                return self.send_json(200, obj, {"Warning": '299 - "v1 Node warned is deprecated"'})
        if m == "GET" and not name and q.get("watch") in ("1", "true"):
            return self.watch(ctl, q, prefix, plural, ns)
        if m == "GET" and not name:
            return self.list(ctl, q, prefix, plural, ns, namespaced)
        if m == "POST" and sub == "eviction":
            return self.evict(body, key, dry)
        if m == "POST" and not name:
            return self.create(body, prefix, plural, ns, namespaced, kind, dry)
        with LOCK:
            obj = STATE["objects"].get(key)
        if obj is None:
            return self.send_json(404, status(404, "NotFound", '%s "%s" not found' % (plural, name),
                                              {"details": {"name": name, "kind": plural}}))
        if m == "GET" and sub == "log":
            text = b'{"looks": "like JSON"}\n' if name == "jsonlog" else b"line 1\nline 2\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            return self.wfile.write(text)
        if m == "GET":
            return self.send_json(200, obj)
        if m == "DELETE":
            opts = json.loads(body) if body else {}
            pre = opts.get("preconditions", {})
            if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
                return self.send_json(409, status(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s" % (pre["uid"], obj["metadata"].get("uid"))))
            if not dry:
                self.store(key, obj, "DELETED", delete=True)
            return self.send_json(200, obj)
        if m == "PUT":
            new = json.loads(body)
            if new.get("metadata", {}).get("resourceVersion") not in (None, obj["metadata"]["resourceVersion"]):
                return self.send_json(409, status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again"))
            new["metadata"]["uid"] = obj["metadata"]["uid"]
            return self.send_json(200, new if dry else self.store(key, new, "MODIFIED"))
        if m == "PATCH":
            ct = self.headers.get_all("Content-Type") or []
            if len(ct) != 1:
                return self.send_json(415, status(415, "UnsupportedMediaType", "want one Content-Type, got %d" % len(ct)))
            patch = json.loads(body)
            if ct[0] == "application/json-patch+json":
                try:
                    new = json_patch(obj, patch)
                except (ValueError, KeyError) as e:
                    return self.send_json(422, status(422, "Invalid", str(e)))
            elif ct[0] in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                           "application/apply-patch+yaml"):
                new = merge_patch(obj, patch)
            else:
                return self.send_json(415, status(415, "UnsupportedMediaType", "unsupported " + ct[0]))
            return self.send_json(200, new if dry else self.store(key, new, "MODIFIED"))
        return self.send_json(405, status(405, "MethodNotAllowed", m))

    def store(self, key, obj, event, delete=False):
        with LOCK:
            STATE["rv"] += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(STATE["rv"])
            if delete:
                STATE["objects"].pop(key, None)
            else:
                STATE["objects"][key] = obj
            STATE["events"].append((STATE["rv"], key, event, obj))
            return obj

    def create(self, body, prefix, plural, ns, namespaced, kind, dry):
        obj = json.loads(body)
        meta = obj.setdefault("metadata", {})
        if namespaced:
            meta["namespace"] = ns or meta.get("namespace") or "default"
        key = (prefix, plural, meta.get("namespace") if namespaced else None, meta.get("name"))
        with LOCK:
            exists = key in STATE["objects"]
            STATE["uid"] += 1
            meta["uid"] = "uid-%d" % STATE["uid"]
        if exists:
            return self.send_json(409, status(409, "AlreadyExists", '%s "%s" already exists' % (plural, meta.get("name"))))
        if dry:
            return self.send_json(201, obj)
        return self.send_json(201, self.store(key, obj, "ADDED"))

    def evict(self, body, key, dry):
        ev = json.loads(body)
        pod_key = key[:3] + (key[3],)
        with LOCK:
            obj = STATE["objects"].get(pod_key)
        if obj is None:
            return self.send_json(404, status(404, "NotFound", 'pods "%s" not found' % key[3]))
        if ev.get("metadata", {}).get("name") != key[3]:
            return self.send_json(400, status(400, "BadRequest", "name in URL does not match name in Eviction object"))
        if not dry:
            self.store(pod_key, obj, "DELETED", delete=True)
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        return self.send_json(201, s)

    def items(self, q, prefix, plural, ns, namespaced):
        with LOCK:
            objs = [o for (p, pl, n, _), o in sorted(STATE["objects"].items(), key=lambda kv: str(kv[0]))
                    if p == prefix and pl == plural and (ns is None or n == ns)]
            rv = STATE["rv"]
        objs = [o for o in objs if label_match(o, q.get("labelSelector")) and field_match(o, q.get("fieldSelector"))]
        return objs, rv

    def list(self, ctl, q, prefix, plural, ns, namespaced):
        if q.get("labelSelector") == "fault=slow":
            time.sleep(1)
        objs, rv = self.items(q, prefix, plural, ns, namespaced)
        start = 0
        cont = q.get("continue")
        if cont:
            if ctl.get("expire_continue") and self.once("expire:" + str(q.get("labelSelector"))):
                return self.send_json(410, status(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."))
            start, rv = (int(x) for x in cont.split(":"))
            if q.get("labelSelector") == "fault=reset" and self.once("reset"):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()
                return None
        limit = int(q.get("limit") or 0) or len(objs) or 1
        page = objs[start:start + limit]
        meta = {"resourceVersion": str(rv)}
        if start + limit < len(objs):
            meta["continue"] = "%d:%d" % (start + limit, rv)
        kind = RESOURCES[(prefix, plural)][0] + "List"
        return self.send_json(200, {"kind": kind, "apiVersion": "v1", "metadata": meta, "items": page})

    def watch(self, ctl, q, prefix, plural, ns):
        if ctl.get("watch_429") and self.once("watch_429"):
            return self.send_json(429, status(429, "TooManyRequests", "later"), {"Retry-After": "1"})
        since = int(q.get("resourceVersion") or 0)
        gone = since < int(ctl.get("compacted", 0))
        if gone and ctl.get("watch_410") == "http":
            return self.send_json(410, status(410, "Expired", "too old resource version: %d" % since))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(obj):
            data = (json.dumps(obj) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        if gone:
            chunk({"type": "ERROR", "object": status(410, "Expired", "too old resource version: %d" % since)})
            self.wfile.write(b"0\r\n\r\n")
            return
        end = time.time() + min(float(q.get("timeoutSeconds") or 30), 30)
        sent = 0
        limit = int(ctl.get("watch_max", 0))
        last_mark = time.time()
        while time.time() < end and not (limit and sent >= limit):
            with LOCK:
                evs = [e for e in STATE["events"] if e[0] > since and e[1][0] == prefix and e[1][1] == plural
                       and (ns is None or e[1][2] == ns)]
                now_rv = STATE["rv"]
            for rv, _, typ, obj in evs:
                since = rv
                if not (label_match(obj, q.get("labelSelector"))):
                    continue
                chunk({"type": typ, "object": obj})
                sent += 1
                if limit and sent >= limit:
                    break
            if not evs and q.get("allowWatchBookmarks") == "true" and ctl.get("bookmarks") \
                    and time.time() - last_mark > 0.3 and now_rv > since:
                since, last_mark = now_rv, time.time()
                chunk({"type": "BOOKMARK", "object": {"kind": RESOURCES[(prefix, plural)][0], "apiVersion": "v1",
                                                      "metadata": {"resourceVersion": str(since)}}})
            time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) > 2 and sys.argv[2] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        if len(sys.argv) > 5:
            ctx.load_verify_locations(sys.argv[5])
            ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
