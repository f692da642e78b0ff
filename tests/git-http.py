#!/usr/bin/env python3
"""Real git over smart HTTP, behind a token, on loopback.

The remote a CI runner reaches with https and a token (GitHub's
x-access-token, GitLab's oauth2): `git http-backend` (real git, run as
CGI for each request, as its documentation's Apache example does) behind
HTTP Basic authentication. Only the pair USER:TOKEN given on the command
line is let through; anything else is 401 with WWW-Authenticate, as
GitHub answers. Plain HTTP on 127.0.0.1 (no TLS: libgit2 sends the same
credentials either way).

  git-http.py --root DIR --user x-access-token --token-file FILE --port-file F
"""
import argparse
import base64
import http.server
import os
import subprocess
import sys


def read_body(handler):
    """The request body, chunked or with a length."""
    if "chunked" in handler.headers.get("Transfer-Encoding", ""):
        body = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length", 0)))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        sys.stderr.write("git-http: " + fmt % args + "\n")

    def authorized(self):
        got = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (ARGS.user, TOKEN)).encode()).decode()
        return got == want

    def serve(self):
        body = read_body(self) if self.command == "POST" else b""
        if not self.authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": ARGS.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": ARGS.user,  # lets receive-pack (push) run
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "PATH": "/usr/bin:/bin",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             stdout=subprocess.PIPE, check=False).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    do_GET = serve
    do_POST = serve


def main():
    global ARGS, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--user", default="x-access-token")
    ap.add_argument("--token-file", required=True)  # never in argv
    ap.add_argument("--port-file", required=True)
    ARGS = ap.parse_args()
    with open(ARGS.token_file) as f:
        TOKEN = f.read().strip()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
