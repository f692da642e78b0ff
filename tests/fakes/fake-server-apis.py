#!/usr/bin/env python3
"""Stand-ins for a server's Incus and Caddy admin API, for the pre-flight
(tests/preflight.sh): just enough to answer what getbot asks first.

  fake-server-apis.py --incus-socket PATH --caddy-port-file FILE --log FILE

Incus (on the unix socket PATH): GET /1.0 answers the sync envelope with
environment.server "incus" (api-contracts.md, "Incus"); any other GET
answers an empty list, as a server with nothing on it does. Caddy (on a
free loopback port, written to FILE once it listens): GET /config/...
answers null, as Caddy 2.6.2 does for a key it does not have, with an
ETag (as a header, as Caddy 2.8 sends it). Anything
else is 405, so that a write shows. Every request is logged as one line,
"incus GET /1.0" or "caddy GET /config/admin", to the log.
"""
import argparse
import http.server
import json
import os
import socketserver
import threading


def handler(name, log, answer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            with open(log, "a") as f:
                f.write("%s %s %s\n" % (name, self.command, self.path))
            status, body = answer(self.command, self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if name == "caddy":  # Caddy's: the path and a hash of it
                self.send_header("Etag", '"%s 0"' % self.path[len("/config"):])
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def incus_answer(method, path):
    if method != "GET":
        return 405, {"type": "error", "error_code": 405, "error": "not here"}
    meta = [] if path != "/1.0" else {
        "environment": {"server": "incus", "server_version": "6.0.4"},
        "api_extensions": [],
    }
    return 200, {"type": "sync", "status": "Success", "status_code": 200,
                 "operation": "", "error_code": 0, "error": "",
                 "metadata": meta}


def caddy_answer(method, path):
    if method != "GET" or not path.startswith("/config/"):
        return 405, {"error": "not here"}
    return 200, None


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("incus", 0)  # the handler wants an address


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--incus-socket", required=True)
    parser.add_argument("--caddy-port-file", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    if os.path.exists(args.incus_socket):
        os.unlink(args.incus_socket)
    incus = UnixServer(args.incus_socket,
                       handler("incus", args.log, incus_answer))
    caddy = TCPServer(("127.0.0.1", 0), handler("caddy", args.log, caddy_answer))
    threading.Thread(target=incus.serve_forever, daemon=True).start()
    with open(args.caddy_port_file + ".tmp", "w") as f:
        f.write("%d\n" % caddy.server_address[1])
    os.rename(args.caddy_port_file + ".tmp", args.caddy_port_file)
    caddy.serve_forever()


if __name__ == "__main__":
    main()
