#!/bin/sh
# The command line: commands that exist, help, schema, exit codes, --json,
# and secrets never echoed.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
ex="$top_srcdir/examples"

# run CMD...: stdout in $tap_tmp/out, stderr in $tap_tmp/err, exit in $rc
run() {
	rc=0
	"$@" >"$tap_tmp/out" 2>"$tap_tmp/err" || rc=$?
}

run "$GETBOT" validate "$ex/server.yaml" "$ex/edge.yaml" "$ex/mixed.yaml"
tap_ok "$rc" "validate accepts several files"
[ "$(wc -l <"$tap_tmp/out")" -eq 3 ]; tap_ok $? "one summary line per file"
grep -q 'server.yaml: valid (2 orgs, 3 teams, 1 target)$' "$tap_tmp/out"
tap_ok $? "the summary counts orgs, teams and targets"

cp "$ex/edge.yaml" "$tap_tmp/bots.yaml"
(cd "$tap_tmp" && "$GETBOT" validate >out 2>err); tap_ok $? "validate reads ./bots.yaml by default"
grep -q '^bots.yaml: valid' "$tap_tmp/out"; tap_ok $? "and names it"

run "$GETBOT" validate -f "$ex/edge.yaml"; tap_ok "$rc" "-f FILE"
run "$GETBOT" validate --file="$ex/edge.yaml"; tap_ok "$rc" "--file=FILE"

# A literal secret: refused, and the canary never printed.
sed 's/api_token: {env: CLOUDFLARE_API_TOKEN}/api_token: cf-CANARY-7f3e9a/' \
	"$ex/edge.yaml" >"$tap_tmp/secret.yaml"
run "$GETBOT" validate "$tap_tmp/secret.yaml"
[ "$rc" -eq 1 ]; tap_ok $? "a literal secret fails validation"
grep -q 'literal secret' "$tap_tmp/err"; tap_ok $? "and says so"
! grep -q CANARY "$tap_tmp/out" "$tap_tmp/err"; tap_ok $? "without printing it"
run "$GETBOT" validate --json "$tap_tmp/secret.yaml"
! grep -q CANARY "$tap_tmp/out" "$tap_tmp/err"; tap_ok $? "nor in --json"

# --json: one object per line, typed.
printf 'version: 1\ntargets: {}\norgs: {}\nextra: 1\n' >"$tap_tmp/bad.yaml"
run "$GETBOT" validate --json "$tap_tmp/bad.yaml"
[ "$rc" -eq 1 ]; tap_ok $? "--json keeps exit 1 on errors"
python3 - "$tap_tmp/out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["type"] for l in lines] == ["diagnostic", "diagnostic", "validate_summary"], lines
d = lines[0]
assert (d["line"], d["column"], d["path"], d["severity"]) == (2, 10, "targets", "error"), d
assert d["message"] == "must not be empty", d
assert lines[1]["path"] == "extra" and lines[1]["message"] == "unknown key", lines[1]
assert lines[2]["valid"] is False and lines[2]["errors"] == 2, lines[2]
PY
tap_ok $? "--json prints diagnostics then a summary, one JSON object per line"
[ ! -s "$tap_tmp/err" ]; tap_ok $? "--json prints nothing on stderr"

# Size limit, with the file on disk.
head -c 1048577 /dev/zero | tr '\0' '#' >"$tap_tmp/big.yaml"
run "$GETBOT" validate "$tap_tmp/big.yaml"
[ "$rc" -eq 1 ] && grep -q 'larger than 1048576 bytes' "$tap_tmp/err"
tap_ok $? "a file over 1 MiB is refused"

run "$GETBOT" validate "$tap_tmp/missing.yaml"
[ "$rc" -eq 1 ] && grep -q 'missing.yaml: cannot open: No such file or directory' "$tap_tmp/err"
tap_ok $? "a missing file is a clear error"
run "$GETBOT" validate "$tap_tmp"
[ "$rc" -eq 1 ] && grep -q "is not a regular file" "$tap_tmp/err"
tap_ok $? "a directory is a clear error"

# schema: exactly the installed source of truth.
run "$GETBOT" schema
cmp -s "$tap_tmp/out" "$top_srcdir/schema/bots.schema.json"
tap_ok $? "getbot schema prints schema/bots.schema.json byte for byte"

# version
run "$GETBOT" version
[ "$rc" -eq 0 ] && head -1 "$tap_tmp/out" | grep -Eq '^getbot [0-9]+\.[0-9]+\.[0-9]+$'
tap_ok $? "getbot version"
run "$GETBOT" --version; tap_ok "$rc" "getbot --version"

# help: every command in the table, and only those.
run "$GETBOT" help
[ "$rc" -eq 0 ]; tap_ok $? "getbot help"
cmds=$(sed -n 's/^  \([a-z]*\) .*/\1/p' "$tap_tmp/out" | tr '\n' ' ')
[ "$cmds" = "init validate plan apply diff graph state status secrets schema version help " ]
tap_ok $? "help lists every command of a build with providers (got: $cmds)"
for c in init validate plan apply diff graph state status secrets schema version help; do
	run "$GETBOT" help "$c"
	[ "$rc" -eq 0 ] && grep -q "^usage: getbot $c" "$tap_tmp/out"
	tap_ok $? "getbot help $c"
done
run "$GETBOT" validate --help
grep -q '^usage: getbot validate \[-f FILE\] \[--ref REV\] \[--json\] \[FILE...\]' "$tap_tmp/out"
tap_ok $? "getbot validate --help shows its usage"
run "$GETBOT"
[ "$rc" -eq 0 ] && grep -q '^commands:' "$tap_tmp/out"; tap_ok $? "getbot alone shows help"

# plan without a config: a clear error, nothing else.
(cd "$tap_tmp" && mkdir -p empty && cd empty && "$GETBOT" plan >out 2>err); rc=$?
[ "$rc" -eq 1 ] && grep -q 'bots.yaml: cannot open: No such file or directory' "$tap_tmp/empty/err"
tap_ok $? "plan without bots.yaml says so and exits 1"
# A FIFO in bots.yaml's place is refused at once, not waited on: every
# file getbot reads goes through one bounded reader that wants a regular
# file.
mkfifo "$tap_tmp/fifo.yaml"
run timeout 10 "$GETBOT" validate "$tap_tmp/fifo.yaml"
[ "$rc" -eq 1 ] && grep -q "fifo.yaml' is not a regular file" "$tap_tmp/err"
tap_ok $? "a FIFO named as the config is refused, without hanging"
# The product has providers (the edge's), so plan and apply exist; a
# command that does not exist is refused.
run "$GETBOT" bogus
[ "$rc" -eq 1 ] && grep -q "unknown command 'bogus'" "$tap_tmp/err"
tap_ok $? "an unknown command is refused"
run "$GETBOT" plan --help
[ "$rc" -eq 0 ] && grep -q '^usage: getbot plan' "$tap_tmp/out"
tap_ok $? "'getbot plan' is a command of the product"
run "$GETBOT" valdate
grep -q "did you mean 'validate'" "$tap_tmp/err"; tap_ok $? "a typo gets a suggestion"
run "$GETBOT" validate --bogus
[ "$rc" -eq 1 ] && grep -q "unknown option '--bogus'" "$tap_tmp/err" && grep -q '^usage:' "$tap_tmp/err"
tap_ok $? "an unknown option is a usage error"
run "$GETBOT" validate -f
[ "$rc" -eq 1 ] && grep -q "option '-f' needs a value" "$tap_tmp/err"
tap_ok $? "a missing option value is a usage error"
run "$GETBOT" schema extra
[ "$rc" -eq 1 ] && grep -q "unexpected argument 'extra'" "$tap_tmp/err"
tap_ok $? "a stray argument is a usage error"
# getbot(1)'s ENVIRONMENT names every variable the code reads (besides
# the system's own), and none it does not.
man_page="$(dirname "$GETBOT")/doc/getbot.1"
code_vars=$(cat "$top_srcdir"/reconciler/*/*.c "$top_srcdir"/reconciler/*/*/*.c \
	"$top_srcdir"/schema/*.c "$top_srcdir"/state/*.c |
	sed -n 's/.*\(getenv\|_env_seconds\)("\([A-Z_]*\)".*/\2/p' |
	grep -v -x -e HOME -e PATH -e USER | sort -u | tr '\n' ' ')
man_vars=$(sed -n '/^\.SH ENVIRONMENT/,/^\.SH /s/^\.B \([A-Z_]*\)$/\1/p' "$man_page" |
	sort -u | tr '\n' ' ')
[ -n "$code_vars" ] && [ "$code_vars" = "$man_vars" ]
tap_ok $? "getbot(1) lists the environment the code reads ($man_vars)"
[ "$code_vars" = "$man_vars" ] || tap_diag "code: $code_vars"

tap_done
