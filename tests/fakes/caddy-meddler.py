#!/usr/bin/env python3
"""A relay in front of Caddy's admin API that edits the config behind the
client's back: between the client's read of the config and its write.

Every connection is relayed byte for byte (chunked bodies and their
trailers included, so Caddy 2.6's ETag trailer reaches the client as Caddy
sent it), with the Host header rewritten to the admin's own address. The
first write that carries If-Match (POST, PUT, PATCH or DELETE) is held
back while the relay makes an edit of its own, straight to Caddy: it adds
a route without an @id to the getbot server block. Caddy then answers the
held write with 412, as it would when a human edited the config between
the client's GET and its write, and a correct client reads again.

Each request is logged as a JSON line: method, path, whether it carried
If-Match, and Caddy's status.

Usage: caddy-meddler.py --admin 127.0.0.1:PORT --port-file FILE --log FILE
"""
import argparse
import json
import os
import socket
import sys
import threading
import urllib.request

LOCK = threading.Lock()
STATE = {"meddled": False}
MEDDLE_ROUTE = {
    "match": [{"host": ["meddled.example"]}],
    "handle": [{"handler": "static_response", "body": "meddled"}],
    "terminal": True,
}


def read_request(conn):
    """The request head (bytes) and body, by Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def meddle(admin):
    req = urllib.request.Request(
        "http://%s/config/apps/http/servers/getbot/routes" % admin,
        data=json.dumps(MEDDLE_ROUTE).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()


def pipe(src, dst, first=None):
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if first is not None and not first:
                first.append(chunk.split(b"\r\n", 1)[0].decode("latin-1"))
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn, args):
    head, body = read_request(conn)
    if head is None:
        conn.close()
        return
    lines = head.split(b"\r\n")
    method, path = lines[0].decode("latin-1").split(" ")[:2]
    out = [lines[0]]
    if_match = False
    for line in lines[1:]:
        name = line.partition(b":")[0].strip().lower()
        if name == b"host":
            line = b"Host: " + args.admin.encode()
        if name == b"if-match":
            if_match = True
        out.append(line)
    meddled = False
    if if_match and method in ("POST", "PUT", "PATCH", "DELETE"):
        with LOCK:
            if not STATE["meddled"]:
                STATE["meddled"] = meddled = True
                try:
                    meddle(args.admin)
                except Exception as e:  # the client's request goes on
                    sys.stderr.write("caddy-meddler: the edit failed: %s\n" % e)
    host, port = args.admin.rsplit(":", 1)
    upstream = socket.create_connection((host, int(port)))
    upstream.sendall(b"\r\n".join(out) + b"\r\n\r\n" + body)
    status = []
    back = threading.Thread(target=pipe, args=(upstream, conn, status))
    back.start()
    pipe(conn, upstream)
    back.join()
    upstream.close()
    conn.close()
    entry = {
        "method": method,
        "path": path,
        "if_match": if_match,
        "meddled": meddled,
        "status": int(status[0].split(" ")[1]) if status else 0,
    }
    with LOCK, open(args.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(args.port_file + ".new", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(args.port_file + ".new", args.port_file)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
