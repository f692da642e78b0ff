#!/bin/sh
# getbot-auth under systemd, for real. The server is an Incus system
# container that boots the host's systemd (tests/services.sh,
# incus_systemd_image), and getbot runs in it, since a server target is
# reached with `connect: local` only: there getbot installs, enables,
# starts, reloads and finally stops getbot-auth.service, and the browser's
# sign-in goes through the server's Caddy to the bot.
#
# The whole server target runs, org container and bot included: the
# server container reaches the host's Incus, so the org containers are
# made beside it on the host. It gets:
#   /opt/getbot          the build directory, read-only: getbot, and
#                        getbot-auth beside it (a path outside /home and
#                        /root, which the unit's ProtectHome=yes hides)
#   /root/getbot         the same, where the unit cannot see it
#   /opt/getbot-src      the source directory, read-only (the fakes)
#   $T                   this test's scratch directory, at the same
#                        path: bots.yaml, the state, the bots' build
#                        context, getbot's output
#   /mnt/incus.socket    a proxy device to the host's Incus socket
#   /run/getbot          a link (tmpfiles.d, so it is there after every
#                        boot) to /mnt/getbot-run, the host's /run/getbot,
#                        where Incus's proxy devices put each org's
#                        Docker socket
#   eth0                 a NIC on getbot-br0 once the first apply made
#                        it, for Caddy to reach the bot
# Caddy (its config kept over restarts, as Debian's caddy-api.service
# does) and the fake central sign-in (tests/fakes/fake-auth.py) are units
# the test installs there; curl there plays the browser.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
services_require incus docker caddy busybox systemctl systemd-analyze dbus-daemon
[ -x /usr/lib/systemd/systemd ] || services_skip "no /usr/lib/systemd/systemd (install systemd)"
BUILD=$(cd "$(dirname "$GETBOT")" && pwd)
[ -x "$BUILD/getbot-auth" ] || services_skip "no getbot-auth beside $GETBOT"
services_init
t0=$(date +%s)
# under the harness's directory, removed only once the server container
# that mounts it is gone
T=$svc_tmp/sysd
CT=tsysd
ORG=sdacme
HOST=$ORG.getbot.test
UNIT=/etc/systemd/system/getbot-auth.service
WANTS=/etc/systemd/system/multi-user.target.wants/getbot-auth.service
AUTH_JSON=/etc/getbot/auth.json
GETBOT_IN=/opt/getbot/$(basename "$GETBOT")
FAKE_PORT=8088
bail() {
	echo "Bail out! $1"
	services_logs 30
	tap_diag "$(incus_exec "$CT" journalctl -b --no-pager -n 40 2>&1)"
	exit 1
}
sysd_cleanup() {
	incus_delete_instance "$ORG" >/dev/null 2>&1
	rm -f "/run/getbot/docker-$ORG.sock"
}
incus_start || bail "Incus did not start"
incus_test_profile || bail "no test profile"
incus_import_test_image getbot-test-docker || bail "no test image"
incus_systemd_profile || bail "no systemd profile"
incus_systemd_image getbot-test-systemd || bail "no systemd image"
services_on_exit sysd_cleanup
sysd_cleanup
mkdir -p "$T/w" /run/getbot || bail "no scratch directory"
chmod 0750 /run/getbot
export GETBOT_RUNTIME_DIR="$T/runtimes"
busybox_image_context "$T/runtimes/v1" || bail "no build context"

incus_systemd_launch "$CT" "{
 \"getbot\": {\"type\": \"disk\", \"source\": \"$BUILD\", \"path\": \"/opt/getbot\",
            \"readonly\": \"true\"},
 \"getbot-home\": {\"type\": \"disk\", \"source\": \"$BUILD\", \"path\": \"/root/getbot\",
                 \"readonly\": \"true\"},
 \"getbot-src\": {\"type\": \"disk\", \"source\": \"$top_srcdir\", \"path\": \"/opt/getbot-src\",
                \"readonly\": \"true\"},
 \"scratch\": {\"type\": \"disk\", \"source\": \"$T\", \"path\": \"$T\", \"shift\": \"true\"},
 \"getbot-run\": {\"type\": \"disk\", \"source\": \"/run/getbot\", \"path\": \"/mnt/getbot-run\",
                \"shift\": \"true\"},
 \"incus\": {\"type\": \"proxy\", \"bind\": \"instance\", \"mode\": \"0660\",
           \"listen\": \"unix:/mnt/incus.socket\", \"connect\": \"unix:$GETBOT_INCUS_SOCKET\"}}" ||
	bail "the systemd container did not boot"
# the provider's network goes after the server container that uses it
incus_track network getbot-br0
tap_diag "systemd in $CT: $(incus_exec "$CT" systemctl is-system-running)"

# lap WHAT: how long WHAT, the part just done, took (for the log)
lap_t=$t0
lap() {
	tap_diag "$1: $(($(date +%s) - lap_t)) s"
	lap_t=$(date +%s)
}
lap "Incus, the images, the server booted"

# srv CMD...: CMD in the server
srv() {
	incus_exec "$CT" "$@"
}
exec_t=$(date +%s%N)
srv true
tap_diag "one exec in the server: $((($(date +%s%N) - exec_t) / 1000000)) ms"
main_pid() {
	srv systemctl show -P MainPID getbot-auth.service 2>/dev/null
}

# getbot-in GETBOT ARGS...: getbot in the server, its environment
# cleaned, its words in out and err under $T/w
cat >"$T/getbot-in" <<EOF
#!/bin/sh
getbot=\$1
shift
cd "$T/w" || exit 99
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root \\
	LANG=C.UTF-8 NO_COLOR=1 INCUS_SOCKET=/mnt/incus.socket \\
	GETBOT_INCUS_TEST_PROFILE=$GETBOT_INCUS_TEST_PROFILE \\
	GETBOT_RUNTIME_DIR=$GETBOT_RUNTIME_DIR TEST_ANTHROPIC_KEY=sk-ant-test-not-a-key \\
	ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS \\
	"\$getbot" "\$@" >out 2>err
EOF
cd "$T/w" || exit 99

# run ARGS...: getbot in the server; $rc, its output in out and err
run() {
	run_getbot "$GETBOT_IN" "$@"
}
# run_getbot GETBOT ARGS...: the same with that getbot
run_getbot() {
	svc_incus_wait=900
	svc_incus_timeout=910
	rc=0
	incus_exec "$CT" sh "$T/getbot-in" "$@" >"$T/exec.out" 2>&1 || rc=$?
	svc_incus_wait=120
	svc_incus_timeout=130
	cat out err >>"$T/transcript" 2>/dev/null
}
# ok DESCRIPTION: tap_ok on the last status, with getbot's words on failure
ok() {
	ok_rc=$?
	tap_ok "$ok_rc" "$1"
	[ "$ok_rc" -eq 0 ] ||
		tap_diag "getbot exit $rc" "$(cat "$T/exec.out" out err 2>/dev/null | tail -30)"
}

# write_config MARKETING-EMAILS [ORG [AUTH-LISTEN]]: bots.yaml, with the
# org or none.
write_config() {
	auth=""
	[ -z "${3:-}" ] || auth="
    auth: {listen: \"$3\"}"
	cat >bots.yaml <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    image: getbot-test-docker
    profiles: [$GETBOT_INCUS_TEST_PROFILE]
    domain: getbot.test
    auth_url: http://127.0.0.1:$FAKE_PORT$auth
    caddy: {listen: [":80"], https: false}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
YAML
	if [ -z "${2:-}" ]; then
		echo "orgs: {}" >>bots.yaml
		return
	fi
	cat >>bots.yaml <<YAML
orgs:
  $2:
    owner: alice@sdacme.example
    target: srv
    allowed_emails: [alice@sdacme.example]
    teams:
      marketing:
        allowed_emails: [$1]
        api_keys: {anthropic: {env: TEST_ANTHROPIC_KEY}}
        persona: You help the marketing team.
        instructions: Be brief.
YAML
}

# --- the browser, curl in the server ------------------------------------------

# get URL: $code, the status of a GET in the server
get() {
	code=$(srv curl -s -m 20 -o /dev/null -w '%{http_code}' "$1") || code=000
}
# The browser's sign-in, all of it in the server (one exec, not four):
# sign-in EMAIL HOST goes through Caddy on :80 to HOST/marketing/hello,
# to the fake to sign in as EMAIL, back to the callback, and to the page
# again with the session it got. It prints each step's status, the last
# one "-" when there was no session; the page is left in $T/w/body.
cat >"$T/sign-in" <<'EOF'
#!/bin/sh
email=$1
host=$2
cd "$(dirname "$0")/w" || exit 99
get() {
	url=$1
	shift
	code=$(curl -s -m 20 -o body -D headers -w '%{http_code}' "$@" "$url") || code=000
	location=$(sed -n 's/^[Ll]ocation: *//p' headers | tr -d '\r')
}
visit() {
	path=$1
	shift
	get "http://127.0.0.1:80$path" -H "Host: $host" "$@"
}
visit /marketing/hello
page=$code
get "$location&login_hint=$email"
fake=$code
visit "/${location#https://*/}"
callback=$code
session=$(sed -n 's/^[Ss]et-[Cc]ookie: getbot_session=\([^;]*\);.*/\1/p' headers | tr -d '\r')
last=-
if [ -n "$session" ]; then
	visit /marketing/hello -H "Cookie: getbot_session=$session"
	last=$code
fi
echo "$page $fake $callback $last"
EOF
# reaches EMAIL: signs in and gets the marketing bot's page; $code says
# how each step went
reaches() {
	code=$(srv sh "$T/sign-in" "$1" "$HOST")
	case $code in
	"302 302 302 200") [ "$(cat body)" = "bot marketing" ] ;;
	*) return 1 ;;
	esac
}
# refused EMAIL: signing in ends in 403 at the callback, without a session
refused() {
	code=$(srv sh "$T/sign-in" "$1" "$HOST")
	[ "$code" = "302 302 403 -" ]
}

# --- the server's own units ---------------------------------------------------

# /run/getbot, after every boot: systemd mounts /run afresh, over what
# Incus may have put there
printf 'L /run/getbot - - - - /mnt/getbot-run\n' >"$T/getbot-test.conf"
# Caddy, its admin API on localhost:2019 (the caddy provider's default),
# resuming after a restart from the config it saved last
cat >"$T/caddy.json" <<EOF
{"admin": {"listen": "localhost:2019"},
 "logging": {"logs": {"default": {"level": "ERROR"}}}}
EOF
cat >"$T/getbot-test-caddy.service" <<EOF
[Unit]
Description=Caddy for getbot's test, its config kept over restarts
After=network.target

[Service]
Environment=XDG_DATA_HOME=/var/lib/getbot-test XDG_CONFIG_HOME=/var/lib/getbot-test
ExecStart=/usr/bin/caddy run --resume --config $T/caddy.json

[Install]
WantedBy=multi-user.target
EOF
# the fake central sign-in, with auth.json's exchange secret (started
# once getbot has written it)
cat >"$T/getbot-test-fake-auth.service" <<EOF
[Unit]
Description=The fake central sign-in of getbot's tests

[Service]
ExecStart=/usr/bin/python3 /opt/getbot-src/tests/fakes/fake-auth.py --secret-file $AUTH_JSON --port $FAKE_PORT --port-file /run/fake-auth.port

[Install]
WantedBy=multi-user.target
EOF
srv sh -c "mkdir -p /etc/tmpfiles.d && cp $T/getbot-test.conf /etc/tmpfiles.d/ &&
	systemd-tmpfiles --create /etc/tmpfiles.d/getbot-test.conf &&
	cp $T/getbot-test-caddy.service $T/getbot-test-fake-auth.service /etc/systemd/system/ &&
	systemctl daemon-reload && systemctl enable --now getbot-test-caddy.service" \
	>"$T/units.out" 2>&1 &&
	svc_wait 20 srv curl -sf http://localhost:2019/config/ ||
	bail "Caddy did not start in $CT: $(cat "$T/units.out")"

# A sanitized build's getbot-auth: LeakSanitizer looks for leaks at exit
# with ptrace, which the unit's seccomp filter refuses (ptrace is not in
# @system-service), and exits 1 for it, so that every stop would leave
# the unit failed. A drop-in (not the unit, which getbot owns) turns it
# off; the sandbox stays as it is.
if ldd "$BUILD/getbot-auth" 2>/dev/null | grep -q libasan; then
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$T/asan.conf"
	srv sh -c "mkdir -p /etc/systemd/system/getbot-auth.service.d &&
		cp $T/asan.conf /etc/systemd/system/getbot-auth.service.d/" ||
		bail "no drop-in for the sanitized getbot-auth"
fi

lap "Caddy in the server"

# --- from nothing -------------------------------------------------------------

write_config bob@sdacme.example "$ORG"
run plan
[ "$rc" -eq 0 ] && grep -q '# auth.service.getbot-auth will be created: not found' out
ok "plan, in the server, from nothing: the service will be created"
t_apply=$(date +%s)
run apply --auto-approve
[ "$rc" -eq 0 ]
ok "apply from nothing: the org's container and bot, getbot-auth, Caddy's routes"
tap_diag "the first apply: $(($(date +%s) - t_apply)) s"

[ "$(srv systemctl is-enabled getbot-auth.service)" = enabled ] &&
	[ "$(srv systemctl is-active getbot-auth.service)" = active ]
tap_ok $? "getbot-auth.service is enabled and active"
pid=$(main_pid)
[ -n "$pid" ] && [ "$pid" != 0 ] &&
	[ "$(srv cat "/proc/$pid/cmdline" | tr '\0' ' ')" = "/opt/getbot/getbot-auth --config $AUTH_JSON " ]
tap_ok $? "its main process is getbot-auth, from beside getbot, on the default auth.json (pid $pid)"
srv test -L "$WANTS"
tap_ok $? "enabled: multi-user.target wants it, so it comes back with the server"
srv cat "$UNIT" >"$T/unit" &&
	head -1 "$T/unit" | grep -q '^# getbot: managed' &&
	grep -qx "ExecStart=/opt/getbot/getbot-auth --config $AUTH_JSON" "$T/unit"
tap_ok $? "the unit is $UNIT, under getbot's mark, with the binary getbot found"
! srv test -e /etc/getbot/getbot-auth.pid && ! srv test -e /etc/getbot/getbot-auth.log
tap_ok $? "no daemon's pid file or log beside auth.json: systemd runs it"
verify_out=$(srv systemd-analyze verify "$UNIT" 2>&1)
r=$?
[ $r -eq 0 ] && [ -z "$verify_out" ]
tap_ok $? "systemd-analyze verify finds nothing to say of the unit"
[ -z "$verify_out" ] || tap_diag "$verify_out"
srv systemd-analyze security --no-pager getbot-auth.service >"$T/security" 2>&1
r=$?
score=$(sed -n 's/.*Overall exposure level for getbot-auth.service: *//p' "$T/security")
[ $r -eq 0 ] && [ -n "$score" ]
tap_ok $? "systemd-analyze security rates it: $score"
[ -n "$score" ] || tap_diag "$(tail -20 "$T/security")"
status=$(srv cat "/proc/$pid/status")
printf '%s\n' "$status" | grep -q '^NoNewPrivs:[[:space:]]*1$' &&
	printf '%s\n' "$status" | grep -q '^Seccomp:[[:space:]]*2$' &&
	printf '%s\n' "$status" | grep -q '^CapBnd:[[:space:]]*0*$' &&
	printf '%s\n' "$status" | grep -q '^CapEff:[[:space:]]*0*$'
r=$?
tap_ok $r "and the running process is held to it: no new privileges, seccomp, no capabilities"
[ $r -eq 0 ] || tap_diag "$(printf '%s\n' "$status" | grep -e NoNewPrivs -e Seccomp -e '^Cap')"
get http://127.0.0.1:9091/healthz
[ "$code" = 200 ]; tap_ok $? "it answers on the default listen address (got $code)"

run plan --detailed-exitcode
[ "$rc" -eq 0 ]; ok "a second plan has no changes (exit $rc)"

lap "from nothing"

# --- the sign-in through Caddy ----------------------------------------------------

incus_call PATCH "/1.0/instances/$CT" \
	'{"devices": {"eth0": {"type": "nic", "network": "getbot-br0", "name": "eth0"}}}' \
	>/dev/null || bail "no NIC on getbot-br0 for $CT"
srv systemctl enable --now getbot-test-fake-auth.service >/dev/null 2>&1 &&
	svc_wait 10 srv test -s /run/fake-auth.port || bail "the fake sign-in server did not start"
# systemd-networkd takes the NIC by DHCP
has_address() {
	[ -n "$(srv ip -4 -o addr show dev eth0 scope global)" ]
}
svc_wait 30 has_address || bail "$CT has no address on getbot-br0"
srv docker -H "unix:///run/getbot/docker-$ORG.sock" exec -u 0 marketing-openclaw-1 \
	sh -c 'mkdir -p /www/marketing && echo "bot marketing" >/www/marketing/hello' >/dev/null ||
	bail "cannot seed the bot's page"

reaches alice@sdacme.example
tap_ok $? "the org's email signs in through Caddy and reaches the bot (got $code)"
refused eve@sdacme.example
tap_ok $? "an email on no list is refused at the callback, without a session (got $code)"

lap "the sign-in"

# --- an allowlist change: a reload -----------------------------------------------

write_config "bob@sdacme.example, eve@sdacme.example" "$ORG"
run plan
grep -q "# auth.allowlist.$ORG will be updated in place" out && ! grep -q 'auth.service' out
ok "adding an email plans an update of the org's allowlist only"
since=$(srv date '+%Y-%m-%d %H:%M:%S')
run apply --auto-approve
[ "$rc" -eq 0 ]; ok "apply it"
[ "$(main_pid)" = "$pid" ] &&
	srv journalctl -u getbot-auth.service --since "$since" --no-pager -o cat |
	grep -q "getbot-auth: reloaded $AUTH_JSON"
tap_ok $? "systemd reloaded getbot-auth: the same main process (pid $pid) read auth.json again"
reaches eve@sdacme.example
tap_ok $? "the new email signs in (got $code)"

lap "the allowlist change"

# --- systemd keeps it running --------------------------------------------------------

srv kill -9 "$pid" >/dev/null 2>&1
newpid_up() {
	p=$(main_pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid" ] &&
		[ "$(srv systemctl is-active getbot-auth.service)" = active ]
}
svc_wait 15 newpid_up
r=$?
newpid=$(main_pid)
tap_ok $r "a killed getbot-auth is started again by systemd itself (Restart=on-failure): pid $newpid"
pid=$newpid
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; ok "so getbot has nothing to do (exit $rc)"

srv systemctl stop getbot-auth.service
run plan --detailed-exitcode
[ "$rc" -eq 2 ] &&
	grep -q '# auth.service.getbot-auth will be updated in place: drift: status changed outside getbot' out
ok "a unit stopped by hand is drift (exit $rc)"
run apply --auto-approve
newpid=$(main_pid)
[ "$rc" -eq 0 ] && [ "$(srv systemctl is-active getbot-auth.service)" = active ] &&
	[ "$newpid" != "$pid" ] && [ "$newpid" != 0 ]
ok "apply starts it again (pid $newpid)"
pid=$newpid

lap "killed and stopped"

# --- the server reboots ------------------------------------------------------------------

incus_call PUT "/1.0/instances/$CT/state" '{"action": "restart", "timeout": 60}' >/dev/null &&
	incus_systemd_wait "$CT" || bail "$CT did not come back"
svc_wait 30 has_address
srv systemctl is-active getbot-auth.service >/dev/null &&
	[ "$(main_pid)" != 0 ]
tap_ok $? "after a reboot, systemd starts getbot-auth by itself (pid $(main_pid))"
svc_wait 20 srv curl -sf http://localhost:2019/config/ &&
	svc_wait 10 srv test -s /run/fake-auth.port
reaches eve@sdacme.example
tap_ok $? "and the sign-in works as before (got $code)"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; ok "with nothing for getbot to do (exit $rc)"

lap "the reboot"

# --- the unit edited by hand -------------------------------------------------------------

pid=$(main_pid)
srv sed -i 's/^NoNewPrivileges=yes$/NoNewPrivileges=no/' "$UNIT" &&
	srv systemctl daemon-reload
run plan --detailed-exitcode
[ "$rc" -eq 2 ] &&
	grep -q '# auth.service.getbot-auth will be updated in place: drift: unit changed outside getbot' out
ok "a unit edited by hand is drift (exit $rc)"
run apply --auto-approve
newpid=$(main_pid)
srv cat "$UNIT" | cmp -s - "$T/unit" && [ "$newpid" != "$pid" ] &&
	srv grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$newpid/status"
ok "apply writes getbot's unit back and restarts getbot-auth under it (pid $newpid)"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; ok "then no changes (exit $rc)"

lap "the unit edited"

# --- getbot-auth where the unit cannot see it --------------------------------------

# a getbot run from /root wants its getbot-auth in the unit, but the unit
# has ProtectHome=yes: getbot-auth would not start, which the pre-flight
# says before anything is looked at
pid=$(main_pid)
run_getbot /root/getbot/getbot plan
[ "$rc" -eq 1 ] &&
	grep -q "^  - getbot-auth: getbot-auth.service cannot run '/root/getbot/getbot-auth': the unit's ProtectHome=yes hides /root" err
ok "plan says first that the unit could not run a getbot-auth from /root (exit $rc)"
run_getbot /root/getbot/getbot apply --auto-approve
[ "$rc" -eq 1 ] &&
	grep -q "getbot-auth.service cannot run '/root/getbot/getbot-auth': the unit's ProtectHome=yes hides /root" out err
ok "apply refuses to install a unit that cannot run it (exit $rc)"
srv cat "$UNIT" | cmp -s - "$T/unit" && [ "$(main_pid)" = "$pid" ]
tap_ok $? "and leaves the unit, and getbot-auth, as they were (pid $pid)"

lap "getbot-auth out of reach"

# --- a new listen address: a restart ---------------------------------------------------------

pid=$(main_pid)
write_config "bob@sdacme.example, eve@sdacme.example" "$ORG" 127.0.0.1:9092
run plan
grep -q '# auth.service.getbot-auth will be updated in place: listen changed' out
ok "a new listen address plans an update of the service"
run apply --auto-approve
newpid=$(main_pid)
get http://127.0.0.1:9092/healthz
new=$code
get http://127.0.0.1:9091/healthz
[ "$rc" -eq 0 ] && [ "$newpid" != "$pid" ] && [ "$new" = 200 ] && [ "$code" = 000 ]
ok "apply restarts the unit, which listens there only (pid $newpid)"
reaches eve@sdacme.example
tap_ok $? "and Caddy asks it there: the sign-in works (got $code)"

lap "the new listen address"

# --- the last org goes ---------------------------------------------------------------------

# the provider deletes its bridge with the last org: the server's NIC
# on it goes first
incus_call GET "/1.0/instances/$CT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["devices"].pop("eth0", None)
print(json.dumps({k: d[k] for k in ("architecture", "config", "devices", "ephemeral",
                                     "profiles", "description")}))' >"$T/ct.json" &&
	incus_call PUT "/1.0/instances/$CT" "$(cat "$T/ct.json")" >/dev/null ||
	bail "cannot take the NIC off $CT"
write_config bob@sdacme.example
run plan
grep -q '# auth.service.getbot-auth will be deleted: no longer in config' out
ok "with no org left, the service goes"
run apply --auto-approve
[ "$rc" -eq 0 ]; ok "apply"
active=$(srv systemctl is-active getbot-auth.service 2>&1)
! srv test -e "$UNIT" && ! srv test -e "$WANTS" && [ "$active" = inactive ] &&
	! srv kill -0 "$newpid" >/dev/null 2>&1
tap_ok $? "the unit is stopped ($active), disabled and removed"
srv test -s "$AUTH_JSON"
tap_ok $? "auth.json stays, with its keys, for the next org"
run plan --detailed-exitcode
[ "$rc" -eq 0 ]; ok "then no changes (exit $rc)"

lap "the last org gone"
tap_diag "the whole test: $(($(date +%s) - t0)) s"
tap_done
