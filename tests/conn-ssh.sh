#!/bin/sh
# The ssh connection against a real OpenSSH sshd on loopback (tests/sshd.sh):
# test-conn's checks over ssh; test-conn-ssh's own (streams and commands at
# once through one session, a large file, shell metacharacters, a server
# that dies); then, through getbot-mem plan (whose in-memory provider works
# on a server and so opens its connection), host keys (unknown, accepted
# with --accept-new-host-key, changed, of another type than recorded,
# pinned with host_key:, hashed in known_hosts) and user keys (wrong; with
# a passphrase, from GETBOT_SSH_PASSPHRASE and from ssh-agent), with no
# secret in any output.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/sshd.sh"
sshd_require
: "${GETBOT_MEM:=$(dirname "$GETBOT")/tests/engine/getbot-mem}"
UNIT=$(dirname "$GETBOT")/tests/unit

T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-conn-ssh.XXXXXX")
agent_pid=""
cleanup() {
	sshd_stop
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sshd_start_isolated "$T"

# ---- the connection's own checks, over ssh ----
cat >"$T/kill-sshd" <<EOF
top_srcdir='$top_srcdir'
. "\$top_srcdir/tests/sshd.sh"
SSHD_PID=$SSHD_PID
sshd_signal STOP
sshd_signal KILL
EOF
export GETBOT_TEST_CONNECT="$SSHD_CONNECT" GETBOT_TEST_KNOWN_HOSTS="$SSHD_KNOWN_HOSTS"
export GETBOT_TEST_IDENTITY="$SSHD_USER_KEY" GETBOT_TEST_SSHD_KILL="sh $T/kill-sshd"
tap_include "$UNIT/test-conn"
tap_include "$UNIT/test-conn-ssh"
unset GETBOT_TEST_CONNECT GETBOT_TEST_KNOWN_HOSTS GETBOT_TEST_IDENTITY GETBOT_TEST_SSHD_KILL
# test-conn-ssh ends by killing sshd
sshd_relaunch || {
	echo "Bail out! sshd did not start again"
	exit 1
}

# ---- through getbot: host keys and user keys ----
mkdir -p "$T/cfg"
cd "$T/cfg" || exit 99
export GETBOT_MEM_WORLD="$T/world.json" ACME_KEY="sk-ant-CANARY-ssh-0001"
echo '{}' >"$GETBOT_MEM_WORLD"

# write_config [KEY: VALUE lines for the target]
write_config() {
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: $SSHD_CONNECT
YAML
		for line in "$@"; do
			echo "    $line"
		done
		cat <<'YAML'
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  acme:
    owner: alice@acme.com
    target: srv
    teams:
      sales:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: You help sales.
        instructions: Be brief.
YAML
	} >bots.yaml
}

# run CMD...: stdout in out, stderr in err, exit in $rc; all kept in
# all.log for the check that no secret is printed
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>"$T/all.log"
}

fingerprint() { # the SHA256 of a public key file, as ssh-keygen -l shows it
	ssh-keygen -lf "$1" | cut -d' ' -f2
}

plan_ok() { # DESCRIPTION: the last run planned
	[ "$rc" -eq 0 ] && grep -q '^Plan: ' out
	tap_ok $? "$1"
	[ "$rc" -eq 0 ] || tap_diag "$(cat err)"
}

# -- an unknown host key --
write_config "known_hosts: known_hosts" "identity: $SSHD_USER_KEY"
run "$GETBOT_MEM" plan
fp=$(fingerprint "$SSHD_HOST_KEY.pub")
[ "$rc" -eq 1 ] && grep -q "srv (ssh root@127.0.0.1:$SSHD_PORT): the server's host key is unknown" err
tap_ok $? "an unknown host key is refused, naming the server"
grep -qF "ED25519 key $fp," err && grep -q -- "--accept-new-host-key" err
tap_ok $? "with its fingerprint, as ssh-keygen -lf prints it ($fp), and how to accept it"
[ ! -e known_hosts ]
tap_ok $? "and nothing is written"
tap_diag "$(cat err)"

run "$GETBOT_MEM" validate
[ "$rc" -eq 0 ]
tap_ok $? "validate does not connect"

# -- --accept-new-host-key --
run "$GETBOT_MEM" plan --accept-new-host-key
plan_ok "plan --accept-new-host-key trusts a first contact"
grep -qF "trusted the new host key $fp (ED25519) and added it to ./known_hosts" err
tap_ok $? "and says so"
ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f known_hosts >/dev/null &&
	[ "$(grep -c . known_hosts)" -eq 1 ]
tap_ok $? "known_hosts gets one [host]:port line that OpenSSH finds"
run "$GETBOT_MEM" plan
plan_ok "the next plan passes without the flag"
"$GETBOT_MEM" help plan | grep -q -- "--accept-new-host-key" &&
	"$GETBOT_MEM" help apply | grep -q -- "--accept-new-host-key"
tap_ok $? "plan and apply document --accept-new-host-key"

# -- a changed host key: refused, naming the line it contradicts --
{
	echo "# known hosts"
	echo "203.0.113.7 $(cut -d' ' -f1,2 "$SSHD_HOST_KEY.pub")"
	cat known_hosts
} >known_hosts.new && mv known_hosts.new known_hosts
cp "$SSHD_HOST_KEY.pub" "$T/old-host.pub"
sshd_restart_with_new_host_key || echo "Bail out! sshd did not start again"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q "srv (ssh root@127.0.0.1:$SSHD_PORT): host key changed" err &&
	grep -qF "./known_hosts:3 holds another ED25519 key for [127.0.0.1]:$SSHD_PORT" err &&
	grep -qF "$(fingerprint "$SSHD_HOST_KEY.pub")" err
tap_ok $? "a changed host key is refused, naming the known_hosts line it contradicts"
tap_diag "$(cat err)"
run "$GETBOT_MEM" plan --accept-new-host-key
[ "$rc" -eq 1 ] && grep -q "host key changed" err && [ "$(grep -c . known_hosts)" -eq 3 ]
tap_ok $? "--accept-new-host-key never replaces a key"

# -- host_key: pins the key; known_hosts is neither read nor written --
write_config "known_hosts: no-such-file" "identity: $SSHD_USER_KEY" \
	"host_key: $(cut -d' ' -f1,2 "$SSHD_HOST_KEY.pub")"
run "$GETBOT_MEM" plan
plan_ok "host_key: pins the server's key (CI keeps it in a variable)"
[ ! -e no-such-file ]
tap_ok $? "and known_hosts is not written"
write_config "identity: $SSHD_USER_KEY" \
	"host_key: $(cut -d' ' -f1,2 "$T/old-host.pub") getbot-test-host"
run "$GETBOT_MEM" plan --accept-new-host-key
[ "$rc" -eq 1 ] && grep -qF "host key mismatch: the server presents ED25519 key $(fingerprint "$SSHD_HOST_KEY.pub"), but host_key pins ED25519 key $(fingerprint "$T/old-host.pub")" err
tap_ok $? "another key than the pinned one is refused"

# -- a hashed known_hosts entry (ssh-keygen -H) --
sshd_known_line >hashed_hosts
ssh-keygen -q -H -f hashed_hosts >/dev/null 2>&1
rm -f hashed_hosts.old
write_config "known_hosts: hashed_hosts" "identity: $SSHD_USER_KEY"
run "$GETBOT_MEM" plan
grep -q '^|1|' hashed_hosts
tap_ok $? "ssh-keygen -H hashed the entry"
plan_ok "a hashed known_hosts entry is found"

# -- a key of another type than known_hosts holds: refused, never added --
sshd_known_line >known_hosts
cp known_hosts "$T/known_hosts.ed25519"
ed25519_host_key=$SSHD_HOST_KEY
ssh-keygen -q -t ecdsa -N '' -C getbot-test-host-ecdsa -f "$SSHD_DIR/host_ecdsa"
sshd_restart_with_host_key "$SSHD_DIR/host_ecdsa" || echo "Bail out! sshd did not start again"
write_config "known_hosts: known_hosts" "identity: $SSHD_USER_KEY"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -qF "srv (ssh root@127.0.0.1:$SSHD_PORT): host key changed: the server presents an ECDSA key ($(fingerprint "$SSHD_HOST_KEY.pub"))" err &&
	grep -qF "./known_hosts holds an ED25519 key for [127.0.0.1]:$SSHD_PORT (line 1)" err
tap_ok $? "a server offering only another type of key than known_hosts holds is refused, naming the line"
tap_diag "$(cat err)"
run "$GETBOT_MEM" plan --accept-new-host-key
[ "$rc" -eq 1 ] && grep -q "holds an ED25519 key" err && cmp -s known_hosts "$T/known_hosts.ed25519"
tap_ok $? "even with --accept-new-host-key, and known_hosts is left as it was"
sshd_restart_with_host_key "$ed25519_host_key" || echo "Bail out! sshd did not start again"

# -- user keys --
sshd_known_line >known_hosts
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$T/stranger"
write_config "known_hosts: known_hosts" "identity: $T/stranger"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] &&
	grep -qF "srv (ssh root@127.0.0.1:$SSHD_PORT): cannot sign in as root with $T/stranger:" err &&
	[ "$(wc -l <err)" -eq 1 ]
tap_ok $? "a key the server does not take is refused with one clean line"
tap_diag "$(cat err)"

write_config "known_hosts: known_hosts" "identity: $T/no-such-key"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -qF "identity $T/no-such-key: No such file or directory" err
tap_ok $? "a missing identity file is named"

passphrase="correct horse CANARY $(date +%N)"
ssh-keygen -q -t ed25519 -N "$passphrase" -C locked -f "$T/locked"
sshd_authorize "$T/locked.pub"
write_config "known_hosts: known_hosts" "identity: $T/locked"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q "GETBOT_SSH_PASSPHRASE" err
tap_ok $? "a key with a passphrase, without it, says how to give it"
tap_diag "$(cat err)"
GETBOT_SSH_PASSPHRASE=$passphrase run "$GETBOT_MEM" plan
plan_ok "a key with a passphrase signs in with GETBOT_SSH_PASSPHRASE"

# ssh-agent holds the key (ssh-add takes the passphrase from an askpass
# program, as from a desktop)
eval "$(ssh-agent -s)" >/dev/null
agent_pid=$SSH_AGENT_PID
printf '#!/bin/sh\nprintf "%%s\\n" "$GETBOT_TEST_PASSPHRASE"\n' >"$T/askpass"
chmod +x "$T/askpass"
GETBOT_TEST_PASSPHRASE=$passphrase SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force \
	DISPLAY=none ssh-add "$T/locked" </dev/null >/dev/null 2>&1
ssh-add -l >/dev/null 2>&1
tap_ok $? "ssh-agent holds the key with a passphrase"
run "$GETBOT_MEM" plan
plan_ok "the key is used through the agent (identity: names it; no passphrase given)"
write_config "known_hosts: known_hosts"
run "$GETBOT_MEM" plan
plan_ok "without identity:, the agent's keys are tried first"
kill "$agent_pid" 2>/dev/null
agent_pid=""
unset SSH_AUTH_SOCK SSH_AGENT_PID

# -- no secret anywhere in what was printed --
leaked=0
grep -qF "$passphrase" "$T/all.log" && leaked=1
for key in "$SSHD_USER_KEY" "$T/stranger" "$T/locked" "$SSHD_HOST_KEY"; do
	grep -v -- '-----' "$key" | while IFS= read -r line; do
		grep -qF "$line" "$T/all.log" && echo leak
	done | grep -q leak && leaked=1
done
grep -q "CANARY" "$T/all.log" && leaked=1
tap_ok "$leaked" "no passphrase, private key or API key appears in any output"

tap_done
