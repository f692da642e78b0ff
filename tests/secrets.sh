#!/bin/sh
# Sealed secrets end to end: getbot secrets keygen writes the key pair
# (modes, never over an existing key), getbot secrets seal seals a canary
# read on stdin, and getbot-mem's apply opens it with the private key from
# GETBOT_SEAL_KEY_FILE or GETBOT_SEAL_KEY into the world; a wrong key, a
# tampered, truncated or non-base64 box are errors naming the reference;
# the canary and the private key appear in no output, no argument and no
# environment getbot keeps.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
: "${GETBOT_MEM:=$(dirname "$GETBOT")/tests/engine/getbot-mem}"
T=$tap_tmp
export GETBOT_MEM_WORLD="$T/world.json"
unset GETBOT_SEAL_KEY GETBOT_SEAL_KEY_FILE
mkdir "$T/repo" "$T/other"
cd "$T/repo" || exit 99

# The canary only ever reaches getbot on stdin, and the test's own greps
# read it, and the private keys, from files (-f): printf is the shell's
# own, so neither is ever a process argument.
canary="sk-ant-CANARY-sealed-$$-7f3e"
printf '%s\n' "$canary" >"$T/canary"

# run CMD...: stdout in out, stderr in err, exit in $rc; all kept in all.log
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>"$T/all.log"
}
# mode FILE: its permission bits, as ls shows them
mode() { ls -ld "$1" | cut -c1-10; }

# --- keygen
run "$GETBOT" secrets keygen
tap_ok "$rc" "keygen succeeds"
[ "$(mode getbot-seal.pub)" = "-rw-r--r--" ]
tap_ok $? "the public key is getbot-seal.pub beside the config, mode 0644"
[ "$(mode .getbot/seal.key)" = "-rw-------" ] && [ "$(mode .getbot)" = "drwx------" ]
tap_ok $? "the private key is .getbot/seal.key, mode 0600, in a 0700 directory"
grep -Eqx '[A-Za-z0-9+/]{43}=' getbot-seal.pub && [ "$(wc -l <getbot-seal.pub)" -eq 1 ] &&
	grep -Eqx '[A-Za-z0-9+/]{43}=' .getbot/seal.key && [ "$(wc -l <.getbot/seal.key)" -eq 1 ]
tap_ok $? "each key file is one line of base64 of 32 bytes"
! cmp -s getbot-seal.pub .getbot/seal.key; tap_ok $? "the two keys differ"
grep -q 'GETBOT_SEAL_KEY' out && grep -q 'GETBOT_SEAL_KEY_FILE' out
tap_ok $? "keygen says how CI gets the private key"
cp getbot-seal.pub "$T/pub.orig"
cp .getbot/seal.key "$T/key.orig"

run "$GETBOT" secrets keygen
[ "$rc" -eq 1 ] && grep -q "'getbot-seal.pub' exists; --force" err
tap_ok $? "keygen refuses to overwrite the public key"
run "$GETBOT" secrets keygen --force
[ "$rc" -eq 1 ] && grep -q "private key '.getbot/seal.key' exists" err
tap_ok $? "keygen --force still never replaces the private key"
cmp -s getbot-seal.pub "$T/pub.orig" && cmp -s .getbot/seal.key "$T/key.orig"
tap_ok $? "and neither refusal touched a key"
run "$GETBOT" secrets keygen --public "$T/other/getbot-seal.pub" \
	--private "$T/other/seal.key"
[ "$rc" -eq 0 ] && [ "$(mode "$T/other/seal.key")" = "-rw-------" ]
tap_ok $? "--public and --private put the keys elsewhere (a second pair)"
run "$GETBOT" secrets keygen --public "$T/other/stdout.pub" --private -
[ "$rc" -eq 0 ] && grep -Eqx '[A-Za-z0-9+/]{43}=' out && [ "$(wc -l <out)" -eq 1 ] &&
	grep -q 'GETBOT_SEAL_KEY' err
tap_ok $? "--private - prints the private key alone on stdout, the rest on stderr"
: >"$T/all.log" # that key is meant to be printed; the others never are

# --- seal
rc=0 # through a pipe
printf '%s\n' "$canary" | "$GETBOT" secrets seal anthropic >out 2>err || rc=$?
cat out err >>"$T/all.log"
[ "$rc" -eq 0 ] && grep -Eqx 'anthropic: \{sealed: "[A-Za-z0-9+/]+=*"\}' out &&
	[ "$(wc -l <out)" -eq 1 ] && [ ! -s err ]
tap_ok $? "seal prints one line, NAME: {sealed: \"...\"}"
sealed=$(sed -n 's/^anthropic: {sealed: "\(.*\)"}$/\1/p' out)
printf '%s' "$canary" >"$T/in"
run "$GETBOT" secrets seal anthropic <"$T/in"
sealed_again=$(sed -n 's/^anthropic: {sealed: "\(.*\)"}$/\1/p' out)
[ "$rc" -eq 0 ] && [ -n "$sealed_again" ] && [ "$sealed_again" != "$sealed" ]
tap_ok $? "without a final newline too; each seal is a new box"
printf '' >"$T/in"
run "$GETBOT" secrets seal anthropic <"$T/in"
[ "$rc" -eq 1 ] && grep -q 'value on standard input is empty' err
tap_ok $? "an empty value is refused"
printf '\n' >"$T/in"
run "$GETBOT" secrets seal anthropic <"$T/in"
[ "$rc" -eq 1 ] && grep -q 'empty' err
tap_ok $? "a lone newline is an empty value"
head -c 65537 /dev/zero | tr '\0' x >"$T/in"
run "$GETBOT" secrets seal anthropic <"$T/in"
[ "$rc" -eq 1 ] && grep -q 'larger than 65536 bytes' err
tap_ok $? "a value over 64 KiB is refused"
head -c 65536 /dev/zero | tr '\0' x >"$T/in"
run "$GETBOT" secrets seal anthropic <"$T/in"
tap_ok "$rc" "a value of 64 KiB is sealed"
printf 'x\n' >"$T/in"
run "$GETBOT" secrets seal 'bad name' <"$T/in"
[ "$rc" -eq 1 ] && grep -q 'NAME is a label' err
tap_ok $? "NAME is a plain label"
printf 'x\n' >"$T/in"
run "$GETBOT" secrets seal --public "$T/none.pub" anthropic <"$T/in"
[ "$rc" -eq 1 ] && grep -q "no public key '.*none.pub'.*getbot secrets keygen" err
tap_ok $? "a missing public key points at keygen"
printf 'not a key\n' >"$T/bad.pub"
printf 'x\n' >"$T/in"
run "$GETBOT" secrets seal --public "$T/bad.pub" anthropic <"$T/in"
[ "$rc" -eq 1 ] && grep -q "does not hold a seal key" err
tap_ok $? "a public key file that holds no key is refused"

# On a terminal: a prompt, one line, no echo.
if command -v python3 >/dev/null 2>&1; then
	python3 - "$GETBOT" "$T/canary" >"$T/tty.out" 2>>"$T/all.log" <<'PY'
import os, pty, select, signal, sys, time
value = open(sys.argv[2], "rb").read()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "secrets", "seal", "anthropic"])
seen = b""
def drain(until):
    global seen
    while until not in seen:
        if not select.select([fd], [], [], 10)[0]:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        seen += data
drain(b"(not shown")
os.write(fd, value)
drain(b"\"}")
sys.stdout.write(seen.decode())
for _ in range(50):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.1)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
sys.exit(1)
PY
	rc=$?
	cat "$T/tty.out" >>"$T/all.log"
	[ "$rc" -eq 0 ] && grep -q '^Value of anthropic (not shown' "$T/tty.out" &&
		grep -q '^anthropic: {sealed: "' "$T/tty.out" &&
		! grep -qF -f "$T/canary" "$T/tty.out"
	tap_ok $? "on a terminal: a prompt, the value not echoed, the reference"
fi

# --- open: getbot-mem's apply writes the opened value into its world
write_config() { # write_config SEALED
	cat >bots.yaml <<YAML
version: 1
targets:
  srv: {kind: incus, connect: local}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  acme:
    owner: alice@acme.com
    target: srv
    teams:
      marketing:
        api_keys:
          anthropic: {sealed: "$1"}
        persona: You are the marketing assistant.
        instructions: Draft posts.
YAML
}
write_config "$sealed"
echo '{}' >"$GETBOT_MEM_WORLD"
run "$GETBOT" validate
tap_ok "$rc" "the pasted reference validates"

run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'GETBOT_SEAL_KEY to its text, or GETBOT_SEAL_KEY_FILE' err &&
	grep -q '^getbot: bots.yaml:12:22: secret ANTHROPIC_API_KEY of mem.bot.acme/marketing: ' err
tap_ok $? "without a key: exit 1, the reference named, both variables named"

GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" apply --auto-approve
tap_ok "$rc" "apply opens the sealed secret with GETBOT_SEAL_KEY_FILE"
printf '"ANTHROPIC_API_KEY":"%s"\n' "$canary" >"$T/want"
tr -d '[:space:]' <"$GETBOT_MEM_WORLD" | grep -qF -f "$T/want"
tap_ok $? "the bot got exactly the sealed value"

key=$(cat .getbot/seal.key)
export GETBOT_SEAL_KEY="$key"
run "$GETBOT_MEM" plan
[ "$rc" -eq 0 ] && grep -q '^No changes.' out
tap_ok $? "GETBOT_SEAL_KEY (the key's text) opens it to the same value: no changes"
GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'both GETBOT_SEAL_KEY and GETBOT_SEAL_KEY_FILE are set' err
tap_ok $? "both variables set: refused, not guessed"
export GETBOT_SEAL_KEY=""
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'GETBOT_SEAL_KEY is set but empty' err
tap_ok $? "an empty GETBOT_SEAL_KEY (a CI secret that is missing) says so"
export GETBOT_SEAL_KEY="$key$key"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'GETBOT_SEAL_KEY does not hold a seal key' err
tap_ok $? "GETBOT_SEAL_KEY that is no key is refused"
unset GETBOT_SEAL_KEY

cp .getbot/seal.key "$T/loose.key"
chmod 644 "$T/loose.key"
GETBOT_SEAL_KEY_FILE="$T/loose.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q "loose.key' has mode 0644.*chmod 600" err
tap_ok $? "a private key file others can read is refused"
ln -s "$T/key.orig" "$T/link.key"
GETBOT_SEAL_KEY_FILE="$T/link.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q "cannot open '.*link.key'" err
tap_ok $? "a private key file that is a symbolic link is refused"
mkfifo "$T/fifo.key"
GETBOT_SEAL_KEY_FILE="$T/fifo.key" run timeout 10 "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q "fifo.key' is not a regular file" err
tap_ok $? "a FIFO as the private key file is refused, without hanging"

GETBOT_SEAL_KEY_FILE="$T/other/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] &&
	grep -q '^getbot: bots.yaml:12:22: secret ANTHROPIC_API_KEY of mem.bot.acme/marketing: the sealed value does not open with the key in' err
tap_ok $? "a wrong key: exit 1, an error naming the reference"

# one character of the box changed: the box no longer authenticates
i=$((${#sealed} / 2))
head=$(printf '%s' "$sealed" | cut -c1-$((i - 1)))
char=$(printf '%s' "$sealed" | cut -c$i)
tail=$(printf '%s' "$sealed" | cut -c$((i + 1))-)
[ "$char" = A ] && flip=B || flip=A
write_config "$head$flip$tail"
GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] &&
	grep -q '^getbot: bots.yaml:12:22: secret ANTHROPIC_API_KEY of mem.bot.acme/marketing: the sealed value does not open' err
tap_ok $? "a tampered box: exit 1, an error naming the reference"

# cut short, still base64 and longer than the box's overhead
write_config "$(printf '%s' "$sealed" | cut -c1-80)"
GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q '^getbot: bots.yaml:12:22: .*does not open' err
tap_ok $? "a truncated box: exit 1, an error naming the reference"
write_config "$(printf '%s' "$sealed" | cut -c1-40)"
GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] &&
	grep -q 'orgs.acme.teams.marketing.api_keys.anthropic.sealed: sealed is too short to be a sealed box' err
tap_ok $? "a box cut shorter than its overhead: the config path named"
write_config 'not base64!'
GETBOT_SEAL_KEY_FILE="$PWD/.getbot/seal.key" run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'orgs.acme.teams.marketing.api_keys.anthropic.sealed' err
tap_ok $? "a box that is no base64: the config path named"

# --- GETBOT_SEAL_KEY leaves getbot's environment at start: a getbot that
# waits on stdin has neither the key nor the canary in its arguments or
# environment.
if [ -r /proc/self/environ ]; then
	mkfifo "$T/stdin"
	exec 3<>"$T/stdin"
	export GETBOT_SEAL_KEY="$key"
	"$GETBOT" secrets seal anthropic <"$T/stdin" >"$T/seal.out" \
		2>>"$T/all.log" 3>&- &
	pid=$!
	unset GETBOT_SEAL_KEY
	n=0 gone=1
	while [ $n -lt 50 ]; do
		# once getbot runs (its own arguments), until the key is gone
		if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qx secrets &&
			environ=$(tr '\0' '\n' <"/proc/$pid/environ") && [ -n "$environ" ] &&
			! printf '%s\n' "$environ" | grep -qF -f .getbot/seal.key; then
			gone=0
			break
		fi
		sleep 0.1
		n=$((n + 1))
	done
	tap_ok $gone "GETBOT_SEAL_KEY is wiped from getbot's environment at start"
	! tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -f .getbot/seal.key -f "$T/canary"
	tap_ok $? "no argument of getbot holds the key or the value"
	printf '%s\n' "$canary" >&3
	exec 3>&-
	rc=0
	wait $pid || rc=$?
	[ "$rc" -eq 0 ] && grep -q '^anthropic: {sealed: ' "$T/seal.out"
	tap_ok $? "seal reads the value from a pipe that arrives late"
	cat "$T/seal.out" >>"$T/all.log"
fi

# --- nothing leaked
! grep -qF -f "$T/canary" "$T/all.log"; tap_ok $? "the canary is in no output"
! grep -qF -f .getbot/seal.key -f "$T/other/seal.key" "$T/all.log"
tap_ok $? "no private key is in any output"

tap_done
