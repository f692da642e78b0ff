#!/bin/sh
# The incus provider against a real Incus 6.0 daemon: the bridge
# network and the org containers, each change class, drift, objects getbot
# does not own, and a daemon that is not there. Started by tests/services.sh.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
services_require incus docker caddy
services_init
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-incus.XXXXXX")
bail() { echo "Bail out! $1"; services_logs 30; exit 1; }
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
# every server target has a Caddy (the caddy provider observes it)
caddy_start --bare || bail "Caddy did not start"
services_on_exit incus_test_cleanup
cd "$T" || exit 99

api() { # METHOD PATH [BODY]: the Incus REST API, JSON out
	curl -s --unix-socket "$INCUS_SOCKET" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} "http://incus$2"
}
instance_json() { api GET "/1.0/instances/$1"; }
# The auth provider serves server targets too: its auth.json and
# getbot-auth stay in $T, on a port of their own, and stop at the end.
auth_port=$(svc_free_port)
incus_test_cleanup() {
	getbot_auth_stop "$T/auth/auth.json"
	for name in tacme tglobex handmade; do
		api PUT "/1.0/instances/$name/state" '{"action":"stop","force":true}' >/dev/null 2>&1
		sleep 1
		api DELETE "/1.0/instances/$name" >/dev/null 2>&1
	done
	sleep 1
	# Incus leaves a deleted bridge's firewall rules: the harness
	# removes them with the network
	incus_delete_network getbot-br0 >/dev/null 2>&1
	# what the API leaves when this cleanup deletes, not getbot
	rm -f /run/getbot/docker-tacme.sock /run/getbot/docker-tglobex.sock \
	    /run/getbot/docker-handmade.sock
}
run() {
	rc=0
	"$GETBOT" "$@" >out 2>err || rc=$?
}
write_config() { # ORGS...
	{
		cat <<YAML
version: 1
targets:
  srv: {kind: incus, connect: local, image: getbot-test-docker, profiles: [$GETBOT_INCUS_TEST_PROFILE],
        auth: {config: $T/auth/auth.json, listen: "127.0.0.1:$auth_port"},
        caddy: {admin: "${GETBOT_CADDY_ADMIN#http://}", listen: ["127.0.0.1:$GETBOT_CADDY_HTTP_PORT"], https: false}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
YAML
		for org in "$@"; do
			cat <<YAML
  t$org:
    owner: a@t$org.example
    target: srv
    limits: {cpu: ${CPU:-1}, memory: 512MiB}
    teams: {}
YAML
		done
	} >bots.yaml
}
incus_test_cleanup

write_config acme
run plan
[ "$rc" -eq 0 ] && grep -q '# incus.network.getbot-br0 will be created: not found' out &&
	grep -q '# incus.container.tacme will be created: not found' out
tap_ok $? "plan from nothing creates the bridge and the org's container"
run apply --auto-approve
tap_ok "$rc" "apply"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
instance_json tacme | python3 -c "
import json, sys
m = json.load(sys.stdin)['metadata']
c = m['config']; d = m['devices']
assert m['status'] == 'Running', m['status']
assert c['user.getbot.managed'] == 'true' and c['user.getbot.org'] == 'tacme', c
assert c['security.nesting'] == 'true' and c['limits.cpu'] == '1', c
assert d['eth0']['network'] == 'getbot-br0', d
assert d['docker']['type'] == 'proxy' and d['docker']['listen'] == 'unix:/run/getbot/docker-tacme.sock', d"
tap_ok $? "the container runs, marked, nested, limited, on the bridge, with its Docker socket proxied"
api GET /1.0/networks/getbot-br0 | python3 -c "
import json, sys
c = json.load(sys.stdin)['metadata']['config']
assert c['ipv4.address'] == '10.199.0.1/24' and c['ipv4.nat'] == 'true' and c['user.getbot.managed'] == 'true', c"
tap_ok $? "the bridge is 10.199.0.0/24 with NAT, marked"
out=$(incus_exec tacme cat /etc/docker/daemon.json)
[ "$out" = '{"log-driver": "local"}' ]
tap_ok $? "provisioning through the exec API: Docker is there (not reinstalled), with bounded logs"
[ "$out" = '{"log-driver": "local"}' ] || tap_diag "$out"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "a second plan has no changes"

created=$(instance_json tacme | python3 -c "import json,sys; print(json.load(sys.stdin)['metadata']['created_at'])")
CPU=2; write_config acme
run plan
grep -q 'incus.container.tacme will be updated in place: limits.cpu changed' out
tap_ok $? "a limit change plans an in-place update"
run apply --auto-approve
instance_json tacme | python3 -c "
import json, sys
m = json.load(sys.stdin)['metadata']
assert m['config']['limits.cpu'] == '2' and m['created_at'] == '$created', m['config']"
tap_ok $? "apply changes the limit without recreating the container"

api PUT /1.0/instances/tacme/state '{"action":"stop","force":true,"timeout":30}' >/dev/null
sleep 2
run plan
grep -q 'incus.container.tacme will be updated in place: drift: status changed outside getbot' out
tap_ok $? "a container stopped by hand is drift"
run apply --auto-approve
[ "$(instance_json tacme | python3 -c "import json,sys; print(json.load(sys.stdin)['metadata']['status'])")" = Running ]
tap_ok $? "apply starts it again"

# A container made before getbot isolated the orgs' ports: its NIC lacks
# security.port_isolation. Plan sees it; apply sets it in place.
svc_wait 30 test -n "$(incus_instance_ip tacme)"
ip_before=$(incus_instance_ip tacme)
devices=$(instance_json tacme | python3 -c "
import json, sys
d = json.load(sys.stdin)['metadata']['devices']
del d['eth0']['security.port_isolation']
print(json.dumps({'devices': d}))")
api PATCH /1.0/instances/tacme "$devices" >/dev/null
instance_json tacme | python3 -c "
import json, sys
assert 'security.port_isolation' not in json.load(sys.stdin)['metadata']['devices']['eth0']"
tap_ok $? "(setup) tacme's NIC is not isolated, as before getbot set it"
run plan
grep -q 'incus.container.tacme will be updated in place: .*port_isolation changed' out
tap_ok $? "plan observes it and plans an in-place update"
grep -q 'incus.container.tacme will be updated in place: .*port_isolation changed' out ||
	tap_diag "$(cat out err)"
run apply --auto-approve
instance_json tacme | python3 -c "
import json, sys
m = json.load(sys.stdin)['metadata']
assert m['devices']['eth0'].get('security.port_isolation') == 'true', m['devices']
assert m['created_at'] == '$created' and m['status'] == 'Running', m['status']"
tap_ok $? "apply isolates its NIC, without recreating or stopping the container"
svc_wait 30 test -n "$(incus_instance_ip tacme)"
[ "$(incus_instance_ip tacme)" = "$ip_before" ]
tap_ok $? "and it keeps its address ($ip_before)"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "the next plan has no changes"

api POST /1.0/instances "{\"name\":\"handmade\",\"source\":{\"type\":\"image\",\"alias\":\"getbot-test-docker\"},\"profiles\":[\"default\",\"$GETBOT_INCUS_TEST_PROFILE\"]}" >/dev/null
sleep 3
write_config acme globex
run plan
! grep -q handmade out; tap_ok $? "a container made by hand is never planned for"
run apply --auto-approve
[ "$rc" -eq 0 ] && instance_json tglobex | grep -q '"status":"Running"'
tap_ok $? "a new org gets its container; the first is untouched"

write_config globex
run plan
grep -q '# incus.container.tacme will be deleted: no longer in config' out && ! grep -q handmade out
tap_ok $? "removing an org plans its container's deletion only"
run apply --auto-approve
instance_json tacme | grep -q '"error_code":404' && [ ! -e /run/getbot/docker-tacme.sock ]
tap_ok $? "apply deletes it, and its proxy socket on the host"
instance_json handmade | grep -q '"name":"handmade"'; tap_ok $? "the hand-made container is still there"

rc=0
INCUS_SOCKET=$T/nowhere.sock "$GETBOT" plan >out 2>err || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot reach $T/nowhere.sock" err
tap_ok $? "an Incus that is not there is a clear error naming the socket"
incus_test_cleanup
rm -rf "$T"
tap_done
