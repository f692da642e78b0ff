#!/bin/sh
# bots.yaml in a real git repository, against the Cloudflare and Agent
# Router fakes: --ref plans and applies a commit's config (with the runtime
# bundle the commit has), an unknown revision is an error, apply refuses a
# work tree that differs from HEAD (the config, or an untracked file in a
# bundle it names) unless --allow-dirty, the plan header names the commit,
# and the state, state show and status carry the commit each resource was
# applied from.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp

if ! command -v git >/dev/null 2>&1; then
	echo "1..0 # SKIP git is missing"
	exit 0
fi

. "$top_srcdir/tests/fakes.sh"
fakes_init

export CF_TOKEN="cf-CANARY-token-0001" ROUTER_TOKEN="rt-CANARY-token-0002"
export SCOUT_KEY="sk-ant-CANARY-scout-0004"
start_fake cf fake-cloudflare.py --token "$CF_TOKEN"
cf=$url
start_fake router fake-router.py --token "$ROUTER_TOKEN"
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export GETBOT_CLOUDFLARE_RATE=200
unset GETBOT_RUNTIME_DIR
# git must not read the developer's configuration
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE="2026-01-02T03:04:05Z"
export GIT_COMMITTER_DATE="2026-01-02T03:04:05Z"
# getbot's private copies go here, to be counted
mkdir "$T/tmp" && export TMPDIR="$T/tmp"

mkdir -p "$T/repo/runtimes/rt-1" "$T/repo/keys"
cd "$T/repo" || exit 99
git init -q . && git config user.name "Ann Author" &&
	git config user.email ann@example.com || exit 99
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" runtimes/rt-1/
# pro's key is a file beside bots.yaml that is never committed
printf 'sk-CANARY-pro-0003' >keys/pro.key
chmod 600 keys/pro.key
printf 'keys/\n.getbot/\n' >.gitignore

write_config() {
	scout="      scout:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Scout.
        instructions: Link to the dataset.
        card: {display_name: Scout, description: Finds datasets.}"
	[ -n "${NO_SCOUT:-}" ] && scout=""
	{
		edge_config_head "$router" "${RUNTIME:-rt-1}"
		cat <<YAML
      pro:
        model: openai/gpt-5
        api_keys: {openai: {file: keys/pro.key}}
        persona: You are Research Pro.
        instructions: Cite every source.
        card: {display_name: ${CARD_NAME:-Research Pro}, description: Reviews.}
${scout}
YAML
	} >bots.yaml
}

# run CMD...: stdout in out, stderr in err, exit in $rc (outside the repo)
run() {
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	cat "$T/out" "$T/err" >>"$T/all.log"
}
ctl() {
	python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], data=b"{}", method="POST") if len(sys.argv) > 2 else sys.argv[1]; print(u.urlopen(r).read().decode())' "$1$2" ${3:+post}
}
clear_logs() {
	ctl "$cf" /__control/log/clear post >/dev/null
	ctl "$router" /__control/log/clear post >/dev/null
}
# no_requests: neither fake was asked anything since clear_logs
no_requests() {
	[ "$(ctl "$cf" /__control/log)" = "[]" ] &&
		[ "$(ctl "$router" /__control/log)" = "[]" ]
}

NO_SCOUT=1 write_config
git add -A && git commit -qm "Start with pro" || exit 99
first=$(git rev-parse HEAD)
write_config
git commit -qam "Add scout" || exit 99
second=$(git rev-parse HEAD)
short2=$(printf %.12s "$second")

# --- --ref: the older commit's config
run "$GETBOT" plan --ref HEAD~1
[ "$rc" -eq 0 ] && grep -q '^Plan: 5 to add, 0 to change' "$T/out" &&
	! grep -q 'research-scout' "$T/out"
tap_ok $? "plan --ref HEAD~1 plans the older config (pro only), its {file} key read beside the real bots.yaml"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
grep -q "^Config: HEAD~1:bots.yaml, commit $(printf %.12s "$first") \"Start with pro\"\$" "$T/out"
tap_ok $? "its header names the commit: REV:FILE, sha and subject"
run "$GETBOT" plan
[ "$rc" -eq 0 ] && grep -q '^Plan: 10 to add, 0 to change' "$T/out"
tap_ok $? "plan without --ref plans the work tree (pro and scout)"
grep -q "^Config: bots.yaml at commit $short2 \"Add scout\"\$" "$T/out"
tap_ok $? "the plan header names HEAD when the work tree is clean"
run "$GETBOT" plan --ref "$first"
grep -q '^Plan: 5 to add' "$T/out"
tap_ok $? "--ref takes a sha too"
run "$GETBOT" validate --ref HEAD~1
[ "$rc" -eq 0 ] && grep -q '^HEAD~1:bots.yaml: valid (1 org, 1 team, 1 target)$' "$T/out"
tap_ok $? "validate --ref names the file REV:bots.yaml"
[ -z "$(ls -A "$T/tmp")" ]
tap_ok $? "the private copies are removed when the run ends"

# --- an unknown revision
clear_logs
run "$GETBOT" plan --ref no-such-ref
[ "$rc" -eq 1 ] && grep -q "^getbot plan: --ref no-such-ref: unknown revision 'no-such-ref'" "$T/err"
tap_ok $? "an unknown --ref is an error naming it"
no_requests
tap_ok $? "and nothing was contacted"
run "$GETBOT" apply --auto-approve --ref no-such-ref
[ "$rc" -eq 1 ] && grep -q "unknown revision 'no-such-ref'" "$T/err"
tap_ok $? "apply --ref with an unknown revision is an error too"

# --- messages name the committed file, not the copy
printf 'bad: [\n' >>bots.yaml
git commit -qam "Break it"
git reset -q --hard HEAD~1 # the broken commit stays reachable by sha
broken=$(git rev-parse HEAD@{1})
run "$GETBOT" plan --ref "$broken"
[ "$rc" -eq 1 ] && grep -q "^$broken:bots.yaml:[0-9]*:[0-9]*: " "$T/err" &&
	! grep -q 'getbot-ref\.' "$T/err"
tap_ok $? "diagnostics name REV:bots.yaml, never the private copy"

# --- apply from a clean work tree: provenance
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 10 succeeded' "$T/out"
tap_ok $? "apply from a clean work tree"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
run "$GETBOT" state show cloudflare.worker.research-pro
grep -q "^# applied from commit $second \"Add scout\" by Ann Author <ann@example.com>, 2026-01-02T03:04:05Z\$" "$T/out"
tap_ok $? "state show prints the commit it was applied from"
python3 -c "
import json, sys
s = json.load(open('.getbot/state.json'))
for addr, r in s['resources'].items():
    assert r['commit'] == {'sha': '$second', 'author': 'Ann Author <ann@example.com>',
                           'date': '2026-01-02T03:04:05Z', 'subject': 'Add scout'}, (addr, r)
assert s['commit'] == '$second', s['commit']
" 2>"$T/py.err"
tap_ok $? "the state records sha, author, date and subject per resource"
[ -s "$T/py.err" ] && tap_diag "$(cat "$T/py.err")"
run "$GETBOT" status
grep -q "^    applied from: $short2 \"Add scout\" by Ann Author <ann@example.com>, 2026-01-02T03:04:05Z\$" "$T/out"
tap_ok $? "status prints the commit each bot was applied from"
run "$GETBOT" status --json
python3 -c "
import json
rows = [json.loads(l) for l in open('$T/out')]
assert all(r['applied_from']['sha'] == '$second' and r['applied_from']['subject'] == 'Add scout' for r in rows), rows
"
tap_ok $? "status --json: applied_from"
! grep -q 'CANARY' .getbot/state.json "$T/all.log"
tap_ok $? "no secret value in the state or the output"

# --- --ref reads the bundle from the commit
mkdir runtimes/rt-2
sed 's/stand-in/committed stand-in/' runtimes/rt-1/worker.js >runtimes/rt-2/worker.js
RUNTIME=rt-2 write_config
git add -A && git commit -qm "Runtime rt-2"
third=$(git rev-parse HEAD)
short3=$(printf %.12s "$third")
sed 's/stand-in/edited stand-in/' runtimes/rt-1/worker.js >runtimes/rt-2/worker.js
run "$GETBOT" plan
grep -q "^Config: bots.yaml in the work tree, $short3-dirty: changed since commit $short3 \"Runtime rt-2\" (runtimes/rt-2/worker.js (modified))\$" "$T/out"
tap_ok $? "the plan header says the work tree differs from the commit, and where"
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "runtimes/rt-2/worker.js (modified)" "$T/err"
tap_ok $? "apply refuses a modified bundle the config names"
run "$GETBOT" apply --auto-approve --ref HEAD
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 2 succeeded' "$T/out"
tap_ok $? "apply --ref HEAD applies the commit, whatever the work tree holds"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
ctl "$cf" /__control/world >"$T/world.json"
python3 -c "
import json
w = json.load(open('$T/world.json'))['scripts']['research-pro']['modules']['worker.js']
assert 'committed stand-in' in w and 'edited' not in w, w[:200]
"
tap_ok $? "and uploads the bundle as the commit has it, not the edited one"
rm -r runtimes/rt-2
run "$GETBOT" plan --ref HEAD
[ "$rc" -eq 0 ] && grep -q 'No changes' "$T/out"
tap_ok $? "plan --ref finds the commit's bundle when the work tree has none"
run "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "runtime bundle '.*runtimes/rt-2/worker.js' not found" "$T/err"
tap_ok $? "where plan of the work tree cannot"
git checkout -q runtimes/rt-2

# --- a dirty work tree
RUNTIME=rt-2 CARD_NAME="Research Pro II" write_config
clear_logs
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "^getbot: bots.yaml differs from commit $short3: bots.yaml (modified); commit it, apply a commit with --ref, or pass --allow-dirty\$" "$T/err"
tap_ok $? "apply refuses a modified config, naming the file"
[ "$rc" -eq 1 ] || tap_diag "$(cat "$T/out" "$T/err")"
no_requests
tap_ok $? "before contacting anything"
run "$GETBOT" plan
[ "$rc" -eq 0 ] && grep -q 'router.card.research-pro' "$T/out"
tap_ok $? "plan of a dirty work tree is not refused"
run "$GETBOT" apply --auto-approve --allow-dirty
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 1 succeeded' "$T/out"
tap_ok $? "apply --allow-dirty applies it"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
run "$GETBOT" state show router.card.research-pro
grep -q "^# applied from commit $third-dirty \"Runtime rt-2\"" "$T/out"
tap_ok $? "a resource applied from a dirty work tree says so (-dirty)"
run "$GETBOT" state show cloudflare.bucket.research-pro
grep -q "^# applied from commit $second \"Add scout\"" "$T/out"
tap_ok $? "what that apply did not touch keeps its commit"
git commit -qam "Rename the card"
fourth=$(git rev-parse HEAD)

# --- an untracked file in a bundle the config names counts
echo 'x' >runtimes/rt-1/notes.txt
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 0 ] && grep -q 'No changes' "$T/out"
tap_ok $? "an untracked file in a runtime no bot uses does not count"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
echo 'export const extra = 1;' >runtimes/rt-2/extra.js
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "runtimes/rt-2/extra.js (untracked)" "$T/err"
tap_ok $? "an untracked file in a bundle the config names is refused, named"
echo 'runtimes/rt-2/extra.js' >>.git/info/exclude
run "$GETBOT" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "runtimes/rt-2/extra.js (ignored, so never committed)" "$T/err"
tap_ok $? "an ignored one too: the bundle would carry it"

# --- apply --ref: the commit, whatever the work tree holds
run "$GETBOT" apply --auto-approve --ref HEAD~1
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 1 succeeded' "$T/out" &&
	grep -q "^Config: HEAD~1:bots.yaml, commit $short3 \"Runtime rt-2\"\$" "$T/out"
tap_ok $? "apply --ref HEAD~1 applies that commit despite a dirty work tree"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
run "$GETBOT" state show router.card.research-pro
grep -q "^# applied from commit $third \"Runtime rt-2\"" "$T/out"
tap_ok $? "and records that commit"
run "$GETBOT" plan --ref "$fourth"
[ "$rc" -eq 0 ] && grep -q 'router.card.research-pro will be' "$T/out"
tap_ok $? "the state is the work tree's: a plan of the newer commit sees the card to change back"
run "$GETBOT" plan --ref HEAD -out "$T/saved.plan"
run "$GETBOT" apply --ref HEAD~1 "$T/saved.plan"
[ "$rc" -eq 1 ] && grep -q "^getbot apply: 'HEAD~1:bots.yaml' has changed since the plan was saved; plan again\$" "$T/err"
tap_ok $? "a plan saved with --ref is refused for another commit, naming REV:bots.yaml"
run "$GETBOT" apply --ref HEAD "$T/saved.plan"
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 1 succeeded' "$T/out"
tap_ok $? "and applied for its own"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"

# --- outside a git repository, apply works as before
mkdir "$T/plain" && cp -r runtimes bots.yaml keys "$T/plain/" && rm -f "$T/plain/runtimes/rt-2/extra.js"
cd "$T/plain" || exit 99
run "$GETBOT" plan
[ "$rc" -eq 0 ] && ! grep -q '^Config:' "$T/out"
tap_ok $? "outside a repository the plan has no commit header"
run "$GETBOT" plan --ref HEAD
[ "$rc" -eq 1 ] && grep -q "is not in the work tree of a git repository" "$T/err"
tap_ok $? "--ref outside a repository is an error that says so"

tap_done
