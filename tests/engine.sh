#!/bin/sh
# The plan/apply engine through getbot-mem (getbot with the in-memory
# provider of tests/engine/provider-mem.c, whose "remote system" is a JSON
# world file): every action kind and reason, order, immutable refusal and
# --replace, drift, scope, safety, saved plans, failures, retries, and
# secrets that never leak.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
: "${GETBOT_MEM:=$(dirname "$GETBOT")/tests/engine/getbot-mem}"
T=$tap_tmp
export GETBOT_MEM_WORLD="$T/world.json"
export ACME_KEY="sk-ant-CANARY-acme-0001" GLOBEX_KEY="sk-ant-CANARY-globex-0002"
export EDGE_KEY="sk-CANARY-edge-0003" CF_TOKEN="cf-CANARY-0004" ROUTER_TOKEN="rt-CANARY-0005"
cd "$T" || exit 99

# A config: a server with two orgs (three bots) and the edge with one.
write_config() {
	sales_team="      sales:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: You help sales.
        instructions: Be brief."
	[ -n "${NO_SALES:-}" ] && sales_team=""
	cat >bots.yaml <<YAML
version: 1
targets:
  srv: {kind: incus, connect: local}
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "https://router.example.com", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: ${RUNTIME:-v1}}
orgs:
  acme:
    owner: alice@acme.com
    target: srv
    limits: {cpu: 2, memory: 4GiB}
    allowed_emails: [${ACME_EMAILS:-alice@acme.com}]
    teams:
      marketing:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: ${PERSONA:-You are the marketing assistant.}
        instructions: Draft posts.
${sales_team}
  globex:
    owner: hank@globex.co.uk
    target: srv
    teams:
      ops:
        api_keys: {anthropic: {env: GLOBEX_KEY}}
        persona: You run ops.
        instructions: Keep runbooks.
  research:
    owner: carol@research.example
    target: edge
    teams:
      pro:
        api_keys: {anthropic: {env: EDGE_KEY}}
        persona: You are Research Pro.
        instructions: Cite sources.
        card: {display_name: ${CARD_NAME:-Research Pro}, description: Reviews.}
YAML
}

# run CMD...: stdout in out, stderr in err, exit in $rc; everything kept
# in all.log for the canary check at the end
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>all.log
}

world() { # python expression on the world as w
	python3 -c "import json,sys; w=json.load(open('$GETBOT_MEM_WORLD')); sys.exit(0 if ($1) else 1)"
}
log_count() { # OP [ADDRESS]: how many such calls the world has seen
	python3 -c "
import json; w=json.load(open('$GETBOT_MEM_WORLD'))
print(sum(1 for e in w.get('log', []) if e['op']=='$1' and ('$2'=='' or e.get('address')=='$2')))"
}
clear_log() {
	python3 -c "
import json; p='$GETBOT_MEM_WORLD'; w=json.load(open(p)); w['log']=[]; json.dump(w, open(p,'w'))"
}
fault() { # JSON object of a fault to add
	python3 -c "
import json; p='$GETBOT_MEM_WORLD'; w=json.load(open(p)); w.setdefault('faults', []).append(json.loads('''$1''')); json.dump(w, open(p,'w'))"
}
poke() { # python statement on the world w (a change made outside getbot)
	python3 -c "
import json; p='$GETBOT_MEM_WORLD'; w=json.load(open(p)); $1; json.dump(w, open(p,'w'))"
}

write_config
echo '{}' >"$GETBOT_MEM_WORLD"

# ---- plan from nothing ----
run "$GETBOT_MEM" plan
tap_ok "$rc" "plan from nothing succeeds"
grep -q '^Plan: 10 to add, 0 to change, 0 to replace, 0 to delete.$' out
tap_ok $? "10 to add: a network, 2 containers, 2 allowlists, 3 bots, a worker and its card"
grep -q '# mem.bot.acme/marketing will be created: not found' out
tap_ok $? "each action has its reason"
grep -q '+ secret ANTHROPIC_API_KEY (fingerprint [0-9a-f]\{8\})' out
tap_ok $? "a secret is shown by fingerprint"
[ "$(log_count observe)" -eq 6 ] && world "all(e['op']=='observe' for e in w['log'])"
tap_ok $? "observation is one bulk call per kind (6 kinds), and plan changes nothing"
run "$GETBOT_MEM" plan --detailed-exitcode
[ "$rc" -eq 2 ]; tap_ok $? "--detailed-exitcode gives 2 with changes"

# ---- json ----
run "$GETBOT_MEM" plan --json
python3 - out <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
types = [l["type"] for l in lines]
assert types.count("planned_change") == 10, types
assert types[-1] == "change_summary" and lines[-1]["changes"]["add"] == 10, lines[-1]
c = [l for l in lines if l["type"] == "planned_change"][0]["change"]
assert c["action"] == "create" and c["reason"] == "not found" and c["resource"]["addr"], c
PY
tap_ok $? "--json: one typed object per line, a planned_change per action and a change_summary"

# ---- apply ----
clear_log
run "$GETBOT_MEM" apply </dev/null
[ "$rc" -eq 1 ] && grep -q 'not asking for approval: stdin is not a terminal' err
tap_ok $? "apply refuses to prompt when stdin is not a terminal"
[ "$(log_count create)" -eq 0 ]; tap_ok $? "and changes nothing"

run "$GETBOT_MEM" apply --auto-approve
tap_ok "$rc" "apply --auto-approve"
grep -q '^Apply complete: 10 succeeded, 0 failed, 0 skipped.$' out
tap_ok $? "apply ends with a summary"
grep -q '^mem.bot.acme/marketing: created ([0-9.]*s)$' out
tap_ok $? "one progress line per action with its duration"
world "len(w['objects']) == 10"; tap_ok $? "the world has the 10 objects"
python3 - "$GETBOT_MEM_WORLD" <<'PY'
import json, sys
log = [e.get("address") for e in json.load(open(sys.argv[1]))["log"] if e["op"] == "create"]
order = lambda a: log.index(a)
assert order("mem.network.srv") < order("mem.container.acme") < order("mem.bot.acme/marketing"), log
assert order("mem.container.acme") < order("mem.allowlist.acme"), log
assert order("memedge.worker.research-pro") < order("memedge.card.research-pro"), log
PY
tap_ok $? "creates follow the dependency order"
[ "$(stat -c %a .getbot/state.json)" = 600 ]; tap_ok $? "the state file is mode 0600"
python3 - .getbot/state.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["resources"]) == 10, s["resources"].keys()
assert all(j["status"] == "done" for j in s["journal"]), s["journal"]
assert s["resources"]["mem.bot.acme/marketing"]["fingerprints"]["ANTHROPIC_API_KEY"]
PY
tap_ok $? "the state records every resource with fingerprints and a journal of done intents"

run "$GETBOT_MEM" plan --detailed-exitcode
[ "$rc" -eq 0 ] && grep -q '^No changes.' out
tap_ok $? "a second plan has no changes and exits 0"

# ---- each change class ----
clear_log
RUNTIME=v2; write_config
run "$GETBOT_MEM" plan
grep -q '# mem.bot.acme/marketing will be updated in place: runtime changed' out &&
	grep -q '~ runtime: "v1" → "v2"' out && grep -q '^Plan: 0 to add, 4 to change' out
tap_ok $? "a runtime change updates the bots in place"
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(log_count update)" -eq 4 ] && [ "$(log_count create)" -eq 0 ]
tap_ok $? "apply updates those only (3 bots, 1 worker)"

clear_log
export ACME_KEY="sk-ant-CANARY-acme-0099"
run "$GETBOT_MEM" plan
grep -q 'mem.bot.acme/marketing will have its secrets updated: ANTHROPIC_API_KEY changed' out &&
	grep -q '~ secret ANTHROPIC_API_KEY (fingerprint [0-9a-f]\{8\} → [0-9a-f]\{8\})' out
tap_ok $? "a rotated key plans update-secret, with fingerprints"
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(log_count update-secret)" -eq 2 ] && [ "$(log_count update)" -eq 0 ]
tap_ok $? "apply pushes the secret to the two bots that use it, nothing else"
world "w['objects']['mem.bot.acme/sales']['secrets']['ANTHROPIC_API_KEY'] == 'sk-ant-CANARY-acme-0099'"
tap_ok $? "the new key reached the bot"

clear_log
CARD_NAME="Research Pro 2"; write_config
run "$GETBOT_MEM" plan
grep -q 'memedge.card.research-pro will be re-registered: display_name changed' out &&
	grep -q '^Plan: 0 to add, 1 to change' out
tap_ok $? "a card change re-registers only"
run "$GETBOT_MEM" apply --auto-approve
[ "$(log_count re-register)" -eq 1 ] && [ "$(log_count update)" -eq 0 ]
tap_ok $? "apply calls re-register, and nothing is redeployed"

clear_log
CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
run "$GETBOT_MEM" plan
[ "$rc" -eq 3 ]; tap_ok $? "a persona change is refused with exit 3"
grep -q 'persona of mem.bot.acme/marketing cannot change once deployed' err &&
	grep -q -- '- You are the marketing assistant.' err &&
	grep -q -- '+ You are the new marketing assistant.' err &&
	grep -q -- '--replace mem.bot.acme/marketing (this loses the bot.s volumes' err
tap_ok $? "the refusal names the bot and field, shows the text diff and the way forward"
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 3 ] && [ "$(log_count update)" -eq 0 ] && [ "$(log_count create)" -eq 0 ]
tap_ok $? "apply refuses it too and touches nothing"
run "$GETBOT_MEM" plan --replace mem.bot.acme/marketing
[ "$rc" -eq 0 ] && grep -q '# mem.bot.acme/marketing will be replaced: replacement requested; this loses the bot.s volumes' out &&
	grep -q -- '-/+ mem.bot.acme/marketing' out
tap_ok $? "--replace plans a replacement and says what is lost"
run "$GETBOT_MEM" apply --auto-approve --replace mem.bot.acme/marketing
[ "$rc" -eq 0 ] && [ "$(log_count delete-purge mem.bot.acme/marketing)" -eq 1 ] &&
	[ "$(log_count create mem.bot.acme/marketing)" -eq 1 ]
tap_ok $? "apply --replace deletes (with its data) and creates the bot"
run "$GETBOT_MEM" plan --replace mem.bot.acme/nobody
[ "$rc" -eq 1 ] && grep -q -- '--replace mem.bot.acme/nobody: no such resource' err
tap_ok $? "--replace of an unknown address is an error"

# ---- drift ----
clear_log
CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
poke "w['objects']['mem.container.globex']['spec']['memory'] = '8GiB'"
poke "del w['objects']['mem.allowlist.globex']"
run "$GETBOT_MEM" plan
grep -q 'mem.container.globex will be updated in place: drift: memory changed outside getbot' out &&
	grep -q 'mem.allowlist.globex will be created: drift: deleted outside getbot' out
tap_ok $? "changes made outside getbot are labelled drift"
run "$GETBOT_MEM" plan --json
grep -q '"type":"drift"' out; tap_ok $? "--json emits drift objects"
run "$GETBOT_MEM" apply --auto-approve
run "$GETBOT_MEM" plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "apply repairs drift"

# ---- what getbot does not own ----
poke "w['objects']['mem.container.handmade'] = {'provider': 'mem', 'kind': 'container', 'name': 'handmade', 'org': 'handmade', 'owned': False, 'spec': {}}"
run "$GETBOT_MEM" plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "an object getbot does not own is never planned for deletion"
poke "w['objects']['mem.bot.acme/sales']['owned'] = False"
run "$GETBOT_MEM" plan
[ "$rc" -eq 1 ] && grep -q 'mem.bot.acme/sales exists but getbot did not make it' err
tap_ok $? "a desired address held by an object getbot does not own is an error"
poke "w['objects']['mem.bot.acme/sales']['owned'] = True"

# ---- scope ----
run "$GETBOT_MEM" plan --org globex --replace mem.bot.globex/ops
grep -q 'mem.bot.globex/ops' out && ! grep -q 'acme' out
tap_ok $? "--org limits the plan to that org"
rm -f "$GETBOT_MEM_WORLD.tmp"
poke "w['objects'] = {k: v for k, v in w['objects'].items() if k != 'mem.network.srv'}"
run "$GETBOT_MEM" plan --org globex
grep -q 'mem.network.srv will be created' out && ! grep -q 'acme' out
tap_ok $? "--org still plans the shared resources that org needs"
run "$GETBOT_MEM" plan --exclude globex --exclude research
grep -q 'mem.network.srv will be created' out && ! grep -q 'globex' out
tap_ok $? "--exclude leaves orgs out"
run "$GETBOT_MEM" apply --auto-approve

# ---- --only ----
RUNTIME=v3; CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
export GLOBEX_KEY="sk-ant-CANARY-globex-0098"
run "$GETBOT_MEM" plan --only update-secret
grep -q '^Plan: 0 to add, 1 to change' out && grep -q 'mem.bot.globex/ops will have its secrets updated' out
tap_ok $? "--only update-secret keeps only those actions"
run "$GETBOT_MEM" plan --only bogus
[ "$rc" -eq 1 ] && grep -q "unknown action 'bogus'" err; tap_ok $? "--only refuses an unknown kind"
run "$GETBOT_MEM" apply --auto-approve
tap_ok "$rc" "apply the runtime and key changes"

# ---- removing a team ----
clear_log
NO_SALES=1; RUNTIME=v3; CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
run "$GETBOT_MEM" plan
grep -q '# mem.bot.acme/sales will be deleted: no longer in config' out && grep -q '^Plan: 0 to add, 0 to change, 0 to replace, 1 to delete.$' out
tap_ok $? "a removed team plans one delete"
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 0 ] && [ "$(log_count delete mem.bot.acme/sales)" -eq 1 ] && world "'mem.bot.acme/sales' not in w['objects']"
tap_ok $? "apply deletes it (keeping its data: no purge) and nothing else"
run "$GETBOT_MEM" state list
grep -q 'mem.bot.acme/sales' out; [ $? -ne 0 ]; tap_ok $? "and it leaves the state"

# ---- saved plans ----
RUNTIME=v4; NO_SALES=1; CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
run "$GETBOT_MEM" plan --org acme -out plan.bin
[ "$rc" -eq 0 ] && [ "$(stat -c %a plan.bin)" = 600 ]; tap_ok $? "plan -out saves the plan (mode 0600)"
clear_log
run "$GETBOT_MEM" apply plan.bin
[ "$rc" -eq 0 ] && [ "$(log_count update)" -eq 1 ]; tap_ok $? "apply PLANFILE applies it (and its --org) without asking"
[ "$(log_count observe)" -eq 4 ]; tap_ok $? "observing only what the plan touches (the server's 4 kinds)"
run "$GETBOT_MEM" apply --auto-approve
RUNTIME=v5; NO_SALES=1; CARD_NAME="Research Pro 2"; PERSONA="You are the new marketing assistant."; write_config
run "$GETBOT_MEM" plan -out plan2.bin
poke "w['objects']['mem.bot.globex/ops']['spec']['runtime'] = 'hand-edited'"
run "$GETBOT_MEM" apply plan2.bin
[ "$rc" -eq 1 ] && grep -q 'the plan is stale: mem.bot.globex/ops has changed since the plan was saved' err
tap_ok $? "a stale saved plan is refused, naming the object that changed"
run "$GETBOT_MEM" plan -out plan3.bin
echo "# edited" >>bots.yaml
run "$GETBOT_MEM" apply plan3.bin
[ "$rc" -eq 1 ] && grep -q "has changed since the plan was saved; plan again" err
tap_ok $? "a saved plan is refused when bots.yaml changed"
run "$GETBOT_MEM" apply --auto-approve

# ---- graph ----
run "$GETBOT_MEM" graph --replace mem.container.acme
grep -q '^digraph getbot {' out && grep -q 'mem.container.acme' out
tap_ok $? "graph prints DOT"

# ---- state show ----
run "$GETBOT_MEM" state show mem.bot.acme/marketing
[ "$rc" -eq 0 ] && grep -q '"ANTHROPIC_API_KEY"' out && ! grep -q CANARY out
tap_ok $? "state show prints the snapshot, fingerprints only"

# ---- the state: lost, and the commit it came from ----
mv .getbot/state.json state.saved
run "$GETBOT_MEM" plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "with the state file gone, plan works from observation and markers"
mv state.saved .getbot/state.json
git init -q . && git add bots.yaml && git -c user.name=t -c user.email=t@example.com commit -q -m config
head=$(git rev-parse HEAD)
RUNTIME=v6; write_config
git -c user.name=t -c user.email=t@example.com commit -q -am runtime
head=$(git rev-parse HEAD)
run "$GETBOT_MEM" apply --auto-approve
python3 -c "import json,sys; sys.exit(0 if json.load(open('.getbot/state.json'))['commit'] == '$head' else 1)"
tap_ok $? "the state records the git commit the applied config came from"
RUNTIME=v7; write_config
run "$GETBOT_MEM" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "bots.yaml (modified); commit it" err
tap_ok $? "apply refuses a bots.yaml that differs from that commit"
run "$GETBOT_MEM" apply --auto-approve --allow-dirty
python3 -c "import json,sys; sys.exit(0 if json.load(open('.getbot/state.json'))['commit'] == '$head-dirty' else 1)"
tap_ok $? "and with --allow-dirty says it differed from that commit"

# ---- the canary ----
! grep -q CANARY all.log; tap_ok $? "no secret value in any output"
! grep -q CANARY .getbot/state.json plan.bin plan2.bin plan3.bin; tap_ok $? "nor in the state or saved plans"
grep -q CANARY "$GETBOT_MEM_WORLD"; tap_ok $? "while the remote did receive them"
tap_done
