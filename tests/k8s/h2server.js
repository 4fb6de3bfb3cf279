// h2server.js - a TLS loopback API server for the cm.k8s HTTP/2 test, on Node.js's http2 module.
//
// Usage: node h2server.js DIR CERT KEY h2|h1
//   h2: HTTP/2 offered by ALPN (HTTP/1.1 still accepted); h1: an HTTPS server that speaks HTTP/1.1 only.
// Prints the port. Serves just enough for the test: discovery of v1, nodes (GET one, list, and a
// watch that sends one event and ends), where a node named slow-* answers after 1 s. Every request is
// appended to DIR/requests.jsonl as {method, path, proto (the HTTP version), alpn (what TLS
// negotiated), conn (a number per connection), inflight (requests in hand when it came, itself
// included)}, the file tests/k8s/kt.lua reads.
"use strict";
const fs = require("fs");
const http2 = require("http2");
const https = require("https");
const path = require("path");

const [dir, certFile, keyFile, mode] = process.argv.slice(2);
const tls = { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
const log = path.join(dir, "requests.jsonl");
const conns = new WeakMap();
let nextConn = 0;
let inflight = 0;

const DISCOVERY = {
  kind: "APIResourceList", groupVersion: "v1",
  resources: [{ name: "nodes", kind: "Node", namespaced: false, verbs: ["get", "list", "watch"] }],
};

function node(name) {
  return { apiVersion: "v1", kind: "Node", metadata: { name, resourceVersion: "7" } };
}

// A number for the connection a request came on (an HTTP/2 session or a TLS socket).
function connOf(req) {
  const key = req.stream ? req.stream.session : req.socket;
  if (!conns.has(key)) conns.set(key, ++nextConn);
  return conns.get(key);
}

function send(res, code, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function handle(req, res) {
  inflight++;
  const socket = req.stream ? req.stream.session.socket : req.socket;
  const rec = { method: req.method, path: req.url.split("?")[0], proto: req.httpVersion,
                alpn: socket.alpnProtocol || "", conn: connOf(req), inflight };
  fs.appendFileSync(log, JSON.stringify(rec) + "\n");
  res.on("close", () => inflight--);
  const url = new URL(req.url, "https://x");
  if (url.pathname === "/api/v1") return send(res, 200, DISCOVERY);
  const m = url.pathname.match(/^\/api\/v1\/nodes(?:\/([^/]+))?$/);
  if (!m) return send(res, 404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
  if (!m[1] && url.searchParams.get("watch")) {
    res.writeHead(200, { "content-type": "application/json" });
    res.write(JSON.stringify({ type: "ADDED", object: node("watched") }) + "\n");
    return setTimeout(() => res.end(), 200);
  }
  if (!m[1]) return send(res, 200, { kind: "NodeList", apiVersion: "v1", metadata: { resourceVersion: "7" },
                                     items: [node("a"), node("b")] });
  setTimeout(() => send(res, 200, node(m[1])), m[1].startsWith("slow") ? 1000 : 0);
}

const server = mode === "h2" ? http2.createSecureServer({ ...tls, allowHTTP1: true }, handle)
                             : https.createServer(tls, handle);
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
