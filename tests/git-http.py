#!/usr/bin/env python3
"""Real git over smart HTTP, behind a token, on loopback.

The remote a CI runner reaches with https and a token: `git http-backend`
(real git, run as CGI for each request, as git-http-backend(1)'s Apache
example does) behind HTTP Basic authentication. What is not git's own
follows GitHub's documentation:
- the token is the HTTP password and the user is x-access-token
  (docs.github.com, "Authenticating as a GitHub App installation":
  git clone https://x-access-token:TOKEN@github.com/owner/repo.git);
- anything else is 401 with WWW-Authenticate: Basic, which is what makes
  a git client send its credentials (RFC 7235 4.1);
- a token without write access may fetch but not push: the receive-pack
  service answers 403 (docs.github.com, "Automatic token authentication":
  with permissions contents: read the GITHUB_TOKEN cannot push; git shows
  "The requested URL returned error: 403").
Plain HTTP on 127.0.0.1 (no TLS: libgit2 sends the same credentials
either way).

  git-http.py --root DIR --token-file FILE [--read-token-file FILE]
              --port-file F
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

    def token(self):
        """The token sent with the user, or None."""
        got = self.headers.get("Authorization", "")
        for token in (TOKEN, READ_TOKEN):
            want = "Basic " + base64.b64encode(
                ("%s:%s" % (ARGS.user, token)).encode()).decode()
            if token is not None and got == want:
                return token
        return None

    def refuse(self, status, text):
        body = text.encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self):
        body = read_body(self) if self.command == "POST" else b""
        token = self.token()
        path, _, query = self.path.partition("?")
        if token is None:
            self.refuse(401, "")
            return
        if token == READ_TOKEN and (path.endswith("/git-receive-pack") or
                                    "service=git-receive-pack" in query):
            self.refuse(403, "Write access to repository not granted.\n")
            return
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
    global ARGS, TOKEN, READ_TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--user", default="x-access-token")
    ap.add_argument("--token-file", required=True)  # never in argv
    ap.add_argument("--read-token-file")  # may fetch, not push
    ap.add_argument("--port-file", required=True)
    ARGS = ap.parse_args()
    with open(ARGS.token_file) as f:
        TOKEN = f.read().strip()
    READ_TOKEN = None
    if ARGS.read_token_file:
        with open(ARGS.read_token_file) as f:
            READ_TOKEN = f.read().strip()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
