#!/bin/sh
# The caddy provider against a real Caddy 2.6.2 and a real Incus. Caddy starts
# bare (its admin block only): `getbot apply` makes the getbot server block,
# the org's sign-in callback and a route per bot, while the incus provider
# makes the bridge and the org's container.
#
# Behind the routes, everything is real except the central sign-in: the
# getbot-auth built in this tree (run by getbot's auth provider, with the
# auth.json it writes) verifies each request, the fake central sign-in
# (tests/fakes/fake-auth.py) gives it its sign-ins, and the bot is busybox
# httpd in the org's container on the team's port.
#
# Then each change: a team added (through tests/fakes/caddy-meddler.py,
# which edits Caddy's config between getbot's read and its write: a real
# 412 from Caddy, and the ETag read again from 2.6.2's trailer) and
# removed, the auth listen address changed, a route deleted or edited by
# hand (drift), routes and a server made by hand (never touched), a server
# named getbot that is not getbot's, the admin API on a unix socket, and
# Caddy stopped.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
: "${GETBOT_AUTH:=$(dirname "$GETBOT")/getbot-auth}"
services_require incus caddy busybox
services_init
bail() {
	echo "Bail out! $1"
	services_logs 30
	exit 1
}
[ -x "$GETBOT_AUTH" ] || bail "no getbot-auth at $GETBOT_AUTH"
T=$svc_tmp/t
mkdir -p "$T" || exit 99
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
incus_track network getbot-br0
services_on_exit 'incus_delete_instance cacme'
services_on_exit 'getbot_auth_stop "$T/auth/auth.json"'
incus_delete_instance cacme >/dev/null 2>&1
caddy_start --bare || bail "Caddy did not start"
cd "$T" || exit 99
# the bots' image: the docker provider builds it from runtimes/v1
export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"

admin=${GETBOT_CADDY_ADMIN#http://}
http_port=$GETBOT_CADDY_HTTP_PORT
auth_port=$(svc_free_port)
auth_port2=$(svc_free_port)
fake_port=$(svc_free_port)
while [ "$auth_port2" = "$auth_port" ] || [ "$fake_port" = "$auth_port" ] ||
	[ "$fake_port" = "$auth_port2" ]; do
	auth_port2=$(svc_free_port)
	fake_port=$(svc_free_port)
done
fake="http://127.0.0.1:$fake_port"
CADDY_TEST_KEY=sk-test-not-a-key
export CADDY_TEST_KEY

run() {
	rc=0
	"$GETBOT" "$@" >out 2>err || rc=$?
}
# ok DESCRIPTION: tap_ok on the last status, with getbot's output when it
# failed.
ok() {
	ok_rc=$?
	tap_ok "$ok_rc" "$1"
	[ "$ok_rc" -eq 0 ] || tap_diag "$(cat out err 2>/dev/null)"
}
# planned: the addresses the plan in ./out acts on, with their verbs.
planned() {
	sed -n 's/^  # \([^ ]*\) will be \([a-z ]*\): .*/\1 \2/p' out | sort
}
caddy_get() { # PATH [ADMIN-URL]
	curl -s "${2:-$GETBOT_CADDY_ADMIN}$1"
}
caddy_send() { # METHOD PATH [BODY]
	curl -s -o /dev/null -w '%{http_code}' -X "$1" \
		${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
		"$GETBOT_CADDY_ADMIN$2"
}
route_ids() {
	caddy_get /config/apps/http/servers/getbot/routes |
		json_get '" ".join(sorted(r.get("@id", "-") for r in d or []))'
}

# --- the world behind the routes ---------------------------------------------

# start_fake: the fake central sign-in, with the code-exchange secret
# getbot made in auth.json (so it starts after the first apply).
start_fake() {
	svc_spawn "$svc_tmp/fake-auth.log" python3 "$top_srcdir/tests/fakes/fake-auth.py" \
		--secret-file "$T/auth/auth.json" --port "$fake_port" --port-file "$T/fake.port"
	svc_pids="$svc_pids $svc_pid"
	svc_wait 10 test -s "$T/fake.port"
}

# write_config TEAM...: one org, cacme, with these teams. Alice may use
# every bot of cacme, bob only marketing. ADMIN, LISTEN and AUTH_PORT
# override Caddy's admin, the server block's address and getbot-auth's
# port.
write_config() {
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    image: getbot-test-docker
    profiles: [$GETBOT_INCUS_TEST_PROFILE]
    caddy:
      admin: "${ADMIN:-$admin}"
      listen: ["127.0.0.1:${LISTEN:-$http_port}"]
      https: false
    auth_url: $fake
    auth: {config: $T/auth/auth.json, listen: "127.0.0.1:${AUTH_PORT:-$auth_port}"}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  cacme:
    owner: alice@cacme.example
    target: srv
    limits: {cpu: 1, memory: 512MiB}
    allowed_emails: [alice@cacme.example]
    teams:
YAML
		for team in "$@"; do
			cat <<YAML
      $team:$([ "$team" = marketing ] && printf '\n        allowed_emails: [bob@cacme.example]')
        api_keys: {anthropic: {env: CADDY_TEST_KEY}}
        persona: You help the $team team.
        instructions: Be brief.
YAML
		done
	} >bots.yaml
}

# expect_route ORG TEAM AUTH-PORT [ADMIN-URL]: the bot's route in Caddy is
# exactly what Caddyfile's forward_auth expands to on 2.6.2
# (api-contracts.md), dialling the org's container on a bot port. Prints
# the dial address.
expect_route() {
	caddy_get "/id/getbot-$1-$2" "${4:-}" | python3 -c '
import json, sys
org, team, auth, ip = sys.argv[1:5]
r = json.load(sys.stdin)
dial = r["handle"][0]["routes"][0]["handle"][1]["upstreams"][0]["dial"]
host, port = dial.rsplit(":", 1)
assert host == ip, (dial, ip)
assert 20000 <= int(port) < 30000, dial
want = {"@id": "getbot-%s-%s" % (org, team),
  "match": [{"host": ["%s.getbot.run" % org], "path": ["/" + team, "/%s/*" % team]}],
  "handle": [{"handler": "subroute", "routes": [{"handle": [
    {"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:" + auth}],
     "rewrite": {"method": "GET", "uri": "/verify"},
     "headers": {"request": {"set": {"X-Forwarded-Method": ["{http.request.method}"],
                                     "X-Forwarded-Uri": ["{http.request.uri}"]}}},
     "handle_response": [{"match": {"status_code": [2]}, "routes": [{"handle": [
       {"handler": "headers", "request": {"set": {
         "Remote-User": ["{http.reverse_proxy.header.Remote-User}"]}}}]}]}]},
    {"handler": "reverse_proxy", "upstreams": [{"dial": dial}]}]}]}],
  "terminal": True}
assert r == want, json.dumps(r)
print(dial)
' "$1" "$2" "$3" "$(incus_instance_ip "$1")"
}
# expect_callback ORG AUTH-PORT [ADMIN-URL]
expect_callback() {
	caddy_get "/id/getbot-$1_callback" "${3:-}" | python3 -c '
import json, sys
org, auth = sys.argv[1:3]
r = json.load(sys.stdin)
want = {"@id": "getbot-%s_callback" % org,
  "match": [{"host": ["%s.getbot.run" % org], "path": ["/_getbot/callback"]}],
  "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:" + auth}]}],
  "terminal": True}
assert r == want, json.dumps(r)
' "$1" "$2"
}

# --- a browser ------------------------------------------------------------------

# get URL [CURL-ARGS...]: sets $code, $location, $setcookie; body in ./body.
get() {
	url=$1
	shift
	code=$(curl -s --max-time 20 -o body -D headers -w '%{http_code}' "$@" "$url") ||
		code=000
	location=$(sed -n 's/^[Ll]ocation: *//p' headers | tr -d '\r')
	setcookie=$(sed -n 's/^[Ss]et-[Cc]ookie: *//p' headers | tr -d '\r')
}
# visit PATH [CURL-ARGS...]: a page of cacme.getbot.run through Caddy
# (VISIT_PORT: another Caddy's listener).
visit() {
	path=$1
	shift
	get "http://127.0.0.1:${VISIT_PORT:-$http_port}$path" -H 'Host: cacme.getbot.run' "$@"
}
# sign_in EMAIL PATH: from a page, through the fake sign-in and back
# through the org's callback route; sets $code and $session.
sign_in() {
	session=""
	visit "$2"
	[ "$code" = 302 ] || return 1
	get "$location&login_hint=$1"
	[ "$code" = 302 ] || return 1
	rest=${location#https://cacme.getbot.run}
	visit "$rest"
	session=$(printf '%s\n' "$setcookie" |
		sed -n 's/^getbot_session=\([^;]*\);.*/\1/p')
}
# start_bot TEAM: the docker provider's bot (busybox httpd serving /www)
# answers /TEAM/hello with "bot TEAM".
start_bot() {
	incus_exec cacme docker exec -u 0 "$1-openclaw-1" sh -c \
		"mkdir -p /www/$1 && echo 'bot $1' >/www/$1/hello" >/dev/null
}

# --- from nothing ------------------------------------------------------------------

write_config marketing
run plan
[ "$rc" -eq 0 ] && [ "$(planned | grep '^caddy\.')" = "caddy.callback.cacme created
caddy.route.cacme/marketing created
caddy.server.getbot created" ]
ok "plan from nothing creates the server block, the callback and the route"
run apply --auto-approve
[ "$rc" -eq 0 ]; ok "apply"
start_fake || bail "the fake sign-in did not start"
caddy_get /config/ | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert sorted(c) == ["admin", "apps", "logging"], sorted(c)
assert list(c["apps"]) == ["http"] and list(c["apps"]["http"]) == ["servers"], c["apps"]
servers = c["apps"]["http"]["servers"]
assert list(servers) == ["getbot"], list(servers)
s = servers["getbot"]
assert s["@id"] == "getbot-server", s
assert s["listen"] == ["127.0.0.1:" + sys.argv[1]], s
assert s["automatic_https"] == {"disable": True}, s
ids = sorted(r["@id"] for r in s["routes"])
assert ids == ["getbot-cacme-marketing", "getbot-cacme_callback"], ids
assert sorted(s) == ["@id", "automatic_https", "listen", "routes"], sorted(s)
' "$http_port"
tap_ok $? "Caddy has the getbot server (apps and http made), marked, plain HTTP, with exactly the two routes"
marketing=$(expect_route cacme marketing "$auth_port")
tap_ok $? "the bot's route is forward_auth then reverse_proxy to $marketing"
expect_callback cacme "$auth_port"
tap_ok $? "the callback route goes straight to getbot-auth"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]
ok "a second plan has no changes (the dial address maps back to its org)"

# --- through Caddy ----------------------------------------------------------------

start_bot marketing "$marketing" || tap_diag "the bot did not start"
visit /marketing/hello
case $location in
"$fake/authorize?"*) rc=0 ;;
*) rc=1 ;;
esac
[ "$code" = 302 ] && [ "$rc" = 0 ] && ! grep -q 'bot marketing' body
tap_ok $? "without a session getbot-auth refuses (302 to the sign-in) and the bot is not reached"
sign_in bob@cacme.example /marketing/hello
bob=$session
[ "$code" = 302 ] && [ -n "$bob" ] && [ "$location" = /marketing/hello ]
tap_ok $? "the sign-in comes back through the callback route with a session"
visit /marketing/hello -H "Cookie: getbot_session=$bob"
[ "$code" = 200 ] && [ "$(cat body)" = "bot marketing" ]
tap_ok $? "with it the request goes through forward_auth and reaches the bot (got $code)"
sign_in carol@cacme.example /marketing/hello
[ "$code" = 403 ] && [ -z "$session" ]
tap_ok $? "an email not on the list gets 403 and no session"

# --- what getbot did not make ----------------------------------------------------------

handmade_port=$(svc_free_port)
caddy_send POST /config/apps/http/servers/getbot/routes \
	'{"match":[{"host":["handmade.example"]}],"handle":[{"handler":"static_response","body":"hand"}],"terminal":true}' >/dev/null
caddy_send POST /config/apps/http/servers/getbot/routes \
	'{"@id":"ops-status","match":[{"host":["ops.example"]}],"handle":[{"handler":"static_response","body":"ops"}]}' >/dev/null
code=$(caddy_send PUT /config/apps/http/servers/handmade \
	"{\"listen\":[\"127.0.0.1:$handmade_port\"],\"automatic_https\":{\"disable\":true},
	  \"routes\":[{\"@id\":\"handmade-route\",\"handle\":[{\"handler\":\"static_response\",\"body\":\"hm\"}]}]}")
[ "$code" = 200 ]
tap_ok $? "a route without an @id, one with another @id and a server of its own are added by hand"
# foreign: what is not getbot's, as JSON, to compare later
foreign() {
	caddy_get /config/apps/http/servers | python3 -c '
import json, sys
s = json.load(sys.stdin)
mine = [r for r in s["getbot"]["routes"]
        if r.get("match", [{}])[0].get("host") in (["handmade.example"], ["ops.example"])]
print(json.dumps([mine, s["handmade"]], sort_keys=True))'
}
foreign_before=$(foreign)
run plan --detailed-exitcode
[ "$rc" -eq 0 ] && ! grep -q 'handmade\|ops' out
tap_ok $? "they are never planned for"

# --- a team added, with an edit between getbot's read and write --------------------

svc_spawn "$svc_tmp/meddler.log" python3 "$top_srcdir/tests/fakes/caddy-meddler.py" \
	--admin "$admin" --port-file "$T/meddler.port" --log "$T/meddler.jsonl"
svc_pids="$svc_pids $svc_pid"
svc_wait 10 test -s "$T/meddler.port" || bail "the meddler did not start"
ADMIN=127.0.0.1:$(cat "$T/meddler.port") write_config marketing research
run plan
[ "$rc" -eq 0 ] && [ "$(planned)" = "auth.allowlist.cacme updated in place
caddy.route.cacme/research created
docker.bot.cacme/research created" ]
ok "adding a team plans its bot, its route and its allowlist only"
run apply --auto-approve
[ "$rc" -eq 0 ]; ok "apply, while someone edits Caddy's config between getbot's read and write"
python3 -c '
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
writes = [e for e in log if e["method"] != "GET"]
assert writes, log
assert writes[0]["meddled"] and writes[0]["if_match"] and writes[0]["status"] == 412, writes
assert writes[-1]["if_match"] and writes[-1]["status"] == 200, writes
assert all(e["if_match"] for e in writes), writes
' "$T/meddler.jsonl"
rc=$?
tap_ok $rc "Caddy refused the stale write (412); getbot read again (the ETag from 2.6.2's trailer) and wrote with If-Match"
[ $rc -eq 0 ] || tap_diag "$(cat "$T/meddler.jsonl")"
research=$(expect_route cacme research "$auth_port") &&
	caddy_get /config/apps/http/servers/getbot/routes | grep -q meddled.example
tap_ok $? "the new route is there ($research), and so is the meddler's edit: nothing lost"
[ "$(route_ids)" = "- - getbot-cacme-marketing getbot-cacme-research getbot-cacme_callback ops-status" ]
tap_ok $? "and nothing else changed ($(route_ids))"
start_bot research "$research" || tap_diag "the research bot did not start"
visit /research/hello -H "Cookie: getbot_session=$bob"
[ "$code" = 302 ] && ! grep -q 'bot research' body
tap_ok $? "getbot-auth keeps bob (marketing only) out of research: the bot is not reached ($code)"
sign_in alice@cacme.example /research/hello
visit /research/hello -H "Cookie: getbot_session=$session"
[ "$code" = 200 ] && [ "$(cat body)" = "bot research" ]
tap_ok $? "alice (the whole org) reaches it ($code)"

# --- a team removed ------------------------------------------------------------------

write_config marketing
run plan
[ "$rc" -eq 0 ] && [ "$(planned)" = "auth.allowlist.cacme updated in place
caddy.route.cacme/research deleted
docker.bot.cacme/research deleted" ]
tap_ok $? "removing a team plans the deletion of its bot and its route only"
run apply --auto-approve
[ "$rc" -eq 0 ] &&
	[ "$(route_ids)" = "- - getbot-cacme-marketing getbot-cacme_callback ops-status" ]
tap_ok $? "apply deletes it; the other routes stay ($(route_ids))"
[ "$(foreign)" = "$foreign_before" ]
tap_ok $? "the hand-made routes and server are untouched, byte for byte"

# --- drift ---------------------------------------------------------------------------

code=$(caddy_send DELETE /id/getbot-cacme-marketing)
run plan --detailed-exitcode
[ "$code" = 200 ] && [ "$rc" -eq 2 ] &&
	grep -q '# caddy.route.cacme/marketing will be created: drift: deleted outside getbot' out &&
	[ "$(planned)" = "caddy.route.cacme/marketing created" ]
tap_ok $? "a route deleted by hand is drift"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(expect_route cacme marketing "$auth_port")" = "$marketing" ]
tap_ok $? "apply restores it"
visit /marketing/hello -H "Cookie: getbot_session=$bob"
[ "$code" = 200 ] && [ "$(cat body)" = "bot marketing" ]
tap_ok $? "and the bot answers through it again"
code=$(caddy_send PATCH /id/getbot-cacme-marketing/terminal false)
run plan
[ "$code" = 200 ] &&
	grep -q '# caddy.route.cacme/marketing will be updated in place: drift: handlers changed outside getbot' out
tap_ok $? "a route edited by hand is drift too"
run apply --auto-approve
[ "$rc" -eq 0 ] && expect_route cacme marketing "$auth_port" >/dev/null
tap_ok $? "apply puts it back as it was"

# --- the auth service moves --------------------------------------------------------

AUTH_PORT=$auth_port2 write_config marketing
run plan
[ "$rc" -eq 0 ] && [ "$(planned)" = "auth.service.getbot-auth updated in place
caddy.callback.cacme updated in place
caddy.route.cacme/marketing updated in place" ] &&
	grep -q "~ auth: \"127.0.0.1:$auth_port\" → \"127.0.0.1:$auth_port2\"" out &&
	grep -q "~ upstream: \"127.0.0.1:$auth_port\" → \"127.0.0.1:$auth_port2\"" out
ok "a new auth listen address updates the callback and the route in place"
run apply --auto-approve
[ "$rc" -eq 0 ] && expect_route cacme marketing "$auth_port2" >/dev/null &&
	expect_callback cacme "$auth_port2"
tap_ok $? "apply moves them to $auth_port2"
visit /marketing/hello -H "Cookie: getbot_session=$bob"
[ "$code" = 200 ] && [ "$(cat body)" = "bot marketing" ]
tap_ok $? "getbot-auth, restarted there with the same keys, still lets bob's session reach the bot"
visit /marketing/hello
[ "$code" = 302 ]
tap_ok $? "which refuses a request without a session"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "then no changes"

# --- a server named getbot that is not getbot's ---------------------------------------

code=$(caddy_send PATCH /config/apps/http/servers/getbot/@id '"someone-else"')
before=$(caddy_get /config/)
AUTH_PORT=$auth_port2 write_config marketing research
run plan
[ "$code" = 200 ] && [ "$rc" -eq 1 ] &&
	grep -q "caddy.server.getbot exists but getbot did not make it" out err &&
	[ "$(caddy_get /config/)" = "$before" ]
ok "a server named getbot without getbot's @id is an error, and untouched"
run apply --auto-approve
[ "$rc" -ne 0 ] && [ "$(caddy_get /config/)" = "$before" ]
tap_ok $? "apply refuses too ($rc) and changes nothing"
caddy_send PATCH /config/apps/http/servers/getbot/@id '"getbot-server"' >/dev/null
AUTH_PORT=$auth_port2 write_config marketing

# --- the admin API on a unix socket ----------------------------------------------------

mkdir -p "$T/c2/data" "$T/c2/config"
sock=$T/c2/admin.sock
http2=$(svc_free_port)
printf '{"admin": {"listen": "unix/%s"}, "logging": {"logs": {"default": {"level": "ERROR"}}}}\n' \
	"$sock" >"$T/c2/caddy.json"
svc_spawn "$svc_tmp/caddy2.log" env XDG_DATA_HOME="$T/c2/data" \
	XDG_CONFIG_HOME="$T/c2/config" caddy run --config "$T/c2/caddy.json"
caddy2_pid=$svc_pid
svc_pids="$svc_pids $svc_pid"
svc_wait 20 test -S "$sock" || tap_diag "the second Caddy did not start"
ADMIN=unix/$sock LISTEN=$http2 AUTH_PORT=$auth_port2 write_config marketing
mkdir -p unix && cp bots.yaml unix/ && cd unix || exit 99
run apply --auto-approve
server=$(curl -s --unix-socket "$sock" -H 'Host;' http://localhost/config/apps/http/servers/getbot)
[ "$rc" -eq 0 ] && printf '%s' "$server" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["@id"] == "getbot-server" and s["listen"] == ["127.0.0.1:" + sys.argv[1]], s
assert sorted(r["@id"] for r in s["routes"]) == ["getbot-cacme-marketing", "getbot-cacme_callback"], s
' "$http2"
ok "over a unix socket (an empty Host, as Caddy wants there) apply makes it all"
VISIT_PORT=$http2 visit /marketing/hello -H "Cookie: getbot_session=$bob"
[ "$code" = 200 ] && [ "$(cat body)" = "bot marketing" ]
tap_ok $? "and the bot answers through that Caddy"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "then no changes"
cd .. || exit 99
kill "$caddy2_pid"
wait "$caddy2_pid" 2>/dev/null
AUTH_PORT=$auth_port2 write_config marketing

# --- Caddy stopped ----------------------------------------------------------------------

kill "$GETBOT_CADDY_PID"
wait "$GETBOT_CADDY_PID" 2>/dev/null
run plan
[ "$rc" -eq 1 ] && grep -q "cannot reach Caddy's admin API at $admin" err
ok "with Caddy stopped, plan fails (exit $rc) naming the admin endpoint"

[ "$tap_failed" -eq 0 ] || services_logs 20
tap_done
