#!/bin/sh
# Every config under tests/configs/invalid gets exactly the diagnostics in
# its .expected file (stderr of `getbot validate NAME.yaml`, run in that
# directory) and exit 1; every example and valid config validates with 0.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir

cd "$top_srcdir/tests/configs/invalid" || exit 99
for yaml in *.yaml; do
	name=${yaml%.yaml}
	rc=0
	"$GETBOT" validate "$yaml" >"$tap_tmp/out" 2>"$tap_tmp/err" || rc=$?
	if [ "$rc" -ne 1 ]; then
		tap_ok 1 "invalid/$name exits 1 (got $rc)"
		tap_diag "$(cat "$tap_tmp/err")"
		continue
	fi
	if diff -u "$name.expected" "$tap_tmp/err" >"$tap_tmp/diff"; then
		tap_ok 0 "invalid/$name"
	else
		tap_ok 1 "invalid/$name: diagnostics differ"
		tap_diag "$(cat "$tap_tmp/diff")"
	fi
	[ -s "$tap_tmp/out" ] && { tap_ok 1 "invalid/$name prints nothing on stdout"; }
done

for yaml in "$top_srcdir"/examples/*.yaml "$top_srcdir"/tests/configs/valid/*.yaml; do
	[ -f "$yaml" ] || continue
	rc=0
	"$GETBOT" validate "$yaml" >"$tap_tmp/out" 2>"$tap_tmp/err" || rc=$?
	tap_ok "$rc" "valid: $(basename "$(dirname "$yaml")")/$(basename "$yaml")"
	[ "$rc" -eq 0 ] || tap_diag "$(cat "$tap_tmp/err")"
done
tap_done
