#!/bin/sh
# The auth provider on a real server: auth.json (keys made once, never
# rotated; allowlists per org and bot; atomic, 0600) and the real
# getbot-auth, started by getbot as a daemon (this machine has no systemd),
# reloaded with SIGHUP, restarted when it dies, stopped with the last org.
# The sign-in goes through the real getbot-auth and the fake central
# sign-in server (tests/fakes/fake-auth.py), with curl as the browser
# talking to getbot-auth as Caddy would (X-Forwarded-* headers). The
# server target also has the other providers of server targets make their
# part: org containers in a real Incus, bots in their Docker, routes in a
# real Caddy (tests/services.sh); this test looks at the auth provider's.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
services_require incus docker caddy busybox
if [ -d /run/systemd/system ]; then
	# getbot would install a systemd unit on this machine, not a daemon
	services_skip "this machine runs systemd; the test covers the daemon mode"
fi
GETBOT_AUTH_BIN="$(dirname "$GETBOT")/getbot-auth"
[ -x "$GETBOT_AUTH_BIN" ] || services_skip "no getbot-auth beside $GETBOT"
services_init
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-authp.XXXXXX")
bail() { echo "Bail out! $1"; services_logs 30; exit 1; }
AUTH_DIR=$T/etc/getbot
AUTH_JSON=$AUTH_DIR/auth.json
PID_FILE=$AUTH_DIR/getbot-auth.pid
AUTH_LOG=$AUTH_DIR/getbot-auth.log
fake_pid=""
auth_test_cleanup() {
	mountpoint -q "$AUTH_DIR" 2>/dev/null && umount "$AUTH_DIR"
	getbot_auth_stop "$AUTH_JSON"
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	for name in acme globex; do
		incus_delete_instance "$name" >/dev/null 2>&1
	done
	rm -f /run/getbot/docker-acme.sock /run/getbot/docker-globex.sock
	rm -rf "$T"
}
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
caddy_start --bare || bail "Caddy did not start"
services_on_exit auth_test_cleanup
incus_track network getbot-br0
mkdir -p "$T/etc" "$T/w" || bail "no scratch directory"
# the bots' image: the docker provider builds it from runtimes/v1
export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"
cd "$T/w" || exit 99
TEST_ANTHROPIC_KEY=sk-ant-test-not-a-key
export TEST_ANTHROPIC_KEY

auth_port=$(svc_free_port)
fake_port=$(svc_free_port)
while [ "$fake_port" = "$auth_port" ]; do fake_port=$(svc_free_port); done
fake="http://127.0.0.1:$fake_port"

# write_config MARKETING-EMAILS ORG...: bots.yaml with these orgs (acme,
# globex) on one server target.
write_config() {
	marketing=$1
	shift
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    image: getbot-test-docker
    profiles: [$GETBOT_INCUS_TEST_PROFILE]
    domain: getbot.run
    auth_url: $fake
    auth: {config: $AUTH_JSON, listen: "127.0.0.1:$auth_port"}
    caddy: {admin: "${GETBOT_CADDY_ADMIN#http://}", listen: ["127.0.0.1:$GETBOT_CADDY_HTTP_PORT"], https: false}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
YAML
		[ $# -eq 0 ] && echo "orgs: {}" || echo "orgs:"
		for org in "$@"; do
			case $org in
			acme) cat <<YAML
  acme:
    owner: alice@acme.com
    target: srv
    allowed_emails: [alice@acme.com]
    teams:
      marketing:
        allowed_emails: [$marketing]
        api_keys: {anthropic: {env: TEST_ANTHROPIC_KEY}}
        persona: You help the marketing team.
        instructions: Be brief.
      research:
        api_keys: {anthropic: {env: TEST_ANTHROPIC_KEY}}
        persona: You help the research team.
        instructions: Cite sources.
YAML
				;;
			globex) cat <<YAML
  globex:
    owner: gina@globex.com
    target: srv
    allowed_emails: [gina@globex.com]
    teams:
      sales:
        api_keys: {anthropic: {env: TEST_ANTHROPIC_KEY}}
        persona: You help sales.
        instructions: Be kind.
YAML
				;;
			esac
		done
	} >bots.yaml
}

# run ARGS...: getbot, output in out and err (and the transcript); $rc.
run() {
	rc=0
	"$GETBOT" "$@" >out 2>err 9>&- || rc=$?
	cat out err >>"$T/transcript"
}

# The daemon's pid when the pid file names a live getbot-auth, else "".
daemon_pid() {
	[ -f "$PID_FILE" ] || return 0
	p=$(cut -d' ' -f1 "$PID_FILE")
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "getbot-auth --config $AUTH_JSON" &&
		echo "$p"
}

# The keys, as a digest (the test never prints them).
keys_digest() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["signing_key"] + "|" + d["code_exchange_secret"])' "$AUTH_JSON" | cksum
}

# get URL [CURL-ARGS...]: sets $code, $location, $setcookie.
get() {
	url=$1
	shift
	code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$url") ||
		code=000
	location=$(sed -n 's/^[Ll]ocation: *//p' "$T/headers" | tr -d '\r')
	setcookie=$(sed -n 's/^[Ss]et-[Cc]ookie: *//p' "$T/headers" | tr -d '\r')
}

# verify HOST URI [COOKIE]: what Caddy's forward_auth asks getbot-auth.
verify() {
	if [ -n "${3:-}" ]; then
		get "http://127.0.0.1:$auth_port/verify" -H "X-Forwarded-Host: $1" \
			-H "X-Forwarded-Uri: $2" -H 'X-Forwarded-Method: GET' \
			-H "Cookie: getbot_session=$3"
	else
		get "http://127.0.0.1:$auth_port/verify" -H "X-Forwarded-Host: $1" \
			-H "X-Forwarded-Uri: $2" -H 'X-Forwarded-Method: GET'
	fi
}

# sign_in EMAIL HOST URI: the browser's whole flow, through the fake
# sign-in server and back to getbot-auth's callback (as Caddy passes it,
# Host kept). Sets $code (the callback's answer) and $session.
sign_in() {
	session=""
	verify "$2" "$3"
	[ "$code" = 302 ] || return 1
	get "$location&login_hint=$1"
	[ "$code" = 302 ] || return 1
	rest=${location#https://}
	get "http://127.0.0.1:$auth_port/${rest#*/}" -H "Host: ${rest%%/*}"
	session=$(printf '%s\n' "$setcookie" |
		sed -n 's/^getbot_session=\([^;]*\);.*/\1/p')
}

# --- from nothing ------------------------------------------------------------

write_config bob@acme.com acme globex
run plan
[ "$rc" -eq 0 ] &&
	grep -q '# auth.service.getbot-auth will be created: not found' out &&
	grep -q '# auth.allowlist.acme will be created: not found' out &&
	grep -q '# auth.allowlist.globex will be created: not found' out
tap_ok $? "plan from nothing creates the service and one allowlist per org"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

# one action at a time: the docker provider's creates of two bots of one
# org race on the directory they share in the container (Incus's files API
# answers "mkdir /srv: file exists"), which is not this test's business
run apply --auto-approve --parallelism 1
tap_ok "$rc" "apply from nothing"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
[ "$(stat -c %a "$AUTH_JSON" 2>/dev/null)" = 600 ] &&
	[ "$(stat -c %a "$AUTH_DIR")" = 700 ]
tap_ok $? "auth.json is written 0600, in a directory made 0700"
python3 - "$AUTH_JSON" "$fake" "$auth_port" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert len(base64.b64decode(d["signing_key"], validate=True)) == 32
assert len(base64.b64decode(d["code_exchange_secret"], validate=True)) == 32
assert d["signing_key"] != d["code_exchange_secret"]
assert d["version"] == 1 and d["auth_url"] == sys.argv[2], d["auth_url"]
assert d["listen"] == "127.0.0.1:" + sys.argv[3], d["listen"]
assert d["orgs"] == {
    "acme": {"domain": "acme.getbot.run", "emails": ["alice@acme.com"],
             "bots": {"marketing": {"emails": ["bob@acme.com"]},
                      "research": {"emails": []}}},
    "globex": {"domain": "globex.getbot.run", "emails": ["gina@globex.com"],
               "bots": {"sales": {"emails": []}}},
}, d["orgs"]
PY
tap_ok $? "with both keys (32 random bytes each), auth_url, listen and each org's allowlists"
"$GETBOT_AUTH_BIN" --config "$AUTH_JSON" --check >/dev/null 2>&1
tap_ok $? "getbot-auth itself accepts it"
keys=$(keys_digest)

pid=$(daemon_pid)
[ -n "$pid" ]; tap_ok $? "getbot-auth runs, its pid in getbot-auth.pid beside auth.json"
get "http://127.0.0.1:$auth_port/healthz"
[ "$code" = 200 ]; tap_ok $? "and answers on the listen address (got $code)"
verify acme.getbot.run /marketing
case $location in
"$fake/authorize?redirect_uri=https%3A%2F%2Facme.getbot.run%2F_getbot%2Fcallback&state="?*) rc=0 ;;
*) rc=1 ;;
esac
[ "$code" = 302 ] && [ "$rc" = 0 ]
tap_ok $? "/verify sends a stranger to auth_url with the org's callback"
[ "$(readlink "/proc/$pid/fd/0")" = /dev/null ] &&
	[ "$(readlink "/proc/$pid/fd/1")" = "$AUTH_LOG" ] &&
	[ "$(readlink "/proc/$pid/fd/2")" = "$AUTH_LOG" ]
tap_ok $? "the daemon's stdin is /dev/null, its output the log beside auth.json"
leaked_fd=0
for fd in /proc/"$pid"/fd/*; do
	case $(readlink "$fd") in
	"$GETBOT_TEST_LOCK" | "$T"/w/* | "$AUTH_JSON".lock) leaked_fd=1 ;;
	esac
done
[ "$leaked_fd" = 0 ] &&
	[ "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ]
r=$?
tap_ok $r "it inherited no descriptor of getbot's and runs in a session of its own"
[ $r = 0 ] || tap_diag "$(ls -l /proc/"$pid"/fd/)" "$(ps -o pid,ppid,sid,args -p "$pid")"
! tr '\0' '\n' <"/proc/$pid/environ" | grep -q TEST_ANTHROPIC_KEY
tap_ok $? "nor getbot's environment, with its secrets"

run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "a second plan has no changes (exit $rc)"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

# --- the sign-in, then an allowlist change --------------------------------------

python3 "$top_srcdir/tests/fakes/fake-auth.py" --secret-file "$AUTH_JSON" \
	--port "$fake_port" --port-file "$T/fake.port" 2>"$T/fake.log" 9>&- &
fake_pid=$!
svc_wait 10 test -s "$T/fake.port" || bail "the fake sign-in server did not start"

sign_in bob@acme.com acme.getbot.run /marketing/page
bob=$session
[ "$code" = 302 ] && [ -n "$bob" ]
tap_ok $? "a bot's allowed email signs in through the fake (got $code)"
sign_in eve@acme.com acme.getbot.run /marketing
[ "$code" = 403 ] && [ -z "$session" ]
tap_ok $? "an email on no list is refused (got $code)"

write_config eve@acme.com acme globex
run plan -out "$T/plan.bin"
[ "$rc" -eq 0 ] &&
	grep -q '# auth.allowlist.acme will be updated in place: bots changed' out &&
	[ "$(grep -c '^ *# ' out)" = 1 ] &&
	grep -q 'Plan: 0 to add, 1 to change, 0 to replace, 0 to delete' out
tap_ok $? "changing an allowlist plans an update of auth.allowlist.acme only"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
reloads=$(grep -c 'getbot-auth: reloaded' "$AUTH_LOG")
run apply "$T/plan.bin"
tap_ok "$rc" "apply the saved plan"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["orgs"]["acme"]["bots"]["marketing"] == {"emails": ["eve@acme.com"]}, d["orgs"]
assert "globex" in d["orgs"]' "$AUTH_JSON" && [ "$(keys_digest)" = "$keys" ]
tap_ok $? "auth.json is rewritten with the new allowlist and the same keys"
[ "$(daemon_pid)" = "$pid" ] &&
	[ "$(grep -c 'getbot-auth: reloaded' "$AUTH_LOG")" -gt "$reloads" ]
tap_ok $? "the same getbot-auth (pid $pid) reloaded it on SIGHUP"
sign_in eve@acme.com acme.getbot.run /marketing
eve=$session
[ "$code" = 302 ] && [ -n "$eve" ]; tap_ok $? "the new email signs in (got $code)"
sign_in bob@acme.com acme.getbot.run /marketing
[ "$code" = 403 ]; tap_ok $? "the removed one is refused (got $code)"
verify acme.getbot.run /marketing "$bob"
[ "$code" = 302 ]; tap_ok $? "and its old session no longer opens the bot (got $code)"
verify acme.getbot.run /marketing "$eve"
[ "$code" = 200 ]; tap_ok $? "while the new one's does (got $code)"

# --- keys are never rotated --------------------------------------------------------

rm -rf .getbot
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "with the state file lost, observation finds nothing to do (exit $rc)"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(keys_digest)" = "$keys" ]
tap_ok $? "and a re-apply keeps the keys"

kill "$pid"
svc_wait 10 sh -c "! kill -0 $pid" 2>/dev/null
rm -f "$PID_FILE"
run plan
grep -q '# auth.service.getbot-auth will be created' out &&
	[ "$(grep -c '^ *# ' out)" = 1 ]
r=$?
tap_ok $r "a service gone with its pid file is planned anew"
[ $r = 0 ] || tap_diag "$(cat out err)"
run apply --auto-approve
pid=$(daemon_pid)
[ "$rc" -eq 0 ] && [ -n "$pid" ] && [ "$(keys_digest)" = "$keys" ]
tap_ok $? "and made again around the auth.json that is there: same keys"
verify acme.getbot.run /marketing "$eve"
[ "$code" = 200 ]; tap_ok $? "so sessions signed before still open the bot (got $code)"

# --- drift: the service killed -------------------------------------------------------

kill -9 "$pid"
svc_wait 10 sh -c "! kill -0 $pid" 2>/dev/null
run plan --detailed-exitcode
[ "$rc" -eq 2 ] &&
	grep -q '# auth.service.getbot-auth will be updated in place: drift: status changed outside getbot' out
tap_ok $? "a killed getbot-auth is drift (exit $rc)"
run apply --auto-approve
newpid=$(daemon_pid)
get "http://127.0.0.1:$auth_port/healthz"
[ "$rc" -eq 0 ] && [ -n "$newpid" ] && [ "$newpid" != "$pid" ] && [ "$code" = 200 ]
tap_ok $? "apply starts it again (pid $newpid)"
pid=$newpid

# --- the listen address: a restart -----------------------------------------------------

old_port=$auth_port
auth_port=$(svc_free_port)
while [ "$auth_port" = "$fake_port" ]; do auth_port=$(svc_free_port); done
write_config eve@acme.com acme globex
run plan
grep -q '# auth.service.getbot-auth will be updated in place: listen changed' out &&
	[ "$(grep -c '^ *# auth\.' out)" = 1 ] &&
	grep -q '# caddy.route.acme/marketing will be updated in place: auth changed' out
tap_ok $? "a new listen address plans an update of the service (and of the routes that ask it)"
run apply --auto-approve
newpid=$(daemon_pid)
get "http://127.0.0.1:$auth_port/healthz"
new=$code
get "http://127.0.0.1:$old_port/healthz"
[ "$rc" -eq 0 ] && [ "$newpid" != "$pid" ] && [ "$new" = 200 ] && [ "$code" = 000 ] &&
	[ "$(keys_digest)" = "$keys" ]
tap_ok $? "which restarts getbot-auth on it (a reload cannot move it), same keys"
pid=$newpid
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "then no changes (exit $rc)"

chmod 644 "$AUTH_JSON"
run plan
grep -q '# auth.service.getbot-auth will be updated in place: drift: mode changed outside getbot' out
tap_ok $? "an auth.json others may read is drift"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(stat -c %a "$AUTH_JSON")" = 600 ] &&
	[ "$(keys_digest)" = "$keys" ] && [ "$(daemon_pid)" = "$pid" ]
tap_ok $? "apply writes it 0600 again, same keys, and only reloads getbot-auth"

# --- an org goes -------------------------------------------------------------------------

write_config eve@acme.com acme
run plan
grep -q '# auth.allowlist.globex will be deleted: no longer in config' out &&
	! grep -q 'auth.service' out && ! grep -q 'auth.allowlist.acme' out
tap_ok $? "removing an org plans the deletion of its allowlist"
run apply --auto-approve
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d["orgs"]) == ["acme"], d["orgs"]' "$AUTH_JSON" && [ "$rc" -eq 0 ]
tap_ok $? "apply removes its section from auth.json"
verify globex.getbot.run /sales
r1=$code
verify acme.getbot.run /marketing "$eve"
[ "$r1" = 403 ] && [ "$code" = 200 ] && [ "$(daemon_pid)" = "$pid" ]
tap_ok $? "getbot-auth, reloaded, serves the org no more; the other still ($r1, $code)"

# --- a directory getbot cannot write ---------------------------------------------------

if mount --bind "$AUTH_DIR" "$AUTH_DIR" 2>/dev/null &&
	mount -o remount,bind,ro "$AUTH_DIR" 2>/dev/null; then
	cp "$AUTH_JSON" "$T/before.json"
	write_config bob@acme.com acme
	run apply --auto-approve
	{ [ "$rc" -eq 5 ] || [ "$rc" -eq 1 ]; } &&
		grep -q "cannot write '$AUTH_JSON': Read-only file system" out err
	tap_ok $? "a read-only auth.json directory fails the apply clearly (exit $rc)"
	[ "$rc" -eq 5 ] || [ "$rc" -eq 1 ] || tap_diag "$(cat out err)"
	cmp -s "$AUTH_JSON" "$T/before.json" &&
		[ -z "$(ls "$AUTH_DIR" | grep -v -x -e auth.json -e auth.json.lock \
			-e getbot-auth.pid -e getbot-auth.log)" ]
	tap_ok $? "with auth.json as it was and nothing half-written beside it"
	umount "$AUTH_DIR"
	run apply --auto-approve
	sign_in bob@acme.com acme.getbot.run /marketing
	[ "$rc" -eq 0 ] && [ "$code" = 302 ]
	tap_ok $? "once writable again, apply goes through"
else
	mountpoint -q "$AUTH_DIR" && umount "$AUTH_DIR"
	for what in "a read-only directory fails the apply" \
		"nothing half-written" "writable again"; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n - $what # SKIP no read-only bind mount here"
	done
	write_config bob@acme.com acme
	run apply --auto-approve
fi

# --- the last org goes ------------------------------------------------------------------

write_config bob@acme.com
run plan
grep -q '# auth.service.getbot-auth will be deleted: no longer in config' out &&
	grep -q '# auth.allowlist.acme will be deleted: no longer in config' out
tap_ok $? "with no org left, the service goes too"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ -z "$(daemon_pid)" ] && [ ! -e "$PID_FILE" ] &&
	! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q getbot-auth
tap_ok $? "apply stops getbot-auth"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
python3 -c '
import json, sys
assert json.load(open(sys.argv[1]))["orgs"] == {}' "$AUTH_JSON" &&
	[ "$(keys_digest)" = "$keys" ]
tap_ok $? "and keeps auth.json and its keys for the next org"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "then no changes (exit $rc)"

cp "$AUTH_JSON" "$T/kept.json"
printf '{"version": 1, "signing_key": ' >"$AUTH_JSON"
write_config bob@acme.com acme
run plan
[ "$rc" -eq 1 ] &&
	grep -q "observing auth on target 'srv': '$AUTH_JSON': not valid JSON at line 1, column 30; it may hold the keys, which getbot never writes over" err &&
	[ "$(cat "$AUTH_JSON")" = '{"version": 1, "signing_key": ' ]
r=$?
tap_ok $r "an auth.json that does not parse stops the plan, and is left alone (exit $rc)"
[ $r = 0 ] || tap_diag "$(cat out err)"
cp "$T/kept.json" "$AUTH_JSON"

# --- no key anywhere ----------------------------------------------------------------------

leaked=0
key_values=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["signing_key"]); print(d["code_exchange_secret"])' "$AUTH_JSON")
for key in $key_values; do
	for f in "$T/transcript" "$T/plan.bin" .getbot/*; do
		[ -f "$f" ] && grep -qF -- "$key" "$f" && leaked=1 && tap_diag "a key is in $f"
	done
	grep -qF -- "$key" "$AUTH_LOG" && leaked=1 && tap_diag "a key is in the log"
done
[ -s "$T/transcript" ] && [ -s "$T/plan.bin" ]
tap_ok $(( $? + leaked )) "no key in getbot's output, plan file, state, or getbot-auth's log"

tap_done
