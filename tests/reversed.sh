#!/bin/sh
# The order of the provider table does not matter: the edge suite (the
# router's cards need the Workers' digests) and the Caddy suite (routes
# need the org containers' addresses) pass with a getbot whose table is
# reversed, so every consumer comes before its producer. Their own TAP
# lines are passed through, under one plan of this script.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
builddir=$(dirname "$GETBOT")
reversed="$builddir/tests/engine/getbot-reversed"
[ -x "$reversed" ] || { echo "Bail out! $reversed is not built"; exit 1; }

for suite in edge.sh selfhost-caddy.sh; do
	# getbot-auth is found beside getbot, else on $PATH
	out=$(GETBOT="$reversed" GETBOT_AUTH="$builddir/getbot-auth" \
		PATH="$builddir:$PATH" sh "$top_srcdir/tests/$suite" 2>&1)
	rc=$?
	if printf '%s\n' "$out" | grep -q '^1\.\.0 # SKIP'; then
		if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
			tap_ok 1 "$suite with the provider table reversed (it skipped)"
		else
			tap_diag "$suite skipped: $(printf '%s\n' "$out" | grep SKIP)"
		fi
		continue
	fi
	failed=$(printf '%s\n' "$out" | grep -c '^not ok')
	[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
	tap_ok $? "$suite passes with the provider table reversed"
	[ "$failed" -eq 0 ] || tap_diag "$(printf '%s\n' "$out" | grep '^not ok')"
done
tap_done
