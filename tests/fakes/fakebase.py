"""What getbot's API fakes share: a loopback ThreadingHTTPServer, a request
log (with secret bodies redacted by the fake), scriptable faults and a rate
limit, and the /__control endpoints tests drive them with.

Control endpoints (never part of a real API; no token needed):
  GET  /__control/log          every request: {"seq", "method", "path",
                               "query", "status", "body"} (redacted)
  POST /__control/log/clear
  POST /__control/faults       {"faults": [FAULT, ...]} replaces the faults
  GET  /__control/stats        {"requests", "rate_limited", "blocked"}
  GET  /__control/world        the fake's objects (never a secret value)
  POST /__control/world        fake-specific changes (see each fake)

FAULT: {"method": "DELETE", "path": REGEX (re.search on the path),
        "after": N (let the first N matching calls through; default 0),
        "times": N (then fail this many; default 1; -1 forever),
        "status": 500, "code": 10000, "message": "...",
        "retry_after": SECONDS, "delay": SECONDS (slow answer, then the
        normal one unless status is set), "drop": true (close the
        connection without an answer), "lost_answer": true (do the work,
        then close the connection without an answer)}
The rate limit: more than LIMIT requests in WINDOW seconds blocks every
call for BLOCK seconds with 429 and Retry-After (how the fake answers is
up to each fake's error shape).
"""
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 16 << 20


class Fake:
    """The shared state of one fake server."""

    def __init__(self, name, token, limit=1200, window=300.0, block=300.0):
        self.name = name
        self.token = token
        self.lock = threading.RLock()
        self.log = []
        self.faults = []
        self.limit = limit
        self.window = window
        self.block = block
        self.recent = []  # arrival times within the window
        self.blocked_until = 0.0
        self.rate_limited = 0
        self.blocks = 0
        self.requests = 0
        self.seq = 0

    def record(self, method, path, query, status, body):
        with self.lock:
            self.seq += 1
            self.log.append({"seq": self.seq, "method": method, "path": path,
                             "query": query, "status": status, "body": body})

    def rate(self):
        """Seconds the caller must wait (blocked), or 0."""
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            if now < self.blocked_until:
                self.rate_limited += 1
                return self.blocked_until - now
            self.recent = [t for t in self.recent if t > now - self.window]
            self.recent.append(now)
            if len(self.recent) > self.limit:
                # a block, then a fresh window
                self.recent = []
                self.blocked_until = now + self.block
                self.blocks += 1
                self.rate_limited += 1
                return self.block
        return 0

    def fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.get("method", method) != method:
                    continue
                if not re.search(f.get("path", ""), path):
                    continue
                if f.get("after", 0) > 0:
                    f["after"] -= 1
                    continue
                times = f.get("times", 1)
                if times == 0:
                    continue
                if times > 0:
                    f["times"] = times - 1
                return dict(f)
        return None


class Handler(BaseHTTPRequestHandler):
    """Subclasses set fake (a Fake) and implement route(method, path,
    query, body) -> (status, json_body, headers, logged_body), plus
    error(status, code, message) -> json_body and world()/world_change()."""

    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def control(self, method, path, raw):
        fake = self.fake
        if path == "/__control/log" and method == "GET":
            with fake.lock:
                return self.send(200, list(fake.log))
        if path == "/__control/log/clear" and method == "POST":
            with fake.lock:
                fake.log.clear()
            return self.send(200, {})
        if path == "/__control/faults" and method == "POST":
            with fake.lock:
                fake.faults = json.loads(raw or b"{}").get("faults", [])
            return self.send(200, {})
        if path == "/__control/stats" and method == "GET":
            with fake.lock:
                return self.send(200, {"requests": fake.requests,
                                       "rate_limited": fake.rate_limited,
                                       "blocked": fake.blocks})
        if path == "/__control/world" and method == "GET":
            with fake.lock:
                return self.send(200, self.world())
        if path == "/__control/world" and method == "POST":
            with fake.lock:
                self.world_change(json.loads(raw or b"{}"))
            return self.send(200, {})
        return self.send(404, {"error": "no such control"})

    def handle_any(self, method):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        try:
            raw = self.read_body()
        except ValueError:
            return self.send(413, self.error(413, 10000, "body too large"))
        if path.startswith("/__control/"):
            return self.control(method, path, raw)
        fake = self.fake
        wait = fake.rate()
        if wait:
            fake.record(method, path, url.query, 429, None)
            return self.send(429, self.error(429, 971, "Please wait and "
                                             "consider throttling your "
                                             "request speed"),
                             [("Retry-After", str(int(wait + 0.999)))])
        f = fake.fault(method, path)
        if f is not None:
            if f.get("delay"):
                time.sleep(f["delay"])
            if f.get("drop"):
                fake.record(method, path, url.query, 0, None)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            if f.get("status"):
                status = f["status"]
                headers = []
                if f.get("retry_after") is not None:
                    headers.append(("Retry-After", str(f["retry_after"])))
                fake.record(method, path, url.query, status, None)
                return self.send(status, self.error(
                    status, f.get("code", 10000),
                    f.get("message", "injected fault")), headers)
        if self.headers.get("Authorization") != "Bearer " + fake.token:
            fake.record(method, path, url.query, 401, None)
            return self.send(401, self.error(401, 10000, "Authentication "
                                             "error"))
        with fake.lock:
            status, body, headers, logged = self.route(method, path, query,
                                                       raw)
        fake.record(method, path, url.query, status, logged)
        if f is not None and f.get("lost_answer"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        return self.send(status, body, headers)

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def serve(handler, port, port_file):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
