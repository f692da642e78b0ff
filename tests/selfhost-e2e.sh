#!/bin/sh
# The self-hosted end to end scenario (selfhost-e2e-scenario.sh) twice:
# with the server reached locally, then from "another machine" through a
# real OpenSSH sshd on loopback that logs in as root to this same machine,
# so the daemons behind it are the same ones. Each plan of the second run
# must be byte for byte the first's, but for the run's own values (its
# directory, its ports, its profile), which are named in the comparison.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/services.sh"
. "$top_srcdir/tests/sshd.sh"
services_require incus docker busybox caddy
sshd_require
if [ -d /run/systemd/system ]; then
	services_skip "this machine runs systemd; getbot would install getbot-auth as a unit"
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/getbot-e2e-both.XXXXXX")
cleanup() {
	sshd_stop
	# the sshd the scenario started again after killing the first
	[ -s "$T/sshd/sshd.pid" ] && kill "$(cat "$T/sshd/sshd.pid")" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sshd_start "$T/sshd" || {
	echo "Bail out! sshd did not start"
	exit 1
}
scenario=$top_srcdir/tests/selfhost-e2e-scenario.sh
export E2E_CANARY="sk-ant-canary-$$-$(date +%s)"

E2E_CONNECT=local E2E_PLANS=$T/local tap_include sh "$scenario"
E2E_CONNECT=$SSHD_CONNECT E2E_PLANS=$T/ssh tap_include sh "$scenario"

# normalized FILE VALUES: FILE with each run's own value replaced by a
# placeholder, by position in VALUES (longest first, so that a port that
# is part of a path is not replaced inside it)
normalized() {
	python3 - "$1" "$2" <<'PY'
import sys
text = open(sys.argv[1]).read()
values = open(sys.argv[2]).read().split("\n")[:-1]
for i, v in sorted(enumerate(values), key=lambda iv: -len(iv[1])):
    if v:
        text = text.replace(v, "<value %d>" % i)
sys.stdout.write(text)
PY
}
differ=""
for f in "$T"/local/*; do
	name=${f##*/}
	case $name in values | times | stats) continue ;; esac
	if [ ! -f "$T/ssh/$name" ] ||
		! normalized "$f" "$T/local/values" >"$T/a" ||
		! normalized "$T/ssh/$name" "$T/ssh/values" >"$T/b" ||
		! cmp -s "$T/a" "$T/b"; then
		differ="$differ $name"
		tap_diag "plan '$name', local then over ssh:" "$(diff "$T/a" "$T/b" 2>&1 | head -20)"
	fi
done
# the benchmark (make bench prints these): a no-op plan, each way
for how in local ssh; do
	python3 - "$T/$how" "$how" <<'PY'
import json, statistics, sys
d, how = sys.argv[1], sys.argv[2]
walls = [float(b) - float(a) for a, b in
         (line.split() for line in open(d + "/times"))]
chans = [sum(c["channels"] for c in json.loads(line)["connections"])
         for line in open(d + "/stats")]
print("# bench: no-op plan of the e2e scenario, %-5s: %.2f s wall "
      "(median of %d), %d ssh channels" %
      (how, statistics.median(walls), len(walls), max(chans)))
PY
done
n=$(ls "$T/local" | grep -cv '^\(values\|times\|stats\)$')
[ -z "$differ" ] && [ "$n" -ge 8 ]
tap_ok $? "the $n plans over ssh are the local run's, byte for byte${differ:+ (not:$differ)}"
tap_done
