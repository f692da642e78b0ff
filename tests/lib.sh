# Shared helpers for getbot's shell tests: TAP output, and the binary.
# Tests run under automake's TAP driver (or by hand: GETBOT=./getbot sh tests/x.sh).

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${GETBOT:=$top_srcdir/getbot}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-exitcode=99:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$top_srcdir/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}"

tap_n=0
tap_failed=0

# ok COND-EXIT-STATUS DESCRIPTION
tap_ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

tap_diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# A scratch directory removed when the test exits.
tap_tmpdir() {
	tap_tmp=$(mktemp -d "${TMPDIR:-/tmp}/getbot-test.XXXXXX")
	trap 'rm -rf "$tap_tmp"' EXIT
}

# tap_include COMMAND...: run a program that prints TAP (a unit test);
# its results count as this test's own, renumbered, its plan dropped, and
# whatever else it prints shown as diagnostics. A program that ends with a
# status its results do not explain (a crash) is a failure too.
tap_include() {
	tap_include_out=$(mktemp "${TMPDIR:-/tmp}/getbot-tap.XXXXXX")
	tap_include_rc=0
	"$@" >"$tap_include_out" 2>&1 || tap_include_rc=$?
	tap_include_failed=$tap_failed
	while IFS= read -r line; do
		case $line in
		"ok "*) tap_ok 0 "$(printf '%s' "$line" | sed 's/^ok [0-9]* - //')" ;;
		"not ok "*) tap_ok 1 "$(printf '%s' "$line" | sed 's/^not ok [0-9]* - //')" ;;
		1..*) ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done <"$tap_include_out"
	rm -f "$tap_include_out"
	if [ "$tap_include_rc" -ne 0 ] && [ "$tap_failed" -eq "$tap_include_failed" ]; then
		tap_ok 1 "$1 exited with status $tap_include_rc"
	fi
}
