#!/usr/bin/env python3
"""A fake of Cloudflare's API v4 for getbot's edge tests, faithful to
shared/docs/api-contracts.md: envelopes, error codes, the pagination styles
(none for scripts, a cursor for buckets and objects, pages for tokens),
multipart Worker uploads, secrets that are never returned, and the rate
limit (429, code 971, Retry-After, then a block of every call).

  GET    /accounts/A/workers/scripts                 list (no pagination)
  PUT    /accounts/A/workers/scripts/N               multipart upload:
         part "metadata" (main_module, bindings, keep_bindings) and modules
  GET    /accounts/A/workers/scripts/N/settings      bindings (secret ones
                                                     without their text)
  DELETE /accounts/A/workers/scripts/N               404 code 10007
  GET    /accounts/A/workers/subdomain               {"subdomain"}
  POST   /accounts/A/workers/scripts/N/subdomain     {"enabled"}
  PUT    /accounts/A/workers/scripts/N/secrets       {"name","text","type"}
  GET    /accounts/A/workers/scripts/N/secrets       names and types only
  DELETE /accounts/A/workers/scripts/N/secrets/S
  POST   /accounts/A/r2/buckets                      409 code 10004
  GET    /accounts/A/r2/buckets?cursor=&per_page=    result.buckets
  DELETE /accounts/A/r2/buckets/B                    409 10008, 404 10006
  GET    /accounts/A/r2/buckets/B/objects?cursor=    objects, a cursor
  DELETE /accounts/A/r2/buckets/B/objects/KEY
  POST   /accounts/A/tokens                          result.value once
  GET    /accounts/A/tokens?page=&per_page=          result_info.total_pages
  DELETE /accounts/A/tokens/ID
  GET    /zones/Z                                    {"id","name","status",
                                                     "account"}
  GET    /zones/Z/dns_records?type=&name=&page=&per_page=
                                                     result_info {page,
         per_page, count, total_count, total_pages}; type and name filter
         exactly (the name case-insensitively)
  POST   /zones/Z/dns_records                        {"type","name",
         "content","ttl","proxied","comment"}; a duplicate (same type, name
         and content) is 400 code 81057; A or AAAA beside a CNAME of the
         same name (or the reverse) is 400 code 81053
  PATCH  /zones/Z/dns_records/ID                     the fields given
  DELETE /zones/Z/dns_records/ID                     {"id"}; 404 code 81044

DNS details api-contracts.md does not give, from Cloudflare's API
documentation (and error reports quoting it): a name outside the zone gets
the zone's name appended, names are kept lowercase, AAAA content is kept in
its compressed form, ttl is 1 (automatic) or 30..86400, proxied applies to
A, AAAA and CNAME only, comment is free text (at most 100 characters on the
free plan), per_page defaults to 100, an unknown zone is 400 code 7003
("Could not route to ..."), a record that does not exist 404 code 81044
("Record does not exist."), the 81053 message is Cloudflare's own. The
codes for bad content (9005) and a bad ttl (9021) are this fake's guess.

The log keeps request bodies, with every secret value replaced by
"<redacted>" (secrets PUT, secret_text bindings) and Worker modules by
their size. POST /__control/world {"objects": {"BUCKET": ["KEY", ...]}}
puts objects into a bucket; {"zones": {"Z": {"name": "example.com"}}} makes
zones (32 hex digits), and {"dns_records": {"Z": [{"type", "name",
"content", "proxied", "comment"}, ...]}} adds records made by someone else
(checked as a POST would be).

Usage: fake-cloudflare.py --token TOKEN --port-file FILE [--port N]
       [--limit 1200] [--window 300] [--block 300] [--page-size N]
"""
import argparse
import base64
import email.parser
import email.policy
import hashlib
import ipaddress
import json
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
WORLD = {"scripts": {}, "buckets": {}, "tokens": {}, "zones": {}}
PROXIABLE = ("A", "AAAA", "CNAME")
PAGE = {"size": 20}


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ok(result, info=None, status=200):
    body = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return status, body


def err(status, code, message):
    return status, {"success": False, "errors": [{"code": code,
                                                  "message": message}],
                    "messages": [], "result": None}


def redact_secret_body(raw):
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and "text" in body:
            body["text"] = "<redacted>"
        return body
    except ValueError:
        return "<unparsed>"


def parse_multipart(content_type, raw):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    if not msg.is_multipart():
        return None
    parts = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = {"type": part.get_content_type(),
                       "filename": part.get_filename(),
                       "data": part.get_payload(decode=True) or b""}
    return parts


class Handler(fakebase.Handler):
    def error(self, status, code, message):
        return err(status, code, message)[1]

    def world(self):
        out = {"scripts": {}, "buckets": {}, "tokens": {}}
        for n, s in WORLD["scripts"].items():
            out["scripts"][n] = {
                "bindings": [{k: v for k, v in b.items() if k != "text"}
                             if b["type"].startswith("secret") else b
                             for b in s["bindings"]],
                "secrets": sorted(s["secrets"]),
                # digests, never values: tests compare them with what
                # they expect without the fake handing a secret out
                "secret_sha256": {k: hashlib.sha256(v.encode()).hexdigest()
                                  for k, v in s["secrets"].items()},
                "modules": {m: d.decode("utf-8", "replace")
                            for m, d in s["modules"].items()},
                "main_module": s["main_module"],
                "subdomain": s["subdomain"]}
        for n, b in WORLD["buckets"].items():
            out["buckets"][n] = {"objects": sorted(b["objects"])}
        for i, t in WORLD["tokens"].items():
            out["tokens"][i] = {"name": t["name"], "policies": t["policies"],
                                "value_sha256": t["value_sha256"]}
        out["zones"] = {z: {"name": zone["name"],
                            "records": sorted(zone["records"].values(),
                                              key=record_order)}
                        for z, zone in WORLD["zones"].items()}
        return out

    def world_change(self, change):
        for bucket, keys in change.get("objects", {}).items():
            for k in keys:
                WORLD["buckets"][bucket]["objects"][k] = b"data"
        for zid, z in change.get("zones", {}).items():
            if not ZONE_ID.match(zid):
                raise ValueError("a zone id is 32 hex digits")
            WORLD["zones"].setdefault(zid, {"records": {}})["name"] = \
                z["name"].lower()
        for zid, records in change.get("dns_records", {}).items():
            for r in records:
                status, body = record_write(WORLD["zones"][zid], None, r)
                if status != 200:
                    raise ValueError(json.dumps(body))

    def route(self, method, path, query, raw):
        status, body, logged = self.dispatch(method, path, query, raw)
        return status, body, [], logged

    def dispatch(self, method, path, query, raw):
        if path.startswith("/client/v4/"):
            path = path[len("/client/v4"):]
        parts = path.strip("/").split("/")
        logged = None
        if raw:
            try:
                logged = json.loads(raw)
            except ValueError:
                logged = "<%d bytes>" % len(raw)
        if len(parts) >= 2 and parts[0] == "zones":
            return self.zones(method, parts, path, query, raw) + (logged,)
        if len(parts) < 3 or parts[0] != "accounts":
            return err(404, 7000, "No route for that URI") + (logged,)
        rest = parts[2:]
        if rest[:2] == ["workers", "scripts"]:
            return self.scripts(method, rest[2:], query, raw, logged)
        if rest == ["workers", "subdomain"] and method == "GET":
            return ok({"subdomain": "getbot-test"}) + (logged,)
        if rest[:2] == ["r2", "buckets"]:
            return self.buckets(method, rest[2:], query, raw) + (logged,)
        if rest[:1] == ["tokens"]:
            s, b = self.tokens(method, rest[1:], query, raw)
            return s, b, logged
        return err(404, 7000, "No route for that URI") + (logged,)

    # ---- Workers ----
    def scripts(self, method, rest, query, raw, logged):
        scripts = WORLD["scripts"]
        if not rest:
            if method != "GET":
                return err(405, 10000, "method not allowed") + (logged,)
            return ok([{"id": n, "etag": s["etag"],
                        "created_on": s["created_on"],
                        "modified_on": s["modified_on"]}
                       for n, s in sorted(scripts.items())]) + (logged,)
        name = rest[0]
        script = scripts.get(name)
        if len(rest) == 1 and method == "PUT":
            return self.upload(name, raw)
        if script is None:
            return err(404, 10007, "workers.api.error.script_not_found") + (
                logged,)
        if len(rest) == 1 and method == "DELETE":
            del scripts[name]
            return ok(None) + (logged,)
        if rest[1:] == ["settings"] and method == "GET":
            return ok({"bindings": [
                {k: v for k, v in b.items() if k != "text"}
                if b["type"].startswith("secret") else b
                for b in script["bindings"]],
                "compatibility_date": script["compatibility_date"]}) + (
                logged,)
        if rest[1:] == ["subdomain"] and method == "POST":
            script["subdomain"] = bool(json.loads(raw or b"{}").get(
                "enabled"))
            return ok({"enabled": script["subdomain"]}) + (logged,)
        if rest[1:] == ["secrets"] and method == "PUT":
            logged = redact_secret_body(raw)
            try:
                body = json.loads(raw)
                sname, text = body["name"], body["text"]
            except (ValueError, KeyError, TypeError):
                return err(400, 10021, "invalid secret") + (logged,)
            if not SECRET_NAME.match(sname) or body.get(
                    "type") != "secret_text" or not isinstance(text, str):
                return err(400, 10021, "invalid secret") + (logged,)
            script["secrets"][sname] = text
            script["bindings"] = [b for b in script["bindings"]
                                  if b["name"] != sname]
            return ok({"name": sname, "type": "secret_text"}) + (logged,)
        if rest[1:] == ["secrets"] and method == "GET":
            return ok([{"name": n, "type": "secret_text"}
                       for n in sorted(script["secrets"])]) + (logged,)
        if len(rest) == 3 and rest[1] == "secrets" and method == "DELETE":
            if rest[2] not in script["secrets"]:
                return err(404, 10056, "secret not found") + (logged,)
            del script["secrets"][rest[2]]
            return ok(None) + (logged,)
        return err(405, 10000, "method not allowed") + (logged,)

    def upload(self, name, raw):
        ctype = self.headers.get("Content-Type", "")
        if not NAME.match(name):
            return err(400, 10016, "invalid script name") + (None,)
        if not ctype.startswith("multipart/form-data"):
            return err(400, 10021, "expected multipart/form-data") + (None,)
        parts = parse_multipart(ctype, raw)
        if not parts or "metadata" not in parts:
            return err(400, 10021, "no metadata part") + (None,)
        try:
            meta = json.loads(parts["metadata"]["data"])
        except ValueError:
            return err(400, 10021, "metadata is not JSON") + (None,)
        main = meta.get("main_module")
        modules = {n: p["data"] for n, p in parts.items() if n != "metadata"}
        if main not in modules or parts[main]["type"] != \
                "application/javascript+module":
            return err(400, 10021, "main_module is not an uploaded "
                       "javascript module") + (None,)
        secrets_now = {}
        bindings = []
        for b in meta.get("bindings", []):
            if b.get("type") == "secret_text":
                secrets_now[b["name"]] = b.get("text", "")
            elif b.get("type") == "r2_bucket" and b.get(
                    "bucket_name") not in WORLD["buckets"]:
                return err(400, 10021, "R2 bucket '%s' not found" %
                           b.get("bucket_name")) + (None,)
            else:
                bindings.append(b)
        old = WORLD["scripts"].get(name)
        kept = {}
        keep = meta.get("keep_bindings", [])
        if old is not None and "secret_text" in keep:
            kept = dict(old["secrets"])
        kept.update(secrets_now)
        WORLD["scripts"][name] = {
            "bindings": bindings, "secrets": kept, "modules": modules,
            "main_module": main,
            "compatibility_date": meta.get("compatibility_date"),
            "subdomain": old["subdomain"] if old else False,
            "etag": hashlib.sha256(raw).hexdigest(),
            "created_on": old["created_on"] if old else now(),
            "modified_on": now()}
        logged_meta = dict(meta)
        logged_meta["bindings"] = [
            dict(b, text="<redacted>") if b.get("type") == "secret_text"
            else b for b in meta.get("bindings", [])]
        logged = {"metadata": logged_meta,
                  "modules": {n: {"type": parts[n]["type"],
                                  "bytes": len(d)}
                              for n, d in modules.items()}}
        return ok({"id": name, "etag": WORLD["scripts"][name]["etag"]}) + (
            logged,)

    # ---- R2 ----
    def buckets(self, method, rest, query, raw):
        buckets = WORLD["buckets"]
        if not rest and method == "POST":
            try:
                name = json.loads(raw)["name"]
            except (ValueError, KeyError, TypeError):
                return err(400, 10005, "invalid bucket name")
            if not isinstance(name, str) or not BUCKET.match(name):
                return err(400, 10005, "invalid bucket name")
            if name in buckets:
                return err(409, 10004, "The bucket you tried to create "
                           "already exists, and you own it.")
            buckets[name] = {"objects": {}, "creation_date": now()}
            return ok({"name": name, "creation_date": now()})
        if not rest and method == "GET":
            per = min(int(query.get("per_page", [PAGE["size"]])[0]),
                      PAGE["size"])
            after = query.get("cursor", [""])[0]
            after = base64.urlsafe_b64decode(after).decode() if after else ""
            names = [n for n in sorted(buckets) if n > after]
            page, more = names[:per], len(names) > per
            cursor = base64.urlsafe_b64encode(
                page[-1].encode()).decode() if more else ""
            return ok({"buckets": [{"name": n, "creation_date":
                                    buckets[n]["creation_date"]}
                                   for n in page]},
                      {"cursor": cursor, "per_page": per})
        if not rest:
            return err(405, 10000, "method not allowed")
        bucket = buckets.get(rest[0])
        if bucket is None:
            return err(404, 10006, "The specified bucket does not exist.")
        if len(rest) == 1 and method == "DELETE":
            if bucket["objects"]:
                return err(409, 10008, "The bucket you tried to delete is "
                           "not empty.")
            del buckets[rest[0]]
            return ok(None)
        if rest[1:] == ["objects"] and method == "GET":
            per = min(int(query.get("per_page", [PAGE["size"]])[0]),
                      PAGE["size"])
            after = query.get("cursor", [""])[0]
            keys = [k for k in sorted(bucket["objects"]) if k > after]
            page = keys[:per]
            return ok([{"key": k, "size": len(bucket["objects"][k])}
                       for k in page],
                      {"cursor": page[-1] if len(keys) > per else "",
                       "is_truncated": len(keys) > per})
        if len(rest) >= 3 and rest[1] == "objects" and method == "DELETE":
            from urllib.parse import unquote
            key = unquote("/".join(rest[2:]))
            bucket["objects"].pop(key, None)
            return ok(None)
        return err(405, 10000, "method not allowed")

    # ---- API tokens ----
    def tokens(self, method, rest, query, raw):
        tokens = WORLD["tokens"]
        if not rest and method == "POST":
            try:
                body = json.loads(raw)
                name, policies = body["name"], body["policies"]
            except (ValueError, KeyError, TypeError):
                return err(400, 1003, "invalid token request")
            if not isinstance(policies, list) or not policies:
                return err(400, 1003, "a token needs policies")
            tid = secrets.token_hex(16)
            value = secrets.token_urlsafe(30)
            tokens[tid] = {"name": name, "policies": policies,
                           "value_sha256": hashlib.sha256(
                               value.encode()).hexdigest(),
                           "issued_on": now()}
            # the value is shown only here, and never logged
            return ok({"id": tid, "name": name, "value": value,
                       "policies": policies})
        if not rest and method == "GET":
            per = min(int(query.get("per_page", [PAGE["size"]])[0]),
                      PAGE["size"])
            page = max(int(query.get("page", ["1"])[0]), 1)
            ids = sorted(tokens)
            total_pages = max((len(ids) + per - 1) // per, 1)
            chunk = ids[(page - 1) * per:page * per]
            return ok([{"id": i, "name": tokens[i]["name"],
                        "status": "active",
                        "policies": tokens[i]["policies"]} for i in chunk],
                      {"page": page, "per_page": per, "count": len(chunk),
                       "total_count": len(ids),
                       "total_pages": total_pages})
        if len(rest) == 1 and method == "DELETE":
            if rest[0] not in tokens:
                return err(404, 1000, "Invalid API Token")
            del tokens[rest[0]]
            return ok({"id": rest[0]})
        return err(405, 10000, "method not allowed")

    # ---- DNS ----
    def zones(self, method, parts, path, query, raw):
        zone = WORLD["zones"].get(parts[1])
        if zone is None:
            return err(400, 7003, "Could not route to /client/v4%s, perhaps "
                       "your object identifier is invalid?" % path)
        rest = parts[2:]
        if not rest and method == "GET":
            return ok({"id": parts[1], "name": zone["name"],
                       "status": "active",
                       "account": {"id": "0123456789abcdef0123456789abcdef"}})
        if rest[:1] != ["dns_records"]:
            return err(404, 7000, "No route for that URI")
        records = zone["records"]
        if len(rest) == 1 and method == "GET":
            per = min(int(query.get("per_page", ["100"])[0]), PAGE["size"])
            page = max(int(query.get("page", ["1"])[0]), 1)
            want_type = query.get("type", [None])[0]
            want_name = query.get("name", [None])[0]
            hits = [r for r in sorted(records.values(), key=record_order)
                    if (want_type is None or r["type"] == want_type) and
                    (want_name is None or r["name"] == want_name.lower())]
            chunk = hits[(page - 1) * per:page * per]
            return ok(chunk, {"page": page, "per_page": per,
                              "count": len(chunk), "total_count": len(hits),
                              "total_pages": max((len(hits) + per - 1) //
                                                 per, 1)})
        if len(rest) == 1 and method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                return err(400, 9207, "Request body is invalid.")
            return record_write(zone, None, body)
        if len(rest) != 2:
            return err(405, 10000, "method not allowed")
        if rest[1] not in records:
            return err(404, 81044, "Record does not exist.")
        if method == "PATCH":
            try:
                body = json.loads(raw)
            except ValueError:
                return err(400, 9207, "Request body is invalid.")
            return record_write(zone, rest[1], body)
        if method == "DELETE":
            del records[rest[1]]
            return ok({"id": rest[1]})
        return err(405, 10000, "method not allowed")


def record_order(r):
    return (r["type"], r["name"], r["content"], r["id"])


def record_write(zone, rid, body):
    """Create (rid None) or patch a record of zone from body, checked as
    Cloudflare checks it; returns (status, envelope)."""
    if not isinstance(body, dict):
        return err(400, 9207, "Request body is invalid.")
    old = zone["records"].get(rid, {}) if rid else {}
    rec = {k: old[k] for k in old}
    for k in ("type", "name", "content", "ttl", "proxied", "comment"):
        if k in body:
            rec[k] = body[k]
    rtype, name, content = rec.get("type"), rec.get("name"), rec.get("content")
    if not isinstance(rtype, str) or not isinstance(name, str) or \
            not isinstance(content, str) or not name:
        return err(400, 9000, "DNS name, type and content are required.")
    name = name.lower().rstrip(".")
    if name == "@":
        name = zone["name"]
    elif name != zone["name"] and not name.endswith("." + zone["name"]):
        name = name + "." + zone["name"]
    if rtype in ("A", "AAAA"):
        try:
            ip = ipaddress.ip_address(content)
        except ValueError:
            ip = None
        if ip is None or ip.version != (4 if rtype == "A" else 6):
            return err(400, 9005, "Content for %s record is invalid. Must "
                       "be a valid IPv%d address." %
                       (rtype, 4 if rtype == "A" else 6))
        content = str(ip)
    ttl = rec.get("ttl", 1)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or \
            not (ttl == 1 or 30 <= ttl <= 86400):
        return err(400, 9021, "Invalid TTL. Must be between 30 and 86400 "
                   "seconds, or 1 for Automatic.")
    proxied = rec.get("proxied", False)
    if not isinstance(proxied, bool):
        return err(400, 9003, "Invalid 'proxied' value, must be a boolean.")
    comment = rec.get("comment")
    if comment is not None and (not isinstance(comment, str) or
                                len(comment) > 100):
        return err(400, 9101, "DNS record comment is invalid or longer "
                   "than 100 characters.")
    for other in zone["records"].values():
        if other["id"] == rid or other["name"] != name:
            continue
        if other["type"] == rtype and other["content"] == content:
            return err(400, 81057, "The record already exists.")
        if (rtype == "CNAME") != (other["type"] == "CNAME") and \
                {rtype, other["type"]} <= {"A", "AAAA", "CNAME"}:
            return err(400, 81053, "An A, AAAA, or CNAME record with that "
                       "host already exists.")
    stamp = now()
    rec.update({"id": rid or secrets.token_hex(16),
                "zone_id": [z for z, v in WORLD["zones"].items()
                            if v is zone][0],
                "zone_name": zone["name"], "name": name, "type": rtype,
                "content": content, "ttl": ttl,
                "proxiable": rtype in PROXIABLE,
                "proxied": proxied and rtype in PROXIABLE,
                "comment": comment or None, "tags": [], "meta": {},
                "created_on": old.get("created_on", stamp),
                "modified_on": stamp})
    zone["records"][rec["id"]] = rec
    return ok(rec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--limit", type=int, default=1200)
    ap.add_argument("--window", type=float, default=300)
    ap.add_argument("--block", type=float, default=300)
    ap.add_argument("--page-size", type=int, default=20)
    args = ap.parse_args()
    PAGE["size"] = args.page_size
    Handler.fake = fakebase.Fake("cloudflare", args.token, args.limit,
                                 args.window, args.block)
    fakebase.serve(Handler, args.port, args.port_file)


if __name__ == "__main__":
    main()
