#!/bin/sh
# The pre-flight: before plan or apply observe or change anything, each
# server is checked for what bots.yaml needs there (Incus's socket answers,
# Caddy's admin API answers, getbot-auth is found and runs with its
# libraries), and what one server lacks is one error naming it, a line a
# missing piece with how to install it. The same checks run over
# connect: local and over ssh to a throwaway sshd (tests/sshd.sh) on this
# same machine; pieces go missing by pointing the target's paths at
# nothing, Caddy's admin at a closed port, and auth.binary at a script
# that fails as the loader does when a library is missing. Stand-ins for
# Incus and Caddy (tests/fakes/fake-server-apis.py) log what is asked, so
# that "nothing observed, nothing changed" is seen.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/sshd.sh"
sshd_require

T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-preflight.XXXXXX")
fake_pid=""
cleanup() {
	sshd_stop
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sshd_start_isolated "$T"
unset INCUS_SOCKET

# Incus and Caddy stand-ins
python3 "$top_srcdir/tests/fakes/fake-server-apis.py" --incus-socket "$T/incus.sock" \
	--caddy-port-file "$T/caddy.port" --log "$T/fake.log" &
fake_pid=$!
i=0
while [ ! -s "$T/caddy.port" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -S "$T/incus.sock" ] && [ -s "$T/caddy.port" ] || {
	echo "Bail out! the Incus and Caddy stand-ins did not start"
	exit 1
}
CADDY="127.0.0.1:$(cat "$T/caddy.port")"
CLOSED="127.0.0.1:$(sshd_free_port)" # nothing listens there

# getbot-auth as it fails when a library is missing: the loader's words, 127
mkdir -p "$T/bin"
cat >"$T/bin/getbot-auth" <<'EOF'
#!/bin/sh
echo "$0: error while loading shared libraries: libsodium.so.23: cannot open shared object file: No such file or directory" >&2
exit 127
EOF
chmod +x "$T/bin/getbot-auth"
BROKEN="$T/bin/getbot-auth"
REAL="$(dirname "$GETBOT")/getbot-auth"

mkdir -p "$T/cfg/runtimes/v1" "$T/auth"
echo 'FROM scratch' >"$T/cfg/runtimes/v1/Dockerfile"
cd "$T/cfg" || exit 99
export ACME_KEY="sk-ant-CANARY-preflight"

# target NAME CONNECT [KEY: VALUE lines]: a server target for an org NAME
target() {
	name=$1 connect=$2
	shift 2
	printf '  %s:\n    kind: incus\n    connect: %s\n' "$name" "$connect"
	case $connect in
	ssh://*) printf '    known_hosts: %s\n    identity: %s\n' \
		"$SSHD_KNOWN_HOSTS" "$SSHD_USER_KEY" ;;
	esac
	for line in "$@"; do
		echo "    $line"
	done
}

# org NAME TARGET
org() {
	cat <<YAML
  $1:
    owner: alice@$1.com
    target: $2
    teams:
      sales:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: You help sales.
        instructions: Be brief.
YAML
}

# config CONNECT [KEY: VALUE lines]: one server, one org
config() {
	{
		echo 'version: 1'
		echo 'targets:'
		target srv "$@"
		echo 'defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}'
		echo 'orgs:'
		org acme srv
	} >bots.yaml
}

run() { # CMD...: stdout in out, stderr in err, exit in $rc
	rc=0
	: >"$T/fake.log"
	"$@" >out 2>err || rc=$?
}

# nothing observed, nothing written: the stand-ins heard only the
# pre-flight's two questions, no state, no auth.json
nothing_done() {
	! grep -v -e '^incus GET /1.0$' -e '^caddy GET /config/admin$' "$T/fake.log" |
		grep -q . &&
		[ ! -e .getbot/state.json ] && [ -z "$(ls -A "$T/auth")" ]
}

AUTH="auth: {config: $T/auth/auth.json, binary: $BROKEN}"
INCUS_GONE="incus: {socket: $T/no-incus.sock}"
for connect in local "$SSHD_CONNECT"; do
	case $connect in
	local) label="srv (local)" through="" how=local ;;
	*) label="srv (ssh root@127.0.0.1:$SSHD_PORT)" through=" through ssh" how=ssh ;;
	esac

	# -- everything missing --
	config "$connect" "$INCUS_GONE" "caddy: {admin: \"$CLOSED\"}" "$AUTH"
	for cmd in plan "apply --auto-approve"; do
		# shellcheck disable=SC2086
		run "$GETBOT" $cmd
		[ "$rc" -eq 1 ] &&
			[ "$(head -1 err)" = "getbot: $label: the server lacks what bots.yaml needs there; nothing was changed:" ] &&
			[ "$(grep -c '^  - ' err)" -eq 3 ] && [ "$(grep -vc '^  - ' err)" -eq 1 ]
		tap_ok $? "$how, $cmd: one error names the server and lists 3 missing pieces (exit 1)"
		tap_diag "$(cat err)"
		grep -q "^  - Incus: cannot reach $T/no-incus.sock$through: GET /1.0: .*(install it: apt-get install -t bookworm-backports incus; incus admin init; or name its socket with incus: {socket: PATH})$" err
		tap_ok $? "$how, $cmd: Incus: no answer on the socket the target names, and how to install it"
		grep -q "^  - Caddy: cannot reach Caddy's admin API at $CLOSED$through: GET /config/admin: .*(install it: apt-get install caddy, whose admin API answers at localhost:2019; or name it with caddy: {admin: ADDRESS})$" err
		tap_ok $? "$how, $cmd: Caddy: no answer at its admin address${through}, and how to install it"
		grep -qxF "  - getbot-auth: cannot run $BROKEN: error while loading shared libraries: libsodium.so.23: cannot open shared object file: No such file or directory (install it: apt-get install libsodium23)" err
		tap_ok $? "$how, $cmd: getbot-auth: the loader's words and the library's package"
		nothing_done
		tap_ok $? "$how, $cmd: nothing observed, no state file, no auth.json"
	done

	# -- only getbot-auth missing: Incus and Caddy are asked, nothing else --
	config "$connect" "incus: {socket: $T/incus.sock}" "caddy: {admin: \"$CADDY\"}" \
		"auth: {config: $T/auth/auth.json, binary: $T/bin/no-such-getbot-auth}"
	run "$GETBOT" apply --auto-approve
	[ "$rc" -eq 1 ] && [ "$(grep -c '^  - ' err)" -eq 1 ] &&
		grep -qxF "  - getbot-auth: no executable file at $T/bin/no-such-getbot-auth$through (auth.binary names it: install it there, or correct auth.binary)" err
	tap_ok $? "$how: an auth.binary that is not there is the one missing piece"
	tap_diag "$(cat err)"
	grep -qx 'incus GET /1.0' "$T/fake.log" && grep -qx 'caddy GET /config/admin' "$T/fake.log" &&
		nothing_done
	tap_ok $? "$how: Incus and Caddy were asked whether they answer, and nothing more"

	# -- everything there: the pre-flight passes and the plan goes on --
	config "$connect" "incus: {socket: $T/incus.sock}" "caddy: {admin: \"$CADDY\"}" \
		"auth: {config: $T/auth/auth.json, binary: $REAL}"
	run "$GETBOT" plan
	[ "$rc" -eq 0 ] && grep -q '^Plan: 9 to add' out && ! grep -q lacks err &&
		grep -qx 'incus GET /1.0/instances?recursion=2' "$T/fake.log"
	tap_ok $? "$how: with all there, plan observes and plans"
	[ "$rc" -eq 0 ] || tap_diag "$(cat err)"
done

# -- where getbot-auth is looked for without auth.binary --
config local "incus: {socket: $T/incus.sock}" "caddy: {admin: \"$CADDY\"}" \
	"auth: {config: $T/auth/auth.json}"
run "$GETBOT" plan
[ "$rc" -eq 0 ] && [ -x "$REAL" ]
tap_ok $? "local: getbot-auth is found beside getbot"
LOGIN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
installed=""
for dir in $(echo "$LOGIN_PATH" | tr : ' '); do
	[ -x "$dir/getbot-auth" ] && installed="$dir/getbot-auth"
done
config "$SSHD_CONNECT" "incus: {socket: $T/incus.sock}" "caddy: {admin: \"$CADDY\"}" \
	"auth: {config: $T/auth/auth.json}"
run "$GETBOT" plan
if [ -z "$installed" ]; then
	# beside getbot is no place on another machine, nor getbot's PATH
	[ "$rc" -eq 1 ] &&
		grep -qxF "  - getbot-auth: not found in $LOGIN_PATH through ssh (install it on the server from getbot's build with make install, or name it with auth: {binary: PATH})" err
	tap_ok $? "ssh: getbot-auth is looked for in a login's PATH only, not beside getbot"
	tap_diag "$(cat err)"
else
	[ "$rc" -eq 0 ]
	tap_ok $? "ssh: getbot-auth is found in a login's PATH ($installed)"
fi

# -- two servers: one error each, both in one run --
{
	echo 'version: 1'
	echo 'targets:'
	target here local "$INCUS_GONE" "caddy: {admin: \"$CADDY\"}" "$AUTH"
	target there "$SSHD_CONNECT" "incus: {socket: $T/incus.sock}" \
		"caddy: {admin: \"$CLOSED\"}" "auth: {config: $T/auth/auth.json, binary: $REAL}"
	echo 'defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}'
	echo 'orgs:'
	org acme here
	org globex there
} >bots.yaml
run "$GETBOT" plan
[ "$rc" -eq 1 ] &&
	grep -qx "getbot: here (local): the server lacks what bots.yaml needs there; nothing was changed:" err &&
	grep -qx "there (ssh root@127.0.0.1:$SSHD_PORT): the server lacks what bots.yaml needs there; nothing was changed:" err &&
	[ "$(grep -c '^  - ' err)" -eq 3 ] && [ "$(grep -c '^  - Incus' err)" -eq 1 ] &&
	[ "$(grep -c '^  - getbot-auth' err)" -eq 1 ] && [ "$(grep -c "^  - Caddy: .*$CLOSED through ssh" err)" -eq 1 ]
tap_ok $? "two servers lacking things: one error each, every piece of both in one run"
tap_diag "$(cat err)"

# -- the unreachable server is that server's error, the others still checked --
sed -i "s|$SSHD_CONNECT|ssh://root@$CLOSED|" bots.yaml
run "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "^getbot: here (local): the server lacks" err &&
	grep -q "^there (ssh root@$CLOSED): cannot connect: " err
tap_ok $? "a server that cannot be reached is its own error, beside the other's"
tap_diag "$(cat err)"

run "$GETBOT" validate
[ "$rc" -eq 0 ] && [ ! -s "$T/fake.log" ]
tap_ok $? "validate checks no server"
grep -rq CANARY "$T/cfg"
tap_ok $((!$?)) "no key in any output"
tap_done
