# The Cloudflare and Agent Router fakes (tests/fakes/) for the edge tests:
# source after tests/lib.sh and tap_tmpdir, then
#
#   fakes_init                       # skip without python3 (fail in CI)
#   start_fake NAME SCRIPT ARGS...   # start one and wait: its URL in $url
#   fake_start NAME SCRIPT ARGS...   # start one in the background
#   fake_url NAME                    # wait for it: its URL in $url
#
# The fakes are stopped and the scratch directory removed at exit.
#
#   edge_config_head ROUTER_URL [RUNTIME] >bots.yaml
#                                    # an edge config up to the org's teams:

fakes="$top_srcdir/tests/fakes"

fakes_cleanup() {
	for pid in $fake_pids; do kill "$pid" 2>/dev/null; done
	rm -rf "$tap_tmp"
}

fakes_init() {
	if ! command -v python3 >/dev/null 2>&1; then
		if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
			echo "Bail out! python3 is needed for the fakes"
			exit 1
		fi
		echo "1..0 # SKIP python3 is missing"
		exit 0
	fi
	fake_pids=""
	trap fakes_cleanup EXIT
}

fake_start() {
	name=$1 script=$2
	shift 2
	python3 "$fakes/$script" --port-file "$tap_tmp/$name.port" "$@" \
		2>"$tap_tmp/$name.log" &
	fake_pids="$fake_pids $!"
}

fake_url() {
	i=0
	while [ ! -s "$tap_tmp/$1.port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$tap_tmp/$1.port" ] || { echo "Bail out! fake $1 did not start"; exit 1; }
	url="http://127.0.0.1:$(cat "$tap_tmp/$1.port")"
}

start_fake() {
	fake_start "$@"
	fake_url "$1"
}

# edge_config_head ROUTER_URL [RUNTIME]: the start of the edge config the
# tests share, up to the teams of the org research: the target (its token
# in $CF_TOKEN, the router's in $ROUTER_TOKEN), defaults (RUNTIME, default
# rt-1) and the org; the caller appends the teams, 6 spaces in.
edge_config_head() {
	cat <<YAML
version: 1
targets:
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "$1", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: ${2:-rt-1}}
orgs:
  research:
    owner: carol@research.example
    target: edge
    teams:
YAML
}
