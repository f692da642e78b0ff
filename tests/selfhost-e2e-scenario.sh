#!/bin/sh
# The self-hosted target end to end, every provider at once against the
# real daemons: Incus, Docker inside the org containers, Caddy and
# getbot-auth (started by getbot itself), with the fake central sign-in.
# curl plays the browser: it signs in and reaches each bot through Caddy at
# ORG.DOMAIN/TEAM. Then the change classes as a user meets them, drift,
# objects getbot does not own, and the daemons gone.
#
# Run by selfhost-e2e.sh, once with the server reached locally and once
# through a real sshd, from these variables:
#   E2E_CONNECT  the target's connect: (local, or ssh://root@127.0.0.1:PORT
#                with tests/sshd.sh's SSHD_* for its keys)
#   E2E_PLANS    a directory where each plan's output is kept, by name,
#                with the run's own values (its directory, its ports)
#                listed in E2E_PLANS/values for the comparison
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
: "${E2E_CONNECT:=local}"
services_require incus docker busybox caddy
if [ -d /run/systemd/system ]; then
	services_skip "this machine runs systemd; getbot would install getbot-auth as a unit"
fi
services_init
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-e2e.XXXXXX")
bail() { echo "Bail out! $1"; services_logs 40; exit 1; }
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
caddy_start --bare || bail "Caddy did not start"
incus_track network getbot-br0
AUTH_DIR=$T/etc/getbot
services_on_exit "rm -rf '$T'"
services_on_exit e2e_cleanup
e2e_cleanup() {
	getbot_auth_stop "$AUTH_DIR/auth.json"
	for org in tacme tglob; do
		incus_delete_instance "$org" >/dev/null 2>&1
		rm -f "/run/getbot/docker-$org.sock"
	done
}
e2e_cleanup
mkdir -p "$T/w" && cd "$T/w" || exit 99

export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"
CANARY=${E2E_CANARY:-sk-ant-canary-$$-$(date +%s)}
export TACME_KEY="$CANARY" TGLOB_KEY="$CANARY-2"
AUTH_PORT=$(svc_free_port)
FAKE_PORT=$(svc_free_port)
while [ "$FAKE_PORT" = "$AUTH_PORT" ]; do FAKE_PORT=$(svc_free_port); done
ADMIN=${GETBOT_CADDY_ADMIN#http://}
HTTP=$GETBOT_CADDY_HTTP_PORT

ssh_lines=""
case $E2E_CONNECT in
ssh:*) ssh_lines="    known_hosts: $SSHD_KNOWN_HOSTS
    identity: $SSHD_USER_KEY
" ;;
esac
if [ -n "${E2E_PLANS:-}" ]; then
	mkdir -p "$E2E_PLANS" &&
		printf '%s\n' "$T" "$GETBOT_INCUS_TEST_PROFILE" "$AUTH_PORT" "$FAKE_PORT" \
			"$ADMIN" "$HTTP" >"$E2E_PLANS/values"
fi
# saved NAME: keep the last plan's output (and its errors) as NAME
saved() {
	[ -z "${E2E_PLANS:-}" ] || cat out err >"$E2E_PLANS/$1"
}

# write_config MARKETING_EMAILS ORG[:TEAM,TEAM]...
write_config() {
	marketing=$1
	shift
	cat >bots.yaml <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: $E2E_CONNECT
$ssh_lines    image: getbot-test-docker
    profiles: [$GETBOT_INCUS_TEST_PROFILE]
    domain: getbot.test
    auth_url: http://127.0.0.1:$FAKE_PORT
    caddy: {admin: "$ADMIN", listen: ["127.0.0.1:$HTTP"], https: false}
    auth: {config: $AUTH_DIR/auth.json, listen: "127.0.0.1:$AUTH_PORT", binary: $(dirname "$GETBOT")/getbot-auth}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
YAML
	for spec in "$@"; do
		org=${spec%%:*}
		teams=${spec#*:}
		case $org in
		tacme) printf '  tacme:\n    owner: alice@tacme.example\n    allowed_emails: [alice@tacme.example]\n' ;;
		tglob) printf '  tglob:\n    owner: gina@tglob.example\n    allowed_emails: [gina@tglob.example]\n' ;;
		esac >>bots.yaml
		printf '    target: srv\n    limits: {cpu: 1, memory: 512MiB}\n    teams:\n' >>bots.yaml
		for team in $(echo "$teams" | tr , ' '); do
			key=TACME_KEY
			[ "$org" = tglob ] && key=TGLOB_KEY
			emails=""
			[ "$team" = marketing ] && emails="        allowed_emails: [$marketing]
"
			printf '      %s:\n%s        api_keys: {anthropic: {env: %s}}\n        persona: You are the %s bot.\n        instructions: Be brief.\n' \
				"$team" "$emails" "$key" "$team" >>bots.yaml
		done
	done
}
run() {
	rc=0
	"$GETBOT" "$@" >out 2>err || rc=$?
}
# ok DESCRIPTION: tap_ok on the last status, with getbot's words on failure
ok() {
	ok_rc=$?
	tap_ok "$ok_rc" "$1"
	[ "$ok_rc" -eq 0 ] || tap_diag "exit $rc" "$(cat out err 2>/dev/null | tail -40)"
}
planned() { # the plan's actions, "ADDRESS ACTION", sorted
	sed -n 's/^  # \([^ ]*\) will \(be \)\{0,1\}\([a-z ]*\)[:(].*/\1 \3/p' out | sed 's/ *$//' | sort
}
dk() { org=$1; shift; incus_exec "$org" docker "$@"; }
cid() { dk "$1" ps -aq --no-trunc -f "name=^$2-openclaw-1\$"; }
# seed ORG TEAM: a page only TEAM's own container serves, /TEAM/hello
seed() {
	dk "$1" exec -u 0 "$2-openclaw-1" sh -c "mkdir -p /www/$2 && echo 'bot $2' >/www/$2/hello" >/dev/null
}

# --- the browser -----------------------------------------------------------------
get() { # URL [CURL-ARGS]: $code, $location, $setcookie; the body in ./body
	url=$1
	shift
	code=$(curl -s -m 20 -o body -D headers -w '%{http_code}' "$@" "$url") || code=000
	location=$(sed -n 's/^[Ll]ocation: *//p' headers | tr -d '\r')
	setcookie=$(sed -n 's/^[Ss]et-[Cc]ookie: *//p' headers | tr -d '\r')
}
visit() { # HOST PATH [CURL-ARGS]: through Caddy's plain-HTTP listener
	host=$1
	path=$2
	shift 2
	get "http://127.0.0.1:$HTTP$path" -H "Host: $host" "$@"
}
sign_in() { # EMAIL HOST PATH: the whole flow; $session, then the page
	session=""
	visit "$2" "$3"
	[ "$code" = 302 ] || return 1
	get "$location&login_hint=$1"
	[ "$code" = 302 ] || return 1
	rest=${location#https://}
	visit "${rest%%/*}" "/${rest#*/}"
	session=$(printf '%s\n' "$setcookie" | sed -n 's/^getbot_session=\([^;]*\);.*/\1/p')
	[ -n "$session" ] || return 1
	visit "$2" "$3" -H "Cookie: getbot_session=$session"
}
reaches() { # EMAIL HOST TEAM: signs in and gets "bot TEAM" from /TEAM/hello
	sign_in "$1" "$2" "/$3/hello" && [ "$code" = 200 ] && [ "$(cat body)" = "bot $3" ]
}
refused() { # EMAIL HOST TEAM: signing in ends in 403 without a session
	session=""
	visit "$2" "/$3/hello"
	[ "$code" = 302 ] || return 1
	get "$location&login_hint=$1"
	rest=${location#https://}
	visit "${rest%%/*}" "/${rest#*/}"
	[ "$code" = 403 ] && [ -z "$setcookie" ]
}

# --- from nothing ----------------------------------------------------------------

write_config bob@tacme.example tacme:marketing,sales tglob:ops
run plan
saved from-nothing
[ "$rc" -eq 0 ] && [ "$(planned)" = "auth.allowlist.tacme created
auth.allowlist.tglob created
auth.service.getbot-auth created
caddy.callback.tacme created
caddy.callback.tglob created
caddy.route.tacme/marketing created
caddy.route.tacme/sales created
caddy.route.tglob/ops created
caddy.server.getbot created
docker.bot.tacme/marketing created
docker.bot.tacme/sales created
docker.bot.tglob/ops created
docker.image.tacme:v1 created
docker.image.tglob:v1 created
incus.container.tacme created
incus.container.tglob created
incus.network.getbot-br0 created" ]
ok "plan from nothing: network, containers, images, bots, auth, routes"
[ "$rc" -eq 0 ] || tap_diag "$(planned)"
run apply --auto-approve
[ "$rc" -eq 0 ] && grep -q 'Apply complete: 17 succeeded, 0 failed' out
ok "apply from nothing"
[ "$(stat -c %a "$AUTH_DIR/auth.json")" = 600 ] &&
	python3 - "$AUTH_DIR/auth.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert sorted(a["orgs"]) == ["tacme", "tglob"], a["orgs"]
assert a["orgs"]["tacme"]["domain"] == "tacme.getbot.test"
assert a["orgs"]["tacme"]["bots"]["marketing"]["emails"] == ["bob@tacme.example"], a["orgs"]["tacme"]
PY
tap_ok $? "auth.json (0600) holds both orgs' allowlists"
SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["code_exchange_secret"])' "$AUTH_DIR/auth.json")
SIGNING=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signing_key"])' "$AUTH_DIR/auth.json")
python3 "$top_srcdir/tests/fakes/fake-auth.py" --secret "$SECRET" --port "$FAKE_PORT" \
	--port-file "$T/fake.port" 2>"$svc_tmp/fake-auth.log" 9>&- &
services_on_exit "kill $! 2>/dev/null"
svc_wait 10 test -s "$T/fake.port" || bail "the fake sign-in did not start"
for t in marketing sales; do seed tacme $t; done
seed tglob ops

reaches alice@tacme.example tacme.getbot.test marketing &&
	reaches alice@tacme.example tacme.getbot.test sales
tap_ok $? "an org's email signs in through Caddy and reaches each of its bots"
reaches bob@tacme.example tacme.getbot.test marketing
tap_ok $? "a bot's email reaches that bot"
refused bob@tacme.example tacme.getbot.test sales
tap_ok $? "and is refused by the other (403, no session)"
reaches gina@tglob.example tglob.getbot.test ops && refused alice@tacme.example tglob.getbot.test ops
tap_ok $? "the second org has its own bot and its own people"
run plan --detailed-exitcode
saved no-changes
[ "$rc" -eq 0 ]; ok "a second plan has no changes (--detailed-exitcode 0)"
# the benchmark's figures (make bench): three more no-op plans, each one's
# wall time and the ssh channels it opened, for the driver to print
if [ -n "${E2E_PLANS:-}" ]; then
	for i in 1 2 3; do
		t0=$(date +%s.%N)
		GETBOT_STATS=$E2E_PLANS/stats "$GETBOT" plan >/dev/null 2>&1
		echo "$t0 $(date +%s.%N)" >>"$E2E_PLANS/times"
	done
fi
mk_port=$(dk tacme inspect -f '{{index .Config.Labels "getbot.port"}}' marketing-openclaw-1)
mk_ip=$(incus_instance_ip tacme)
incus_exec tacme curl -sf -m 3 -o /dev/null "http://$mk_ip:$mk_port/healthz" &&
	! incus_exec tglob curl -sf -m 3 -o /dev/null "http://$mk_ip:$mk_port/healthz"
tap_ok $? "another org's container cannot reach a bot past Caddy (port isolation on the bridge)"

# --- what is not getbot's --------------------------------------------------------
curl -s -X POST -H 'Content-Type: application/json' "$GETBOT_CADDY_ADMIN/config/apps/http/servers/getbot/routes" \
	-d '{"match":[{"host":["handmade.getbot.test"]}],"handle":[{"handler":"static_response","body":"hand"}]}' >/dev/null
incus_call POST /1.0/instances "{\"name\":\"handmade\",\"source\":{\"type\":\"image\",\"alias\":\"getbot-test-docker\"},\"profiles\":[\"default\",\"$GETBOT_INCUS_TEST_PROFILE\"]}" >/dev/null
services_on_exit 'incus_delete_instance handmade >/dev/null 2>&1'
run plan --detailed-exitcode
saved handmade
[ "$rc" -eq 0 ]; ok "a route and a container made by hand are not planned for"

# --- an allowlist ----------------------------------------------------------------
ids_before="$(cid tacme marketing) $(cid tacme sales) $(cid tglob ops)"
auth_pid=$(cat "$AUTH_DIR/getbot-auth.pid")
write_config carol@tacme.example tacme:marketing,sales tglob:ops
run plan
saved allowlist
[ "$rc" -eq 0 ] && [ "$(planned)" = "auth.allowlist.tacme updated in place" ]
ok "an allowlist change plans one in-place update of auth.json"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(cat "$AUTH_DIR/getbot-auth.pid")" = "$auth_pid" ] &&
	[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signing_key"])' "$AUTH_DIR/auth.json")" = "$SIGNING" ]
ok "apply rewrites it for the same getbot-auth, keys kept"
reaches carol@tacme.example tacme.getbot.test marketing
tap_ok $? "the new email gets in"
refused bob@tacme.example tacme.getbot.test marketing
tap_ok $? "the removed one is refused"
ids_after="$(cid tacme marketing) $(cid tacme sales) $(cid tglob ops)"
[ "$ids_after" = "$ids_before" ]
tap_ok $? "no container was touched"
[ "$ids_after" = "$ids_before" ] || tap_diag "before: $ids_before" "after: $ids_after" "$(cat out err)"

# --- a key -----------------------------------------------------------------------
dk tacme exec marketing-openclaw-1 sh -c 'echo kept >/home/node/.openclaw/workspace/notes'
export TACME_KEY="$CANARY-rotated"
run plan
saved key
[ "$rc" -eq 0 ] && [ "$(planned)" = "docker.bot.tacme/marketing have its secrets updated
docker.bot.tacme/sales have its secrets updated" ] &&
	grep -q '~ secret ANTHROPIC_API_KEY (fingerprint [0-9a-f]\{8\} → [0-9a-f]\{8\})' out
ok "a rotated key plans update-secret of the bots that use it, by fingerprint"
[ "$rc" -eq 0 ] || tap_diag "$(planned)"
run apply --auto-approve
seed tacme marketing
seed tacme sales
[ "$rc" -eq 0 ] && [ "$(cid tacme marketing)" != "${ids_before%% *}" ] &&
	[ "$(dk tacme exec marketing-openclaw-1 cat /home/node/.openclaw/workspace/notes)" = kept ] &&
	reaches carol@tacme.example tacme.getbot.test marketing
ok "apply recreates the container; its workspace survives and it answers"

# --- persona and --replace -----------------------------------------------------------
sed -i 's/You are the sales bot./You are a new sales bot./' bots.yaml
run plan
saved persona
[ "$rc" -eq 3 ] && grep -q 'persona' err
ok "a persona change is refused (exit 3)"
dk tacme exec sales-openclaw-1 sh -c 'echo gone >/home/node/.openclaw/workspace/notes'
sales_id=$(cid tacme sales)
run plan --replace docker.bot.tacme/sales
saved replace
[ "$rc" -eq 0 ] && grep -q 'docker.bot.tacme/sales will be replaced' out &&
	grep -q "volumes openclaw-config and openclaw-workspace" out
ok "--replace plans the rebuild and says what is lost"
run apply --auto-approve --replace docker.bot.tacme/sales
[ "$rc" -eq 0 ] && [ "$(cid tacme sales)" != "$sales_id" ] &&
	! dk tacme exec sales-openclaw-1 cat /home/node/.openclaw/workspace/notes >/dev/null 2>&1 &&
	dk tacme exec sales-openclaw-1 cat /home/node/.openclaw/IDENTITY.md | grep -q 'You are a new sales bot.'
ok "apply rebuilds it with fresh volumes and the new persona"

# --- drift -----------------------------------------------------------------------
curl -s -X DELETE "$GETBOT_CADDY_ADMIN/id/getbot-tacme-marketing" >/dev/null
dk tacme stop sales-openclaw-1 >/dev/null
run plan
saved drift
[ "$rc" -eq 0 ] && grep -q 'caddy.route.tacme/marketing will be created' out &&
	grep -q 'docker.bot.tacme/sales will be updated in place: drift: state changed outside getbot' out
ok "a route deleted and a bot stopped by hand are planned back"
run apply --auto-approve
seed tacme sales
[ "$rc" -eq 0 ] && reaches carol@tacme.example tacme.getbot.test marketing &&
	reaches alice@tacme.example tacme.getbot.test sales
ok "apply restores both"

# --- the server's sshd killed during an apply (over ssh only) ---------------------
case $E2E_CONNECT in
ssh:*)
	. "$top_srcdir/tests/sshd.sh"
	write_config carol@tacme.example tacme:marketing,sales,support tglob:ops
	sed -i 's/You are the sales bot./You are a new sales bot./' bots.yaml
	"$GETBOT" apply --auto-approve >out 2>err &
	apply_pid=$!
	svc_wait 120 grep -q 'docker\.bot\.tacme/support: creating' out
	sshd_kill
	rc=0
	wait "$apply_pid" || rc=$?
	[ "$rc" -ne 0 ] && grep -q "srv (ssh root@127\.0\.0\.1:$SSHD_PORT)" err
	ok "sshd killed during an apply: it fails, naming the server"
	tap_diag "$(grep . err | head -5)"
	sshd_relaunch || bail "sshd did not start again"
	run plan
	saved sshd-killed
	[ "$rc" -eq 0 ]
	ok "the next plan reads the state and the journal, and says what is left"
	tap_diag "$(planned)"
	run apply --auto-approve
	[ "$rc" -eq 0 ]
	ok "the next apply converges"
	run plan --detailed-exitcode
	[ "$rc" -eq 0 ]
	ok "then a plan has no changes"
	seed tacme support
	reaches alice@tacme.example tacme.getbot.test support
	tap_ok $? "and the new bot answers through Caddy"
	;;
esac

# --- removals --------------------------------------------------------------------
write_config carol@tacme.example tacme:marketing tglob:ops
mk_id=$(cid tacme marketing)
run apply --auto-approve
routes=$(curl -s "$GETBOT_CADDY_ADMIN/config/apps/http/servers/getbot/routes")
[ "$rc" -eq 0 ] && [ -z "$(cid tacme sales)" ] && [ "$(cid tacme marketing)" = "$mk_id" ] &&
	dk tacme volume inspect sales_openclaw-workspace >/dev/null &&
	! echo "$routes" | grep -q getbot-tacme-sales && echo "$routes" | grep -q getbot-tacme-marketing
ok "removing a team removes its route and container, keeps its volumes, leaves the rest"
write_config carol@tacme.example tacme:marketing
run apply --auto-approve
routes=$(curl -s "$GETBOT_CADDY_ADMIN/config/apps/http/servers/getbot/routes")
[ "$rc" -eq 0 ] && ! incus_call GET /1.0/instances/tglob >/dev/null 2>&1 &&
	! echo "$routes" | grep -q 'getbot-tglob' &&
	! grep -q tglob "$AUTH_DIR/auth.json" && reaches carol@tacme.example tacme.getbot.test marketing
ok "removing an org deletes its container, routes and allowlist"
echo "$routes" | grep -q handmade.getbot.test && incus_call GET /1.0/instances/handmade >/dev/null
tap_ok $? "the hand-made route and container are still there"

# --- the daemons gone ---------------------------------------------------------------
rc=0
INCUS_SOCKET=$T/no-incus.sock "$GETBOT" plan >out 2>err || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot reach $T/no-incus.sock" err
ok "Incus not answering: plan fails naming its socket"
kill "$GETBOT_CADDY_PID"
svc_wait 10 sh -c "! curl -s $GETBOT_CADDY_ADMIN/config/ >/dev/null"
run plan
[ "$rc" -eq 1 ] && grep -q "$ADMIN" err
ok "Caddy not answering: plan fails naming its admin endpoint"

! grep -rq -e "$CANARY" -e "$SECRET" -e "$SIGNING" out err .getbot
tap_ok $? "no key, signing key or exchange secret in output or state"
tap_done
