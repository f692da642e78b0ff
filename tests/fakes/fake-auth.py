#!/usr/bin/env python3
"""A fake of getbot's central sign-in server (auth_url), for tests.

The contract getbot-auth relies on (reconciler/auth-exchange.h):

  GET  /authorize?redirect_uri=URI&state=STATE
       The real server signs the browser in with Google, then sends it to
       URI?code=CODE&state=STATE. This fake skips Google: it signs in as
       the email in ?login_hint=, else the one set with POST /_control
       {"login": EMAIL}; with neither it answers 400. URI must be
       https://HOST/_getbot/callback. A code is good for 30 seconds, once.
  POST /exchange  Authorization: Bearer SECRET
       {"code": CODE, "redirect_uri": URI}
       200 {"email": EMAIL}
       400 {"error": "invalid_grant"}   unknown, used or expired code, or
                                        another redirect_uri
       401 {"error": "invalid_client"}  wrong secret
       400 {"error": "invalid_request"} not a JSON object with both keys

Test controls (never part of the real server):
  POST /_control {"login": EMAIL, "allow_reuse": BOOL, "code_ttl": SECONDS,
                  "fault": {"exchange": STATUS, "count": N}}
       allow_reuse lets a code be exchanged again, so a test can show that
       getbot-auth refuses a replay by itself; fault makes the next N
       exchanges answer STATUS.
  GET  /_control/requests   every request seen: method, path, query,
                            headers and body, as a JSON list
Usage: fake-auth.py (--secret SECRET | --secret-file FILE) --port-file FILE
                    [--port N]
--secret-file reads the secret from a file (auth.json's
code_exchange_secret when FILE is an auth.json), so that it is not seen in
the process list.
"""
import argparse
import hmac
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

LOCK = threading.Lock()
STATE = {
    "codes": {},  # code -> {"email", "redirect_uri", "expires", "used"}
    "requests": [],
    "login": None,
    "allow_reuse": False,
    "code_ttl": 30,
    "fault": None,
}
SECRET = ""


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-auth/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-auth: " + (fmt % args) + "\n")

    def answer(self, status, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def json(self, status, obj):
        self.answer(status, json.dumps(obj))

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 65536)).decode("utf-8", "replace")

    def record(self, body=""):
        url = urlsplit(self.path)
        with LOCK:
            STATE["requests"].append({
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": {k: v for k, v in self.headers.items()},
                "body": body,
            })

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_control/requests":
            with LOCK:
                self.json(200, STATE["requests"])
            return
        self.record()
        if url.path != "/authorize":
            self.json(404, {"error": "not_found"})
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        redirect_uri = query.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if (target.scheme != "https" or not target.hostname
                or target.path != "/_getbot/callback" or target.query
                or "state" not in query):
            self.answer(400, "bad authorize request\n", "text/plain")
            return
        with LOCK:
            email = query.get("login_hint") or STATE["login"]
            if not email:
                self.answer(400, "no one to sign in as\n", "text/plain")
                return
            code = secrets.token_urlsafe(24)
            STATE["codes"][code] = {
                "email": email,
                "redirect_uri": redirect_uri,
                "expires": time.time() + STATE["code_ttl"],
                "used": False,
            }
        location = redirect_uri + "?" + urlencode(
            {"code": code, "state": query["state"]})
        self.answer(302, "", "text/plain", [("Location", location)])

    def do_POST(self):
        url = urlsplit(self.path)
        body = self.read_body()
        self.record(body)
        if url.path == "/_control":
            with LOCK:
                STATE.update(json.loads(body or "{}"))
            self.json(200, {"ok": True})
            return
        if url.path != "/exchange":
            self.json(404, {"error": "not_found"})
            return
        with LOCK:
            fault = STATE["fault"]
            if fault and fault.get("count", 1) > 0:
                fault["count"] = fault.get("count", 1) - 1
                self.json(fault["exchange"], {"error": "server_error"})
                return
        auth = self.headers.get("Authorization", "")
        if not hmac.compare_digest(auth.encode(),
                                   ("Bearer " + SECRET).encode()):
            self.json(401, {"error": "invalid_client"})
            return
        try:
            request = json.loads(body)
            code, redirect_uri = request["code"], request["redirect_uri"]
            if not isinstance(code, str) or not isinstance(redirect_uri, str):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self.json(400, {"error": "invalid_request"})
            return
        with LOCK:
            grant = STATE["codes"].get(code)
            if (grant is None or grant["expires"] < time.time()
                    or (grant["used"] and not STATE["allow_reuse"])
                    or grant["redirect_uri"] != redirect_uri):
                self.json(400, {"error": "invalid_grant"})
                return
            grant["used"] = True
        self.json(200, {"email": grant["email"]})


def main():
    global SECRET
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--secret")
    group.add_argument("--secret-file")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    SECRET = args.secret
    if args.secret_file:
        with open(args.secret_file) as f:
            text = f.read()
        try:
            SECRET = json.loads(text)["code_exchange_secret"]
        except (ValueError, KeyError, TypeError):
            SECRET = text.strip()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
