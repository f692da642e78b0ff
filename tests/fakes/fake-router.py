#!/usr/bin/env python3
"""A fake Agent Router: the contract getbot defines
(shared/docs/api-contracts.md), served for tests.

  GET    /api/v1/agents?owner=O&limit=N&cursor=C
         {"agents": [CARD, ...], "next_cursor": C | null}; owner filters on
         metadata.managed_by
  GET    /api/v1/agents/NAME          CARD, or 404
  PUT    /api/v1/agents/NAME          register (201) or re-register (200),
                                      idempotent; the card is checked
  DELETE /api/v1/agents/NAME          204, or 404
Errors: {"error": {"code": "...", "message": "..."}}; 401 without the
bearer token; 429 with Retry-After (faults, or the rate limit).

A CARD: name (URL-safe, = NAME), description, url (ws-agent://NAME),
version, provider {organization, url}, capabilities, skills[] {id, name,
description, tags, examples, pricing_model, price_usd}, metadata
{display_name, visibility, theme, wallet_address, ...},
authentication {scheme: "token-sha256", credentials: 64 hex digits}.

Usage: fake-router.py --token TOKEN --port-file FILE [--port N]
       [--page-size N]
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
AGENTS = {}
PAGE = {"size": 20}


def error(status, code, message):
    return {"error": {"code": code, "message": message}}


def check_card(name, card):
    if not isinstance(card, dict):
        return "the card is not a JSON object"
    if card.get("name") != name:
        return "name must be the path's NAME"
    if card.get("url") != "ws-agent://" + name:
        return "url must be ws-agent://" + name
    auth = card.get("authentication") or {}
    if auth.get("scheme") != "token-sha256" or not HEX64.match(
            str(auth.get("credentials", ""))):
        return "authentication must be token-sha256 with a SHA-256 hex"
    for skill in card.get("skills", []):
        if not isinstance(skill, dict) or not skill.get("id") or \
                not skill.get("name"):
            return "every skill needs an id and a name"
    meta = card.get("metadata") or {}
    if meta.get("visibility") not in ("private", "public"):
        return "metadata.visibility must be private or public"
    return None


class Handler(fakebase.Handler):
    def error(self, status, code, message):
        codes = {401: "unauthorized", 404: "not_found", 429: "rate_limited"}
        return error(status, codes.get(status, "error_%d" % status), message)

    def world(self):
        return {"agents": AGENTS}

    def world_change(self, change):
        for name, card in change.get("agents", {}).items():
            AGENTS[name] = card

    def route(self, method, path, query, raw):
        logged = None
        if raw:
            try:
                logged = json.loads(raw)
            except ValueError:
                logged = "<%d bytes>" % len(raw)
        parts = path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "agents"]:
            return 404, error(404, "not_found", "no such route"), [], logged
        if len(parts) == 3 and method == "GET":
            owner = query.get("owner", [None])[0]
            limit = min(int(query.get("limit", ["50"])[0]), PAGE["size"])
            after = query.get("cursor", [""])[0]
            names = [n for n in sorted(AGENTS) if n > after and (
                owner is None or AGENTS[n].get("metadata", {}).get(
                    "managed_by") == owner)]
            page = names[:limit]
            nxt = page[-1] if len(names) > limit else None
            return 200, {"agents": [AGENTS[n] for n in page],
                         "next_cursor": nxt}, [], logged
        if len(parts) != 4 or not NAME.match(parts[3]):
            return 404, error(404, "not_found", "no such agent"), [], logged
        name = parts[3]
        if method == "GET":
            if name not in AGENTS:
                return 404, error(404, "not_found", "agent '%s' is not "
                                  "registered" % name), [], logged
            return 200, AGENTS[name], [], logged
        if method == "PUT":
            try:
                card = json.loads(raw)
            except ValueError:
                return 400, error(400, "invalid_card", "not JSON"), [], \
                    logged
            problem = check_card(name, card)
            if problem:
                return 400, error(400, "invalid_card", problem), [], logged
            status = 200 if name in AGENTS else 201
            AGENTS[name] = card
            return status, card, [], logged
        if method == "DELETE":
            if name not in AGENTS:
                return 404, error(404, "not_found", "agent '%s' is not "
                                  "registered" % name), [], logged
            del AGENTS[name]
            return 204, None, [], logged
        return 405, error(405, "method_not_allowed", method), [], logged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--page-size", type=int, default=20)
    ap.add_argument("--limit", type=int, default=100000)
    args = ap.parse_args()
    PAGE["size"] = args.page_size
    Handler.fake = fakebase.Fake("router", args.token, args.limit, 60, 60)
    fakebase.serve(Handler, args.port, args.port_file)


if __name__ == "__main__":
    main()
