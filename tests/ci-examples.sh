#!/bin/sh
# examples/ci/ works as written: the GitHub Actions and GitLab CI files
# parse as YAML (libyaml, through tests/examples/yaml-paths) and have the
# jobs the README describes; every getbot command line in them, in the
# systemd service and in the crontab line uses only commands and options
# that 'getbot help' documents; and the systemd units pass
# systemd-analyze verify, with the built getbot in the ExecStart line.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
T=$tap_tmp
ci="$top_srcdir/examples/ci"
: "${YAML_PATHS:=$(dirname "$GETBOT")/tests/examples/yaml-paths}"

if ! command -v python3 >/dev/null 2>&1; then
	if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
		echo "Bail out! python3 is needed to read the command lines"
		exit 1
	fi
	echo "1..0 # SKIP python3 is missing"
	exit 0
fi

# --- the workflow files parse, as a CI service's YAML parser would
for f in github-actions.yml gitlab-ci.yml; do
	"$YAML_PATHS" "$ci/$f" >"$T/$f.paths" 2>"$T/$f.err"
	tap_ok $? "$f parses as YAML"
	[ -s "$T/$f.err" ] && tap_diag "$(cat "$T/$f.err")"
done
printf 'a: [1, 2\nb: 3\n' >"$T/broken.yml"
! "$YAML_PATHS" "$T/broken.yml" >/dev/null 2>"$T/broken.err" &&
	grep -q 'broken.yml:[0-9]*:[0-9]*: ' "$T/broken.err"
tap_ok $? "and the checker does refuse a file that does not parse"

# value PATHS-FILE PATH: the value at PATH
value() { sed -n "s/^$2	//p" "$1"; }
gh="$T/github-actions.yml.paths"
gl="$T/gitlab-ci.yml.paths"
[ -n "$(value "$gh" 'on\.pull_request\.paths\[0\]')" ] &&
	[ "$(value "$gh" 'on\.push\.branches\[0\]')" = main ] &&
	[ "$(value "$gh" 'jobs\.plan\.if')" = "github.event_name == 'pull_request'" ]
tap_ok $? "GitHub: a plan job on pull requests, and pushes to main"
value "$gh" 'jobs\.plan\.steps\[[0-9]*\]\.run' | grep -q 'getbot plan --detailed-exitcode --report getbot-plan.md' &&
	value "$gh" 'jobs\.plan\.steps\[[0-9]*\]\.run' | grep -q 'gh pr comment .* --body-file getbot-plan.md'
tap_ok $? "GitHub: plan writes --report and --detailed-exitcode; the report is posted as a comment"
[ "$(value "$gh" 'jobs\.apply\.concurrency\.group')" = getbot-apply ] &&
	[ "$(value "$gh" 'jobs\.apply\.concurrency\.cancel-in-progress')" = false ] &&
	value "$gh" 'jobs\.apply\.steps\[[0-9]*\]\.run' | grep -q '^getbot apply --auto-approve'
tap_ok $? "GitHub: apply on merge in a concurrency group, never cancelled"
value "$gl" 'getbot-plan\.script\[[0-9]*\]' | grep -q 'getbot plan --detailed-exitcode --report getbot-plan.md' &&
	value "$gl" 'getbot-plan\.rules\[0\]\.if' | grep -q 'merge_request_event' &&
	value "$gl" 'getbot-plan\.after_script\[0\]' | grep -q 'merge_requests/$CI_MERGE_REQUEST_IID/notes'
tap_ok $? "GitLab: plan on merge requests with its report posted as a note"
[ "$(value "$gl" 'getbot-apply\.resource_group')" = getbot-apply ] &&
	value "$gl" 'getbot-apply\.rules\[0\]\.if' | grep -q 'CI_DEFAULT_BRANCH' &&
	value "$gl" 'getbot-apply\.script\[[0-9]*\]' | grep -q '^getbot apply --auto-approve'
tap_ok $? "GitLab: apply on the default branch, one at a time (resource_group)"
grep -q '^OnCalendar=\*:0/10$' "$ci/getbot-drift.timer"
tap_ok $? "the timer fires every 10 minutes"
grep -q '^ExecStart=/usr/local/bin/getbot apply --only drift --auto-approve --lock-wait ' "$ci/getbot-drift.service" &&
	grep -q '^\*/10 \* \* \* \* .*getbot apply --only drift --auto-approve --lock-wait ' "$ci/crontab"
tap_ok $? "the service and the cron line repair drift only, waiting for the lock"
! grep -rqiE '(sk-|ghp_|glpat-)[A-Za-z0-9]' "$ci"
tap_ok $? "no secret value in the examples, only names"

# --- every getbot command line uses only what getbot help documents
"$GETBOT" help >"$T/help" 2>&1
for c in $(sed -n 's/^  \([a-z]*\) .*/\1/p' "$T/help"); do
	"$GETBOT" help "$c" >"$T/help-$c" 2>&1
done
# check.py TMP GITHUB-PATHS GITLAB-PATHS SERVICE CRONTAB: print each getbot
# command line found, and exit 1 naming each command or option that
# getbot help does not document
cat >"$T/check.py" <<'PY'
import os, re, shlex, sys

tmp, gh, gl, service, crontab = sys.argv[1:]
commands = re.findall(r"^  ([a-z]+) ", open(os.path.join(tmp, "help")).read(), re.M)
options = {}
for c in commands:
    opts = {}
    for m in re.finditer(r"^  (?:-(\w), )?--([a-z][a-z-]*)(?: (\S+))?$",
                         open(os.path.join(tmp, "help-" + c)).read(), re.M):
        takes = m.group(3) is not None
        opts["--" + m.group(2)] = takes
        opts["-" + m.group(2)] = takes  # -name, as Terraform users type
        if m.group(1):
            opts["-" + m.group(1)] = takes
    options[c] = opts

def yaml_scripts(paths):
    for line in open(paths):
        path, _, value = line.rstrip("\n").partition("\t")
        if re.search(r"(\.run|script\[\d+\])$", path):
            yield path, value.replace("\\n", "\n").replace("\\\\", "\\")

texts = [("github-actions.yml " + p, v) for p, v in yaml_scripts(gh)]
texts += [("gitlab-ci.yml " + p, v) for p, v in yaml_scripts(gl)]
for line in open(service):
    m = re.match(r"^(Exec\w+)=(.*)$", line)
    if m:
        texts.append(("getbot-drift.service " + m.group(1), m.group(2)))
for line in open(crontab):
    if line.strip() and not line.startswith("#"):
        texts.append(("crontab", line.split(None, 5)[5]))

problems, found = [], []
for where, text in texts:
    text = text.replace("\\\n", " ")
    for line in text.split("\n"):
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
        for i, t in enumerate(tokens):
            if t != "getbot" and not t.endswith("/getbot"):
                continue
            cmd = tokens[i + 1] if i + 1 < len(tokens) else ""
            words = []
            for w in tokens[i + 2:]:
                if re.fullmatch(r"[|&;<>(){}]+", w):
                    break
                words.append(w)
            found.append("%s: getbot %s %s" % (where, cmd, " ".join(words)))
            if cmd not in options:
                problems.append("%s: getbot %s: no such command" % (where, cmd))
                continue
            skip = False
            for w in words:
                if skip:
                    skip = False
                    continue
                if not w.startswith("-") or w == "-":
                    continue
                name = w.split("=", 1)[0]
                if name not in options[cmd]:
                    problems.append("%s: getbot %s: %s is not an option of it" % (where, cmd, name))
                elif options[cmd][name] and "=" not in w:
                    skip = True
print("\n".join(found))
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
python3 "$T/check.py" "$T" "$gh" "$gl" "$ci/getbot-drift.service" "$ci/crontab" \
	>"$T/commands" 2>"$T/commands.err"
rc=$?
[ "$rc" -eq 0 ]; tap_ok $? "every getbot command line uses documented commands and options"
[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/commands.err")"
for f in github-actions.yml gitlab-ci.yml getbot-drift.service crontab; do
	grep -q "^$f" "$T/commands"
	tap_ok $? "getbot command lines found in $f"
done
grep -q '^getbot-drift.service ExecStart: getbot apply .*--report /var/lib/getbot/drift.md' "$T/commands"
tap_ok $? "and the drift service's report lands in its StateDirectory"
# the check itself: an option or a command getbot does not have is caught
sed -e 's/--lock-wait 5m/--lock-timeout 5m/' -e 's/getbot apply/getbot aply/' \
	"$ci/crontab" >"$T/bad-crontab"
sed 's/--lock-wait 5m/--lock-timeout 5m/' "$ci/getbot-drift.service" >"$T/bad.service"
! python3 "$T/check.py" "$T" "$gh" "$gl" "$T/bad.service" "$T/bad-crontab" \
	>/dev/null 2>"$T/bad.err" &&
	grep -q 'getbot-drift.service ExecStart: getbot apply: --lock-timeout is not an option of it' "$T/bad.err" &&
	grep -q 'crontab: getbot aply: no such command' "$T/bad.err"
tap_ok $? "and the check does catch an option or a command that does not exist"

# --- the systemd units, with getbot and git where this machine has them
if command -v systemd-analyze >/dev/null 2>&1; then
	git=$(command -v git || echo /usr/bin/git)
	mkdir -p "$T/units"
	sed -e "s#/usr/local/bin/getbot#$GETBOT#" -e "s#/usr/bin/git#$git#" \
		"$ci/getbot-drift.service" >"$T/units/getbot-drift.service"
	cp "$ci/getbot-drift.timer" "$T/units/"
	(cd "$T/units" && systemd-analyze verify --man=no ./getbot-drift.service ./getbot-drift.timer) \
		>"$T/verify" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] && ! grep -q 'getbot-drift' "$T/verify"
	tap_ok $? "systemd-analyze verify: the service and the timer"
	[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/verify")"
	printf '[Service]\nExecStart=/usr/bin/true\nExecStartPost=/no/such/getbot\n' \
		>"$T/units/broken.service"
	! (cd "$T/units" && systemd-analyze verify --man=no ./broken.service) >/dev/null 2>&1
	tap_ok $? "and verify does fail a unit whose command is missing"
elif [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
	tap_ok 1 "systemd-analyze is missing"
else
	echo "ok $((tap_n + 1)) # SKIP systemd-analyze is missing"
	tap_n=$((tap_n + 1))
fi

tap_done
