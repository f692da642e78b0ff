#!/usr/bin/env python3
"""A bot stand-in for tests: answers every request with 200 and the request
line and headers it received, one per line, so a test can see what Caddy
passed on (Remote-User above all).
Usage: echo-upstream.py --port-file FILE
"""
import argparse
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("echo-upstream: " + (fmt % args) + "\n")

    def do_GET(self):
        lines = ["%s %s" % (self.command, self.path)]
        lines += ["%s: %s" % (k, v) for k, v in self.headers.items()]
        data = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
