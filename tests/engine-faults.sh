#!/bin/sh
# The engine when things go wrong: partial failure, retries honouring
# Retry-After, a lost answer, a kill -9 at each step of an action, two
# applies at once, and the deletion threshold. Driven through getbot-mem
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
