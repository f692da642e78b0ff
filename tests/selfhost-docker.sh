#!/bin/sh
# The docker provider against Docker inside a real Incus org container: the
# image built from the runtime's build context, the bot with its volumes,
# keys, health check and compose labels, each change class, drift, what
# getbot does not own, and a bot that never turns healthy.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
services_require incus docker busybox caddy
services_init
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-docker.XXXXXX")
bail() { echo "Bail out! $1"; services_logs 30; exit 1; }
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
caddy_start --bare || bail "Caddy did not start"
incus_track network getbot-br0
services_on_exit docker_test_cleanup
cd "$T" || exit 99

ORG=tdock
SOCK=/run/getbot/docker-$ORG.sock
# docker's CLI inside the org container: its attach streams (exec) do not
# survive Incus's proxy device, and the org's own CLI is what an admin
# would use
dk() { incus_exec "$ORG" docker "$@"; }
docker_test_cleanup() {
	getbot_auth_stop "$T/auth/auth.json"
	incus_call PUT "/1.0/instances/$ORG/state" '{"action":"stop","force":true}' >/dev/null 2>&1
	sleep 1
	incus_call DELETE "/1.0/instances/$ORG" >/dev/null 2>&1
	rm -f "$SOCK"
}
docker_test_cleanup
run() {
	rc=0
	"$GETBOT" "$@" >out 2>err || rc=$?
	cat out err >>"$T/all-output"
}

# Build contexts: v1 and v2 answer; broken never turns healthy.
export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"
cp -r "$T/runtimes/v1" "$T/runtimes/v2"
echo 'version two' >"$T/runtimes/v2/www/version"
cp -r "$T/runtimes/v1" "$T/runtimes/broken"
rm "$T/runtimes/broken/www/healthz"

CANARY1="sk-canary-$$-one-$(date +%s)"
CANARY2="sk-canary-$$-two-$(date +%s)"
export TDOCK_KEY="$CANARY1"
AUTH_PORT=$(svc_free_port)
write_config() { # TEAM[:RUNTIME[:PERSONA]]...
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    image: getbot-test-docker
    profiles: [$GETBOT_INCUS_TEST_PROFILE]
    domain: getbot.test
    caddy: {admin: "127.0.0.1:${GETBOT_CADDY_ADMIN##*:}", listen: ["127.0.0.1:$GETBOT_CADDY_HTTP_PORT"], https: false}
    auth: {config: $T/auth/auth.json, listen: "127.0.0.1:$AUTH_PORT"}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  $ORG:
    owner: a@$ORG.example
    target: srv
    teams:
YAML
		for spec in "$@"; do
			team=${spec%%:*}
			rest=${spec#"$team"}; rest=${rest#:}
			runtime=${rest%%:*}; persona=${rest#"$runtime"}; persona=${persona#:}
			cat <<YAML
      $team:
        runtime: ${runtime:-v1}
        api_keys: {anthropic: {env: TDOCK_KEY}}
        persona: ${persona:-You are the $team bot.}
        instructions: Be brief.
YAML
		done
	} >bots.yaml
}
cid() { dk ps -aq --no-trunc -f "name=^$1-openclaw-1\$"; }
image_id() { dk images -q --no-trunc "getbot/openclaw:$1"; }
bot_get() { # TEAM PATH: through the org container's address
	curl -s -m 10 "http://$(incus_instance_ip $ORG):$(bot_port "$1")$2"
}
bot_port() { dk inspect -f '{{index .Config.Labels "getbot.port"}}' "$1-openclaw-1"; }
no_canary() { ! grep -rq -e "$CANARY1" -e "$CANARY2" "$T/all-output" .getbot "$@"; }

write_config marketing
run plan
[ "$rc" -eq 0 ] && grep -q "# docker.image.$ORG:v1 will be created: not found" out &&
	grep -q "# docker.bot.$ORG/marketing will be created: not found" out
tap_ok $? "plan from nothing builds the image and creates the bot"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
run apply --auto-approve
tap_ok "$rc" "apply from nothing"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
[ "$(dk inspect -f '{{.State.Health.Status}}' marketing-openclaw-1)" = healthy ]
tap_ok $? "the bot runs and is healthy"
dk inspect marketing-openclaw-1 | python3 -c "
import json, sys
c = json.load(sys.stdin)[0]
l = c['Config']['Labels']
assert l['getbot.managed'] == 'true' and l['getbot.org'] == '$ORG' and l['getbot.team'] == 'marketing', l
assert len(l['getbot.secret-fpr.ANTHROPIC_API_KEY']) == 32, l
assert l['com.docker.compose.project'] == 'marketing' and l['com.docker.compose.service'] == 'openclaw', l
assert c['HostConfig']['RestartPolicy']['Name'] == 'unless-stopped'
assert c['Config']['Healthcheck']['Test'][0] == 'CMD', c['Config']['Healthcheck']
m = {x['Destination']: x['Name'] for x in c['Mounts']}
assert m == {'/home/node/.openclaw': 'marketing_openclaw-config', '/home/node/.openclaw/workspace': 'marketing_openclaw-workspace'}, m"
tap_ok $? "labels (markers, fingerprint, compose), restart policy, health check and volumes"
owners=$(dk exec marketing-openclaw-1 stat -c %u /home/node/.openclaw /home/node/.openclaw/workspace 2>&1)
[ "$(echo $owners)" = "1000 1000" ]
tap_ok $? "both volumes belong to UID 1000"
[ "$(echo $owners)" = "1000 1000" ] || tap_diag "$owners"
dk exec marketing-openclaw-1 cat /home/node/.openclaw/IDENTITY.md | grep -q 'You are the marketing bot.'
tap_ok $? "IDENTITY.md holds the persona"
bot_get marketing /cgi-bin/env | grep -qx ANTHROPIC_API_KEY
tap_ok $? "the bot answers on the org container's address, with its key in the environment"
incus_exec $ORG cat /srv/getbot/marketing/compose.yaml >compose.yaml &&
	grep -q 'ANTHROPIC_API_KEY: ${ANTHROPIC_API_KEY}' compose.yaml &&
	grep -q 'image: getbot/openclaw:v1' compose.yaml
tap_ok $? "the rendered compose file is beside the bot, keys as references"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "a second plan has no changes"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

# a file in the workspace must survive every recreation below
dk exec marketing-openclaw-1 /bin/sh -c 'echo kept >/home/node/.openclaw/workspace/notes'
first=$(cid marketing)
export TDOCK_KEY="$CANARY2"
run plan
grep -q "docker.bot.$ORG/marketing will have its secrets updated: ANTHROPIC_API_KEY changed" out && grep -q 'ANTHROPIC_API_KEY' out &&
	[ "$(grep -c '^  # ' out)" -eq 1 ]
tap_ok $? "a rotated key plans update-secret of the bot only"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(cid marketing)" != "$first" ] &&
	[ "$(dk exec marketing-openclaw-1 cat /home/node/.openclaw/workspace/notes)" = kept ]
tap_ok $? "apply recreates the container; the workspace survives"

img=$(image_id v1); first=$(cid marketing)
write_config marketing sales
run plan
grep -q "docker.bot.$ORG/sales will be created" out && [ "$(grep -c '^  # docker\.' out)" -eq 1 ]
tap_ok $? "adding a team plans only its bot (of the docker objects)"
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(cid marketing)" = "$first" ] && [ "$(image_id v1)" = "$img" ] &&
	bot_get sales /healthz | grep -q ok
tap_ok $? "apply adds it without touching the other bot or the image"
[ "$(bot_port sales)" != "$(bot_port marketing)" ]
tap_ok $? "each bot has its own port"

write_config marketing:v2 sales
run plan
grep -q "docker.image.$ORG:v2 will be created" out &&
	grep -q "docker.bot.$ORG/marketing will be updated in place: runtime, context changed" out
tap_ok $? "a new runtime plans its image and an update of the bot"
run apply --auto-approve
[ "$rc" -eq 0 ] && bot_get marketing /version | grep -q 'version two' &&
	[ "$(dk exec marketing-openclaw-1 cat /home/node/.openclaw/workspace/notes)" = kept ]
tap_ok $? "apply rebuilds the bot on the new image; the workspace survives"

write_config "marketing:v2:You are someone else." sales
run plan
[ "$rc" -eq 3 ] && grep -q persona err
tap_ok $? "a persona change is refused with exit 3"
write_config marketing:v2 sales

dk stop sales-openclaw-1 >/dev/null
run plan
grep -q "docker.bot.$ORG/sales will be updated in place: drift: state changed outside getbot" out
tap_ok $? "a bot stopped by hand is drift"
[ "$?" -eq 0 ] || tap_diag "$(cat out)"
first=$(cid sales)
run apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(cid sales)" = "$first" ] &&
	[ "$(dk inspect -f '{{.State.Health.Status}}' sales-openclaw-1)" = healthy ]
tap_ok $? "apply starts it again, the same container"

dk tag getbot/openclaw:v1 local/handmade:1
dk create --name handmade-openclaw-1 local/handmade:1 >/dev/null
dk create --name other local/handmade:1 >/dev/null
run plan
grep -q "docker.bot.$ORG/handmade" out && tap_diag "$(cat out)"
[ "$rc" -eq 0 ] && ! grep -q "handmade\|other" out
tap_ok $? "containers made by hand are not planned for"

write_config marketing:v2
run apply --auto-approve
[ "$rc" -eq 0 ] && [ -z "$(cid sales)" ] && dk volume inspect sales_openclaw-config >/dev/null &&
	[ -n "$(dk ps -aq -f name=handmade-openclaw-1)" ] && [ -n "$(dk ps -aq -f name=other)" ]
tap_ok $? "removing a team removes its container, keeps its volumes and what is not ours"

write_config marketing:v2 sales:broken
start=$(date +%s)
run apply --auto-approve
end=$(date +%s)
[ "$rc" -eq 5 ] && grep -q 'did not turn healthy within 60 s' err && grep -q 'last health check' err
tap_ok $? "a bot that never turns healthy fails the apply with its health log (exit 5)"
[ "$rc" -eq 5 ] || tap_diag "$(cat out err)"
tap_diag "unhealthy apply took $((end - start)) s"
run plan
grep -q "docker.bot.$ORG/sales will be" out
tap_ok $? "the next plan retries it"

dk inspect -f '{{json .Config.Labels}}' marketing-openclaw-1 >labels
incus_exec $ORG cat /srv/getbot/marketing/compose.yaml >compose.yaml
[ -s .getbot/state.json ] && [ -s labels ] && [ -s compose.yaml ] &&
	no_canary "$T/auth" labels compose.yaml
tap_ok $? "no key in any output, the state, auth files, labels or the compose file"
tap_done
