#!/bin/sh
# An image from a remote, and Docker installed by getbot for real: this
# Incus serves a fresh Debian 12 without Docker (debootstrap, systemd as
# PID 1) over HTTPS on loopback; getbot creates the org's container from
# it with protocol incus and the server's certificate, installs Docker
# inside through the exec API while its progress shows, and the bot runs.
# Also: a wrong certificate, an operation that outlasts one wait and one
# that outlasts the bound of all waits. Started by tests/services.sh.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
services_require incus docker caddy busybox debootstrap openssl
services_init
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-fresh.XXXXXX")
bail() { echo "Bail out! $1"; services_logs 30; exit 1; }
# step WHAT: how long since the last step, as a comment
step_t=$(date +%s)
step() {
	tap_diag "$1: $(($(date +%s) - step_t)) s"
	step_t=$(date +%s)
}
# debootstrap (only when the cached tarball is missing) before the Incus
# lock: other Incus tests need not wait for it
tarball=$(debian_fresh_tarball) || bail "no fresh Debian image"
step "the fresh image's tarball"
incus_start || bail "Incus did not start"
incus_fresh_image getbot-fresh || bail "the fresh image was not imported"
incus_fresh_profile || bail "no profile for fresh containers"
incus_serve_images || bail "Incus does not serve images over HTTPS"
caddy_start --bare || bail "Caddy did not start"
incus_track network getbot-br0
services_on_exit fresh_cleanup
cd "$T" || exit 99

ORGS="tfresh tfresh2"
fresh_cleanup() {
	getbot_auth_stop "$T/auth/auth.json"
	for org in $ORGS; do
		incus_delete_instance "$org"
		rm -f "/run/getbot/docker-$org.sock"
	done
}
fresh_cleanup
step "Incus, the image served, Caddy"

# Output lines as they arrive, each after the second it came at: apply
# shows its progress while it runs, not at the end.
run() {
	rc=0
	{ "$GETBOT" "$@" 2>err || echo "rc=$?"; } | while IFS= read -r line; do
		printf '%s %s\n' "$(date +%s)" "$line"
	done >timed
	rc=$(sed -n 's/^[0-9]* rc=//p' timed)
	: "${rc:=0}"
	sed -e '/^[0-9]* rc=[0-9]*$/d' -e 's/^[0-9]* //' timed >out
	cat out err >>"$T/all-output"
}
api() { incus_call GET "/1.0/instances/$1" 2>/dev/null; }
config() { api "$1" | json_get "d['config'].get('$2')" 2>/dev/null; }
dk() { # ORG ARGS...: the org's own docker CLI, inside its container
	org=$1
	shift
	incus_exec "$org" docker "$@"
}
bot_port() { dk "$1" inspect -f '{{index .Config.Labels "getbot.port"}}' "$2-openclaw-1" 2>/dev/null; }
bot_get() { # ORG TEAM PATH: through the org container's address
	curl -s -m 10 "http://$(incus_instance_ip "$1"):$(bot_port "$1" "$2")$3"
}

export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"
export TFRESH_KEY="sk-fresh-$$"
AUTH_PORT=$(svc_free_port)
# the server's certificate beside bots.yaml, named relative to it
mkdir -p certs && cp "$GETBOT_INCUS_IMAGE_CERT" certs/server.crt
write_config() { # CERTIFICATE ORG...
	cert=$1
	shift
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    image: {server: "$GETBOT_INCUS_IMAGE_SERVER", protocol: incus, alias: $GETBOT_INCUS_FRESH_IMAGE, certificate: $cert}
    profiles: [$GETBOT_INCUS_FRESH_PROFILE]
    domain: getbot.test
    caddy: {admin: "127.0.0.1:${GETBOT_CADDY_ADMIN##*:}", listen: ["127.0.0.1:$GETBOT_CADDY_HTTP_PORT"], https: false}
    auth: {config: $T/auth/auth.json, listen: "127.0.0.1:$AUTH_PORT"}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
YAML
		for org in "$@"; do
			cat <<YAML
  $org:
    owner: a@$org.example
    target: srv
    teams:
      sales:
        api_keys: {anthropic: {env: TFRESH_KEY}}
        persona: You are the sales bot.
        instructions: Be brief.
YAML
		done
	} >bots.yaml
}

# --- the image and its server --------------------------------------------------

fp=$(sha256sum "$tarball" | cut -d' ' -f1)
tar -tvzf "$tarball" >image-files
[ "$GETBOT_INCUS_FRESH_FINGERPRINT" = "$fp" ] &&
	! grep -Eq ' rootfs/usr/s?bin/dockerd( |$)' image-files &&
	! tar -xzOf "$tarball" rootfs/var/lib/dpkg/status | grep -qx 'Package: docker.io' &&
	grep -Eq ' rootfs/usr/bin/apt-get$' image-files &&
	grep -Eq ' rootfs/usr/sbin/init -> /lib/systemd/systemd$' image-files
tap_ok $? "the image is Debian with apt and systemd as init, and no Docker: no dockerd, no docker.io"
served=$(curl -s --cacert "$GETBOT_INCUS_IMAGE_CERT" \
	"$GETBOT_INCUS_IMAGE_SERVER/1.0/images/aliases/$GETBOT_INCUS_FRESH_IMAGE" |
	json_get 'd["metadata"]["target"]')
[ "$served" = "$fp" ]
tap_ok $? "the server answers over HTTPS, without a client certificate, with that image"

# --- a certificate that is not the server's ----------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout certs/wrong.key -out certs/wrong.crt -days 1 -subj /CN=wrong \
	>/dev/null 2>&1 || bail "openssl made no certificate"
images() { incus_call GET /1.0/images | json_get 'len(d)'; }
write_config certs/wrong.crt tfresh
images_before=$(images)
run plan
[ "$rc" -eq 0 ] && run apply --auto-approve
[ "$rc" -ne 0 ] && grep -q "$GETBOT_INCUS_IMAGE_SERVER" err &&
	! incus_exists /1.0/instances/tfresh && [ "$(images)" = "$images_before" ]
tap_ok $? "a wrong certificate fails, naming the image server, and no container is made"
tap_diag "$(grep . err)"
incus_exists /1.0/networks/getbot-br0 &&
	tap_diag "(the bridge getbot-br0 was made before the container failed)"
step "wrong certificate"

# --- Docker installed by getbot, through waits that time out ----------------------

write_config certs/server.crt tfresh
export GETBOT_INCUS_WAIT_SECONDS=5
start=$(date +%s)
run apply --auto-approve
end=$(date +%s)
unset GETBOT_INCUS_WAIT_SECONDS
tap_ok "$rc" "apply from nothing, each wait 5 s, while Docker installs for longer"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
tap_diag "apply took $((end - start)) s"
step "apply (tfresh)"
[ "$(config tfresh volatile.base_image)" = "$fp" ]
tap_ok $? "the org's container is made from the served image"
docker_wait /run/getbot/docker-tfresh.sock 10 &&
	incus_exec tfresh dpkg-query -W -f '${Status}' docker.io | grep -qx 'install ok installed'
tap_ok $? "getbot installed docker.io inside; its dockerd answers on the org's socket"
grep -q 'incus\.container\.tfresh: installing Docker inside' out
tap_ok $? "the install's progress is in apply's output"
first=$(sed -n 's/^\([0-9]*\) .*incus\.container\.tfresh: installing Docker inside.*/\1/p' timed | head -1)
done_at=$(sed -n 's/^\([0-9]*\) .*incus\.container\.tfresh: created.*/\1/p' timed | head -1)
[ -n "$first" ] && [ -n "$done_at" ] && [ $((done_at - first)) -ge 3 ]
tap_ok $? "the progress shows while it runs (first line $((${done_at:-0} - ${first:-0})) s before the end)"
grep -q 'incus\.container\.tfresh: .*still running after [0-9]* s' out
tap_ok $? "a wait that times out while the install runs says it still runs, and waits on"
tap_diag "$(grep 'still running' out | head -3)"
[ "$(bot_get tfresh sales /healthz)" = ok ]
tap_ok $? "the bot answers on the org container's address"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]
tap_ok $? "a second plan has no changes"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

# --- a bound on the waits ----------------------------------------------------------

write_config certs/server.crt tfresh tfresh2
export GETBOT_INCUS_WAIT_SECONDS=5 GETBOT_INCUS_WAIT_MAX=10
run apply --auto-approve
unset GETBOT_INCUS_WAIT_SECONDS GETBOT_INCUS_WAIT_MAX
[ "$rc" -ne 0 ] &&
	grep -q 'incus\.container\.tfresh2: .* still running after 1[0-9] s.*GETBOT_INCUS_WAIT_MAX' err &&
	grep -q 'goes on on the server' err
tap_ok $? "past GETBOT_INCUS_WAIT_MAX, apply fails naming the bound; the operation goes on"
tap_diag "$(grep . err)"
created=$(api tfresh2 | json_get 'd["created_at"]' 2>/dev/null)
step "apply past the bound (tfresh2)"
# the install goes on inside, and Docker's socket takes connections
# that nothing answers yet: a plan says what is left, it does not fail
op=$(sed -n 's|.* \(/1\.0/operations/[0-9a-f-]*\) still running after.*|\1|p' err | head -1)
[ -n "$op" ] && [ "$(incus_call GET "$op" | json_get 'd["status"]')" = Running ]
tap_ok $? "the install goes on on the server"
run plan --detailed-exitcode
[ "$rc" -eq 2 ] && grep -q 'incus\.container\.tfresh2' out &&
	grep -q 'docker\.bot\.tfresh2/sales' out
tap_ok $? "meanwhile a plan updates the container and creates its bot"
[ "$rc" -eq 2 ] || tap_diag "$(cat out err)"
# the next apply waits for that install instead of starting a second
run apply --auto-approve
[ "$rc" -eq 0 ] && [ -n "$created" ] &&
	[ "$(api tfresh2 | json_get 'd["created_at"]' 2>/dev/null)" = "$created" ] &&
	[ "$(config tfresh2 user.getbot.provisioned)" = true ]
tap_ok $? "the next apply, while it runs, provisions the same container, not a new one"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
step "apply (tfresh2)"
docker_wait /run/getbot/docker-tfresh2.sock 10 &&
	[ "$(bot_get tfresh2 sales /healthz)" = ok ]
tap_ok $? "its Docker answers, and so does its bot"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]
tap_ok $? "then a plan has no changes"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

! grep -rq "$TFRESH_KEY" "$T/all-output" .getbot
tap_ok $? "no key in any output or the state"
fresh_cleanup
rm -rf "$T"
tap_done
