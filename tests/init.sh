#!/bin/sh
# getbot init: a starter bots.yaml for each kind of target that passes
# validate, with the schema modeline and secrets as references; never over
# an existing file; .gitignore lines for the local state, never twice.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp

# run CMD...: stdout in $T/out, stderr in $T/err, exit in $rc
run() {
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
}

for kind in server edge; do
	mkdir -p "$T/$kind" && cd "$T/$kind" || exit 99
	run "$GETBOT" init --owner alice@mail.acme.co.uk --target "$kind"
	[ "$rc" -eq 0 ] && [ -f bots.yaml ]; tap_ok $? "init --target $kind writes bots.yaml"
	[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/err")"
	run "$GETBOT" validate
	[ "$rc" -eq 0 ] && grep -q '^bots.yaml: valid (1 org, 1 team, 1 target)$' "$T/out"
	tap_ok $? "the $kind starter passes getbot validate"
	[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/err")"
	head -1 bots.yaml | grep -q '^# yaml-language-server: \$schema=/.*/bots\.schema\.json$'
	tap_ok $? "it starts with the schema modeline ($kind)"
	grep -q '^  acme:$' bots.yaml && grep -q 'owner: "alice@mail.acme.co.uk"' bots.yaml
	tap_ok $? "the org is named for what the owner derives ($kind)"
	# every secret a reference: validate refuses literals, and each key and
	# token line of the file says {env: ...}
	! grep -E '^ *(anthropic|openai|api_token|token):' bots.yaml | grep -v '{env: [A-Z_]*}'
	tap_ok $? "its secrets are {env: NAME} references ($kind)"
	grep -q 'ACME_ANTHROPIC_KEY' bots.yaml; tap_ok $? "named for the org ($kind)"
	[ "$(cat .gitignore)" = "# getbot's local state and lock (getbot init)
.getbot/" ]
	tap_ok $? ".gitignore gets .getbot/ ($kind)"
done

cd "$T/server" || exit 99
cksum bots.yaml >before
run "$GETBOT" init --owner bob@globex.com
[ "$rc" -eq 1 ] && grep -q "'bots.yaml' exists; not overwriting it" "$T/err"
tap_ok $? "an existing bots.yaml is refused (exit 1)"
cksum bots.yaml | cmp -s - before; tap_ok $? "and left as it was"
ln -s nowhere link.yaml
run "$GETBOT" init --owner bob@globex.com -f link.yaml
[ "$rc" -eq 1 ] && [ ! -e nowhere ]; tap_ok $? "so is a dangling link in its place"

# .gitignore: appended to, never duplicated
run "$GETBOT" init --owner bob@globex.com -f second.yaml
[ "$rc" -eq 0 ] && [ "$(grep -c '^\.getbot/$' .gitignore)" -eq 1 ]
tap_ok $? "a second init does not repeat the .gitignore line"
! grep -q '^Added' "$T/out"; tap_ok $? "and does not say it added one"
mkdir -p "$T/existing" && cd "$T/existing" || exit 99
printf 'node_modules/\n*.log' >.gitignore
run "$GETBOT" init --owner bob@globex.com
[ "$(cat .gitignore)" = "node_modules/
*.log
# getbot's local state and lock (getbot init)
.getbot/" ]
tap_ok $? "an existing .gitignore keeps its lines and gets one more, after a newline"
mkdir -p "$T/slash" && cd "$T/slash" || exit 99
printf '/.getbot\n' >.gitignore
run "$GETBOT" init --owner bob@globex.com
[ "$rc" -eq 0 ] && [ "$(cat .gitignore)" = "/.getbot" ]
tap_ok $? "a line that already ignores .getbot (/.getbot) is enough"
mkdir -p "$T/sub/config" && cd "$T/sub" || exit 99
run "$GETBOT" init --owner bob@globex.com -f config/bots.yaml
[ -f config/bots.yaml ] && [ -f config/.gitignore ] && [ ! -e .gitignore ]
tap_ok $? "-f DIR/FILE: the .gitignore beside the file"

# usage errors: nothing written
mkdir -p "$T/bad" && cd "$T/bad" || exit 99
run "$GETBOT" init
[ "$rc" -eq 1 ] && grep -q -- '--owner EMAIL is required' "$T/err"
tap_ok $? "--owner is required"
run "$GETBOT" init --owner not-an-email
[ "$rc" -eq 1 ] && grep -q "'not-an-email' is not an email address" "$T/err"
tap_ok $? "an owner that is no email is refused"
run "$GETBOT" init --owner bob@globex.com --target cloud
[ "$rc" -eq 1 ] && grep -q "'cloud' is not a kind of target (server or edge)" "$T/err"
tap_ok $? "an unknown --target is refused"
[ -z "$(ls -A)" ]; tap_ok $? "and none of them wrote anything"

# help and the man page come from the command's row
run "$GETBOT" help init
[ "$rc" -eq 0 ] && grep -q '^usage: getbot init \[--owner EMAIL\] \[--target KIND\] \[-f FILE\]$' "$T/out"
tap_ok $? "getbot help init"
man_page="$(dirname "$GETBOT")/doc/getbot.1"
grep -q '^\.SS getbot init ' "$man_page" && grep -qF 'Then adds .getbot/' "$man_page"
tap_ok $? "getbot(1) has init"

tap_done
