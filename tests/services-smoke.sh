#!/bin/sh
# The self-hosted target's test services, proven end to end the way the
# providers will use them: Incus started (or reused), the Docker-in-Incus test
# image imported, a container launched through the REST API with the test
# profile on a bridge of its own, its dockerd reached through a proxy
# device on the host, a FROM-scratch busybox bot built with /build, run,
# healthy, and reached from the host over the bridge and through Caddy.
# Everything is removed at the end; the test image stays, cached.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"

services_require incus docker caddy busybox
services_init

# step DESCRIPTION: time the step that just ended, for the diagnostics.
step_t=$(date +%s)
step() {
	now=$(date +%s)
	tap_diag "$1: $((now - step_t)) s"
	step_t=$now
}

fail_setup() {
	tap_ok 1 "$1"
	services_logs 30
	tap_done
	exit 1
}

# --- Incus -----------------------------------------------------------------------

incus_start || fail_setup "Incus starts"
server=$(incus_call GET /1.0 | json_get 'd["environment"]["server"]')
[ "$server" = incus ]
tap_ok $? "Incus answers on $GETBOT_INCUS_SOCKET ($server)"
step "incus_start"
incus_start
tap_ok $? "incus_start again reuses the running daemon"
[ "$INCUS_SOCKET" = "$GETBOT_INCUS_SOCKET" ]
tap_ok $? "INCUS_SOCKET and GETBOT_INCUS_SOCKET are set"
incus_call GET /1.0/storage-pools/default | json_get 'd["driver"]' >"$svc_tmp/out"
root=$(incus_call GET /1.0/profiles/default | json_get 'd["devices"]["root"]["pool"]')
[ -s "$svc_tmp/out" ] && [ "$root" = default ]
tap_ok $? "the pool default and the default profile's root disk exist"

# What a crashed run left is removed; what a live run made is not.
dead="$PPID-0"
alive=$(svc_run_id $PPID)
incus_call POST /1.0/profiles "{\"name\":\"gbt-dead-$$\",\"config\":{\"user.getbot.test-run\":\"$dead\"}}" >/dev/null &&
	incus_call POST /1.0/profiles "{\"name\":\"gbt-alive-$$\",\"config\":{\"user.getbot.test-run\":\"$alive\"}}" >/dev/null
tap_ok $? "profiles marked by a dead run ($dead) and by a live one ($alive)"
incus_track profile "gbt-alive-$$"
incus_cleanup_test_objects
! incus_exists "/1.0/profiles/gbt-dead-$$" && incus_exists "/1.0/profiles/gbt-alive-$$"
tap_ok $? "incus_cleanup_test_objects removes the dead run's only"

# This Incus as an image server, and put back as it was even after a
# run that served images died.
https_before=$(incus_call GET /1.0 | json_get 'd["config"].get("core.https_address")')
incus_serve_images
tap_ok $? "incus_serve_images: Incus answers on $GETBOT_INCUS_IMAGE_SERVER"
! curl -sf --max-time 5 "$GETBOT_INCUS_IMAGE_SERVER/1.0" >/dev/null
tap_ok $? "to a client that trusts its certificate only"
sed "s/^[^ ]*/$dead/" "$GETBOT_TEST_LOCK.https" >"$svc_tmp/https" &&
	cat "$svc_tmp/https" >"$GETBOT_TEST_LOCK.https"
incus_https_put_back
[ "$(incus_call GET /1.0 | json_get 'd["config"].get("core.https_address")')" = "$https_before" ] &&
	[ ! -e "$GETBOT_TEST_LOCK.https" ] &&
	! curl -sk --max-time 5 "$GETBOT_INCUS_IMAGE_SERVER/1.0" >/dev/null
tap_ok $? "what a dead run served is put back (core.https_address '$https_before')"

incus_test_profile
tap_ok $? "the test profile $GETBOT_INCUS_TEST_PROFILE"
incus_import_test_image getbot-test-docker
tap_ok $? "the Docker-in-Incus test image is imported"
step "test profile and image"
incus_import_test_image getbot-test-docker
tap_ok $? "importing it again is a no-op"

# A bridge of the test's own (the provider's getbot-br0 is 10.199.0.0/24),
# without NAT: nothing leaves the machine. Incus's firewall rules for it
# (DHCP and DNS) are on, to show they are all gone afterwards.
net="gbtnet$$"
ct="gbt-smoke-$$"
sock="/run/getbot/docker-$ct.sock"
mkdir -p /run/getbot
incus_call POST /1.0/networks "{\"name\":\"$net\",\"type\":\"bridge\",
  \"config\":{\"ipv4.address\":\"10.198.0.1/24\",\"ipv4.nat\":\"false\",
  \"ipv6.address\":\"none\",
  \"user.getbot.test-run\":\"$GETBOT_TEST_RUN\"}}" >/dev/null
tap_ok $? "a test bridge $net, 10.198.0.0/24"

# The container, as the provider creates it, plus the test profile; but
# not marked user.getbot.managed: a provider test on the same daemon
# would take it for a bot no longer in its config and delete it.
incus_call POST /1.0/instances "{\"name\":\"$ct\",\"type\":\"container\",\"start\":true,
  \"source\":{\"type\":\"image\",\"alias\":\"getbot-test-docker\"},
  \"profiles\":[\"default\",\"$GETBOT_INCUS_TEST_PROFILE\"],
  \"config\":{\"limits.cpu\":\"2\",\"limits.memory\":\"2GiB\",\"security.nesting\":\"true\"},
  \"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"$net\",\"name\":\"eth0\"},
    \"root\":{\"type\":\"disk\",\"path\":\"/\",\"pool\":\"default\"},
    \"docker\":{\"type\":\"proxy\",\"listen\":\"unix:$sock\",
      \"connect\":\"unix:/var/run/docker.sock\",\"bind\":\"host\"}}}" >/dev/null ||
	fail_setup "the container $ct is created"
# Incus honours "start" on create (the instance_create_start extension)
status=$(incus_call GET "/1.0/instances/$ct/state" | json_get 'd["status"]')
[ "$status" = Running ]
tap_ok $? "the container $ct is created and started in one request ($status)"
step "container create and start"
run=$(incus_call GET "/1.0/instances/$ct" | json_get 'd["expanded_config"].get("user.getbot.test-run")')
[ "$run" = "$GETBOT_TEST_RUN" ]
tap_ok $? "it carries the run marker through the test profile"

# --- Docker inside it ------------------------------------------------------------

docker_api() {
	curl -s --max-time 120 --unix-socket "$sock" "$@"
}
if docker_wait "$sock" 90; then
	tap_ok 0 "dockerd inside answers /_ping through the proxy device"
else
	tap_diag "state: $(incus_call GET "/1.0/instances/$ct/state" | json_get 'd["status"]')"
	tap_diag "$(tail -15 "$GETBOT_TEST_INCUS_DIR/logs/$ct/lxc.log" 2>/dev/null)"
	tap_diag "$(incus_exec "$ct" sh -c 'tail -30 /var/log/dockerd.log /var/log/udhcpc.log')"
	fail_setup "dockerd inside answers /_ping through the proxy device"
fi
step "dockerd up"
api=$(docker_api -D - -o /dev/null http://docker/_ping |
	sed -n 's/^[Aa][Pp][Ii]-[Vv]ersion: *//p' | tr -d '\r')
tap_diag "Docker API version $api"
[ -n "$api" ]; tap_ok $? "it announces its API version"
v="/v$api"

busybox_image_context "$svc_tmp/ctx"
tar -C "$svc_tmp/ctx" -cf "$svc_tmp/ctx.tar" .
docker_api -X POST -H 'Content-Type: application/x-tar' \
	--data-binary @"$svc_tmp/ctx.tar" \
	"http://docker$v/build?t=getbot-test-bot:latest&labels=%7B%22getbot.test%22%3A%22true%22%7D" \
	>"$svc_tmp/build.log"
! grep -q '"error"' "$svc_tmp/build.log" && grep -q 'Successfully tagged' "$svc_tmp/build.log"
rc=$?
[ $rc -eq 0 ] || tap_diag "$(tail -5 "$svc_tmp/build.log")"
tap_ok $rc "the busybox bot image builds FROM scratch through /build"
step "docker build"

code=$(docker_api -o "$svc_tmp/create.json" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' \
	"http://docker$v/containers/create?name=bot-marketing" --data-binary '{
  "Image": "getbot-test-bot:latest",
  "Env": ["ANTHROPIC_API_KEY=sk-test-not-a-key"],
  "Labels": {"getbot.managed": "true"},
  "ExposedPorts": {"18789/tcp": {}},
  "HostConfig": {"PortBindings": {"18789/tcp": [{"HostPort": "18789"}]},
                 "RestartPolicy": {"Name": "unless-stopped"}}}')
[ "$code" = 201 ] || tap_diag "$(cat "$svc_tmp/create.json")"
code=$(docker_api -o /dev/null -w '%{http_code}' -X POST \
	"http://docker$v/containers/bot-marketing/start")
[ "$code" = 204 ]; tap_ok $? "the bot container is created and started ($code)"

health() {
	docker_api "http://docker$v/containers/bot-marketing/json" |
		json_get 'd["State"].get("Health", {}).get("Status")'
}
healthy() {
	[ "$(health)" = healthy ]
}
svc_wait 60 healthy
tap_ok $? "it turns healthy ($(health))"
step "bot healthy"

svc_wait 30 test -n "$(incus_instance_ip "$ct")"
ip=$(incus_instance_ip "$ct")
case $ip in
10.198.0.*) rc=0 ;;
*) rc=1 ;;
esac
tap_ok $rc "the container has an address on the bridge ($ip)"
svc_wait 20 curl -sf "http://$ip:18789/healthz"
tap_ok $? "the bot answers from the host over the bridge"
curl -sf "http://$ip:18789/cgi-bin/env" >"$svc_tmp/env"
grep -qx ANTHROPIC_API_KEY "$svc_tmp/env" && ! grep -q sk-test "$svc_tmp/env"
tap_ok $? "it sees its API key (by name) in its environment"
out=$(incus_exec "$ct" cat /etc/getbot-test/init)
rc=$?
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'dockerd --host'
tap_ok $? "incus_exec runs a command in the container (exit $rc)"
incus_exec "$ct" sh -c 'exit 3' >/dev/null
rc=$?
[ $rc -eq 3 ]; tap_ok $? "and returns its exit status ($rc)"

# --- Caddy in front of it ---------------------------------------------------------

caddy_start || fail_setup "Caddy starts"
listen=$(curl -sf "$GETBOT_CADDY_ADMIN/config/apps/http/servers/getbot/listen" |
	json_get 'd[0]')
[ "$listen" = "127.0.0.1:$GETBOT_CADDY_HTTP_PORT" ]
tap_ok $? "Caddy's admin API answers, server getbot on $listen"
curl -sf -X POST -H 'Content-Type: application/json' \
	"$GETBOT_CADDY_ADMIN/config/apps/http/servers/getbot/routes" --data-binary \
	"{\"@id\":\"getbot-test-$$\",\"match\":[{\"host\":[\"acme.getbot.run\"],\"path\":[\"/marketing\",\"/marketing/*\"]}],
	  \"handle\":[{\"handler\":\"rewrite\",\"strip_path_prefix\":\"/marketing\"},
	    {\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"$ip:18789\"}]}],
	  \"terminal\":true}" >/dev/null
tap_ok $? "a route to the bot is added through the admin API"
body=$(curl -sf -H 'Host: acme.getbot.run' \
	"http://127.0.0.1:$GETBOT_CADDY_HTTP_PORT/marketing/healthz")
[ "$body" = ok ]; tap_ok $? "and the bot answers through Caddy"
step "caddy"

# --- cleaning up -------------------------------------------------------------------

code=$(docker_api -o /dev/null -w '%{http_code}' -X DELETE \
	"http://docker$v/containers/bot-marketing?force=1")
[ "$code" = 204 ]; tap_ok $? "the bot container is removed"
incus_delete_instance "$ct"
tap_ok $? "the Incus container is removed"
[ ! -e "$sock" ]; tap_ok $? "and its proxy socket is gone from the host"
incus_delete_network "$net"
tap_ok $? "the test bridge is removed"
rules=$(for table in filter nat mangle raw; do
	iptables -t "$table" -S 2>/dev/null
done | grep -c "Incus network $net\"")
[ "$rules" = 0 ]; tap_ok $? "with every firewall rule Incus made for it ($rules left)"
incus_cleanup_test_objects
left=$(for kind in instances networks profiles; do
	incus_call GET "/1.0/$kind?recursion=1" | svc_incus_stale_names
done)
[ -z "$left" ]; tap_ok $? "nothing of this run is left in Incus ($left)"
step "cleanup"

[ "$tap_failed" -eq 0 ] || services_logs 30
tap_done
