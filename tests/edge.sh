#!/bin/sh
# The edge target with the product getbot against the Cloudflare and Agent
# Router fakes (tests/fakes/fake-cloudflare.py, fake-router.py): apply from
# nothing, a no-op re-plan, every change class checked against the fakes'
# request logs, a refused persona change, deletes with a failure in the
# middle, transient faults and 429s, getbot status, a 200-agent run under
# the rate limit, and canary secrets that never leak.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp

. "$top_srcdir/tests/fakes.sh"
fakes_init

export CF_TOKEN="cf-CANARY-token-0001" ROUTER_TOKEN="rt-CANARY-token-0002"
export PRO_KEY="sk-CANARY-pro-0003" SCOUT_KEY="sk-ant-CANARY-scout-0004"
start_fake cf fake-cloudflare.py --token "$CF_TOKEN" --page-size 1
cf=$url
start_fake router fake-router.py --token "$ROUTER_TOKEN" --page-size 1
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export GETBOT_CLOUDFLARE_RATE=200 # the fake's default limit is far away

# Two runtime bundles: the example's and a newer one.
mkdir -p "$T/runtimes/rt-1" "$T/runtimes/rt-2" "$T/work"
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" "$T/runtimes/rt-1/"
sed 's/stand-in/newer stand-in/' "$T/runtimes/rt-1/worker.js" >"$T/runtimes/rt-2/worker.js"
export GETBOT_RUNTIME_DIR="$T/runtimes"
cd "$T/work" || exit 99

# The config: two agents of one org on the edge.
write_config() {
	scout="      scout:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Scout.
        instructions: Link to the dataset.
        card: {display_name: Scout, description: Finds datasets.}"
	[ -n "${NO_SCOUT:-}" ] && scout=""
	cat >bots.yaml <<YAML
version: 1
targets:
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "$router", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: ${RUNTIME:-rt-1}}
orgs:
  research:
    owner: carol@research.example
    target: edge
    teams:
      pro:
        model: ${MODEL:-openai/gpt-5}
        api_keys: {openai: {env: PRO_KEY}}
        keep_alive: true
        persona: ${PERSONA:-You are Research Pro.}
        instructions: Cite every source.
        card:
          display_name: ${CARD_NAME:-Research Pro}
          description: Literature reviews.
          visibility: public
          skills:
            - id: lit-review
              name: Literature review
              description: Finds papers.
              tags: [research]
              pricing: {model: per_request, price_usd: 0.05}
${scout}
YAML
}

# run CMD...: stdout in out, stderr in err, exit in $rc; all kept in all.log
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>all.log
}

ctl() { # ctl FAKE_URL PATH [JSON]: a control call, its answer on stdout
	if [ $# -eq 3 ]; then
		python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"); print(u.urlopen(r).read().decode())' "$1$2" "$3"
	else
		python3 -c 'import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())' "$1$2"
	fi
}
clear_logs() {
	ctl "$cf" /__control/log/clear '{}' >/dev/null
	ctl "$router" /__control/log/clear '{}' >/dev/null
}
# check PYTHON: run a check with cf_log, router_log, cf_world, router_world
check() {
	ctl "$cf" /__control/log >cf-log.json
	ctl "$router" /__control/log >router-log.json
	ctl "$cf" /__control/world >cf-world.json
	ctl "$router" /__control/world >router-world.json
	python3 -c "
import hashlib, json, re, sys
cf_log = json.load(open('cf-log.json'))
router_log = json.load(open('router-log.json'))
cf_world = json.load(open('cf-world.json'))
router_world = json.load(open('router-world.json'))
writes = lambda log: [(e['method'], e['path']) for e in log if e['method'] != 'GET']
sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
$1
"
}

# --- apply from nothing
write_config
run "$GETBOT" plan --detailed-exitcode
[ "$rc" -eq 2 ]; tap_ok $? "plan from nothing: changes (exit 2)"
grep -q '^Plan: 10 to add, 0 to change, 0 to replace, 0 to delete.$' out
tap_ok $? "per agent a bucket, worker, secrets, token and card"
for a in cloudflare.bucket.research-pro cloudflare.worker.research-pro \
	cloudflare.secrets.research-pro cloudflare.token.research-pro router.card.research-pro; do
	grep -q "^  + $a\$" out || { tap_diag "missing $a"; false; }
done
tap_ok $? "addresses: cloudflare.{bucket,worker,secrets,token}.ORG-TEAM and router.card.ORG-TEAM"
grep -q 'secret OPENAI_API_KEY (fingerprint [0-9a-f]\{8\})' out
tap_ok $? "secrets are planned as fingerprints"

run "$GETBOT" status --json
python3 -c "
import json
rows = [json.loads(l) for l in open('out')]
assert [(r['team'], r['status'], r['url'], r['has_openai_key'] if r['team'] == 'pro' else r['has_anthropic_key'])
        for r in rows] == [('pro', 'pending', None, False), ('scout', 'pending', None, False)], rows
"; tap_ok $? "status before the first apply: pending, no URL, keys not set"

run "$GETBOT" plan -out saved.plan
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 10 succeeded, 0 failed, 0 skipped.$' out
tap_ok $? "apply from nothing creates everything"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"

check "
s = cf_world['scripts']['research-pro']
b = {x['name']: x for x in s['bindings']}
assert s['main_module'] == 'worker.js' and s['subdomain'], s
assert b['BUCKET'] == {'type': 'r2_bucket', 'name': 'BUCKET', 'bucket_name': 'getbot-research-pro'}, b
m = json.loads(b['GETBOT_MANAGED']['text'])
assert (m['org'], m['team'], m['managed_by']) == ('research', 'pro', 'getbot'), m
ident = s['modules']['IDENTITY.md']
assert 'You are Research Pro.' in ident and 'Cite every source.' in ident and 'Literature review' in ident, ident
assert m['identity_sha256'] == sha(ident), m
assert 'GETBOT_HUB_TOKEN' not in b, 'the hub token is a secret, not a plain binding'
" && tap_ok 0 "the worker: bundle, IDENTITY.md from persona, instructions and skills, bucket binding, marker" ||
	tap_ok 1 "the worker: bundle, IDENTITY.md from persona, instructions and skills, bucket binding, marker"

check "
up = [e for e in cf_log if e['method'] == 'PUT' and e['path'].endswith('/scripts/research-pro')][0]
meta = up['body']['metadata']
assert meta['keep_bindings'] == ['secret_text', 'secret_key'], meta
assert up['body']['modules']['worker.js']['type'] == 'application/javascript+module', up
assert up['body']['modules']['IDENTITY.md']['type'] == 'text/plain', up
" ; tap_ok $? "the upload is multipart with keep_bindings, a JS module and a text module"

check "
s = cf_world['scripts']['research-pro']
card = router_world['agents']['research-pro']
assert card['url'] == 'ws-agent://research-pro', card
assert card['authentication']['scheme'] == 'token-sha256', card
assert re.match('^[0-9a-f]{64}$', card['authentication']['credentials']), card
assert 'GETBOT_HUB_TOKEN' in s['secrets']
" ; tap_ok $? "the card: ws-agent://NAME and token-sha256 credentials; the hub token is a secret"

check "
s = cf_world['scripts']['research-pro']
card = router_world['agents']['research-pro']
# the card carries SHA-256(hub token); the fake knows SHA-256(secret):
# both digests come from one token only if the marker agrees with the card
m = json.loads([x for x in s['bindings'] if x['name'] == 'GETBOT_MANAGED'][0]['text'])
assert card['authentication']['credentials'] == m['hub_sha256'], (card, m)
assert card['metadata']['managed_by'] == 'getbot' and card['metadata']['display_name'] == 'Research Pro'
assert card['skills'][0]['pricing_model'] == 'per_request' and card['skills'][0]['price_usd'] == 0.05, card
" ; tap_ok $? "the card's credentials are the hub token's digest kept in the worker's marker"

check "
s = cf_world['scripts']['research-pro']
tok = [t for t in cf_world['tokens'].values() if t['name'] == 'getbot research-pro'][0]
tid = [i for i, t in cf_world['tokens'].items() if t['name'] == 'getbot research-pro'][0]
assert s['secret_sha256']['R2_ACCESS_KEY_ID'] == sha(tid)
assert s['secret_sha256']['R2_SECRET_ACCESS_KEY'] == sha(tok['value_sha256'])
res = list(tok['policies'][0]['resources'])
assert res == ['com.cloudflare.edge.r2.bucket.0123456789abcdef0123456789abcdef_default_getbot-research-pro'], res
assert s['secret_sha256']['OPENAI_API_KEY'] == sha('$PRO_KEY')
assert s['secret_sha256']['GETBOT_MODEL'] == sha('openai/gpt-5')
assert s['secret_sha256']['GETBOT_KEEP_ALIVE'] == sha('true')
" ; tap_ok $? "secrets: the key, model, keep-alive, and R2 credentials from the bucket-scoped token"

# --- no-op
clear_logs
run "$GETBOT" plan --detailed-exitcode
[ "$rc" -eq 0 ] && grep -q 'No changes' out; tap_ok $? "re-plan after apply: no changes (exit 0)"
check "
assert writes(cf_log) == [] and writes(router_log) == [], (writes(cf_log), writes(router_log))
assert any(e['path'].endswith('/r2/buckets') and 'cursor=' in e['query'] for e in cf_log), 'bucket cursor pages'
assert any('page=2' in e['query'] for e in cf_log if e['path'].endswith('/tokens')), 'token pages'
assert any('cursor=' in e['query'] for e in router_log), 'router cursor pages'
" ; tap_ok $? "observation only reads, following every pagination style"

run "$GETBOT" apply saved.plan
[ "$rc" -eq 1 ] && grep -q 'changed since' err; tap_ok $? "a saved plan is refused once what it touches changed"

run "$GETBOT" status --json
check "
rows = [json.loads(l) for l in open('out')]
pro = [r for r in rows if r['team'] == 'pro'][0]
assert pro['status'] == 'deployed', pro
assert pro['url'] == 'https://research-pro.getbot-test.workers.dev', pro
assert pro['has_openai_key'] is True and pro['target'] == 'edge', pro
assert 'last_apply_commit' in pro, pro
" ; tap_ok $? "status --json: deployed, the workers.dev URL, has_openai_key"
run "$GETBOT" status research/scout
[ "$rc" -eq 0 ] && grep -q '^research/scout .* deployed ' out && grep -q 'anthropic set' out && ! grep -q 'research/pro' out
tap_ok $? "status ORG/TEAM shows that bot only"

# --- registration: only the router is called
clear_logs
CARD_NAME="Research Pro II" write_config
run "$GETBOT" plan
grep -q 'router.card.research-pro will be re-registered: display_name changed' out &&
	grep -q '^Plan: 0 to add, 1 to change' out
tap_ok $? "a card change plans a re-register"
clear_logs
run "$GETBOT" apply --auto-approve
check "
assert writes(cf_log) == [], writes(cf_log)
assert writes(router_log) == [('PUT', '/api/v1/agents/research-pro')], writes(router_log)
assert router_world['agents']['research-pro']['metadata']['display_name'] == 'Research Pro II'
" ; tap_ok $? "re-register: one PUT to the router, no Cloudflare write"
export CARD_NAME="Research Pro II"

# --- key rotation: only secrets endpoints
export PRO_KEY="sk-CANARY-pro-rotated-0005"
run "$GETBOT" plan
grep -q 'cloudflare.secrets.research-pro will have its secrets updated: OPENAI_API_KEY changed' out &&
	grep -q '~ secret OPENAI_API_KEY (fingerprint [0-9a-f]\{8\} → [0-9a-f]\{8\})' out
tap_ok $? "a rotated key plans an update-secret with fingerprints"
clear_logs
run "$GETBOT" apply --auto-approve
check "
w = writes(cf_log)
assert w and all(re.search(r'/workers/scripts/research-pro/secrets(/[A-Za-z0-9_]+)?$', p) for _, p in w), w
assert writes(router_log) == [], writes(router_log)
assert cf_world['scripts']['research-pro']['secret_sha256']['OPENAI_API_KEY'] == sha('$PRO_KEY')
" ; tap_ok $? "key rotation calls only the secrets endpoints"

MODEL=openai/gpt-5-mini write_config
clear_logs
run "$GETBOT" apply --auto-approve
check "
w = writes(cf_log)
assert w and all('/secrets' in p for _, p in w), w
assert writes(router_log) == []
assert cf_world['scripts']['research-pro']['secret_sha256']['GETBOT_MODEL'] == sha('openai/gpt-5-mini')
" ; tap_ok $? "a model change is an update-secret: only secrets endpoints"
run "$GETBOT" plan --detailed-exitcode; tap_ok "$rc" "and then nothing is left to do"

# --- persona: refused, nothing written
clear_logs
MODEL=openai/gpt-5-mini PERSONA="You are Research Max." write_config
run "$GETBOT" plan
[ "$rc" -eq 3 ] && grep -q 'persona of cloudflare.worker.research-pro cannot change once deployed' err &&
	grep -q -- '--replace cloudflare.worker.research-pro' err
tap_ok $? "a persona change is refused (exit 3) and names --replace"
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 3 ]; tap_ok $? "apply refuses it too"
check "assert writes(cf_log) == [] and writes(router_log) == []"
tap_ok $? "nothing was written"

# --- runtime: an in-place update; IDENTITY.md and the secrets survive
MODEL=openai/gpt-5-mini write_config
ctl "$cf" /__control/world >before.json
MODEL=openai/gpt-5-mini RUNTIME=rt-2 write_config
clear_logs
run "$GETBOT" apply --auto-approve
check "
before = json.load(open('before.json'))['scripts']['research-pro']
after = cf_world['scripts']['research-pro']
assert 'newer stand-in' in after['modules']['worker.js']
assert after['modules']['IDENTITY.md'] == before['modules']['IDENTITY.md']
assert after['secret_sha256'] == before['secret_sha256'], 'secrets survive a re-upload'
base = '/client/v4/accounts/0123456789abcdef0123456789abcdef/workers/scripts/'
assert sorted(writes(cf_log)) == sorted([('PUT', base + a) for a in ('research-pro', 'research-scout')] +
    [('POST', base + a + '/subdomain') for a in ('research-pro', 'research-scout')]), writes(cf_log)
assert writes(router_log) == []
" ; tap_ok $? "a runtime change re-uploads the worker: same IDENTITY.md, secrets kept"

# --- --replace of a worker: a new Worker and hub token; the next apply
# brings back its secrets, R2 credentials and card
MODEL=openai/gpt-5-mini RUNTIME=rt-2 PERSONA="You are Research Max." write_config
run "$GETBOT" apply --auto-approve --replace cloudflare.worker.research-pro
grep -q 'replacement requested; this loses the agent.s Worker with its secrets and hub auth token' out &&
	[ "$rc" -eq 0 ]
tap_ok $? "--replace rebuilds the worker with the new persona and says what is lost"
run "$GETBOT" plan
grep -q 'cloudflare.secrets.research-pro will be created' out &&
	grep -q 'cloudflare.token.research-pro will be replaced: .*r2_credentials changed' out &&
	grep -q 'router.card.research-pro will be re-registered: .*hub_token changed' out
tap_ok $? "the next plan restores its secrets, R2 credentials and card"
run "$GETBOT" apply --auto-approve
run "$GETBOT" plan --detailed-exitcode
check "
s = cf_world['scripts']['research-pro']
m = json.loads([x for x in s['bindings'] if x['name'] == 'GETBOT_MANAGED'][0]['text'])
assert 'You are Research Max.' in s['modules']['IDENTITY.md']
assert router_world['agents']['research-pro']['authentication']['credentials'] == m['hub_sha256']
assert s['secret_sha256']['OPENAI_API_KEY'] == sha('$PRO_KEY')
" && [ "$rc" -eq 0 ]
tap_ok $? "after which the agent is whole again"
export PERSONA="You are Research Max."

# --- transient faults: a dropped connection, 5xx, 429, a slow answer
ctl "$cf" /__control/faults '{"faults": [
  {"method": "POST", "path": "/r2/buckets$", "drop": true},
  {"method": "PUT", "path": "/scripts/research-extra$", "status": 503, "message": "overloaded"},
  {"method": "PUT", "path": "/secrets$", "after": 1, "status": 429, "code": 971, "retry_after": 1},
  {"method": "POST", "path": "/tokens$", "delay": 1.5},
  {"method": "POST", "path": "/research-extra/subdomain$", "status": 502, "times": 2}]}' >/dev/null
ctl "$router" /__control/faults '{"faults": [
  {"method": "PUT", "path": "research-extra", "status": 429, "retry_after": 1}]}' >/dev/null
MODEL=openai/gpt-5-mini RUNTIME=rt-2 write_config
cat >>bots.yaml <<'YAML'
      extra:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Extra.
        instructions: Help.
YAML
clear_logs
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 0 ]; tap_ok $? "dropped connections, 5xx, 429 with Retry-After and slow answers are retried"
[ "$rc" -eq 0 ] || tap_diag "$(cat out err)"
check "
st = [e['status'] for e in cf_log]
assert 0 in st and 503 in st and 429 in st, st
assert len([b for b in cf_world['buckets'] if b == 'getbot-research-extra']) == 1
assert 429 in [e['status'] for e in router_log]
assert 'research-extra' in router_world['agents']
assert cf_world['scripts']['research-extra']['subdomain'], 'workers.dev enabled after 502s'
" ; tap_ok $? "each fault happened once, and no object was made twice"
run "$GETBOT" plan --detailed-exitcode; tap_ok "$rc" "and the result is complete"

# --- a card registered by someone else is never overwritten
ctl "$router" /__control/world '{"agents": {"research-other": {"name": "research-other",
  "url": "ws-agent://research-other", "metadata": {"display_name": "Not ours"}}}}' >/dev/null
cp bots.yaml before-other.yaml
printf '      other:\n        api_keys: {anthropic: {env: SCOUT_KEY}}\n        persona: You are Other.\n        instructions: Help.\n' >>bots.yaml
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 5 ] && grep -q "router.card.research-other: the router already has an agent named 'research-other' that getbot did not register" err
tap_ok $? "a card name held by another registrant fails the create, naming it"
check "assert router_world['agents']['research-other']['metadata'] == {'display_name': 'Not ours'}"
tap_ok $? "and that card is untouched"
cp before-other.yaml bots.yaml
run "$GETBOT" apply --auto-approve
run "$GETBOT" plan --detailed-exitcode; tap_ok "$rc" "removing that agent cleans up the rest"

# --- a Worker without getbot's marker is never touched
printf 'export default {};\n' >foreign.js
curl -s -X PUT -H "Authorization: Bearer $CF_TOKEN" \
	-F 'metadata={"main_module":"w.js","bindings":[]};type=application/json' \
	-F 'w.js=@foreign.js;filename=w.js;type=application/javascript+module' \
	"$cf/client/v4/accounts/0123456789abcdef0123456789abcdef/workers/scripts/research-foreign" >/dev/null
run "$GETBOT" plan --detailed-exitcode
tap_ok "$rc" "an unmarked Worker is not planned for anything"
cp bots.yaml before-foreign.yaml
printf '      foreign:\n        api_keys: {anthropic: {env: SCOUT_KEY}}\n        persona: You are Foreign.\n        instructions: Help.\n' >>bots.yaml
run "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q 'cloudflare.worker.research-foreign exists but getbot did not make it' err
tap_ok $? "a team whose Worker name is taken by an unmarked Worker is an error"
cp before-foreign.yaml bots.yaml

# --- a token whose one-time value was lost in transit is replaced
ctl "$cf" /__control/faults '{"faults": [
  {"method": "POST", "path": "/tokens$", "lost_answer": true}]}' >/dev/null
cp bots.yaml extra.yaml
sed -i 's/      extra:/      extra2:/' bots.yaml
printf '      extra:\n        api_keys: {anthropic: {env: SCOUT_KEY}}\n        persona: You are Extra.\n        instructions: Help.\n' >>bots.yaml
run "$GETBOT" apply --auto-approve
run "$GETBOT" plan
grep -q 'cloudflare.token.research-extra2 will be replaced' out &&
	grep -q 'r2_credentials: "missing" → "in worker"' out
tap_ok $? "a token whose value never arrived plans a replacement"
run "$GETBOT" apply --auto-approve
check "
toks = [t for t in cf_world['tokens'].values() if t['name'] == 'getbot research-extra2']
assert len(toks) == 1, toks
s = cf_world['scripts']['research-extra2']
assert s['secret_sha256']['R2_SECRET_ACCESS_KEY'] == sha(toks[0]['value_sha256'])
"; tap_ok $? "and the new token's credentials reach the worker, the old token gone"
cp extra.yaml bots.yaml
run "$GETBOT" apply --auto-approve
run "$GETBOT" plan --detailed-exitcode; tap_ok "$rc" "removing that agent again leaves nothing to do"

# --- delete, with a failure in the middle and a bucket that holds data
ctl "$cf" /__control/world '{"objects": {"getbot-research-scout": ["notes/a.md", "b.bin"]}}' >/dev/null
ctl "$cf" /__control/faults '{"faults": [
  {"method": "DELETE", "path": "/workers/scripts/research-scout$", "status": 403, "code": 10000, "message": "injected failure"}]}' >/dev/null
ctl "$router" /__control/faults '{"faults": []}' >/dev/null
NO_SCOUT=1 MODEL=openai/gpt-5-mini RUNTIME=rt-2 write_config
cat >>bots.yaml <<'YAML'
      extra:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Extra.
        instructions: Help.
YAML
run "$GETBOT" plan
grep -q '^Plan: 0 to add, 0 to change, 0 to replace, 5 to delete.$' out
tap_ok $? "removing an agent plans its five deletes"
run "$GETBOT" status --json research/scout
grep -q '"team":"scout".*"status":"deleting"' out
tap_ok $? "status: a bot no longer in bots.yaml whose objects remain is deleting"
clear_logs
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 5 ]; tap_ok $? "a failing delete step: exit 5"
grep -q 'cloudflare.worker.research-scout: .*injected failure' err &&
	grep -q "cloudflare.bucket.research-scout: bucket 'getbot-research-scout' holds data, so it was kept; apply with --purge-data" err
tap_ok $? "the failure and the kept bucket are reported in the remote's and getbot's words"
check "
first = [e for e in cf_log + router_log if e['method'] == 'DELETE']
assert router_log and [e for e in router_log if e['method'] == 'DELETE'], 'card deleted'
card_seq = [e['seq'] for e in router_log if e['method'] == 'DELETE'][0]
assert 'research-scout' not in router_world['agents']
assert not [t for t in cf_world['tokens'].values() if t['name'] == 'getbot research-scout'], 'token deleted'
assert 'research-scout' in cf_world['scripts'], 'the failed worker remains'
" ; tap_ok $? "the card, token and secrets went; the worker and the bucket stayed"
python3 -c "
import json
j = json.load(open('.getbot/state.json'))['journal']
last = {}
for e in j: last[e['address']] = e
assert last['router.card.research-scout']['status'] == 'done'
assert last['cloudflare.token.research-scout']['status'] == 'done'
assert last['cloudflare.worker.research-scout']['status'] == 'failed'
assert 'injected failure' in last['cloudflare.worker.research-scout']['error']
"; tap_ok $? "the journal records what was cleaned and what failed"
run "$GETBOT" status --json research/scout
grep -q '"status":"failed","error":"[^"]*injected failure' out
tap_ok $? "status shows the bot as failed with the error"

ctl "$cf" /__control/faults '{"faults": []}' >/dev/null
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 5 ] && grep -q 'cloudflare.worker.research-scout: deleted' err out 2>/dev/null
tap_ok $? "the next run deletes the worker; the bucket still refuses without --purge-data"
run "$GETBOT" apply --auto-approve --purge-data
[ "$rc" -eq 0 ]; tap_ok $? "--purge-data empties and deletes the bucket"
check "
assert not [k for k in list(cf_world['scripts']) + list(cf_world['buckets']) if 'scout' in k]
assert not [e for e in cf_log if e['method'] == 'DELETE' and '/objects/' in e['path'] and 'scout' not in e['path']]
"; tap_ok $? "nothing of the agent is left"
run "$GETBOT" plan --detailed-exitcode; tap_ok "$rc" "and the plan is empty"

# --- canaries: never in output, state, plan files or the fakes' logs
run "$GETBOT" plan -out final.plan
ctl "$cf" /__control/log >cf-log.json
ctl "$router" /__control/log >router-log.json
leaks=$(grep -l 'CANARY' all.log .getbot/state.json saved.plan final.plan cf-log.json router-log.json "$T/cf.log" "$T/router.log" 2>/dev/null)
[ -z "$leaks" ]; tap_ok $? "no secret in output, state, plan files or request logs (leaks: $leaks)"

# --- 200 agents under the rate limit; the fake blocks above 1,200 per 12 s
start_fake bulk fake-cloudflare.py --token "$CF_TOKEN" --limit 1200 --window 12 --block 300 --page-size 100
bulk=$url
start_fake bulkrouter fake-router.py --token "$ROUTER_TOKEN" --page-size 100
bulkrouter=$url
mkdir -p "$T/bulk"
{
	cat <<YAML
version: 1
targets:
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "$bulkrouter", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: rt-1}
orgs:
  research:
    owner: carol@research.example
    target: edge
    teams:
YAML
	i=1
	while [ $i -le 200 ]; do
		printf '      a%d:\n        api_keys: {anthropic: {env: SCOUT_KEY}}\n        persona: Agent %d.\n        instructions: Help.\n' $i $i
		i=$((i + 1))
	done
} >"$T/bulk/bots.yaml"
# 95 requests/s with a burst of 20: at most 20 + 95 * 12 = 1160 in 12 s
started=$(date +%s)
rc=0
GETBOT_CLOUDFLARE_API="$bulk" GETBOT_CLOUDFLARE_RATE=95 \
	"$GETBOT" apply --auto-approve -f "$T/bulk/bots.yaml" >"$T/bulk/out" 2>"$T/bulk/err" || rc=$?
took=$(($(date +%s) - started))
grep -q '^Apply complete: 1000 succeeded, 0 failed, 0 skipped.$' "$T/bulk/out"
tap_ok $? "200 agents applied (${took}s)"
[ "$rc" -eq 0 ] || tap_diag "$(tail -5 "$T/bulk/err")"
stats=$(ctl "$bulk" /__control/stats)
echo "$stats" | python3 -c "
import json, sys; s = json.load(sys.stdin)
assert s['blocked'] == 0 and s['rate_limited'] == 0 and s['requests'] > 2000, s"
tap_ok $? "the fake's block was never triggered ($stats)"

# --- a 429 block is honoured: a fake that blocks after 10 requests in 60 s
start_fake tiny fake-cloudflare.py --token "$CF_TOKEN" --limit 10 --window 60 --block 2
tiny=$url
start_fake tinyrouter fake-router.py --token "$ROUTER_TOKEN"
NO_SCOUT=1 write_config
sed -i "s#$router#$url#" bots.yaml
mv .getbot .getbot-main
rc=0
GETBOT_CLOUDFLARE_API="$tiny" GETBOT_CLOUDFLARE_RATE=1000 \
	"$GETBOT" apply --auto-approve >tiny.out 2>tiny.err || rc=$?
stats=$(ctl "$tiny" /__control/stats)
[ "$rc" -eq 0 ] && echo "$stats" | python3 -c "
import json, sys; s = json.load(sys.stdin); assert s['blocked'] >= 1, s"
tap_ok $? "over the limit: 429 with Retry-After blocks the run, which waits and completes ($stats)"
[ "$rc" -eq 0 ] || tap_diag "$(tail -5 tiny.err)"

tap_done
