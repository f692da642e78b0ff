#!/bin/sh
# plan --report and apply --report against the Cloudflare and Agent Router
# fakes (tests/fakes.sh): the Markdown a CI job posts as a pull-request
# comment. A config that fails before a plan, a plan from nothing naming
# the config's commit (and -dirty), an apply, drift, a refused persona
# change, an apply with a failure, another apply's lock, and canary
# secrets absent from every report.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp

. "$top_srcdir/tests/fakes.sh"
fakes_init

if ! command -v git >/dev/null 2>&1; then
	echo "1..0 # SKIP git is missing"
	exit 0
fi

export CF_TOKEN="cf-CANARY-token-0101" ROUTER_TOKEN="rt-CANARY-token-0102"
export PRO_KEY="sk-CANARY-pro-0103" SCOUT_KEY="sk-ant-CANARY-scout-0104"
start_fake cf fake-cloudflare.py --token "$CF_TOKEN"
cf=$url
start_fake router fake-router.py --token "$ROUTER_TOKEN"
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export GETBOT_CLOUDFLARE_RATE=200
export NO_COLOR=1

mkdir -p "$T/work/runtimes/rt-1"
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" "$T/work/runtimes/rt-1/"
cd "$T/work" || exit 99
git init -q . && git config user.email ci@example.com && git config user.name CI
printf '.getbot/\n*.md\nout\nerr\n' >.gitignore

write_config() {
	{
		edge_config_head "$router"
		cat <<YAML
      pro:
        api_keys: {openai: {env: PRO_KEY}}
        model: openai/gpt-5
        persona: ${PERSONA:-You are Research Pro.}
        instructions: Cite every source.
${EXTRA:-}
YAML
	} >bots.yaml
}

run() {
	rc=0
	"$@" >out 2>err || rc=$?
}

# --- a run that fails before there is a plan still leaves a report
printf 'version: 1\ntargets: {}\norgs: {}\n' >bots.yaml
run "$GETBOT" plan --report r.md
[ "$rc" -eq 1 ] && [ -f r.md ]; tap_ok $? "a config error: exit 1, and a report all the same"
head -1 r.md | grep -qx '## getbot plan: failed before a plan was made'
tap_ok $? "its heading says the run failed before a plan"
grep -q '^bots.yaml:2:10: targets: must not be empty$' r.md && grep -q '^```text$' r.md
tap_ok $? "and quotes the error as it was printed"
grep -qx -- '- exit code: 1' r.md; tap_ok $? "with the exit code"

# --- plan from nothing, at a commit
write_config
git add bots.yaml .gitignore runtimes && git commit -qm "two bots"
head=$(git rev-parse HEAD)
run "$GETBOT" plan --detailed-exitcode --report r.md
[ "$rc" -eq 2 ]; tap_ok $? "plan --report keeps --detailed-exitcode's exit 2"
head -1 r.md | grep -qx '## getbot plan: 5 changes'
tap_ok $? "the heading counts the changes"
grep -qx -- "- commit: \`$head\`" r.md; tap_ok $? "the config's commit is HEAD's sha"
grep -qx '| action | address | reason |' r.md &&
	grep -q '^| create | `cloudflare.worker.research-pro` | ' r.md
tap_ok $? "the plan is a table of action, address and reason"
[ "$(grep -c '^| create |' r.md)" -eq 5 ]; tap_ok $? "one row per action"
grep -q 'Plan: 5 to add' out && ! grep -q 'Plan:' r.md
tap_ok $? "the human plan still goes to stdout"

echo "# local edit" >>bots.yaml
run "$GETBOT" plan --report r.md
grep -qx -- "- commit: \`$head-dirty\` (the config differs from it)" r.md
tap_ok $? "a config that differs from HEAD is -dirty"
git checkout -q bots.yaml

# --- apply
run "$GETBOT" apply --auto-approve --report a.md
[ "$rc" -eq 0 ] && head -1 a.md | grep -qx '## getbot apply: complete (5 succeeded)'
tap_ok $? "apply --report: complete, with the count"
[ "$rc" -eq 0 ] || tap_diag "$(cat err)"
grep -qx '5 succeeded, 0 failed, 0 skipped.' a.md; tap_ok $? "and a results line"

run "$GETBOT" plan --report r.md
[ "$rc" -eq 0 ] && head -1 r.md | grep -qx '## getbot plan: no changes'
tap_ok $? "a no-op plan's report says no changes"

# --- drift: the card deleted outside getbot
curl -s -X DELETE -H "Authorization: Bearer $ROUTER_TOKEN" \
	"$router/api/v1/agents/research-pro" >/dev/null
run "$GETBOT" plan --only drift --report r.md
head -1 r.md | grep -qx '## getbot plan: 1 change (1 drift)'
tap_ok $? "drift is counted in the heading"
grep -q '^### Drift$' r.md && grep -q '^- `router.card.research-pro`: drift: ' r.md
tap_ok $? "and called out in its own section"
grep -q '^| create (drift) | `router.card.research-pro` | drift: ' r.md
tap_ok $? "and marked in the table"
run "$GETBOT" apply --only drift --auto-approve --report a.md
[ "$rc" -eq 0 ] && head -1 a.md | grep -qx '## getbot apply: complete (1 succeeded)'
tap_ok $? "apply --only drift repairs it, and says so"

# --- a refused persona change
PERSONA="You are Research Max." write_config
run "$GETBOT" plan --report r.md
[ "$rc" -eq 3 ] && head -1 r.md | grep -qx '## getbot plan: refused'
tap_ok $? "a persona change: exit 3, and the report says refused"
grep -q '^- \*\*refused:\*\* persona of cloudflare.worker.research-pro cannot change once deployed' r.md &&
	grep -qx 'Nothing was changed.' r.md
tap_ok $? "naming the refusal in getbot's words"
# (the work tree differs from HEAD: --allow-dirty, for these cases)
run "$GETBOT" apply --auto-approve --allow-dirty --report a.md
[ "$rc" -eq 3 ] && head -1 a.md | grep -qx '## getbot apply: refused'
tap_ok $? "apply --report too"
write_config

# --- an apply with a failure: each failure with its message
EXTRA="      scout:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Scout.
        instructions: Link to the dataset." write_config
python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST")).read()' \
	"$cf/__control/faults" '{"faults": [{"method": "PUT", "path": "/scripts/research-scout$", "status": 403, "code": 10000, "message": "injected | failure"}]}'
run "$GETBOT" apply --auto-approve --allow-dirty --report a.md
[ "$rc" -eq 5 ] && head -1 a.md | grep -q '^## getbot apply: finished with failures (.* 1 failed, [1-9][0-9]* skipped)$'
tap_ok $? "a failed action: exit 5, and the heading counts it"
grep -q '^| `cloudflare.worker.research-scout` | failed | .*injected \\| failure' a.md
tap_ok $? "the failure is a row with its message, its | escaped"
grep -q '^| `[a-z.-]*research-scout` | skipped | an action it needs failed |$' a.md
tap_ok $? "what it needed is skipped, saying why"
python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=b"{\"faults\": []}", method="POST")).read()' "$cf/__control/faults"

# --- another apply's lock: no plan, the holder named
now=$(date +%s)
printf '{"id":"0123456789abcdef","owner":"ci","host":"another-runner","pid":42,"started":%s,"expires":%s,"operation":"apply"}\n' \
	"$now" "$((now + 600))" >.getbot/state.json.lock
run "$GETBOT" apply --auto-approve --allow-dirty --report a.md
[ "$rc" -eq 4 ] && head -1 a.md | grep -qx '## getbot apply: failed before a plan was made'
tap_ok $? "a held lock: exit 4, and a report"
grep -q 'locked by ci@another-runner' a.md; tap_ok $? "naming the holder"
rm -f .getbot/state.json.lock

# --- an unwritable report fails a run that would have succeeded
run "$GETBOT" plan --report "$T/no/such/dir/r.md"
[ "$rc" -eq 1 ] && grep -q -- "--report: cannot write '$T/no/such/dir/r.md'" err
tap_ok $? "a report that cannot be written is an error"

# --- canaries
leaks=$(grep -l CANARY ./*.md 2>/dev/null)
[ -z "$leaks" ]; tap_ok $? "no secret in any report (leaks: $leaks)"

tap_done
