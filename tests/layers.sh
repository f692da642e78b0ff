#!/bin/sh
# The architecture, checked: folders are layers and a file includes only
# from its own layer or below (README, "Architecture"); no provider
# includes another provider's header or holds mutable static state; no
# code dispatches on a resource kind (kinds carry their operations).
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
cd "$top_srcdir" || exit 99

# The layer of a source file, by its folder.
layer_of() {
	case $1 in
	reconciler/base/*) echo base ;;
	schema/*) echo schema ;;
	state/*) echo state ;;
	reconciler/connect/*) echo connect ;;
	reconciler/engine/*) echo engine ;;
	reconciler/clients/*) echo clients ;;
	reconciler/providers/providers.[ch]) echo table ;;
	reconciler/providers/*/*) echo "provider-$(echo "$1" | cut -d/ -f3)" ;;
	reconciler/cli/*) echo cli ;;
	reconciler/auth/*) echo auth ;;
	*) echo other ;;
	esac
}

# What each layer may include (besides its own folder and config.h).
allowed() {
	case $1 in
	base) echo "base" ;;
	schema) echo "base schema" ;;
	state) echo "base schema state" ;;
	connect) echo "base schema connect" ;;
	engine) echo "base schema state connect engine" ;;
	clients) echo "base schema connect engine clients" ;;
	# the auth provider writes auth.json with getbot-auth's own parser
	provider-auth) echo "base schema connect engine clients auth-format provider-auth" ;;
	provider-*) echo "base schema connect engine clients $1" ;;
	table) echo "engine provider-*" ;;
	cli) echo "base schema state connect engine clients table cli" ;;
	auth) echo "base schema auth auth-format" ;;
	esac
}

# The file an include names: beside the includer, else on the -I path
# (Makefile.am's AM_CPPFLAGS, in its order). Prints "FILE INCLUDED".
includes() {
	files=$(git ls-files 'reconciler/*.[ch]' 'schema/*.[ch]' 'state/*.[ch]' 2>/dev/null ||
		find reconciler schema state -name '*.[ch]')
	# shellcheck disable=SC2086
	grep -H '^#include "' $files | sed 's/:#include "\([^"]*\)".*/ \1/' |
		while read -r f inc; do
			dir=${f%/*}
			for d in "$dir" reconciler/base schema state reconciler/connect \
				reconciler/engine reconciler/clients reconciler/providers \
				reconciler/cli reconciler/auth; do
				[ -f "$d/$inc" ] && { echo "$f $d/$inc $inc"; break; }
			done
		done
}

bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
includes | while read -r f target inc; do
	from=$(layer_of "$f")
	to=$(layer_of "$target")
	case $target in
	reconciler/auth/auth-config.h | reconciler/auth/auth-json.h) to=auth-format ;;
	esac
	[ "$to" = "$from" ] && continue
	ok=no
	for a in $(allowed "$from"); do
		# shellcheck disable=SC2254
		case $to in $a) ok=yes ;; esac
	done
	[ $ok = yes ] || echo "$f ($from) includes $inc ($to)" >>"$bad"
done
tap_ok "$([ -s "$bad" ] && echo 1 || echo 0)" "every file includes only from its own layer or below"
[ -s "$bad" ] && tap_diag "$(cat "$bad")"

: >"$bad"
grep -n 'kind [!=]= &' reconciler/*/*.c reconciler/*/*/*.c >>"$bad" 2>/dev/null
tap_ok "$([ -s "$bad" ] && echo 1 || echo 0)" "nothing dispatches on a resource kind: kinds carry their operations"
[ -s "$bad" ] && tap_diag "$(cat "$bad")"

# A file-scope static that is not const and not a function: mutable state.
: >"$bad"
grep -nE '^static [^(]*[=;]' reconciler/providers/*/*.c reconciler/clients/*.c |
	grep -v '^[^:]*:[0-9]*:static const ' |
	grep -v 'pthread_once_t' >>"$bad"
tap_ok "$([ -s "$bad" ] && echo 1 || echo 0)" "providers and clients hold no mutable static state"
[ -s "$bad" ] && tap_diag "$(cat "$bad")"

tap_done
