#!/bin/sh
# DNS records for servers kept through a cloudflare target
# (cloudflare.dns.ORG: ORG.DOMAIN -> the server's address) against the
# Cloudflare and Agent Router fakes, with getbot-edge: getbot with the real
# cloudflare and router providers, whose server targets are served by a
# stand-in that wants and sees nothing (tests/edge/getbot-edge.c), so no
# Incus, Docker or Caddy is needed. Apply from nothing (A and AAAA, proxied,
# the "managed by getbot" comment), a no-op re-plan that reads each zone
# once per page, an address change that PATCHes only that record, drift,
# a foreign record of a wanted name that the plan refuses to touch,
# removing an org, a zone change and removing dns (found through the state),
# faults, a zone that cannot hold the names, a DNS-only target whose token
# may not list Workers, and 60 orgs under the rate limit.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
tap_tmpdir
: "${GETBOT_EDGE:=$(dirname "$GETBOT")/tests/edge/getbot-edge}"
T=$tap_tmp

. "$top_srcdir/tests/fakes.sh"
fakes_init

ctl() { # ctl FAKE_URL PATH [JSON]: a control call, its answer on stdout
	if [ $# -eq 3 ]; then
		python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"); print(u.urlopen(r).read().decode())' "$1$2" "$3"
	else
		python3 -c 'import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())' "$1$2"
	fi
}

# expect STATUS DESCRIPTION: tap_ok, with the last run's output on failure
expect() {
	tap_ok "$1" "$2"
	[ "$1" -eq 0 ] || tap_diag "$(cat out err)"
}

# run CMD...: stdout in out, stderr in err, exit in $rc; all kept in all.log
run() {
	rc=0
	"$@" >out 2>err || rc=$?
	cat out err >>all.log
}

export CF_TOKEN="cf-CANARY-token-0001" ROUTER_TOKEN="rt-CANARY-token-0002"
export KEY="sk-ant-CANARY-key-0003"
export GETBOT_CLOUDFLARE_RATE=200 # the limiter is tested at the end
A=0123456789abcdef0123456789abcdef
Z1=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 # example.net: srv, with others' records
Z2=b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 # example.org: srv6
Z3=c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3 # bots.example.org: srv6 later

start_fake cf fake-cloudflare.py --token "$CF_TOKEN" --page-size 4
cf=$url
start_fake router fake-router.py --token "$ROUTER_TOKEN"
router=$url
export GETBOT_CLOUDFLARE_API="$cf/client/v4"
ctl "$cf" /__control/world "{\"zones\": {\"$Z1\": {\"name\": \"example.net\"},
  \"$Z2\": {\"name\": \"example.org\"}, \"$Z3\": {\"name\": \"bots.example.org\"}},
  \"dns_records\": {\"$Z1\": [
    {\"type\": \"A\", \"name\": \"example.net\", \"content\": \"198.51.100.1\"},
    {\"type\": \"A\", \"name\": \"www.bots.example.net\", \"content\": \"198.51.100.2\"},
    {\"type\": \"AAAA\", \"name\": \"www.example.net\", \"content\": \"2001:db8::1\"},
    {\"type\": \"CNAME\", \"name\": \"blog.example.net\", \"content\": \"example.net\"},
    {\"type\": \"MX\", \"name\": \"example.net\", \"content\": \"mail.example.net\"},
    {\"type\": \"TXT\", \"name\": \"example.net\", \"content\": \"v=spf1 -all\"},
    {\"type\": \"TXT\", \"name\": \"acme.bots.example.net\", \"content\": \"a note\"},
    {\"type\": \"A\", \"name\": \"old.bots.example.net\", \"content\": \"198.51.100.3\",
     \"comment\": \"managed by someone\"},
    {\"type\": \"A\", \"name\": \"mail.example.net\", \"content\": \"198.51.100.4\"}]}}" >/dev/null

mkdir -p "$T/runtimes/rt-1" "$T/work"
cp "$top_srcdir/examples/runtimes/openclaw-2026.3.8/worker.js" "$T/runtimes/rt-1/"
export GETBOT_RUNTIME_DIR="$T/runtimes"
cd "$T/work" || exit 99

# Two servers keep their records through the edge target, which also runs
# one bot: acme and globex on srv (IPv4, proxied), initech on srv6 (IPv6).
write_config() {
	dns6="    dns: {target: edge, zone_id: \"${ZONE6:-$Z2}\", address: \"${ADDR6:-2001:DB8:0:0::10}\"}"
	[ -n "${NO_DNS6:-}" ] && dns6=""
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
    dns: {target: edge, zone_id: "${ZONE:-$Z1}", address: "${ADDR:-203.0.113.10}", proxied: ${PROXIED:-true}}
  srv6:
    kind: incus
    connect: local
    domain: bots.example.org
${dns6}
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

clear_log() { ctl "$cf" /__control/log/clear '{}' >/dev/null; }
# check PYTHON: a check with log (the Cloudflare fake's requests), world,
# writes(), recs(zone) (getbot's records of a zone by name), rid(zone, name)
check() {
	ctl "$cf" /__control/log >cf-log.json
	ctl "$cf" /__control/world >cf-world.json
	python3 -c "
import json, re, sys
log = json.load(open('cf-log.json'))
world = json.load(open('cf-world.json'))
Z1, Z2, Z3 = '$Z1', '$Z2', '$Z3'
writes = lambda: [(e['method'], e['path'].replace('/client/v4', '')) for e in log if e['method'] != 'GET']
recs = lambda z: {r['name']: r for r in world['zones'][z]['records'] if r['comment'] == 'managed by getbot'}
others = lambda z: [r for r in world['zones'][z]['records'] if r['comment'] != 'managed by getbot']
rid = lambda z, n: recs(z)[n]['id']
lists = lambda z: [e for e in log if e['method'] == 'GET' and e['path'].endswith('/zones/%s/dns_records' % z)]
$1
"
}
# ok_if NAME PYTHON: one TAP line from a check
ok_if() {
	if check "$2" 2>check.err; then tap_ok 0 "$1"; else
		tap_ok 1 "$1"
		tap_diag "$(tail -3 check.err)"
	fi
}

# --- apply from nothing
write_config
run "$GETBOT_EDGE" plan --detailed-exitcode
[ "$rc" -eq 2 ] && grep -q '^Plan: 8 to add, 0 to change, 0 to replace, 0 to delete.$' out
tap_ok $? "plan from nothing: three records and the edge bot's five resources"
[ "$rc" -eq 2 ] || tap_diag "$(cat err)"
grep -q '^  + cloudflare.dns.acme$' out && grep -q '^  + cloudflare.dns.globex$' out &&
	grep -q '^  + cloudflare.dns.initech$' out &&
	grep -q '^      + name = "initech.bots.example.org"$' out &&
	grep -q '^      + type = "AAAA"$' out &&
	grep -q '^      + content = "2001:db8::10"$' out
tap_ok $? "addresses cloudflare.dns.ORG; an IPv6 address is an AAAA record, in its canonical form"

clear_log
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 8 succeeded, 0 failed, 0 skipped.$' out
tap_ok $? "apply from nothing"
[ "$rc" -eq 0 ]
ok_if "records: A for IPv4 (proxied), AAAA for IPv6 (not proxied), ttl 1, the marker" "
a, g, i = recs(Z1)['acme.bots.example.net'], recs(Z1)['globex.bots.example.net'], recs(Z2)['initech.bots.example.org']
assert (a['type'], a['content'], a['proxied'], a['ttl']) == ('A', '203.0.113.10', True, 1), a
assert (g['type'], g['content'], g['proxied'], g['ttl']) == ('A', '203.0.113.10', True, 1), g
assert (i['type'], i['content'], i['proxied'], i['ttl']) == ('AAAA', '2001:db8::10', False, 1), i
assert len(recs(Z1)) == 2 and len(recs(Z2)) == 1 and not recs(Z3)
"
ok_if "each record is one POST to its zone, with the comment 'managed by getbot'" "
posts = [e for e in log if e['method'] == 'POST' and '/dns_records' in e['path']]
assert sorted(e['path'].split('/')[4] for e in posts) == [Z1, Z1, Z2], posts
assert all(e['body']['comment'] == 'managed by getbot' and e['body']['ttl'] == 1 for e in posts), posts
"
ok_if "the records of others in the zone are untouched" "
assert len(others(Z1)) == 9, others(Z1)
assert not [w for w in writes() if 'dns_records/' in w[1]], writes()
"

# --- no-op
clear_log
run "$GETBOT_EDGE" plan --detailed-exitcode
[ "$rc" -eq 0 ] && grep -q 'No changes' out; tap_ok $? "re-plan after apply: no changes (exit 0)"
ok_if "observation reads each zone once per page (11 records, 4 a page: 3 pages), never one record" "
assert writes() == [], writes()
pages = [e['query'] for e in lists(Z1)]
assert sorted(pages) == ['page=%d&per_page=1000' % p for p in (1, 2, 3)], pages
assert len(lists(Z2)) == 1 and lists(Z3) == [], (lists(Z2), lists(Z3))
assert not [e for e in log if re.search('/dns_records/[0-9a-f]+$', e['path'])]
"

# --- an address change: a PATCH of that record only, no Worker call
ADDR6=2001:db8::20 write_config
run "$GETBOT_EDGE" plan
grep -q 'cloudflare.dns.initech will be updated in place: content changed' out &&
	grep -q '~ content: "2001:db8::10" → "2001:db8::20"' out &&
	grep -q '^Plan: 0 to add, 1 to change, 0 to replace, 0 to delete.$' out
expect $? "a new server address plans an update of its orgs' records"
ctl "$cf" /__control/world >before.json
clear_log
ctl "$cf" /__control/faults '{"faults": [{"method": "PATCH", "path": "/dns_records/", "status": 429, "code": 971, "retry_after": 1}]}' >/dev/null
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 0 ]; tap_ok $? "apply the change (through a 429 with Retry-After)"
[ "$rc" -eq 0 ]
ok_if "the change is one PATCH of that record (same id), nothing else written, no Worker call" "
before = json.load(open('before.json'))
old_id = [r['id'] for r in before['zones'][Z2]['records'] if r['name'] == 'initech.bots.example.org'][0]
w = writes()
assert w == [('PATCH', '/zones/%s/dns_records/%s' % (Z2, old_id))] * 2, w
assert [e['status'] for e in log if e['method'] == 'PATCH'] == [429, 200]
assert not [e for e in log if '/workers/' in e['path'] and e['method'] != 'GET']
assert recs(Z2)['initech.bots.example.org']['content'] == '2001:db8::20'
assert before['zones'][Z1] == world['zones'][Z1], 'the other zone is as it was'
"
export ADDR6=2001:db8::20

# --- proxied off: an update too
PROXIED=false write_config
clear_log
run "$GETBOT_EDGE" apply --auto-approve
ok_if "proxied: false updates srv's two records in place" "
w = writes()
assert sorted(w) == sorted([('PATCH', '/zones/%s/dns_records/%s' % (Z1, rid(Z1, n))) for n in ('acme.bots.example.net', 'globex.bots.example.net')]), w
assert not recs(Z1)['acme.bots.example.net']['proxied']
"
write_config
run "$GETBOT_EDGE" apply --auto-approve
run "$GETBOT_EDGE" plan --detailed-exitcode; tap_ok "$rc" "and back: nothing left to do"

# --- drift: a record changed outside getbot is put back
acme_id=$(check "print(rid(Z1, 'acme.bots.example.net'))")
curl -s -X PATCH -H "Authorization: Bearer $CF_TOKEN" -H 'Content-Type: application/json' \
	-d '{"content": "198.51.100.99"}' "$cf/client/v4/zones/$Z1/dns_records/$acme_id" >/dev/null
run "$GETBOT_EDGE" plan
grep -q 'cloudflare.dns.acme will be updated in place: drift: content changed outside getbot' out
expect $? "a record changed outside getbot is drift"
run "$GETBOT_EDGE" apply --auto-approve
ok_if "and apply puts it back" "assert recs(Z1)['acme.bots.example.net']['content'] == '203.0.113.10'"

# --- a record of the wanted name that getbot did not make
ctl "$cf" /__control/world "{\"dns_records\": {\"$Z1\": [
  {\"type\": \"CNAME\", \"name\": \"newco.bots.example.net\", \"content\": \"elsewhere.example.com\"}]}}" >/dev/null
EXTRA="  newco:
    owner: nina@newco.com
    target: srv
    teams:
      t: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}" write_config
clear_log
run "$GETBOT_EDGE" plan
[ "$rc" -eq 1 ] && grep -q "cloudflare.dns.newco: cannot create the DNS record newco.bots.example.net (A): zone $Z1 already holds a CNAME record of that name that getbot did not make (its comment is not 'managed by getbot'), and getbot never touches it" err
tap_ok $? "a foreign record of the wanted name: the plan says getbot cannot create it, and why (exit 1)"
[ "$rc" -eq 1 ]
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 1 ]; tap_ok $? "apply refuses it too"
ok_if "nothing was written; the foreign record is as it was" "
assert writes() == [], writes()
c = [r for r in others(Z1) if r['name'] == 'newco.bots.example.net']
assert len(c) == 1 and c[0]['type'] == 'CNAME' and c[0]['content'] == 'elsewhere.example.com', c
"
write_config

# --- a DNS-serving target that also runs bots needs its Workers list
ctl "$cf" /__control/faults '{"faults": [{"method": "GET", "path": "/workers/scripts$", "status": 403, "code": 10000, "message": "Authentication error"}]}' >/dev/null
run "$GETBOT_EDGE" plan
[ "$rc" -eq 1 ] && grep -q 'Authentication error' err
tap_ok $? "with a bot on the target, a Workers list refused (403) is an error"
ctl "$cf" /__control/faults '{"faults": []}' >/dev/null

# --- removing an org deletes its record, and nothing else
NO_GLOBEX=1 write_config
run "$GETBOT_EDGE" plan
grep -q 'cloudflare.dns.globex will be deleted: no longer in config' out &&
	grep -q '^Plan: 0 to add, 0 to change, 0 to replace, 1 to delete.$' out
expect $? "removing an org plans the delete of its record"
globex_id=$(check "print(rid(Z1, 'globex.bots.example.net'))")
clear_log
ctl "$cf" /__control/faults '{"faults": [{"method": "DELETE", "path": "/dns_records/", "lost_answer": true}]}' >/dev/null
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 0 ]; expect $? "apply deletes it, though the answer was lost and the retry finds it gone (404 81044)"
ok_if "one DELETE of that record (and its retry); getbot's other records and everyone else's remain" "
assert writes() == [('DELETE', '/zones/%s/dns_records/$globex_id' % Z1)] * 2, writes()
assert [e['status'] for e in log if e['method'] == 'DELETE'] == [200, 404], log
assert sorted(recs(Z1)) == ['acme.bots.example.net'], recs(Z1)
assert len(others(Z1)) == 10
"

# --- a create whose answer was lost is not made twice
ctl "$cf" /__control/faults '{"faults": [{"method": "POST", "path": "/dns_records$", "lost_answer": true}]}' >/dev/null
write_config
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 0 ]; tap_ok $? "a record whose create answer was lost: apply completes"
ok_if "and the record exists once" "
assert len([r for r in world['zones'][Z1]['records'] if r['name'] == 'globex.bots.example.net']) == 1
"
ctl "$cf" /__control/faults '{"faults": [{"method": "GET", "path": "/dns_records$", "after": 1, "status": 503}]}' >/dev/null
run "$GETBOT_EDGE" plan --detailed-exitcode
tap_ok "$rc" "a 5xx in the middle of the pages is retried: no changes"
ctl "$cf" /__control/faults '{"faults": []}' >/dev/null

# --- a new zone: the old record, in a zone the config no longer names, is
# found through the state and replaced
ZONE6=$Z3 write_config
run "$GETBOT_EDGE" plan
grep -q 'cloudflare.dns.initech will be replaced: zone_id changed' out
expect $? "a new zone for a server replaces its records"
clear_log
run "$GETBOT_EDGE" apply --auto-approve
[ "$rc" -eq 0 ]; tap_ok $? "apply the new zone"
ok_if "deleted in the old zone (only the state names it now), made in the new" "
assert [w[0] for w in writes()] == ['DELETE', 'POST'], writes()
assert writes()[0][1].startswith('/zones/%s/dns_records/' % Z2) and writes()[1][1] == '/zones/%s/dns_records' % Z3
assert not recs(Z2) and list(recs(Z3)) == ['initech.bots.example.org']
"
export ZONE6=$Z3

# --- removing dns from a server deletes its records
NO_DNS6=1 write_config
run "$GETBOT_EDGE" plan
grep -q 'cloudflare.dns.initech will be deleted: no longer in config' out
expect $? "removing dns from a server plans the delete of its records"
run "$GETBOT_EDGE" apply --auto-approve
ok_if "which apply carries out" "assert not recs(Z3) and not recs(Z2) and len(recs(Z1)) == 2"
run "$GETBOT_EDGE" plan --detailed-exitcode; tap_ok "$rc" "and nothing is left to do"

# --- zones that cannot serve
NO_DNS6=1 ZONE=$Z3 write_config
run "$GETBOT_EDGE" plan
[ "$rc" -eq 1 ] && grep -q "targets.srv.dns.zone_id: zone $Z3 is 'bots.example.org', which cannot hold the names ORG.bots.example.net" err
expect $? "a zone that cannot hold the server's names is an error that says so"
NO_DNS6=1 ZONE=d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4 write_config
run "$GETBOT_EDGE" plan
[ "$rc" -eq 1 ] && grep -q "GET /client/v4/zones/d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4: HTTP 400: Could not route to /client/v4/zones/d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4, perhaps your object identifier is invalid?" err
expect $? "an unknown zone: Cloudflare's own words"

NO_DNS6=1 ADDR=203.0.113.300 write_config
run "$GETBOT_EDGE" plan
[ "$rc" -eq 1 ] && grep -q "targets.srv.dns.address: '203.0.113.300' is neither an IPv4 nor an IPv6 address" err
expect $? "an address that is no IP address is an error that names it"

# --- canaries
leaks=$(grep -l 'CANARY' all.log .getbot/state.json cf-log.json "$T/cf.log" 2>/dev/null)
[ -z "$leaks" ]; tap_ok $? "no token or key in output, state or the request log (leaks: $leaks)"

# --- 60 orgs on a DNS-only target, under the rate limit: the fake blocks
# above 62 requests in 2 s; 20 requests/s with a burst of 20 stay at 60
start_fake bulk fake-cloudflare.py --token "$CF_TOKEN" --page-size 7 --limit 62 --window 2 --block 20
bulk=$url
start_fake bulkrouter fake-router.py --token "$ROUTER_TOKEN"
bulkrouter=$url
mkdir -p "$T/bulk"
cd "$T/bulk" || exit 99
ctl "$bulk" /__control/world "{\"zones\": {\"$Z1\": {\"name\": \"example.net\"}},
  \"dns_records\": {\"$Z1\": [$(i=1; while [ $i -le 20 ]; do
	printf '{"type": "TXT", "name": "note%d.example.net", "content": "x"}%s' $i "$([ $i -lt 20 ] && echo ,)"
	i=$((i + 1)); done)]}}" >/dev/null
# the token may only edit DNS: Workers, R2 and tokens answer 403
ctl "$bulk" /__control/faults '{"faults": [
  {"method": "GET", "path": "/workers/scripts$", "status": 403, "code": 10000, "message": "Authentication error", "times": -1},
  {"method": "GET", "path": "/r2/buckets$", "status": 403, "code": 10000, "message": "Authentication error", "times": -1},
  {"method": "GET", "path": "/tokens$", "status": 403, "code": 9109, "message": "Unauthorized to access requested resource", "times": -1}]}' >/dev/null
write_bulk() {
	{
		cat <<YAML
version: 1
targets:
  srv:
    kind: incus
    connect: local
    domain: example.net
    dns: {target: dns, zone_id: "$Z1", address: 192.0.2.7}
  dns:
    kind: cloudflare
    account_id: $A
    api_token: {env: CF_TOKEN}
    router: {url: "$bulkrouter", token: {env: ROUTER_TOKEN}}
defaults: {model: anthropic/claude-sonnet-4-5, runtime: rt-1}
orgs:
YAML
		i=1
		while [ $i -le "$1" ]; do
			printf '  o%d:\n    owner: u@o%d.com\n    target: srv\n    teams:\n      t: {api_keys: {anthropic: {env: KEY}}, persona: p, instructions: i}\n' $i $i
			i=$((i + 1))
		done
	} >bots.yaml
}
write_bulk 60
started=$(date +%s)
rc=0
GETBOT_CLOUDFLARE_API="$bulk/client/v4" GETBOT_CLOUDFLARE_RATE=20 \
	"$GETBOT_EDGE" apply --auto-approve >out 2>err || rc=$?
took=$(($(date +%s) - started))
[ "$rc" -eq 0 ] && grep -q '^Apply complete: 60 succeeded, 0 failed, 0 skipped.$' out
expect $? "60 orgs on a target that keeps only DNS, whose token may not list Workers, R2 or tokens (${took}s)"
stats=$(ctl "$bulk" /__control/stats)
echo "$stats" | python3 -c "
import json, sys; s = json.load(sys.stdin)
assert s['blocked'] == 0 and s['rate_limited'] == 0 and s['requests'] >= 66, s"
tap_ok $? "the rate limiter kept DNS calls under the fake's block ($stats)"
cf=$bulk
ok_if "60 records, one per org" "
r = recs(Z1)
assert sorted(r) == sorted('o%d.example.net' % i for i in range(1, 61)), sorted(r)
assert all(x['type'] == 'A' and x['content'] == '192.0.2.7' and not x['proxied'] for x in r.values())
"
clear_log
rc=0
GETBOT_CLOUDFLARE_API="$bulk/client/v4" "$GETBOT_EDGE" plan --detailed-exitcode >out 2>err || rc=$?
tap_ok "$rc" "re-plan of 60 records: no changes"
ok_if "80 records, 7 a page: the zone is read in 12 calls, one per page" "
pages = sorted(int(e['query'].split('&')[0][5:]) for e in lists(Z1))
assert pages == list(range(1, 13)), pages
assert not [e for e in log if re.search('/dns_records/[0-9a-f]+$', e['path'])]
"
o17=$(check "print(rid(Z1, 'o17.example.net'))")
clear_log
python3 - <<'EOF'
import re
s = open('bots.yaml').read()
s = re.sub(r'  o17:\n(    .*\n|      .*\n)*', '', s)
open('bots.yaml', 'w').write(s)
EOF
rc=0
GETBOT_CLOUDFLARE_API="$bulk/client/v4" "$GETBOT_EDGE" apply --auto-approve >out 2>err || rc=$?
ok_if "removing one of 60 orgs deletes its record only" "
assert writes() == [('DELETE', '/zones/%s/dns_records/$o17' % Z1)], writes()
assert len(recs(Z1)) == 59 and 'o17.example.net' not in recs(Z1) and len(others(Z1)) == 20
"

tap_done
