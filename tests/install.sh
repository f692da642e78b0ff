#!/bin/sh
# make install puts getbot-auth and its unit under the prefix, the unit's
# ExecStart naming the binary where it was installed: how a server gets
# getbot-auth (README, "Sign-in on a server"). Installs into a DESTDIR
# from this build, so nothing of the machine is touched.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
builddir=$(dirname "$GETBOT")
command -v make >/dev/null 2>&1 || {
	echo "1..0 # SKIP no make"
	exit 0
}

# the build's own idea of a directory variable (sbindir, ...), expanded
makevar() {
	printf 'getbot-print-var:\n\t@echo $(%s)\n' "$1" |
		make -s -C "$builddir" -f Makefile -f - getbot-print-var
}
sbindir=$(makevar sbindir)
unitdir=$(makevar systemdunitdir)
prefix=$(makevar prefix)
root="$tap_tmp/root"

make -s -C "$builddir" install DESTDIR="$root" >"$tap_tmp/log" 2>&1
tap_ok $? "make install DESTDIR=... from the build directory"
tap_diag "$(tail -5 "$tap_tmp/log")"

case $sbindir in
"$prefix"/*) tap_ok 0 "sbindir ($sbindir) is under the prefix ($prefix)" ;;
*) tap_ok 1 "sbindir ($sbindir) is under the prefix ($prefix)" ;;
esac
case $unitdir in
"$prefix"/*) tap_ok 0 "the unit's directory ($unitdir) is under the prefix" ;;
*) tap_ok 1 "the unit's directory ($unitdir) is under the prefix" ;;
esac

[ -x "$root$sbindir/getbot-auth" ] &&
	"$root$sbindir/getbot-auth" --version | grep -q '^getbot-auth '
tap_ok $? "getbot-auth is installed in $sbindir and runs"
[ -x "$root$(makevar bindir)/getbot" ]
tap_ok $? "getbot is installed in $(makevar bindir), whose ../sbin holds getbot-auth"

unit="$root$unitdir/getbot-auth.service"
[ -f "$unit" ]
tap_ok $? "its unit is installed in $unitdir"
[ "$(grep '^ExecStart=' "$unit")" = "ExecStart=$sbindir/getbot-auth --config /etc/getbot/auth.json" ]
tap_ok $? "the unit's ExecStart runs $sbindir/getbot-auth"
tap_diag "$(grep '^ExecStart=' "$unit" 2>/dev/null)"
! grep -q '@[a-z]*@' "$unit"
tap_ok $? "no placeholder is left in the unit"
tap_done
