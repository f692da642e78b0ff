#!/bin/sh
# Golden plans: what `plan` prints today for a handful of scenarios, kept
# byte for byte under tests/golden/, so that a change of the provider
# architecture (or anything else) that changes a plan is caught. The
# engine through getbot-mem (a plan from nothing with two server orgs and
# an edge org; a change plan with update, update-secret, re-register and
# delete; a refused persona change; --json), the edge target with the
# product getbot against the Cloudflare and Agent Router fakes (from
# nothing, no-op, key rotation + card + runtime, a removed agent), and
# DNS records for servers through a cloudflare target with getbot-edge.
#
# Each golden file is one command's stdout, byte for byte, then (only if
# there was any) a line "[stderr]" and its stderr, then a line "[exit N]".
# Normalisations, applied to both streams before comparing (see
# normalise below):
#   - http://127.0.0.1:PORT: the fakes listen on a port the kernel picks,
#     so a URL of a fake becomes http://127.0.0.1:PORT literally;
#   - TMPDIR: the scratch directory (mktemp) becomes TMPDIR literally.
# Nothing else varies: secret fingerprints are keyed on the value and the
# address only, the plan order is sorted, colour is off (not a terminal,
# and NO_COLOR), and the fakes' random IDs never appear in a plan.
#
# To regenerate the files (and review the diff before committing it):
#   GETBOT_GOLDEN_UPDATE=1 sh tests/golden.sh
# (from a build directory: GETBOT=$PWD/getbot top_srcdir=.. sh ../tests/golden.sh)
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
: "${GETBOT_MEM:=$(dirname "$GETBOT")/tests/engine/getbot-mem}"
: "${GETBOT_EDGE:=$(dirname "$GETBOT")/tests/edge/getbot-edge}"
T=$tap_tmp
golden_dir="$top_srcdir/tests/golden"
update=${GETBOT_GOLDEN_UPDATE:-}
export NO_COLOR=1

. "$top_srcdir/tests/fakes.sh"
fakes_init

ctl() { # ctl FAKE_URL PATH JSON: a control call
	python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"); u.urlopen(r).read()' "$1$2" "$3"
}

# normalise: what varies from run to run, replaced by fixed words (see the
# list at the top)
normalise() {
	sed -e 's#http://127\.0\.0\.1:[0-9][0-9]*#http://127.0.0.1:PORT#g' \
		-e "s#$T#TMPDIR#g"
}

written=""
# golden NAME CMD...: run CMD; its stdout, stderr and exit status,
# normalised, must be tests/golden/NAME (GETBOT_GOLDEN_UPDATE=1: become it)
golden() {
	name=$1
	shift
	written="$written $name"
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	{
		cat "$T/out"
		if [ -s "$T/err" ]; then
			echo "[stderr]"
			cat "$T/err"
		fi
		echo "[exit $rc]"
	} | normalise >"$T/got"
	if [ -n "$update" ]; then
		mkdir -p "$golden_dir" && cp "$T/got" "$golden_dir/$name"
		tap_ok $? "$name: written"
	elif [ ! -f "$golden_dir/$name" ]; then
		tap_ok 1 "$name: no golden file (GETBOT_GOLDEN_UPDATE=1 writes it)"
		tap_diag "$(cat "$T/got")"
	elif diff -u "$golden_dir/$name" "$T/got" >"$T/diff"; then
		tap_ok 0 "$name: the plan is the golden one"
	else
		tap_ok 1 "$name: the plan differs from tests/golden/$name"
		tap_diag "$(cat "$T/diff")"
	fi
}

# step DESCRIPTION CMD...: a command between plans (an apply), which must
# succeed for the plans after it to mean anything
step() {
	what=$1
	shift
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	tap_ok "$rc" "$what"
	[ "$rc" -eq 0 ] || tap_diag "$(cat "$T/out" "$T/err")"
}

# The fakes start while the engine scenarios run: four of them, so that
# the edge and the DNS scenarios never see each other's objects.
export CF_TOKEN="cf-CANARY-token-0001" ROUTER_TOKEN="rt-CANARY-token-0002"
fake_start cf fake-cloudflare.py --token "$CF_TOKEN" --page-size 1
fake_start router fake-router.py --token "$ROUTER_TOKEN" --page-size 1
fake_start dnscf fake-cloudflare.py --token "$CF_TOKEN" --page-size 4
fake_start dnsrouter fake-router.py --token "$ROUTER_TOKEN"

# ---- 1. the engine, through getbot-mem (tests/engine/provider-mem.c) ----
mkdir -p "$T/mem" && cd "$T/mem" || exit 99
export GETBOT_MEM_WORLD="$T/mem/world.json"
echo '{}' >"$GETBOT_MEM_WORLD"
export ACME_KEY="sk-ant-CANARY-acme-0001" GLOBEX_KEY="sk-ant-CANARY-globex-0002"
export EDGE_KEY="sk-CANARY-edge-0003"

# Two server orgs (four teams) and an edge org with a card.
write_mem_config() {
	sales="      sales:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: You help sales.
        instructions: Be brief."
	[ -n "${NO_SALES:-}" ] && sales=""
	cat >bots.yaml <<YAML
version: 1
targets:
  srv: {kind: incus, connect: local}
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "https://router.example.com", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}
orgs:
  acme:
    owner: alice@acme.com
    target: srv
    limits: {cpu: 2, memory: ${ACME_MEMORY:-4GiB}}
    allowed_emails: [${ACME_EMAILS:-alice@acme.com}]
    teams:
      marketing:
        api_keys: {anthropic: {env: ACME_KEY}}
        persona: ${PERSONA:-You are the marketing assistant.}
        instructions: Draft posts.
        runtime: ${MARKETING_RUNTIME:-v1}
${sales}
      support:
        api_keys: {anthropic: {env: ACME_KEY}}
        allowed_emails: [bob@acme.com]
        persona: You answer customers.
        instructions: Be kind.
  globex:
    owner: hank@globex.co.uk
    target: srv
    teams:
      ops:
        api_keys: {anthropic: {env: GLOBEX_KEY}}
        persona: You run ops.
        instructions: Keep runbooks.
  research:
    owner: carol@research.example
    target: edge
    teams:
      pro:
        api_keys: {anthropic: {env: EDGE_KEY}}
        runtime: ${PRO_RUNTIME:-v1}
        persona: You are Research Pro.
        instructions: Cite sources.
        card: {display_name: ${CARD_NAME:-Research Pro}, description: Reviews.}
YAML
}

write_mem_config
golden mem-create.plan "$GETBOT_MEM" plan
golden mem-create.json "$GETBOT_MEM" plan --json
step "mem: apply from nothing" "$GETBOT_MEM" apply --auto-approve

# update (memory, emails, two runtimes), update-secret (a rotated key),
# re-register (the card) and delete (a removed team), in one plan
export GLOBEX_KEY="sk-ant-CANARY-globex-0099"
ACME_MEMORY=8GiB ACME_EMAILS="alice@acme.com, dave@acme.com" \
	MARKETING_RUNTIME=v2 PRO_RUNTIME=v2 CARD_NAME="Research Pro II" NO_SALES=1 \
	write_mem_config
golden mem-change.plan "$GETBOT_MEM" plan
golden mem-change.json "$GETBOT_MEM" plan --json

# the same with a new persona: refused (exit 3), saying why and what to do
ACME_MEMORY=8GiB ACME_EMAILS="alice@acme.com, dave@acme.com" \
	MARKETING_RUNTIME=v2 PRO_RUNTIME=v2 CARD_NAME="Research Pro II" NO_SALES=1 \
	PERSONA="You are the new marketing assistant." write_mem_config
golden mem-refused.plan "$GETBOT_MEM" plan
golden mem-refused.json "$GETBOT_MEM" plan --json
unset GETBOT_MEM_WORLD

# ---- 2. the edge target: the product getbot against the fakes ----
fake_url cf
cf=$url
fake_url router
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export GETBOT_CLOUDFLARE_RATE=200 # the fake's default limit is far away
export PRO_KEY="sk-CANARY-pro-0003" SCOUT_KEY="sk-ant-CANARY-scout-0004"
mkdir -p "$T/runtimes/rt-1" "$T/runtimes/rt-2" "$T/edge"
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" "$T/runtimes/rt-1/"
sed 's/stand-in/newer stand-in/' "$T/runtimes/rt-1/worker.js" >"$T/runtimes/rt-2/worker.js"
export GETBOT_RUNTIME_DIR="$T/runtimes"
cd "$T/edge" || exit 99

# Two agents of one org, as in tests/edge.sh.
write_edge_config() {
	scout="      scout:
        api_keys: {anthropic: {env: SCOUT_KEY}}
        persona: You are Scout.
        instructions: Link to the dataset.
        card: {display_name: Scout, description: Finds datasets.}"
	[ -n "${NO_SCOUT:-}" ] && scout=""
	cat >bots.yaml <<YAML
version: 1
targets:
  edge:
    kind: cloudflare
    account_id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
    router: {url: "$router", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: ${RUNTIME:-rt-1}}
orgs:
  research:
    owner: carol@research.example
    target: edge
    teams:
      pro:
        model: openai/gpt-5
        api_keys: {openai: {env: PRO_KEY}}
        keep_alive: true
        persona: You are Research Pro.
        instructions: Cite every source.
        card:
          display_name: ${CARD_NAME:-Research Pro}
          description: Literature reviews.
          visibility: public
          skills:
            - id: lit-review
              name: Literature review
              description: Finds papers.
              tags: [research]
              pricing: {model: per_request, price_usd: 0.05}
${scout}
YAML
}

write_edge_config
golden edge-create.plan "$GETBOT" plan
step "edge: apply from nothing" "$GETBOT" apply --auto-approve
golden edge-noop.plan "$GETBOT" plan

# a rotated key, a card change and a new runtime
export PRO_KEY="sk-CANARY-pro-rotated-0005"
RUNTIME=rt-2 CARD_NAME="Research Pro II" write_edge_config
golden edge-change.plan "$GETBOT" plan
golden edge-change.json "$GETBOT" plan --json
step "edge: apply the change" "$GETBOT" apply --auto-approve

# an agent removed: its five deletes
NO_SCOUT=1 RUNTIME=rt-2 CARD_NAME="Research Pro II" write_edge_config
golden edge-delete.plan "$GETBOT" plan

# ---- 3. DNS records for servers through a cloudflare target ----
fake_url dnscf
cf=$url
fake_url dnsrouter
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
export KEY="sk-ant-CANARY-key-0006"
A=0123456789abcdef0123456789abcdef
Z1=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 # example.net, with others' records
Z2=b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 # example.org
ctl "$cf" /__control/world "{\"zones\": {\"$Z1\": {\"name\": \"example.net\"},
  \"$Z2\": {\"name\": \"example.org\"}},
  \"dns_records\": {\"$Z1\": [
    {\"type\": \"A\", \"name\": \"example.net\", \"content\": \"198.51.100.1\"},
    {\"type\": \"AAAA\", \"name\": \"www.example.net\", \"content\": \"2001:db8::1\"},
    {\"type\": \"TXT\", \"name\": \"acme.bots.example.net\", \"content\": \"a note\"},
    {\"type\": \"A\", \"name\": \"old.bots.example.net\", \"content\": \"198.51.100.3\",
     \"comment\": \"managed by someone\"},
    {\"type\": \"MX\", \"name\": \"example.net\", \"content\": \"mail.example.net\"}]}}" ||
	{ echo "Bail out! the Cloudflare fake took no zones"; exit 1; }
mkdir -p "$T/dns" && cd "$T/dns" || exit 99

# Two servers that keep their records through the edge target, which also
# runs one bot, as in tests/edge-dns.sh.
write_dns_config() {
	globex="  globex:
    owner: hank@globex.com
    target: srv
    teams:
      sales: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}"
	[ -n "${NO_GLOBEX:-}" ] && globex=""
	cat >bots.yaml <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    domain: bots.example.net
    dns: {target: edge, zone_id: "$Z1", address: "203.0.113.10", proxied: true}
  srv6:
    kind: incus
    connect: local
    domain: bots.example.org
    dns: {target: edge, zone_id: "$Z2", address: "${ADDR6:-2001:DB8:0:0::10}"}
  edge:
    kind: cloudflare
    account_id: $A
    api_token: {env: CF_TOKEN}
    router: {url: "$router", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: rt-1}
orgs:
  acme:
    owner: alice@acme.com
    target: srv
    teams:
      marketing: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}
${globex}
  initech:
    owner: peter@initech.com
    target: srv6
    teams:
      tps: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}
  research:
    owner: carol@research.example
    target: edge
    teams:
      pro: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}
${EXTRA:-}
YAML
}

write_dns_config
golden dns-create.plan "$GETBOT_EDGE" plan
step "dns: apply from nothing" "$GETBOT_EDGE" apply --auto-approve
golden dns-noop.plan "$GETBOT_EDGE" plan

# a new org (a create), a new address (an update), an org removed (a delete)
ADDR6=2001:db8::20 NO_GLOBEX=1 EXTRA="  newco:
    owner: nina@newco.com
    target: srv
    teams:
      t: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}" \
	write_dns_config
golden dns-change.plan "$GETBOT_EDGE" plan

# ---- the golden files themselves ----
stale=""
for f in "$golden_dir"/*; do
	[ -f "$f" ] || continue
	case " $written " in
	*" ${f##*/} "*) ;;
	*) stale="$stale ${f##*/}" ;;
	esac
done
[ -z "$stale" ]; tap_ok $? "every file in tests/golden is a scenario's (stale:$stale)"
leaks=$(grep -l CANARY "$golden_dir"/* 2>/dev/null)
[ -z "$leaks" ]; tap_ok $? "no secret value in a golden file (leaks: $leaks)"

tap_done
