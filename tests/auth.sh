#!/bin/sh
# getbot-auth behind a real Caddy. Caddy gets the routes the self-hosted
# provider registers (forward_auth to getbot-auth, then reverse_proxy to the
# bot; the sign-in callback straight to getbot-auth), a fake central sign-in
# server (tests/fakes/fake-auth.py) stands in for auth_url, and an echo
# server for the bot. curl plays the browser. Everything listens on loopback
# ports of its own and is stopped by pid when the test ends.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
: "${GETBOT_AUTH:=$(dirname "$GETBOT")/getbot-auth}"

# A missing tool skips the test, except under GETBOT_TEST_REQUIRE=all.
# automake's TAP driver reads the skip from the plan line (it would count
# an exit status of 77 as an error).
for tool in caddy python3 curl; do
	command -v "$tool" >/dev/null 2>&1 && continue
	if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
		echo "not ok 1 - $tool is not installed (GETBOT_TEST_REQUIRE=all)"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP $tool is not installed"
	exit 0
done

T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-auth-test.XXXXXX")
pids=""
cleanup() {
	for pid in $pids; do
		kill "$pid" 2>/dev/null
	done
	for pid in $pids; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until CMD...: retry for up to 10 s.
wait_until() {
	n=0
	while ! "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || return 1
		sleep 0.1
	done
}

fail_setup() {
	tap_ok 1 "$1"
	for log in "$T"/*.log; do
		tap_diag "== $log" "$(tail -20 "$log")"
	done
	tap_done
	exit 1
}

# --- the world ---------------------------------------------------------------

signing_key=$(head -c 32 /dev/urandom | base64)
exchange_secret=$(head -c 32 /dev/urandom | base64)
auth_port=$(free_port)
http_port=$(free_port)
admin_port=$(free_port)
while [ "$http_port" = "$auth_port" ] || [ "$admin_port" = "$auth_port" ] ||
	[ "$admin_port" = "$http_port" ]; do
	http_port=$(free_port)
	admin_port=$(free_port)
done

python3 "$top_srcdir/tests/fakes/fake-auth.py" --secret "$exchange_secret" \
	--port-file "$T/fake.port" 2>"$T/fake.log" &
pids="$pids $!"
python3 "$top_srcdir/tests/fakes/echo-upstream.py" \
	--port-file "$T/echo.port" 2>"$T/echo.log" &
pids="$pids $!"
wait_until test -s "$T/fake.port" || fail_setup "the fake sign-in server starts"
wait_until test -s "$T/echo.port" || fail_setup "the echo upstream starts"
fake_port=$(cat "$T/fake.port")
echo_port=$(cat "$T/echo.port")
fake="http://127.0.0.1:$fake_port"

# write_config MARKETING_EMAILS: auth.json as getbot writes it.
write_config() {
	cat >"$T/auth.json.new" <<EOF
{
  "version": 1,
  "signing_key": "$signing_key",
  "code_exchange_secret": "$exchange_secret",
  "auth_url": "$fake/",
  "listen": "127.0.0.1:$auth_port",
  "orgs": {
    "acme": {
      "domain": "acme.getbot.run",
      "emails": ["alice@acme.com"],
      "bots": {"marketing": {"emails": $1}, "research": {}}
    },
    "globex": {"domain": "globex.getbot.run", "emails": ["gina@globex.com"]}
  }
}
EOF
	chmod 600 "$T/auth.json.new"
	mv "$T/auth.json.new" "$T/auth.json"
}
write_config '["bob@acme.com"]'

"$GETBOT_AUTH" --config "$T/auth.json" 2>"$T/auth.log" &
auth_pid=$!
pids="$pids $auth_pid"
wait_until curl -sf "http://127.0.0.1:$auth_port/healthz" ||
	fail_setup "getbot-auth starts"
grep -q "listening on 127.0.0.1:$auth_port (2 orgs)" "$T/auth.log"
tap_ok $? "getbot-auth listens where auth.json says"

mkdir -p "$T/xdg-data" "$T/xdg-config"
cat >"$T/caddy.json" <<EOF
{
  "admin": {"listen": "127.0.0.1:$admin_port"},
  "logging": {"logs": {"default": {"level": "ERROR"}}},
  "apps": {"http": {"servers": {"getbot": {
    "listen": ["127.0.0.1:$http_port"],
    "automatic_https": {"disable": true},
    "routes": []
  }}}}
}
EOF
XDG_DATA_HOME="$T/xdg-data" XDG_CONFIG_HOME="$T/xdg-config" \
	caddy run --config "$T/caddy.json" >"$T/caddy.log" 2>&1 &
pids="$pids $!"
admin="http://127.0.0.1:$admin_port"
wait_until curl -sf "$admin/config/" || fail_setup "caddy starts"

# bot_route ORG TEAM: the route of a bot, as the self-hosted provider
# registers it (api-contracts.md), pointing at the echo server.
bot_route() {
	cat <<EOF
{"@id":"getbot-$1-$2","match":[{"host":["$1.getbot.run"],"path":["/$2","/$2/*"]}],
 "handle":[{"handler":"subroute","routes":[{"handle":[
   {"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:$auth_port"}],
    "rewrite":{"method":"GET","uri":"/verify"},
    "headers":{"request":{"set":{"X-Forwarded-Method":["{http.request.method}"],"X-Forwarded-Uri":["{http.request.uri}"]}}},
    "handle_response":[{"match":{"status_code":[2]},"routes":[{"handle":[{"handler":"headers","request":{"set":{"Remote-User":["{http.reverse_proxy.header.Remote-User}"]}}}]}]}]},
   {"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:$echo_port"}]}]}]}],
 "terminal":true}
EOF
}
# callback_route ORG: the org's sign-in callback, straight to getbot-auth.
callback_route() {
	cat <<EOF
{"@id":"getbot-$1_callback","match":[{"host":["$1.getbot.run"],"path":["/_getbot/callback"]}],
 "handle":[{"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:$auth_port"}]}],
 "terminal":true}
EOF
}
registered=0
for route in "$(callback_route acme)" "$(bot_route acme marketing)" \
	"$(bot_route acme research)" "$(callback_route globex)" \
	"$(bot_route globex sales)"; do
	printf '%s' "$route" | curl -sf -X POST -H 'Content-Type: application/json' \
		--data-binary @- "$admin/config/apps/http/servers/getbot/routes" \
		>/dev/null || registered=1
done
tap_ok $registered "the routes are registered through Caddy's admin API"
curl -sf "$admin/id/getbot-acme-marketing" >/dev/null
tap_ok $? "and are found by their @id"

# --- the browser ---------------------------------------------------------------

# get URL [CURL-ARGS...]: sets $code, $location, $setcookie; body in $T/body.
get() {
	url=$1
	shift
	code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$url") ||
		code=000
	location=$(sed -n 's/^[Ll]ocation: *//p' "$T/headers" | tr -d '\r')
	setcookie=$(sed -n 's/^[Ss]et-[Cc]ookie: *//p' "$T/headers" | tr -d '\r')
}

# visit HOST PATH [CURL-ARGS...]: a page of HOST, through Caddy. TLS is off
# in the test, so the callback's https:// URLs are followed over plain HTTP.
visit() {
	host=$1
	path=$2
	shift 2
	get "http://127.0.0.1:$http_port$path" -H "Host: $host" "$@"
}

# with_cookie TOKEN: curl arguments that send the session cookie. A cookie
# jar would not send a Secure cookie over plain HTTP, so it is sent by hand.
with_cookie() {
	printf '%s' "Cookie: getbot_session=$1"
}

# callback URL: follow the sign-in server's redirect back to the org;
# sets $session to the cookie's value, or "".
callback() {
	rest=${1#https://}
	visit "${rest%%/*}" "/${rest#*/}"
	session=$(printf '%s\n' "$setcookie" |
		sed -n 's/^getbot_session=\([^;]*\);.*/\1/p')
}

# sign_in EMAIL PATH [HOST]: the whole flow, from a page of the org to the
# callback's answer, signing in as EMAIL; sets $code, $location, $session.
sign_in() {
	session=""
	visit "${3:-acme.getbot.run}" "$2"
	[ "$code" = 302 ] || return 1
	get "$location&login_hint=$1"
	[ "$code" = 302 ] || return 1
	callback_url=$location
	callback "$callback_url"
}

# mint TYP SUB ORG IAT EXP [ALG]: a token signed with the signing key.
mint() {
	python3 - "$signing_key" "$@" <<'PY'
import base64, hashlib, hmac, json, sys
key = base64.b64decode(sys.argv[1])
typ, sub, org, iat, exp = sys.argv[2:7]
alg = sys.argv[7] if len(sys.argv) > 7 else "HS256"
enc = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
head = enc(json.dumps({"alg": alg, "typ": "JWT"}).encode())
claims = {"typ": typ, "org": org, "iat": int(iat), "exp": int(exp)}
if sub:
    claims["sub"] = sub
body = enc(json.dumps(claims).encode())
mac = hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest()
print(head + "." + body + "." + ("" if alg == "none" else enc(mac)))
PY
}

fake_requests() {
	curl -sf "$fake/_control/requests"
}

fake_control() {
	curl -sf -X POST --data-binary "$1" "$fake/_control" >/dev/null
}

now=$(date +%s)
tokens=""

# --- the sign-in flow ----------------------------------------------------------

visit acme.getbot.run '/marketing/page?x=1'
[ "$code" = 302 ]; tap_ok $? "an unauthenticated page is redirected (got $code)"
case $location in
"$fake/authorize?redirect_uri=https%3A%2F%2Facme.getbot.run%2F_getbot%2Fcallback&state="?*) rc=0 ;;
*) rc=1 ;;
esac
tap_ok $rc "to the sign-in with the org's callback as redirect_uri"
python3 - "${location#*state=}" "$now" <<'PY'
import base64, json, sys
token = sys.argv[1]
part = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
assert claims["typ"] == "getbot-state", claims
assert claims["org"] == "acme", claims
assert claims["ret"] == "/marketing/page?x=1", claims
assert claims["exp"] - claims["iat"] == 600, claims
assert abs(claims["iat"] - int(sys.argv[2])) < 60, claims
PY
tap_ok $? "the state is signed, expires in 10 minutes and carries the page"

get "$location&login_hint=bob@acme.com"
callback_url=$location
case $callback_url in
https://acme.getbot.run/_getbot/callback\?code=*\&state=*) rc=0 ;;
*) rc=1 ;;
esac
[ "$code" = 302 ] && [ "$rc" = 0 ]
tap_ok $? "the sign-in server sends the browser back with a code"
tokens="$tokens $(printf '%s' "$callback_url" | sed 's/.*code=\([^&]*\).*/\1/')"
tokens="$tokens ${callback_url#*state=}"

callback "$callback_url"
[ "$code" = 302 ] && [ "$location" = '/marketing/page?x=1' ]
tap_ok $? "the callback sends the browser back to the page first asked for"
bob=$session
tokens="$tokens $bob"
rc=0
[ -n "$bob" ] || rc=1
for attr in HttpOnly Secure SameSite=Lax Path=/; do
	case "$setcookie;" in
	*"; $attr;"*) ;;
	*) rc=1 ;;
	esac
done
tap_ok $rc "with a session cookie: HttpOnly, Secure, SameSite=Lax, Path=/"

fake_requests | python3 -c '
import json, sys
secret = sys.argv[1]
exchanges = [r for r in json.load(sys.stdin) if r["path"] == "/exchange"]
assert len(exchanges) == 1, exchanges
r = exchanges[0]
assert r["method"] == "POST"
assert r["headers"]["Authorization"] == "Bearer " + secret
body = json.loads(r["body"])
assert body["redirect_uri"] == "https://acme.getbot.run/_getbot/callback", body
assert set(body) == {"code", "redirect_uri"}, body
' "$exchange_secret"
tap_ok $? "the code is exchanged with the code-exchange secret and redirect_uri"

visit acme.getbot.run '/marketing/page?x=1' -H "$(with_cookie "$bob")"
[ "$code" = 200 ] && grep -qx 'GET /marketing/page?x=1' "$T/body" &&
	grep -qx 'Remote-User: bob@acme.com' "$T/body"
tap_ok $? "with the cookie the bot answers, and sees Remote-User (got $code)"

visit acme.getbot.run /marketing -H "$(with_cookie "$bob")" \
	-H 'Remote-User: mallory@evil.example'
[ "$code" = 200 ] && [ "$(grep -ci '^Remote-User:' "$T/body")" = 1 ] &&
	grep -qx 'Remote-User: bob@acme.com' "$T/body"
tap_ok $? "a Remote-User sent by the client is replaced"

visit acme.getbot.run /marketing/x -H "Cookie: theme=dark; getbot_session=$bob; lang=en"
[ "$code" = 200 ]; tap_ok $? "the session cookie is found among others"

# --- who may use what ------------------------------------------------------------

visit acme.getbot.run /research -H "$(with_cookie "$bob")"
[ "$code" = 302 ]; tap_ok $? "a bot-level email is not let into another bot"

sign_in bob@acme.com /research/notes
[ "$code" = 403 ] && [ -z "$setcookie" ] && grep -q 'bob@acme.com may not use this bot' "$T/body"
tap_ok $? "signing in for another bot: 403, no cookie (got $code)"

sign_in alice@acme.com /research/notes
alice=$session
tokens="$tokens $alice"
[ "$code" = 302 ] && [ -n "$alice" ]; tap_ok $? "an org-level email signs in"
visit acme.getbot.run /research/notes -H "$(with_cookie "$alice")"
r1=$code
visit acme.getbot.run /marketing -H "$(with_cookie "$alice")"
[ "$r1" = 200 ] && [ "$code" = 200 ] && grep -qx 'Remote-User: alice@acme.com' "$T/body"
tap_ok $? "and may use every bot of the org"

sign_in eve@acme.com /marketing
[ "$code" = 403 ] && [ -z "$setcookie" ]
tap_ok $? "an email on no list: 403, no cookie"

visit globex.getbot.run /sales -H "$(with_cookie "$alice")"
[ "$code" = 302 ]; tap_ok $? "a session of one org does not open another"

# --- cookies that must not work ----------------------------------------------------

# tampered: bob's payload with another email, his signature kept
tampered=$(python3 - "$bob" <<'PY'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["sub"] = "alice@acme.com"
p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
print(h + "." + p + "." + s)
PY
)
visit acme.getbot.run /research -H "$(with_cookie "$tampered")"
[ "$code" = 302 ]; tap_ok $? "a tampered cookie is redirected to sign in"
grep -q 'reason="token signature does not match"' "$T/auth.log"
tap_ok $? "and the log says why"

expired=$(mint getbot-session alice@acme.com acme $((now - 7200)) $((now - 60)))
visit acme.getbot.run /research -H "$(with_cookie "$expired")"
[ "$code" = 302 ]; tap_ok $? "an expired cookie is redirected"

none=$(mint getbot-session alice@acme.com acme "$now" $((now + 3600)) none)
visit acme.getbot.run /research -H "$(with_cookie "$none")"
r1=$code
none_signed="${none}$(printf '%s' "$alice" | sed 's/.*\.//')"
visit acme.getbot.run /research -H "$(with_cookie "$none_signed")"
[ "$r1" = 302 ] && [ "$code" = 302 ]
tap_ok $? "an alg none cookie is redirected, with or without a signature"

hs512=$(mint getbot-session alice@acme.com acme "$now" $((now + 3600)) HS512)
visit acme.getbot.run /research -H "$(with_cookie "$hs512")"
[ "$code" = 302 ]; tap_ok $? "an alg HS512 cookie is redirected"

future=$(mint getbot-session alice@acme.com acme $((now + 3600)) $((now + 7200)))
visit acme.getbot.run /research -H "$(with_cookie "$future")"
[ "$code" = 302 ]; tap_ok $? "a cookie issued in the future is redirected"

good=$(mint getbot-session alice@acme.com acme "$now" $((now + 3600)))
visit acme.getbot.run /research -H "$(with_cookie "$good")"
[ "$code" = 200 ]; tap_ok $? "while the same claims, well signed, pass"

as_state=$(mint getbot-state "" acme "$now" $((now + 600)))
visit acme.getbot.run /research -H "$(with_cookie "$as_state")"
[ "$code" = 302 ]; tap_ok $? "a state token is not a session cookie"

# --- codes and states that must not work -------------------------------------------

fake_control '{"allow_reuse": true}'
sign_in alice@acme.com /marketing
first=$code
callback "$callback_url"
[ "$first" = 302 ] && [ "$code" = 400 ] && [ -z "$setcookie" ]
tap_ok $? "a replayed code is refused by getbot-auth itself (got $first, $code)"
fake_control '{"allow_reuse": false}'
n=$(fake_requests | python3 -c '
import json, sys
code = sys.argv[1]
print(sum(1 for r in json.load(sys.stdin)
          if r["path"] == "/exchange" and json.loads(r["body"])["code"] == code))
' "$(printf '%s' "$callback_url" | sed 's/.*code=\([^&]*\).*/\1/')")
[ "$n" = 1 ]; tap_ok $? "without asking the sign-in server again"

visit acme.getbot.run /marketing
state=${location#*state=}
visit acme.getbot.run "/_getbot/callback?code=never-issued&state=$state"
[ "$code" = 400 ] && [ -z "$setcookie" ]
tap_ok $? "a code the sign-in server refuses: 400, no cookie"

visit acme.getbot.run /marketing
state=${location#*state=}
last=${state#"${state%?}"}
[ "$last" = A ] && other=B || other=A
visit acme.getbot.run "/_getbot/callback?code=x&state=${state%?}$other"
[ "$code" = 400 ]; tap_ok $? "a tampered state is refused"
old_state=$(python3 - "$signing_key" "$now" <<'PY'
import base64, hashlib, hmac, json, sys
key, now = base64.b64decode(sys.argv[1]), int(sys.argv[2])
enc = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
head = enc(b'{"alg":"HS256","typ":"JWT"}')
body = enc(json.dumps({"typ": "getbot-state", "org": "acme", "ret": "/marketing",
                       "iat": now - 1200, "exp": now - 600}).encode())
print(head + "." + body + "." + enc(hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest()))
PY
)
visit acme.getbot.run "/_getbot/callback?code=x&state=$old_state"
[ "$code" = 400 ]; tap_ok $? "an expired state is refused"
visit globex.getbot.run "/_getbot/callback?code=x&state=$state"
[ "$code" = 400 ]; tap_ok $? "a state of one org is refused by another"
visit acme.getbot.run "/_getbot/callback?code=x&state=$bob"
[ "$code" = 400 ]; tap_ok $? "a session cookie is not a state"

fake_control '{"fault": {"exchange": 500, "count": 1}}'
sign_in alice@acme.com /marketing
[ "$code" = 502 ] && [ -z "$setcookie" ]
tap_ok $? "a failing sign-in server: 502, no cookie (got $code)"

# --- paths and hosts ---------------------------------------------------------------

visit acme.getbot.run /marketing/../research/notes --path-as-is -H "$(with_cookie "$bob")"
[ "$code" = 400 ]
tap_ok $? "a dot-dot path cannot borrow another bot's allowlist (got $code)"
visit acme.getbot.run /MARKETING -H "$(with_cookie "$bob")"
[ "$code" = 200 ]; tap_ok $? "the bot is matched without case, as Caddy does"

direct="http://127.0.0.1:$auth_port"
get "$direct/verify" -H 'X-Forwarded-Host: other.getbot.run' -H 'X-Forwarded-Uri: /marketing'
[ "$code" = 403 ]; tap_ok $? "a host no org serves gets 403, not a sign-in"
get "$direct/verify" -H 'X-Forwarded-Host: acme.getbot.run:8443' -H 'X-Forwarded-Uri: /marketing' \
	-H "$(with_cookie "$bob")"
[ "$code" = 200 ]; tap_ok $? "the host's port is ignored"
for uri in //evil.example/x '/%2F%2Fevil.example' '/\evil.example'; do
	get "$direct/verify" -H 'X-Forwarded-Host: acme.getbot.run' -H "X-Forwarded-Uri: $uri"
	state=${location#*state=}
	case $code in
	400) rc=0 ;;
	302) python3 -c '
import base64, json, sys
p = sys.argv[1].split(".")[1]
ret = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["ret"]
sys.exit(0 if ret.startswith("/") and not ret.startswith("//") and "evil" not in ret else 1)
' "$state"; rc=$? ;;
	*) rc=1 ;;
	esac
	tap_ok $rc "the page to return to is never $(printf '%s' "$uri" | sed 's/\\/backslash-/') (got $code)"
done

# --- reload ------------------------------------------------------------------------

reloads() {
	grep -c 'reload' "$T/auth.log"
}
# reload: SIGHUP, then wait for getbot-auth to log the outcome
reload() {
	before=$(reloads)
	kill -HUP "$auth_pid"
	wait_until test "$(reloads)" -gt "$before"
}

write_config '["bob@acme.com", "eve@acme.com"]'
reload
sign_in eve@acme.com /marketing
eve=$session
tokens="$tokens $eve"
[ "$code" = 302 ] && [ -n "$eve" ]
tap_ok $? "an email added to the allowlist signs in after a reload"
kill -0 "$auth_pid"; tap_ok $? "without a restart"

write_config '["eve@acme.com"]'
reload
visit acme.getbot.run /marketing -H "$(with_cookie "$bob")"
[ "$code" = 302 ]; tap_ok $? "an email taken off the list loses its session at once"

printf '{"version": 1, "orgs": ' >"$T/auth.json"
reload
grep -q "reload refused: $T/auth.json: not valid JSON" "$T/auth.log"
tap_ok $? "a broken auth.json is refused, and the log says why"
visit acme.getbot.run /marketing -H "$(with_cookie "$eve")"
[ "$code" = 200 ]; tap_ok $? "while the previous config keeps serving"

write_config '["eve@acme.com", "not an email"]'
reload
grep -q 'reload refused: .*orgs.acme.bots.marketing.emails\[1\]: not a valid email' "$T/auth.log"
tap_ok $? "so is one that parses but does not validate"
visit acme.getbot.run /marketing -H "$(with_cookie "$eve")"
[ "$code" = 200 ]; tap_ok $? "still serving the previous config"

# --- limits ------------------------------------------------------------------------

big=$(head -c 40000 /dev/zero | tr '\0' a)
get "$direct/verify" -H 'X-Forwarded-Host: acme.getbot.run' -H "X-Big: $big"
case $code in 4??) rc=0 ;; *) rc=1 ;; esac
tap_ok $rc "a request with 40 KB of headers is refused (got $code)"

urls=""
i=0
while [ $i -lt 150 ]; do
	urls="$urls $direct/verify"
	i=$((i + 1))
done
# shellcheck disable=SC2086
curl -s -o /dev/null -w '%{http_code}\n' -H 'X-Forwarded-For: 203.0.113.7' \
	-H 'X-Forwarded-Host: acme.getbot.run' -H 'X-Forwarded-Uri: /marketing' \
	$urls >"$T/codes"
limited=$(grep -c '^429$' "$T/codes")
[ "$(head -1 "$T/codes")" = 302 ] && [ "$limited" -gt 0 ]
tap_ok $? "a client over its request rate gets 429 ($limited of 150)"
grep -q 'rate-limit client=203.0.113.7' "$T/auth.log"
tap_ok $? "and the limit is logged once"
# once per episode: under load the bucket may refill between requests and
# a second episode begin, but never a line per refused request
[ "$(grep -c 'rate-limit client=203.0.113.7' "$T/auth.log")" -lt "$limited" ] ||
	[ "$limited" -eq 1 ]
tap_ok $? "not once per refused request"
get "$direct/verify" -H 'X-Forwarded-For: 203.0.113.8' \
	-H 'X-Forwarded-Host: acme.getbot.run' -H 'X-Forwarded-Uri: /marketing'
[ "$code" = 302 ]; tap_ok $? "while other clients are served"

# --- logs and the end --------------------------------------------------------------

leaked=0
for secret in $tokens "$signing_key" "$exchange_secret" \
	"$(printf '%s' "$bob" | cut -d. -f3)"; do
	[ -n "$secret" ] || continue
	grep -qF -- "$secret" "$T/auth.log" && leaked=1
done
tap_ok $leaked "no cookie, code or secret appears in getbot-auth's log"
[ "$(grep -c '^getbot-auth: verify \(allow\|sign-in\)' "$T/auth.log")" -gt 10 ] &&
	grep -q '^getbot-auth: callback allow org=acme bot=marketing email=bob@acme.com path=/marketing/page ' "$T/auth.log" &&
	grep -q '^getbot-auth: callback deny org=acme bot=research email=bob@acme.com .*reason="email not allowed here"' "$T/auth.log"
tap_ok $? "every decision is logged on one line"

kill -TERM "$auth_pid"
rc=0
wait "$auth_pid" || rc=$?
# shellcheck disable=SC2086
pids=$(printf '%s\n' $pids | grep -vx "$auth_pid")
tap_ok $rc "getbot-auth stops cleanly on SIGTERM, with nothing leaked (exit $rc)"
if [ "$rc" -ne 0 ] || [ "$tap_failed" -ne 0 ]; then
	tap_diag "getbot-auth's log:" "$(tail -40 "$T/auth.log")"
fi
tap_done
