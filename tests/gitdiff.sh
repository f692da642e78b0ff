#!/bin/sh
# getbot diff REV1 REV2 in a real git repository: an added team, a removed
# team, a changed model, a changed secret reference, a persona change
# refused (exit 3), no changes (exit 0), an unknown revision (exit 1). It
# runs with no secret in the environment, secret files that do not exist,
# and a tripwire where the targets would be: nothing may connect to it.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/fakes.sh" # edge_config_head only: no fake runs here
tap_tmpdir
T=$tap_tmp

for tool in git python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is missing"
		exit 0
	fi
done

# The tripwire: a listener that writes down every connection it gets.
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("connection\n")
    c.close()
' "$T/wire.port" "$T/wire.log" &
wire_pid=$!
trap 'kill $wire_pid 2>/dev/null; rm -rf "$tap_tmp"' EXIT
i=0
while [ ! -s "$T/wire.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wire="http://127.0.0.1:$(cat "$T/wire.port")"

export HOME="$T" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$T/repo/runtimes/rt-1"
cd "$T/repo" || exit 99
git init -q . && git config user.name "Ann Author" &&
	git config user.email ann@example.com || exit 99
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" runtimes/rt-1/

write_config() {
	scout="      scout:
        api_keys: {anthropic: {file: keys/scout.key}}
        persona: You are Scout.
        instructions: Link to the dataset.
        card: {display_name: Scout, description: Finds datasets.}"
	[ -n "${NO_SCOUT:-}" ] && scout=""
	{
		edge_config_head "$wire"
		cat <<YAML
      pro:
        model: ${MODEL:-openai/gpt-5}
        api_keys: {openai: {env: ${PRO_KEY_VAR:-PRO_KEY}}}
        persona: ${PERSONA:-You are Research Pro.}
        instructions: Cite every source.
        card: {display_name: Research Pro, description: Reviews.}
${scout}
YAML
	} >bots.yaml
}
commit() { git add -A && git commit -qm "$1" || exit 99; }

NO_SCOUT=1 write_config && commit "Start with pro"
write_config && commit "Add scout"
NO_SCOUT=1 write_config && commit "Remove scout"
NO_SCOUT=1 MODEL=openai/gpt-5-mini write_config && commit "Smaller model"
NO_SCOUT=1 MODEL=openai/gpt-5-mini PERSONA="You are Research Max." write_config &&
	commit "New persona"
NO_SCOUT=1 MODEL=openai/gpt-5-mini PERSONA="You are Research Max." PRO_KEY_VAR=PRO_KEY_2 write_config &&
	commit "Another key variable"
c() { git rev-parse ":/$1"; }

# run CMD...: no secret, no fake, no Cloudflare API address in the
# environment; only the tripwire would answer
run() {
	rc=0
	env -i PATH="$PATH" HOME="$T" GETBOT_CLOUDFLARE_API="$wire/client/v4" \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		"$@" >"$T/out" 2>"$T/err" || rc=$?
	cat "$T/out" "$T/err" >>"$T/all.log"
}

run "$GETBOT" diff "$(c 'Start with pro')" "$(c 'Add scout')"
[ "$rc" -eq 2 ] && grep -q '^Plan: 5 to add, 0 to change, 0 to replace, 0 to delete.$' "$T/out"
tap_ok $? "an added team: its five resources to add (exit 2)"
[ "$rc" -eq 2 ] || tap_diag "$(cat "$T/out" "$T/err")"
grep -q "^  # cloudflare.worker.research-scout will be created: new in $(c 'Add scout')\$" "$T/out" &&
	grep -q '^  + router.card.research-scout$' "$T/out"
tap_ok $? "each with the plan's format and a reason"
grep -q "^From: $(c 'Start with pro'):bots.yaml, commit $(c 'Start with pro' | cut -c1-12) \"Start with pro\"\$" "$T/out" &&
	grep -q "^To:   $(c 'Add scout'):bots.yaml, commit $(c 'Add scout' | cut -c1-12) \"Add scout\"\$" "$T/out"
tap_ok $? "the header names both commits"

run "$GETBOT" diff HEAD~4 HEAD~3
[ "$rc" -eq 2 ] && grep -q '^Plan: 0 to add, 0 to change, 0 to replace, 5 to delete.$' "$T/out" &&
	grep -q '^  # cloudflare.worker.research-scout will be deleted: no longer in config$' "$T/out"
tap_ok $? "a removed team: its resources to delete"

run "$GETBOT" diff HEAD~3 HEAD~2
[ "$rc" -eq 2 ] && grep -q '~ model: "openai/gpt-5" → "openai/gpt-5-mini"' "$T/out" &&
	grep -q '^Plan: 0 to add, 1 to change, 0 to replace, 0 to delete.$' "$T/out"
tap_ok $? "a changed model: an update with the old and new value"

run "$GETBOT" diff HEAD~2 HEAD~1
[ "$rc" -eq 3 ] && grep -q '^refused: persona of cloudflare.worker.research-pro cannot change once deployed:$' "$T/err" &&
	grep -q 'cloudflare.worker.research-pro will be updated in place: persona changed' "$T/out"
tap_ok $? "a persona change is reported and refused (exit 3)"

run "$GETBOT" diff HEAD~1 HEAD
[ "$rc" -eq 2 ] && grep -q 'cloudflare.secrets.research-pro will have its secrets updated: OPENAI_API_KEY changed' "$T/out"
tap_ok $? "a changed secret reference: an update-secret"

run "$GETBOT" diff HEAD~3 HEAD~3
[ "$rc" -eq 0 ] && grep -q '^No changes.' "$T/out"
tap_ok $? "the same config: no changes (exit 0)"
run "$GETBOT" diff "$(c 'Start with pro')" HEAD~3
[ "$rc" -eq 0 ]
tap_ok $? "two commits with the same config (unchanged secret references): exit 0"

run "$GETBOT" diff HEAD no-such-rev
[ "$rc" -eq 1 ] && grep -q "unknown revision 'no-such-rev'" "$T/err"
tap_ok $? "an unknown revision is an error naming it (exit 1)"

run "$GETBOT" diff --json HEAD~3 HEAD~2
[ "$rc" -eq 2 ] && python3 -c "
import json
rows = [json.loads(l) for l in open('$T/out')]
assert any(r.get('type') == 'planned_change' for r in rows), rows
"
tap_ok $? "diff --json prints the plan's JSON lines"

sleep 0.2
[ ! -s "$T/wire.log" ]
tap_ok $? "nothing connected where the targets would be"
[ ! -e .getbot ] && [ -z "$(git status --porcelain)" ]
tap_ok $? "diff leaves no state and no file behind in the work tree"

tap_done
