#!/bin/sh
# The engine when things go wrong: partial failure, retries honouring
# Retry-After, a lost answer, a kill -9 at each step of an action, two
# applies at once, slow steps (their lines, and on a terminal their
# counter), and the deletion threshold. Driven through getbot-mem
# and its world file (see tests/engine/provider-mem.c).
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
: "${GETBOT_MEM:=$(dirname "$GETBOT")/tests/engine/getbot-mem}"
T=$tap_tmp
export GETBOT_MEM_WORLD="$T/world.json"
export KEY="sk-ant-CANARY-faults-0001"
cd "$T" || exit 99

# bots.yaml with N teams in org acme and one in org globex
write_config() {
	{
		cat <<YAML
version: 1
targets:
  srv: {kind: incus, connect: local}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  globex:
    owner: hank@globex.co.uk
    target: srv
    teams:
      ops: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}
  acme:
    owner: alice@acme.com
    target: srv
    teams:
YAML
		i=1
		while [ "$i" -le "$1" ]; do
			echo "      t$i: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}"
			i=$((i + 1))
		done
	} >bots.yaml
}
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>all.log
}
world() {
	python3 -c "import json,sys; w=json.load(open('$GETBOT_MEM_WORLD')); sys.exit(0 if ($1) else 1)"
}
log_count() {
	python3 -c "
import json; w=json.load(open('$GETBOT_MEM_WORLD'))
print(sum(1 for e in w.get('log', []) if e['op']=='$1' and ('$2'=='' or e.get('address')=='$2')))"
}
fault() {
	python3 -c "
import json; p='$GETBOT_MEM_WORLD'; w=json.load(open(p)); w.setdefault('faults', []).append(json.loads('''$1''')); json.dump(w, open(p,'w'))"
}
fresh() {
	rm -rf .getbot "$GETBOT_MEM_WORLD"
	echo '{}' >"$GETBOT_MEM_WORLD"
}

# ---- a failure skips its dependants; the rest goes on ----
write_config 2
fresh
fault '{"op": "create", "address": "mem.container.acme", "fault": "permanent", "message": "no space left on pool default"}'
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 5 ]; tap_ok $? "an apply with a failed action exits 5"
grep -q '^Apply finished with failures: 4 succeeded, 1 failed, 3 skipped.$' out
tap_ok $? "the summary counts succeeded, failed and skipped"
grep -q '^mem.container.acme: mem: no space left on pool default$' err
tap_ok $? "the failure is reported in the remote system's words"
grep -q '^mem.bot.acme/t1: skipped: an action it needs failed$' err
tap_ok $? "its dependants are skipped"
world "'mem.bot.globex/ops' in w['objects'] and 'mem.bot.acme/t1' not in w['objects']"
tap_ok $? "independent actions went on"
python3 -c "
import json; s=json.load(open('.getbot/state.json'))
f=[j for j in s['journal'] if j['status']=='failed']
assert len(f)==1 and f[0]['address']=='mem.container.acme' and 'no space' in f[0]['error'], f"
tap_ok $? "the journal records the failure with its message"
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && grep -q 'Apply complete: 4 succeeded' out
tap_ok $? "the next apply finishes the job"

# ---- retries honour Retry-After ----
fresh
fault '{"op": "create", "address": "mem.network.srv", "fault": "transient", "times": 2, "retry_after": 1, "message": "503 Service Unavailable"}'
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(log_count create mem.network.srv)" -eq 3 ]
tap_ok $? "a transient failure is retried until it succeeds (3 attempts)"
fresh
fault '{"op": "create", "address": "mem.network.srv", "fault": "transient", "times": 9, "retry_after": 0.1, "message": "429 Too Many Requests"}'
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 5 ] && [ "$(log_count create mem.network.srv)" -eq 5 ] &&
	grep -q 'mem.network.srv: mem: 429 Too Many Requests (after 5 attempts)' err
tap_ok $? "retries stop after 5 attempts and say so"
fresh
fault '{"op": "create", "address": "mem.network.srv", "fault": "permanent", "message": "invalid subnet"}'
run "$GETBOT_MEM" apply --auto-approve
[ "$(log_count create mem.network.srv)" -eq 1 ]; tap_ok $? "a permanent failure is not retried"

# ---- a create whose answer was lost is not made twice ----
fresh
fault '{"op": "create", "address": "mem.container.globex", "fault": "lost-answer", "message": "connection reset by peer"}'
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(log_count create mem.container.globex)" -eq 1 ]
tap_ok $? "a create that took effect before its answer was lost is observed, not repeated"

# ---- kill -9 at each step of an action ----
for when in crash-before crash-after; do
	for addr in mem.network.srv mem.container.acme mem.bot.acme/t2; do
		fresh
		fault "{\"op\": \"create\", \"address\": \"$addr\", \"fault\": \"$when\"}"
		run "$GETBOT_MEM" apply --auto-approve --parallelism 1
		[ "$rc" -eq 137 ] || [ "$rc" -eq 9 ] || tap_diag "exit $rc"
		python3 -c "
import json; s=json.load(open('.getbot/state.json'))
u=[j for j in s['journal'] if j['status']=='intended']
assert [j['address'] for j in u]==['$addr'], u"
		tap_ok $? "$when $addr: the journal holds the unfinished intent"
		run "$GETBOT_MEM" plan
		grep -q "an earlier apply was interrupted during create of $addr" out
		tap_ok $? "$when $addr: the next plan says so"
		run "$GETBOT_MEM" apply --auto-approve
		[ "$rc" -eq 0 ] && [ "$(log_count create "$addr")" -eq 1 ] || [ "$when" = crash-before ] && [ "$rc" -eq 0 ]
		tap_ok $? "$when $addr: the next apply completes without a second create"
		run "$GETBOT_MEM" plan --detailed-exitcode
		world "len(w['objects']) == 8" && [ "$rc" -eq 0 ]
		tap_ok $? "$when $addr: nothing lost, nothing duplicated, no changes left"
		python3 -c "
import json; s=json.load(open('.getbot/state.json'))
assert not [j for j in s['journal'] if j['status']=='intended'], s['journal']"
		tap_ok $? "$when $addr: the interrupted intent is resolved"
	done
done

# ---- two applies at once ----
fresh
fault '{"op": "create", "address": "mem.network.srv", "fault": "slow", "seconds": 3}'
"$GETBOT_MEM" apply --auto-approve >first.out 2>first.err &
first=$!
i=0
while [ ! -f .getbot/state.json.lock ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 4 ]; tap_ok $? "a second apply while one runs exits 4"
grep -q "state is locked by .* pid $first" err; tap_ok $? "naming the holder (pid $first)"
lock_id=$(sed -n "s/.*lock id \([0-9a-f-]*\).*/\1/p" err | head -1)
run "$GETBOT_MEM" state unlock not-the-id
[ "$rc" -eq 1 ]; tap_ok $? "state unlock with another id is refused"
run "$GETBOT_MEM" apply --auto-approve --lock-wait 30s
[ "$rc" -eq 0 ]; tap_ok $? "--lock-wait waits for the lock and then applies"
wait "$first"; tap_ok $? "the first apply finished normally"
[ -n "$lock_id" ]; tap_ok $? "the refusal gave the lock id ($lock_id)"

# ---- slow steps: their lines, and on a terminal a live counter ----
# on_terminal OUT TERM CMD...: CMD with stdout on a pseudo-terminal of 200
# columns that passes bytes as they are (no \n to \r\n), written to OUT
on_terminal() {
	python3 - "$@" <<'PY'
import fcntl, os, struct, subprocess, sys, termios
out, term, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = os.openpty()
attrs = termios.tcgetattr(slave)
attrs[1] &= ~termios.OPOST
termios.tcsetattr(slave, termios.TCSANOW, attrs)
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave,
    stderr=open(out + ".err", "w"), env=dict(os.environ, TERM=term))
os.close(slave)
raw = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child has closed the terminal
        break
    if not chunk:
        break
    raw += chunk
open(out, "wb").write(raw)
sys.exit(child.wait())
PY
}
# what a person reads of an apply's output, comparable between runs: the
# status line ("\r\033[K  ..." up to the next erase) and live lines'
# "[N/TOTAL] " dropped, times made T
readable() {
	python3 - "$1" <<'PY'
import re, sys
raw = open(sys.argv[1], "rb").read()
parts = raw.split(b"\r\x1b[K")
text = parts[0] + b"".join(p for p in parts[1:] if b"\n" in p)
text = re.sub(rb"(?m)^\[\d+/\d+\] ", b"", text)
text = re.sub(rb"[0-9]+\.[0-9]s\b", b"Ts", text)
sys.stdout.buffer.write(text)
PY
}
slow_step='{"op": "create", "address": "mem.bot.acme/t1", "fault": "slow", "seconds": 1.5, "step": "building image getbot/openclaw:v1 in acme"}'
export NO_COLOR=1 # the plan above the apply: the same bytes on a terminal
write_config 1
fresh
run "$GETBOT_MEM" apply --auto-approve --parallelism 1
readable out >plain.readable
fresh
fault "$slow_step"
run "$GETBOT_MEM" apply --auto-approve --parallelism 1
[ "$rc" -eq 0 ] && grep -q '^mem.bot.acme/t1: building image getbot/openclaw:v1 in acme\.\.\.$' out
tap_ok $? "a slow step has a line when it starts"
grep -q '^mem.bot.acme/t1: building image getbot/openclaw:v1 in acme took [0-9]*\.[0-9]s$' out
tap_ok $? "and one with its time when it ends"
! grep -q "$(printf '[\r\033]')" out
tap_ok $? "off a terminal: no carriage return, no escape code"
readable out >steps.readable
grep -v 'building image getbot/openclaw:v1 in acme' steps.readable |
	cmp -s - plain.readable
tap_ok $? "off a terminal, the output is that of an apply without the step but for its two lines"
fresh
fault "$slow_step"
on_terminal tty.out xterm "$GETBOT_MEM" apply --auto-approve --parallelism 1
tap_ok $? "apply on a terminal"
grep -q "$(printf '\r\033\\[K')  building image getbot/openclaw:v1 in acme (0:0[0-9])" tty.out
tap_ok $? "on a terminal, a status line counts the running step's time"
python3 -c "
import sys; raw = open('tty.out', 'rb').read()
sys.exit(0 if b'\n' in raw.split(b'\r\x1b[K')[-1] else 1)"
tap_ok $? "and none is left at the end"
readable tty.out | cmp -s - steps.readable
tap_ok $? "what remains is the lines of the apply off a terminal"
grep -q '^\[[0-9]*/7\] mem.bot.acme/t1: building image' tty.out
tap_ok $? "with the count of actions before each line"
fresh
fault "$slow_step"
on_terminal dumb.out dumb "$GETBOT_MEM" apply --auto-approve --parallelism 1
[ $? -eq 0 ] && ! grep -q "$(printf '[\r\033]')" dumb.out &&
	readable dumb.out | cmp -s - steps.readable
tap_ok $? "TERM=dumb: the same lines, no status line"
unset NO_COLOR

# ---- the deletion threshold ----
write_config 14
fresh
run "$GETBOT_MEM" apply --auto-approve
write_config 1
run "$GETBOT_MEM" plan
[ "$rc" -eq 3 ] && grep -q 'the plan deletes 13 of the 20 resources getbot manages' err
tap_ok $? "deleting more than 10 and more than a third is refused (exit 3)"
run "$GETBOT_MEM" plan --allow-deletes
[ "$rc" -eq 0 ] && grep -q '13 to delete' out; tap_ok $? "--allow-deletes allows it"
run "$GETBOT_MEM" plan --only update,update-secret,re-register
[ "$rc" -eq 0 ] && grep -q '^No changes' out
tap_ok $? "cron's --only update,update-secret,re-register never deletes"

! grep -q CANARY all.log .getbot/state.json; tap_ok $? "no secret in any output or the state"
tap_done
