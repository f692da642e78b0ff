#!/bin/sh
# The git state backend (state: {backend: git}) against a real git server:
# a bare repository served by a throwaway OpenSSH sshd on loopback
# (tests/sshd.sh), reached by libgit2 over ssh, and two clones of it that
# apply against the edge fakes. One lock and one record for both: the
# second apply is refused naming the holder, a killed holder's lease
# expires and is taken over, state unlock, one audit commit per apply, a
# push race at the state update retried without losing either side, and
# no secret in any ref.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp

. "$top_srcdir/tests/fakes.sh"
. "$top_srcdir/tests/sshd.sh"
# whole stacks, so that tests/lsan.supp can tell libgit2's own leaks
export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
fakes_init
sshd_require
command -v git >/dev/null 2>&1 || sshd_skip "no git (Debian package git)"
command -v unshare >/dev/null 2>&1 || sshd_skip "no unshare (util-linux)"
holder=""
cleanup() {
	[ -n "$holder" ] && kill -9 "$holder" 2>/dev/null
	sshd_stop
	fakes_cleanup
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sshd_start_isolated "$T"
mkdir -p "$HOME/.ssh"
cp "$SSHD_USER_KEY" "$HOME/.ssh/id_ed25519"
cp "$SSHD_KNOWN_HOSTS" "$HOME/.ssh/known_hosts"
chmod 600 "$HOME/.ssh/id_ed25519"
# git's own ssh reads the password entry's home, not $HOME
export GIT_SSH_COMMAND="ssh -F none -i $HOME/.ssh/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$HOME/.ssh/known_hosts"
export GIT_AUTHOR_NAME="Dana Dev" GIT_AUTHOR_EMAIL=dana@example.com
export GIT_COMMITTER_NAME="Dana Dev" GIT_COMMITTER_EMAIL=dana@example.com
unset GITHUB_ACTIONS GITHUB_RUN_ID GITLAB_CI CI_JOB_ID

export CF_TOKEN="cf-CANARY-token-0101" ROUTER_TOKEN="rt-CANARY-token-0102"
export PRO_KEY="sk-CANARY-pro-0103"
start_fake cf fake-cloudflare.py --token "$CF_TOKEN"
cf=$url
start_fake router fake-router.py --token "$ROUTER_TOKEN"
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export GETBOT_RUNTIME_DIR="$top_srcdir/examples/runtimes"
ctl() { # ctl FAKE_URL PATH JSON
	python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"); u.urlopen(r).read()' "$1$2" "$3"
}

remote="$T/remote.git"
url="ssh://root@127.0.0.1:$SSHD_PORT$remote"
git init -q --bare -b main "$remote"

# write_config DIR: an edge config whose state lives in the git remote
write_config() {
	{
		edge_config_head "$router" openclaw-2026.3.8
		cat <<YAML
      pro:
        model: ${MODEL:-openai/gpt-5}
        api_keys: {openai: {env: PRO_KEY}}
        persona: You are Research Pro.
        instructions: Cite every source.
state: {backend: git, lease: 15}
YAML
	} >"$1/bots.yaml"
}

# run DIR CMD...: in DIR, stdout in $T/out, stderr in $T/err, exit in $rc
run() {
	dir=$1
	shift
	rc=0
	(cd "$dir" && "$@") >"$T/out" 2>"$T/err" || rc=$?
	cat "$T/out" "$T/err" >>"$T/all.log"
}
# audit: the state ref's commits, newest first, one subject per line
audit() { git --git-dir="$remote" log --format=%s refs/getbot/state 2>/dev/null; }
has_lock() { git --git-dir="$remote" rev-parse -q --verify refs/getbot/lock >/dev/null; }

mkdir "$T/a"
git -C "$T/a" init -q -b main
write_config "$T/a"
git -C "$T/a" add bots.yaml
git -C "$T/a" commit -qm "research: first agent"
git -C "$T/a" remote add origin "$url"
git -C "$T/a" push -q origin main 2>"$T/err"
tap_ok $? "a repository with bots.yaml is pushed to the remote over ssh"

# --- the first apply records the state in the remote
run "$T/a" "$GETBOT" apply --auto-approve
tap_ok "$rc" "apply with state: {backend: git} (over ssh, libgit2)"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
git --git-dir="$remote" cat-file -p refs/getbot/state:state.json >"$T/remote-state.json" 2>/dev/null &&
	grep -q '"cloudflare.worker.research-pro"' "$T/remote-state.json"
tap_ok $? "the remote's refs/getbot/state holds state.json with what was applied"
! has_lock; tap_ok $? "and the lock ref is gone once the apply ends"
[ "$(audit | wc -l)" -eq 1 ] && audit | grep -q '^getbot apply: [1-9][0-9]* succeeded, 0 failed, 0 skipped$'
tap_ok $? "one audit commit: what was applied ($(audit | head -1))"
sha=$(git -C "$T/a" rev-parse HEAD)
git --git-dir="$remote" log -1 --format=%B refs/getbot/state | grep -q "^Config commit: $sha"
tap_ok $? "naming the config's commit"
git --git-dir="$remote" log -1 --format=%B refs/getbot/state | grep -q '^  create cloudflare.worker.research-pro$'
tap_ok $? "and each action"

# --- a fresh runner (another clone) sees that record
git clone -q "$url" "$T/b" 2>"$T/err"
tap_ok $? "a second clone, as a fresh CI runner has"
run "$T/b" "$GETBOT" state list
grep -q '^cloudflare.worker.research-pro$' "$T/out"
tap_ok $? "state list in it reads the shared record"
run "$T/b" "$GETBOT" plan --detailed-exitcode
[ "$rc" -eq 0 ] && grep -q 'No changes' "$T/out"
tap_ok $? "and its plan has nothing to do"
[ ! -e "$T/b/.getbot" ]; tap_ok $? "no local state file is made"

# --- two runners at once: one proceeds, the other exits 4 naming the holder
MODEL=openai/gpt-5-mini write_config "$T/a"
git -C "$T/a" commit -qam "research: a smaller model" && git -C "$T/a" push -q origin main 2>/dev/null
git -C "$T/b" pull -q 2>/dev/null
ctl "$cf" /__control/faults '{"faults": [{"method": "PUT", "path": "/scripts/", "delay": 9}]}'
(cd "$T/a" && GITHUB_ACTIONS=true GITHUB_RUN_ID=777 exec "$GETBOT" apply --auto-approve) \
	>"$T/a.out" 2>"$T/a.err" &
holder=$!
i=0
while ! has_lock && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
has_lock; tap_ok $? "the first apply holds refs/getbot/lock"
# expires: the lease's end, as the lock ref holds it now
expires() { git --git-dir="$remote" cat-file -p refs/getbot/lock:lock.json 2>/dev/null |
	sed -n 's/.*"expires":[[:space:]]*\([0-9]*\).*/\1/p'; }
first=$(expires)
run "$T/b" "$GETBOT" apply --auto-approve
[ "$rc" -eq 4 ]; tap_ok $? "the second exits 4 (locked)"
grep -q "state is locked by .*@$(hostname) pid $holder (apply, GitHub Actions run 777) since .*; lease expires in [0-9]* s; lock id [0-9a-f-]*; run 'getbot state unlock " "$T/err"
tap_ok $? "naming the holder, its CI run and how to unlock: $(cat "$T/err")"
i=0
while [ "$(expires)" = "$first" ] && [ $i -lt 80 ]; do sleep 0.1; i=$((i + 1)); done
[ -n "$first" ] && [ "$(expires)" -gt "$first" ]
tap_ok $? "while it runs, its lease is renewed on the remote (expires $first, then $(expires))"
wait "$holder"
rc=$?
holder=""
tap_ok "$rc" "the first apply completes"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/a.out" "$T/a.err")"
[ "$(audit | wc -l)" -eq 2 ]; tap_ok $? "two applies, two audit commits"

# --- a killed runner's lease expires and is taken over
ctl "$cf" /__control/faults '{"faults": [{"method": "PUT", "path": "/scripts/", "delay": 30}]}'
MODEL=openai/gpt-5 write_config "$T/a"
git -C "$T/a" commit -qam "research: back to gpt-5" && git -C "$T/a" push -q origin main 2>/dev/null
git -C "$T/b" pull -q 2>/dev/null
# another machine: a host name of its own, so its pid means nothing here
(cd "$T/a" && exec unshare -u sh -c 'hostname runner-a && exec "$0" apply --auto-approve' "$GETBOT") \
	>"$T/a.out" 2>"$T/a.err" &
holder=$!
# its intent (the secrets' update, held up by the fake) reaches the lock
i=0
while ! git --git-dir="$remote" cat-file -p refs/getbot/lock:journal.json 2>/dev/null |
	grep -q '"address":"cloudflare.secrets.research-pro".*"status":"intended"' &&
	[ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -9 "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=""
has_lock; tap_ok $? "a runner is killed (kill -9) while it holds the lock"
git --git-dir="$remote" cat-file -p refs/getbot/lock:journal.json >"$T/journal.json" 2>/dev/null
grep -q '"address":"cloudflare.secrets.research-pro".*"status":"intended"' "$T/journal.json"
tap_ok $? "the lock ref holds its unfinished intent, sent within a second of it"
ctl "$cf" /__control/faults '{"faults": []}'
run "$T/b" "$GETBOT" apply --auto-approve
[ "$rc" -eq 4 ] && grep -q "locked by .*@runner-a pid" "$T/err"
tap_ok $? "until its lease ends, another runner is refused"
run "$T/b" "$GETBOT" apply --auto-approve --lock-wait 60s
tap_ok "$rc" "with --lock-wait, it waits out the lease and applies"
grep -q "took over the lock of .*@runner-a pid [0-9]* (apply) since .*, expired [0-9]* s ago, lock id" "$T/err"
tap_ok $? "naming the old holder: $(grep took "$T/err")"
grep -q "^note: an earlier apply was interrupted during update-secret of cloudflare.secrets.research-pro" "$T/out"
tap_ok $? "its plan knows the killed runner's apply was interrupted, from the lock's journal"
git --git-dir="$remote" cat-file -p refs/getbot/state:state.json >"$T/remote-state.json"
id=$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' "$T/journal.json" | head -1)
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
e = [e for e in s["journal"] if e["id"] == sys.argv[2]]
assert e and e[0]["status"] != "intended", e
' "$T/remote-state.json" "$id"
tap_ok $? "and resolves the intent the killed runner left, in the shared journal"
[ "$(audit | wc -l)" -eq 3 ]; tap_ok $? "the killed apply left no audit commit; the one that finished did"
run "$T/a" "$GETBOT" plan --detailed-exitcode
[ "$rc" -eq 0 ]; tap_ok $? "both clones now plan nothing"

# --- state unlock, against the remote
MODEL=openai/gpt-5-nano write_config "$T/a"
git -C "$T/a" commit -qam "research: nano"
ctl "$cf" /__control/faults '{"faults": [{"method": "PUT", "path": "/scripts/", "delay": 30}]}'
(cd "$T/a" && exec unshare -u sh -c 'hostname runner-c && exec "$0" apply --auto-approve' "$GETBOT") \
	>"$T/a.out" 2>"$T/a.err" &
holder=$!
i=0
while ! has_lock && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=""
ctl "$cf" /__control/faults '{"faults": []}'
run "$T/b" "$GETBOT" apply --auto-approve
id=$(sed -n "s/.*run 'getbot state unlock \([0-9a-f-]*\)'.*/\1/p" "$T/err")
[ "$rc" -eq 4 ] && [ -n "$id" ]; tap_ok $? "a lock left by a killed runner names its id"
run "$T/b" "$GETBOT" state unlock 00000000-wrong
[ "$rc" -eq 1 ] && grep -q "does not match: state is locked by .*@runner-c" "$T/err"
tap_ok $? "state unlock with another id is refused, naming the holder"
has_lock; tap_ok $? "and the lock stays"
run "$T/b" "$GETBOT" state unlock "$id"
[ "$rc" -eq 0 ] && ! has_lock; tap_ok $? "state unlock ID removes the remote's lock"
run "$T/b" "$GETBOT" state unlock "$id"
[ "$rc" -eq 1 ] && grep -q "is not locked" "$T/err"; tap_ok $? "and says so when there is none"

# --- a push race at the moment of the state update: retried, never lost
# The remote's pre-receive hook writes another runner's state commit just
# before getbot's push lands (once), so receive-pack's compare-and-swap
# refuses getbot's update; getbot reads theirs, lays its own over it and
# pushes again.
cat >"$remote/hooks/pre-receive" <<'EOF'
#!/bin/sh
[ -e "$GIT_DIR/race-once" ] || exit 0
grep -q ' refs/getbot/state$' || exit 0
rm -f "$GIT_DIR/race-once"
# outside the push's quarantine, as another runner's push would be
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
old=$(git rev-parse refs/getbot/state)
git cat-file -p "$old:state.json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
s["resources"]["test.other-runner"] = {"provider": "cloudflare", "spec": {},
    "fingerprints": {}, "serial": s["serial"]}
json.dump(s, sys.stdout, indent=2)' >"$GIT_DIR/theirs.json"
blob=$(git hash-object -w "$GIT_DIR/theirs.json")
tree=$(printf '100644 blob %s\tstate.json\n' "$blob" | git mktree)
new=$(git commit-tree -p "$old" -m "another runner's apply" "$tree")
git update-ref refs/getbot/state "$new" "$old"
EOF
chmod +x "$remote/hooks/pre-receive"
touch "$remote/race-once"
MODEL=openai/gpt-5-mini write_config "$T/b"
git -C "$T/b" commit -qam "research: mini again"
run "$T/b" "$GETBOT" apply --auto-approve
tap_ok "$rc" "an apply whose state push loses a race"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
[ ! -e "$remote/race-once" ]; tap_ok $? "(the race happened)"
git --git-dir="$remote" cat-file -p refs/getbot/state:state.json >"$T/remote-state.json"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = s["resources"]
assert "test.other-runner" in r, "theirs lost"
assert r["cloudflare.secrets.research-pro"]["spec"]["model"] == "openai/gpt-5-mini", "ours lost"
' "$T/remote-state.json"
tap_ok $? "the remote's state has both the other runner's record and ours"
audit | sed -n 2p | grep -q "another runner's apply"
tap_ok $? "and ours is a commit on top of theirs: $(audit | head -2 | tr '\n' '|')"
rm -f "$remote/hooks/pre-receive"

# --- what cannot work is said plainly
mkdir "$T/plain"
write_config "$T/plain"
run "$T/plain" "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "backend git keeps the state in the config's git repository, but 'bots.yaml' is not in one" "$T/err"
tap_ok $? "outside a git repository: $(cat "$T/err")"
git -C "$T/plain" init -q
run "$T/plain" "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "has no remote 'origin'" "$T/err"
tap_ok $? "a repository without the remote: $(cat "$T/err")"
git -C "$T/plain" remote add origin "ssh://root@127.0.0.1:1$remote"
run "$T/plain" "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "cannot fetch from remote 'origin'" "$T/err"
tap_ok $? "an unreachable remote: $(cat "$T/err")"
git -C "$T/plain" remote set-url origin "$url"
mv "$HOME/.ssh/known_hosts" "$HOME/.ssh/known_hosts.off"
run "$T/plain" "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "unknown remote ssh hostkey.*ssh-keyscan" "$T/err"
tap_ok $? "a remote whose host key is not known is refused, saying how to add it: $(cat "$T/err")"
mv "$HOME/.ssh/known_hosts.off" "$HOME/.ssh/known_hosts"
mv "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_ed25519.off"
run "$T/plain" "$GETBOT" plan
[ "$rc" -eq 1 ] && grep -q "cannot fetch from remote 'origin'" "$T/err"
tap_ok $? "without a key: $(cat "$T/err")"
mv "$HOME/.ssh/id_ed25519.off" "$HOME/.ssh/id_ed25519"

# --- the key through ssh-agent, no key file
eval "$(ssh-agent -s)" >/dev/null
ssh-add -q "$HOME/.ssh/id_ed25519" 2>/dev/null
mv "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_ed25519.off"
run "$T/plain" "$GETBOT" plan
tap_ok "$rc" "ssh-agent's key is used when there is no key file"
mv "$HOME/.ssh/id_ed25519.off" "$HOME/.ssh/id_ed25519"
kill "$SSH_AGENT_PID" 2>/dev/null
unset SSH_AUTH_SOCK SSH_AGENT_PID

# --- an https remote with a token (GETBOT_GIT_TOKEN): real git
# http-backend behind Basic authentication (tests/git-http.py)
token="ghs_CANARY-git-token-0104"
printf '%s\n' "$token" >"$T/token"
read_token="ghs_CANARY-read-token-0105"
printf '%s\n' "$read_token" >"$T/read-token"
python3 "$top_srcdir/tests/git-http.py" --root "$T" --token-file "$T/token" \
	--read-token-file "$T/read-token" \
	--port-file "$T/git-http.port" 2>"$T/git-http.log" &
fake_pids="$fake_pids $!"
i=0
while [ ! -s "$T/git-http.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
git -C "$T/plain" remote set-url origin "http://127.0.0.1:$(cat "$T/git-http.port")/remote.git"
run "$T/plain" "$GETBOT" state list
[ "$rc" -eq 1 ] && grep -q "cannot fetch from remote 'origin'" "$T/err" && grep -q GETBOT_GIT_TOKEN "$T/err"
tap_ok $? "an https remote without a token says how to give one: $(cat "$T/err")"
GETBOT_GIT_TOKEN=wrong-token run "$T/plain" "$GETBOT" state list
[ "$rc" -eq 1 ] && grep -q "cannot fetch from remote 'origin'" "$T/err"
tap_ok $? "a wrong token is refused: $(cat "$T/err")"
GETBOT_GIT_TOKEN=$token run "$T/plain" "$GETBOT" state list
[ "$rc" -eq 0 ] && grep -q '^cloudflare.worker.research-pro$' "$T/out"
tap_ok $? "with GETBOT_GIT_TOKEN the same record is read over https"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/err")"
git -C "$T/plain" add bots.yaml && git -C "$T/plain" commit -qm "research: from the https clone"
# a token that may read but not push, as a plan job's (contents: read)
GETBOT_GIT_TOKEN=$read_token run "$T/plain" "$GETBOT" plan
tap_ok "$rc" "a read-only token is enough to plan"
before=$(audit | wc -l)
GETBOT_GIT_TOKEN=$read_token run "$T/plain" "$GETBOT" apply --auto-approve
[ "$rc" -eq 1 ] && grep -q "cannot push to remote 'origin'.*403" "$T/err" &&
	! has_lock && [ "$(audit | wc -l)" -eq "$before" ]
tap_ok $? "apply with it cannot take the lock, and does nothing: $(cat "$T/err")"
GETBOT_GIT_TOKEN=$token run "$T/plain" "$GETBOT" apply --auto-approve
[ "$rc" -eq 0 ] && audit | head -1 | grep -q '^getbot apply: 1 succeeded'
tap_ok $? "and an apply over https locks, records and unlocks: $(audit | head -1)"
! has_lock; tap_ok $? "(the lock is gone)"
! grep -q CANARY "$T/git-http.log"; tap_ok $? "the token is never in the server's log (nor in a URL)"

# --- secrets never enter the refs, nor any output
git --git-dir="$remote" log -p --all >"$T/refs.log"
for obj in $(git --git-dir="$remote" rev-list --objects --all | cut -d' ' -f1); do
	git --git-dir="$remote" cat-file -p "$obj"
done >>"$T/refs.log" 2>/dev/null
[ -s "$T/refs.log" ] && ! grep -q CANARY "$T/refs.log"
tap_ok $? "no secret in any object of the remote"
! grep -q CANARY "$T/all.log" "$T/a.out" "$T/a.err"
tap_ok $? "nor in any output"

tap_done
