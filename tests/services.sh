# Real services for the self-hosted target's integration tests: Incus 6.0
# (bookworm-backports), Docker inside Incus containers, and Caddy. Source it after
# tests/lib.sh (services_init replaces tap_tmpdir and owns the EXIT trap):
#
#   . "$top_srcdir/tests/lib.sh"
#   . "$top_srcdir/tests/services.sh"
#   services_require incus docker caddy busybox  # else skip (fail under CI)
#   services_init                       # temp dir $svc_tmp, run marker, trap
#   incus_start                         # lock, daemon, pool, default profile
#   incus_test_profile                    # GETBOT_INCUS_TEST_PROFILE
#   incus_import_test_image getbot-test-docker
#   debian_fresh_tarball                # a real Debian 12 image, cached
#   incus_fresh_image getbot-fresh      # it, public, marked; its fingerprint
#   incus_fresh_profile                   # GETBOT_INCUS_FRESH_PROFILE
#   incus_serve_images                  # GETBOT_INCUS_IMAGE_SERVER, _CERT
#   incus_systemd_profile               # GETBOT_INCUS_SYSTEMD_PROFILE
#   incus_systemd_image getbot-test-systemd  # a server that boots systemd
#   incus_systemd_launch NAME [DEVICES] # one, booted, deleted at the end
#   busybox_image_context DIR           # a FROM-scratch bot build context
#   caddy_start                         # GETBOT_CADDY_ADMIN, _HTTP_PORT
#   caddy_start --bare                  # the same, without the getbot server
#   services_on_exit 'getbot destroy ...'  # the test's own teardown
#   getbot_auth_stop AUTH.JSON          # the getbot-auth getbot started
#   incus_track network getbot-br0        # delete it at the end, too
#
# What a test, and the provider it runs, gets (all exported):
#   GETBOT_TEST_RUN            this run's marker, PID-STARTTIME of the test
#   GETBOT_INCUS_SOCKET        Incus's socket, /var/lib/incus/unix.socket
#   INCUS_SOCKET               the same (the provider honours it)
#   GETBOT_INCUS_TEST_PROFILE  a profile the provider adds, after "default",
#                              to the profiles of every container it
#                              creates; unset in production. It carries
#                              everything the test image needs, so the
#                              provider's own config stays what production
#                              uses (security.nesting=true and limits).
#   GETBOT_INCUS_TEST_IMAGE    the alias of the test image, to create
#                              containers from (incus_import_test_image)
#   GETBOT_INCUS_FRESH_IMAGE   the alias of the fresh Debian image
#                              (incus_fresh_image), and
#   GETBOT_INCUS_FRESH_FINGERPRINT  its fingerprint
#   GETBOT_INCUS_FRESH_PROFILE the profile for its containers: only the
#                              run marker (incus_fresh_profile)
#   GETBOT_INCUS_IMAGE_SERVER  https://127.0.0.1:PORT: this Incus serving its
#                              public images (incus_serve_images), for a
#                              target's image: {server:, protocol: incus}
#   GETBOT_INCUS_IMAGE_CERT    that server's certificate, a copy in the
#                              run's temp dir
#   GETBOT_INCUS_SYSTEMD_IMAGE, GETBOT_INCUS_SYSTEMD_PROFILE
#                              the image of a server whose init is
#                              systemd, and the profile its containers
#                              need (incus_systemd_image, _profile)
#   GETBOT_TEST_BOT_CONTEXT    a Docker build context (busybox_image_context)
#                              to build in place of OpenClaw's
#   GETBOT_CADDY_ADMIN         http://127.0.0.1:PORT, Caddy's admin API
#   GETBOT_CADDY_HTTP_PORT     Caddy's plain-HTTP listener on 127.0.0.1; the
#                              server is named "getbot": routes go to
#                              /config/apps/http/servers/getbot/routes
#                              (with --bare there is no server: the port is
#                              free for the caddy provider's server block)
#   GETBOT_CADDY_PID           Caddy's pid, for a test that stops it
#
# The test profile (incus_test_profile), what Docker inside Incus needs here
# (root, cgroup v1, no AppArmor, no systemd):
#   security.nesting=true, security.privileged=true
#   device usr: type=disk source=/usr path=/usr readonly=true
#   raw.lxc: lxc.init.cmd = /etc/getbot-test/init
#            lxc.mount.auto = proc:rw sys:rw cgroup:rw:force
#            lxc.apparmor.profile = unconfined
#            lxc.cgroup.devices.allow = a
#            lxc.cap.drop =
#   user.getbot.test-run=RUN (the marker, seen in expanded_config)
#
# The fresh image (debian_fresh_tarball, incus_fresh_image) is what the
# test image is not: a real Debian 12 as images:debian/12 is, without
# Docker, booting systemd, for getbot to install Docker into. debootstrap
# (minbase; some three minutes here) makes it once: the tarball is cached
# in $GETBOT_TEST_CACHE (/var/cache/getbot-test) under its version, and
# imported per run (about a second). Over minbase (apt, dpkg, libc-bin's
# getent): systemd-sysv, systemd-networkd with DHCP on eth0,
# systemd-resolved (it needs dbus) for DNS, iproute2, ca-certificates, and
# udev: Incus mounts /sys read-write in a container with
# security.nesting=true, and systemd-networkd then leaves every link
# "pending" until udev has seen it (the udev trigger does that). Its apt
# sources are the host's own Debian mirror. Its containers need nothing
# beyond the provider's security.nesting=true, on this host too (cgroup
# v1, unprivileged): systemd runs as PID 1, and the docker.io package's
# dockerd starts with its defaults (iptables included). On the provider's
# bridge, a container resolves Debian's mirror through Incus's dnsmasq
# (which forwards to the host's resolver) and reaches it through the
# bridge's NAT: apt-get needs no repository served here.
#
# Facts the provider must live with on Incus 6.0 (tests/services-smoke.sh
# shows each one):
#   - The host end of a proxy device's unix socket stays on disk after the
#     container stops or is deleted. It does no harm (a new proxy on the
#     same path replaces it), but delete it with the container.
#   - /run/getbot must exist before a proxy device listens in it.
#   - dockerd in the test image runs with --iptables=false: a published
#     port (HostPort 18789) is served by docker-proxy, so the bot answers
#     on the Incus container's address, CONTAINER_IP:18789.
#   - Containers marked user.getbot.managed=true are the provider's: a
#     provider test observes every one on the daemon, which is why Incus
#     tests take a lock (services_lock, in incus_start) and run one at a time.
#   - Deleting a bridge removes the iptables rules Incus made for it (LXD
#     5.0 left them behind); incus_delete_network still removes any left,
#     by their comment, and services-smoke.sh checks none is. A test that
#     lets the provider make getbot-br0 should `incus_track network
#     getbot-br0` so it goes at the end.
#   - No public image server is reachable: images are the local test
#     images, or served by this Incus itself over HTTPS on loopback
#     (incus_serve_images). Incus tries images.linuxcontainers.org at
#     start; incus_start gives it a proxy on a closed loopback port so that
#     fails without a lookup.
#
# Every Incus object a test makes carries the run marker: containers through
# the test profile, networks and profiles in their own config
# (user.getbot.test-run), images in a property (getbot.test-run).
# incus_serve_images changes the server's core.https_address: it is put
# back when the test ends, or by the next incus_start if the test died
# ($GETBOT_TEST_LOCK.https records the run and the old value).
# incus_cleanup_test_objects removes what this run made and what runs no
# longer alive left behind, and never anything else; it runs when Incus is
# started and when the test ends. An object the provider made without
# the marker (its bridge getbot-br0) is deleted at the end if the test
# asked with incus_track. Processes are stopped by pid; the Incus daemon only
# if this test started it. Daemons a test starts itself must not inherit
# the lock's descriptor: start them with 9>&-, or with svc_spawn.
#
# Needs: curl, python3 (JSON), flock (util-linux), tar, gzip.

# Docker and the firewall helpers live in sbin, which a user's PATH may
# lack; Incus itself looks for dnsmasq and iptables there.
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH="$PATH:/usr/sbin:/sbin" ;;
esac
: "${GETBOT_TEST_INCUS_DIR:=/var/lib/incus}"
# one lock per daemon, the same for every test on the machine
: "${GETBOT_TEST_LOCK:=/tmp/getbot-test-incus-$(printf '%s' "$GETBOT_TEST_INCUS_DIR" | cksum | cut -d' ' -f1).lock}"
svc_tmp=""
svc_pids=""
svc_incus_pid=""
svc_locked=0
svc_incus_tracked=""
svc_on_exit=""

# --- basics ------------------------------------------------------------------

# services_skip REASON: skip the whole test, or fail it under CI.
services_skip() {
	if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
		echo "not ok 1 - $1 (GETBOT_TEST_REQUIRE=all)"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

# services_require SERVICE...: incus, docker, caddy, busybox, or any command.
services_require() {
	for svc in curl python3 flock "$@"; do
		case $svc in
		incus) cmds="incus /usr/libexec/incus/incusd" ;;
		docker) cmds="dockerd containerd runc" ;;
		caddy) cmds=caddy ;;
		busybox) cmds=busybox ;;
		*) cmds=$svc ;;
		esac
		for cmd in $cmds; do
			command -v "$cmd" >/dev/null 2>&1 && continue
			[ -x "$cmd" ] && continue
			[ -x "/usr/sbin/$cmd" ] && continue
			services_skip "$cmd is not installed (service $svc)"
		done
		case $svc in
		incus | docker)
			[ "$(id -u)" -eq 0 ] || services_skip "$svc needs root"
			;;
		busybox)
			# the bot image is FROM scratch: busybox must be static
			if ! file_is_static "$(svc_busybox_path)"; then
				services_skip "busybox is not static (install busybox-static)"
			fi
			;;
		esac
	done
}

svc_busybox_path() {
	readlink -f "$(command -v busybox)"
}

# file_is_static FILE: an ELF file without a program interpreter (so it
# runs FROM scratch). Its strings may well mention ld-linux.
file_is_static() {
	[ -f "$1" ] || return 1
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    h = f.read(64)
    if h[:4] != b"\x7fELF" or h[4] != 2:
        sys.exit(1)
    phoff, = struct.unpack_from("<Q", h, 32)
    phentsize, phnum = struct.unpack_from("<HH", h, 54)
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
            sys.exit(1)
PY
}

# services_init: the temp dir, this run's marker, the cleanup trap. The
# temp dirs of runs that died without cleaning up are removed.
services_init() {
	GETBOT_TEST_RUN=$(svc_run_id $$)
	export GETBOT_TEST_RUN
	for svc_dir in "${TMPDIR:-/tmp}"/getbot-services.*-*.*; do
		[ -d "$svc_dir" ] || continue
		svc_run=${svc_dir##*/getbot-services.}
		svc_run_alive "${svc_run%.*}" || rm -rf "$svc_dir"
	done
	svc_tmp=$(mktemp -d "${TMPDIR:-/tmp}/getbot-services.$GETBOT_TEST_RUN.XXXXXX")
	trap services_stop EXIT
	trap 'exit 1' INT TERM HUP
}

# svc_run_id PID: PID-STARTTIME, which names one process for all time.
svc_run_id() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f20)
	echo "$1-$st"
}

# svc_run_alive ID: is the test that made this marker still running?
svc_run_alive() {
	[ "$(svc_run_id "${1%%-*}" 2>/dev/null)" = "$1" ]
}

# svc_wait SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
svc_wait() {
	svc_n=$(($1 * 5))
	shift
	while ! "$@" >/dev/null 2>&1; do
		svc_n=$((svc_n - 1))
		[ "$svc_n" -gt 0 ] || return 1
		sleep 0.2
	done
}

# svc_free_port: a free TCP port on 127.0.0.1.
svc_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json_get EXPR: evaluate a Python expression over the JSON on stdin (as
# `d`); strings print bare, anything else as JSON, None as nothing.
json_get() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
if r is None:
    sys.exit(0)
print(r if isinstance(r, str) else json.dumps(r))
' "$1"
}

# services_lock: one Incus test at a time on this machine. The lock's file
# descriptor (9) must not leak into daemons: every start closes it.
services_lock() {
	[ "$svc_locked" = 1 ] && return 0
	exec 9>>"$GETBOT_TEST_LOCK"
	svc_t0=$(date +%s)
	if ! flock -w "${GETBOT_TEST_LOCK_WAIT:-900}" 9; then
		echo "services: could not take $GETBOT_TEST_LOCK" >&2
		return 1
	fi
	svc_locked=1
	svc_t0=$(($(date +%s) - svc_t0))
	[ "$svc_t0" -lt 2 ] ||
		echo "# waited $svc_t0 s for $GETBOT_TEST_LOCK (another Incus test)"
}

# services_on_exit CMD: run CMD (eval'd) when the test ends, before the
# harness removes its Incus objects and stops its daemons; e.g. the
# provider's own teardown (`getbot destroy ...`). Last added runs first.
services_on_exit() {
	svc_on_exit="$1
$svc_on_exit"
}

# services_logs: the tail of every log the harness keeps, as TAP comments.
services_logs() {
	for log in "$svc_tmp"/*.log; do
		[ -f "$log" ] || continue
		tap_diag "== $log" "$(tail -"${1:-20}" "$log")"
	done
}

# services_stop: remove this run's Incus objects, stop every process the
# harness started (by pid), drop the temp dir. Runs from the EXIT trap.
services_stop() {
	svc_exit=$?
	trap - EXIT
	if [ -n "$svc_on_exit" ]; then
		eval "$svc_on_exit" >/dev/null 2>&1
		svc_on_exit=""
	fi
	# A test may have removed its working directory by now, and a
	# python3 that is a shim (pyenv's) will not start in a removed one:
	# every Incus call below would fail, and leave this run's objects to
	# the next run's cleanup.
	cd /
	if [ -n "$svc_incus_sock_ok" ] && incus_alive; then
		[ -z "$svc_https_changed" ] || incus_https_put_back >/dev/null 2>&1
		for obj in $svc_incus_tracked; do
			incus_delete "$obj" >/dev/null 2>&1
		done
		incus_cleanup_test_objects >/dev/null 2>&1
	fi
	for pid in $svc_pids; do
		kill "$pid" 2>/dev/null
	done
	for pid in $svc_pids; do
		wait "$pid" 2>/dev/null
	done
	svc_pids=""
	if [ -n "$svc_incus_pid" ]; then
		# SIGTERM: Incus exits and leaves nothing of ours running (this
		# run's containers are gone already)
		kill "$svc_incus_pid" 2>/dev/null
		wait "$svc_incus_pid" 2>/dev/null
		svc_incus_pid=""
	fi
	[ -n "$svc_tmp" ] && rm -rf "$svc_tmp"
	svc_tmp=""
	if [ "$svc_locked" = 1 ]; then
		exec 9>&-
		svc_locked=0
	fi
	exit "$svc_exit"
}

# svc_spawn LOG CMD...: start a daemon in the background; its pid in
# $svc_pid. The lock's descriptor is closed for it.
svc_spawn() {
	svc_log=$1
	shift
	"$@" >"$svc_log" 2>&1 9>&- </dev/null &
	svc_pid=$!
}

# --- Incus -----------------------------------------------------------------------

svc_incus_sock_ok=""

# incus_api METHOD PATH [BODY]: one request; the body lands in
# $svc_tmp/incus.json, the HTTP status is printed.
incus_api() {
	if [ $# -ge 3 ]; then
		curl -s --max-time "${svc_incus_timeout:-130}" \
			--unix-socket "$GETBOT_INCUS_SOCKET" -X "$1" \
			-H 'Content-Type: application/json' --data-binary "$3" \
			-o "$svc_tmp/incus.json" -w '%{http_code}' "http://incus$2"
	else
		curl -s --max-time "${svc_incus_timeout:-130}" \
			--unix-socket "$GETBOT_INCUS_SOCKET" -X "$1" \
			-o "$svc_tmp/incus.json" -w '%{http_code}' "http://incus$2"
	fi
}

# incus_call METHOD PATH [BODY]: a request that must succeed; an async one is
# waited for (up to $svc_incus_wait s, 120 by default; $svc_incus_timeout,
# curl's own limit, must exceed it). Prints the metadata (of the operation when
# async) as JSON; on failure prints the error on stderr and returns 1.
incus_call() {
	svc_code=$(incus_api "$@") || svc_code=000
	if [ "$svc_code" = 000 ]; then
		echo "incus: $1 $2: no answer on $GETBOT_INCUS_SOCKET" >&2
		return 1
	fi
	svc_op=$(svc_incus_envelope <"$svc_tmp/incus.json") || {
		echo "incus: $1 $2: $svc_code $svc_op" >&2
		return 1
	}
	case $svc_op in
	async:*) ;;
	*)
		printf '%s\n' "${svc_op#sync:}"
		return 0
		;;
	esac
	svc_code=$(incus_api GET "${svc_op#async:}/wait?timeout=${svc_incus_wait:-120}") ||
		svc_code=000
	svc_op=$(svc_incus_envelope <"$svc_tmp/incus.json") || {
		echo "incus: $1 $2: $svc_op" >&2
		return 1
	}
	# the operation itself, inside a sync envelope
	printf '%s\n' "${svc_op#sync:}" | python3 -c '
import json, sys
op = json.load(sys.stdin)
if op.get("status_code") != 200:
    sys.stderr.write("incus: %s %s: %s\n" % (sys.argv[1], sys.argv[2],
                     op.get("err") or op.get("status")))
    sys.exit(1)
print(json.dumps(op))
' "$1" "$2"
}

# An Incus envelope on stdin: "sync:METADATA-JSON", "async:OPERATION-URL",
# or the error message and status 1 (Incus 5.0 reports a failed operation
# as an error envelope inside HTTP 200).
svc_incus_envelope() {
	python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("not JSON")
    sys.exit(1)
t = d.get("type")
if t == "error":
    print(d.get("error") or "error %s" % d.get("error_code"))
    sys.exit(1)
if t == "async":
    print("async:" + d["operation"])
else:
    print("sync:" + json.dumps(d.get("metadata")))
'
}

# incus_exists PATH: 0 if GET PATH answers 200.
incus_exists() {
	[ "$(incus_api GET "$1")" = 200 ]
}

incus_alive() {
	[ -S "$GETBOT_INCUS_SOCKET" ] &&
		curl -sf --max-time 5 --unix-socket "$GETBOT_INCUS_SOCKET" \
			http://incus/1.0 >/dev/null 2>&1
}

# incus_start: Incus, started here unless one already answers on its socket.
# Preseeds the dir pool "default" and the default profile's root disk,
# and nothing else: the provider makes its own network. Takes the lock.
incus_start() {
	[ -n "$svc_tmp" ] || services_init
	services_lock || return 1
	GETBOT_INCUS_SOCKET="$GETBOT_TEST_INCUS_DIR/unix.socket"
	INCUS_SOCKET=$GETBOT_INCUS_SOCKET
	export GETBOT_INCUS_SOCKET INCUS_SOCKET
	if ! incus_alive; then
		# a crashed daemon leaves its socket behind; Incus replaces a
		# socket nobody answers on, but not a stray non-socket file
		if [ -e "$GETBOT_INCUS_SOCKET" ] && [ ! -S "$GETBOT_INCUS_SOCKET" ]; then
			echo "incus: $GETBOT_INCUS_SOCKET is not a socket" >&2
			return 1
		fi
		mkdir -p "$GETBOT_TEST_INCUS_DIR"
		# No internet: Incus fetches instance types from
		# images.linuxcontainers.org at start. A proxy on a closed
		# loopback port makes that fail at once, without a DNS query.
		svc_spawn "$svc_tmp/incus.log" env INCUS_DIR="$GETBOT_TEST_INCUS_DIR" \
			https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 \
			HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
			no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost \
			/usr/libexec/incus/incusd --group root --logfile "$svc_tmp/incusd.log"
		svc_incus_pid=$svc_pid
		if ! INCUS_DIR="$GETBOT_TEST_INCUS_DIR" incus admin waitready --timeout 60 \
			>>"$svc_tmp/incus.log" 2>&1 ||
			! kill -0 "$svc_incus_pid" 2>/dev/null; then
			echo "incus: the daemon did not start" >&2
			return 1
		fi
	fi
	svc_incus_sock_ok=1
	# what a run that died while serving images left
	incus_https_put_back || return 1
	# The pool and the root disk. `incus admin init --preseed` would also replace
	# the default profile's devices, so it runs only when one is missing.
	profile=$(incus_call GET /1.0/profiles/default) || return 1
	if ! incus_exists /1.0/storage-pools/default ||
		[ -z "$(printf '%s' "$profile" | json_get '(d.get("devices") or {}).get("root")')" ]; then
		svc_pool=""
		incus_exists /1.0/storage-pools/default ||
			svc_pool='storage_pools:
- {name: default, driver: dir}'
		printf '%s\nprofiles:\n- name: default\n  devices:\n    root: {path: /, pool: default, type: disk}\n' \
			"$svc_pool" >"$svc_tmp/preseed.yaml"
		# keep the profile's other devices
		printf '%s' "$profile" | python3 -c '
import json, sys
for name, dev in (json.load(sys.stdin).get("devices") or {}).items():
    if name != "root":
        print("    %s: %s" % (name, json.dumps(dev)))
' >>"$svc_tmp/preseed.yaml"
		INCUS_DIR="$GETBOT_TEST_INCUS_DIR" incus admin init --preseed \
			<"$svc_tmp/preseed.yaml" >>"$svc_tmp/incus.log" 2>&1 || {
			echo "incus: preseed failed" >&2
			return 1
		}
	fi
	incus_cleanup_test_objects
}

# svc_incus_stale_names < OBJECT-LIST-JSON: names (image fingerprints) of
# the objects whose run marker is this run or a run no longer alive.
svc_incus_stale_names() {
	python3 -c '
import json, sys
for o in json.load(sys.stdin) or []:
    cfg = dict(o.get("config") or {})
    cfg.update(o.get("expanded_config") or {})
    cfg.update(o.get("properties") or {})
    run = cfg.get("user.getbot.test-run") or cfg.get("getbot.test-run")
    if run:
        print(o.get("name") or o.get("fingerprint"), run)
' | while read -r name run; do
		if [ "$run" = "$GETBOT_TEST_RUN" ] || ! svc_run_alive "$run"; then
			echo "$name"
		fi
	done
}

# incus_exec NAME CMD...: run CMD in the container (no shell unless CMD is
# one); prints its stdout and stderr, returns its exit status.
incus_exec() {
	svc_ct=$1
	shift
	svc_cmd=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
	svc_op=$(incus_call POST "/1.0/instances/$svc_ct/exec" "{\"command\":$svc_cmd,
		\"record-output\":true,\"wait-for-websocket\":false,
		\"interactive\":false,\"environment\":{}}") || return 1
	svc_ret=$(printf '%s' "$svc_op" | json_get 'd["metadata"]["return"]')
	for svc_log in $(printf '%s' "$svc_op" |
		json_get '" ".join(d["metadata"]["output"][k] for k in ("1", "2"))'); do
		curl -s --unix-socket "$GETBOT_INCUS_SOCKET" "http://incus$svc_log"
		curl -s --unix-socket "$GETBOT_INCUS_SOCKET" -X DELETE \
			"http://incus$svc_log" >/dev/null
	done
	return "${svc_ret:-1}"
}

# incus_instance_ip NAME: its eth0 IPv4 address, once it has one.
incus_instance_ip() {
	incus_call GET "/1.0/instances/$1/state" | json_get '
next((a["address"] for a in ((d.get("network") or {}).get("eth0") or {}).get("addresses", [])
      if a["family"] == "inet"), None)'
}

# docker_wait SOCKET [SECONDS]: until the Docker behind SOCKET (a proxy
# device's host end) answers /_ping; 60 s by default.
docker_wait() {
	svc_wait "${2:-60}" svc_docker_ping "$1"
}
svc_docker_ping() {
	[ "$(curl -s --max-time 5 --unix-socket "$1" http://docker/_ping)" = OK ]
}

# incus_delete_instance NAME: stop (hard) and delete; absent is fine. Incus
# leaves the host end of a proxy device's unix socket behind (after stop
# and delete alike): it is removed here.
incus_delete_instance() {
	incus_exists "/1.0/instances/$1" || return 0
	svc_socks=$(json_get '" ".join(v["listen"][5:]
		for v in (d["metadata"].get("expanded_devices") or {}).values()
		if v.get("type") == "proxy" and v.get("bind", "host") == "host"
		and v.get("listen", "").startswith("unix:"))' <"$svc_tmp/incus.json")
	incus_call PUT "/1.0/instances/$1/state" '{"action":"stop","timeout":0,"force":true}' \
		>/dev/null 2>&1
	incus_call DELETE "/1.0/instances/$1" >/dev/null || return 1
	for svc_sock in $svc_socks; do
		[ -S "$svc_sock" ] && rm -f "$svc_sock"
	done
	return 0
}

# incus_delete_network NAME: absent is fine. Incus's xtables firewall
# driver, on Debian's iptables (the nftables shim), leaves the rules it
# made for a bridge behind when the bridge is deleted (some fifteen per
# bridge, NAT included): they are removed here, by their comment.
incus_delete_network() {
	if incus_exists "/1.0/networks/$1"; then
		incus_call DELETE "/1.0/networks/$1" >/dev/null || return 1
	fi
	incus_firewall_cleanup "$1"
}

# incus_firewall_cleanup NAME: remove the iptables rules Incus generated for
# the bridge NAME, which must not exist any more.
incus_firewall_cleanup() {
	incus_exists "/1.0/networks/$1" && return 1
	for svc_ipt in iptables ip6tables; do
		command -v "$svc_ipt" >/dev/null 2>&1 || continue
		for svc_table in filter nat mangle raw; do
			"$svc_ipt" -t "$svc_table" -S 2>/dev/null |
				grep -F -- "--comment \"generated for Incus network $1\"" |
				sed 's/^-A /-D /' |
				while read -r svc_rule; do
					eval "\"\$svc_ipt\" -t \"\$svc_table\" $svc_rule"
				done
		done
	done
	return 0
}

# incus_track KIND NAME: delete this object when the test ends, marked or
# not (e.g. `incus_track network getbot-br0` after the provider made it).
incus_track() {
	svc_incus_tracked="$svc_incus_tracked $1:$2"
}

# incus_delete KIND:NAME
incus_delete() {
	case $1 in
	instance:*) incus_delete_instance "${1#*:}" ;;
	network:*) incus_delete_network "${1#*:}" ;;
	profile:*) ! incus_exists "/1.0/profiles/${1#*:}" ||
		incus_call DELETE "/1.0/profiles/${1#*:}" >/dev/null ;;
	esac
}

# incus_cleanup_test_objects: delete the instances, networks, profiles and
# images that carry this run's marker or that of a run no longer alive.
# Instances first: a network or profile in use cannot be deleted.
incus_cleanup_test_objects() {
	svc_rc=0
	for name in $(incus_call GET '/1.0/instances?recursion=1' | svc_incus_stale_names); do
		incus_delete_instance "$name" || svc_rc=1
	done
	for name in $(incus_call GET '/1.0/networks?recursion=1' | svc_incus_stale_names); do
		incus_delete_network "$name" || svc_rc=1
	done
	for name in $(incus_call GET '/1.0/profiles?recursion=1' | svc_incus_stale_names); do
		incus_call DELETE "/1.0/profiles/$name" >/dev/null || svc_rc=1
	done
	for fp in $(incus_call GET '/1.0/images?recursion=1' | svc_incus_stale_names); do
		incus_call DELETE "/1.0/images/$fp" >/dev/null || svc_rc=1
	done
	return $svc_rc
}

# incus_test_profile: the profile the test image needs, named
# getbot-test-RUN and exported as GETBOT_INCUS_TEST_PROFILE. The provider
# adds it to the profiles of every container it creates (after
# "default"). It carries the run marker, so the containers do too. Only
# for the test image: production containers need just security.nesting.
incus_test_profile() {
	GETBOT_INCUS_TEST_PROFILE="getbot-test-$GETBOT_TEST_RUN"
	export GETBOT_INCUS_TEST_PROFILE
	svc_profile=$(cat <<EOF
{"config": {
   "user.getbot.test-run": "$GETBOT_TEST_RUN",
   "security.nesting": "true",
   "security.privileged": "true",
   "raw.lxc": "lxc.init.cmd = /etc/getbot-test/init\nlxc.mount.auto = proc:rw sys:rw cgroup:rw:force\nlxc.apparmor.profile = unconfined\nlxc.cgroup.devices.allow = a\nlxc.cap.drop =\n"},
 "description": "getbot tests: the host's /usr and dockerd inside (test image only)",
 "devices": {"usr": {"type": "disk", "source": "/usr", "path": "/usr", "readonly": "true"}}}
EOF
)
	if incus_exists "/1.0/profiles/$GETBOT_INCUS_TEST_PROFILE"; then
		incus_call PUT "/1.0/profiles/$GETBOT_INCUS_TEST_PROFILE" "$svc_profile" >/dev/null
	else
		incus_call POST /1.0/profiles "$(printf '%s' "$svc_profile" |
			python3 -c 'import json, sys; d = json.load(sys.stdin); d["name"] = sys.argv[1]; print(json.dumps(d))' \
				"$GETBOT_INCUS_TEST_PROFILE")" >/dev/null
	fi
}

# The test image's version: bump it when the rootfs below changes. The
# image also depends on the host's /etc files it copies (a stale
# ld.so.cache would hide libraries installed since), so their checksum is
# part of the version, and an image of another version is replaced.
svc_image_version=2
svc_image_version() {
	printf '%s-%s\n' "$svc_image_version" "$(
		{ cat /etc/passwd /etc/group /etc/nsswitch.conf /etc/ld.so.cache 2>/dev/null
		  ls -l /etc/alternatives; } | cksum | cut -d' ' -f1)"
}

# incus_import_test_image ALIAS: the Docker-in-Incus test image. Its rootfs is
# links into the host's /usr (bind-mounted read-only by the test profile;
# Debian 12 has a merged /usr), a few files of /etc, and an init script
# that brings up eth0 by DHCP (busybox udhcpc, started again on a new
# eth0 when Incus re-plugs the NIC) and runs dockerd with
# --iptables=false. Skips the import when ALIAS has this version already.
# Exports GETBOT_INCUS_TEST_IMAGE=ALIAS: the image the provider creates
# its containers from in tests.
incus_import_test_image() {
	[ -n "$svc_tmp" ] || services_init
	svc_alias=$1
	GETBOT_INCUS_TEST_IMAGE=$svc_alias
	export GETBOT_INCUS_TEST_IMAGE
	svc_version=$(svc_image_version)
	if incus_exists "/1.0/images/aliases/$svc_alias"; then
		fp=$(incus_call GET "/1.0/images/aliases/$svc_alias" | json_get 'd["target"]')
		have=$(incus_call GET "/1.0/images/$fp" | json_get 'd["properties"].get("getbot.test-image")')
		[ "$have" = "$svc_version" ] && return 0
		incus_call DELETE "/1.0/images/$fp" >/dev/null || return 1
	fi
	img="$svc_tmp/image"
	rm -rf "$img"
	r="$img/rootfs"
	mkdir -p "$r/usr" "$r/etc/getbot-test" "$r/var/lib" "$r/var/log" \
		"$r/run" "$r/tmp" "$r/proc" "$r/sys" "$r/dev" "$r/root" "$r/mnt"
	chmod 1777 "$r/tmp"
	ln -s usr/bin "$r/bin"
	ln -s usr/lib "$r/lib"
	ln -s usr/lib64 "$r/lib64"
	ln -s usr/sbin "$r/sbin"
	ln -s ../run "$r/var/run"
	cp /etc/passwd /etc/group /etc/nsswitch.conf "$r/etc/"
	[ -f /etc/ld.so.cache ] && cp /etc/ld.so.cache "$r/etc/"
	cp -a /etc/alternatives "$r/etc/"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
	: >"$r/etc/resolv.conf"
	cat >"$r/etc/getbot-test/init" <<'EOF'
#!/bin/sh
# getbot test image: PID 1. eth0 by DHCP, then dockerd, restarted if it
# dies; a clean stop on SIGPWR (Incus's stop) or SIGTERM.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/docker /var/lib/docker /var/log
ip link set lo up
dhcp() {
	busybox udhcpc -b -R -i eth0 -s /etc/getbot-test/udhcpc \
		-p /run/udhcpc.pid >>/var/log/udhcpc.log 2>&1
}
dhcp
# A NIC that Incus re-plugs (a device changed) is a new eth0, which
# udhcpc does not follow: start it again then, as systemd-networkd does.
(
	seen=$(cat /sys/class/net/eth0/ifindex 2>/dev/null)
	while sleep 1; do
		now=$(cat /sys/class/net/eth0/ifindex 2>/dev/null)
		[ -n "$now" ] && [ "$now" != "$seen" ] || continue
		seen=$now
		kill "$(cat /run/udhcpc.pid)" 2>/dev/null
		dhcp
	done
) &
wpid=$!
dpid=""
stop() {
	kill "$wpid" 2>/dev/null
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid"
	[ -f /run/udhcpc.pid ] && kill "$(cat /run/udhcpc.pid)" 2>/dev/null
	exit 0
}
trap stop PWR TERM INT
while :; do
	dockerd --host unix:///var/run/docker.sock --iptables=false \
		>>/var/log/dockerd.log 2>&1 &
	dpid=$!
	wait "$dpid"
	echo "init: dockerd exited ($?), restarting" >>/var/log/dockerd.log
	sleep 1
done
EOF
	cat >"$r/etc/getbot-test/udhcpc" <<'EOF'
#!/bin/sh
# udhcpc's hook: apply the lease with iproute2.
case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do
		ip route replace default via "$r" dev "$interface"
		break
	done
	: >/etc/resolv.conf
	for s in $dns; do
		echo "nameserver $s" >>/etc/resolv.conf
	done
	;;
esac
exit 0
EOF
	chmod 0755 "$r/etc/getbot-test/init" "$r/etc/getbot-test/udhcpc"
	cat >"$img/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: getbot test image (host /usr, dockerd inside)
  os: debian
  release: host
  getbot.test-image: "$svc_version"
EOF
	tar -C "$img" -czf "$img/metadata.tar.gz" metadata.yaml &&
		tar -C "$r" --numeric-owner -czf "$img/rootfs.tar.gz" . &&
		INCUS_DIR="$GETBOT_TEST_INCUS_DIR" incus image import \
			"$img/metadata.tar.gz" "$img/rootfs.tar.gz" --alias "$svc_alias" \
			>>"$svc_tmp/incus.log" 2>&1
}

# --- a fresh Debian image, served over HTTPS -------------------------------------

# The fresh image's version: bump it when what debootstrap installs, or
# what is written over its rootfs, changes. It names the cached tarball.
svc_fresh_version=1
: "${GETBOT_TEST_CACHE:=/var/cache/getbot-test}"
svc_https_state="$GETBOT_TEST_LOCK.https"
svc_https_changed=""

# svc_debian_mirror: the URI of the host's own Debian bookworm entry in
# its apt sources (deb822 or one-line), so no mirror is written here.
svc_debian_mirror() {
	python3 - /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list <<'PY'
import re, sys
for path in sys.argv[1:]:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            f = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                k, v = line.split(":", 1)
                f[k.strip().lower()] = v.strip()
            if f.get("enabled", "yes") != "no" and \
                    "deb" in f.get("types", "").split() and \
                    "bookworm" in f.get("suites", "").split():
                print(f["uris"].split()[0])
                sys.exit(0)
    else:
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line + " ")
            if m:
                print(m.group(2))
                sys.exit(0)
sys.exit(1)
PY
}

# debian_fresh_tarball: print the path of the fresh image, a unified Incus
# image tarball (metadata.yaml, templates/, rootfs/) cached in
# $GETBOT_TEST_CACHE under its version; made with debootstrap when missing.
# Needs no Incus and does not take the Incus lock: call it before
# incus_start, so that other Incus tests do not wait for debootstrap. A
# lock of its own keeps two runs from making it at once.
debian_fresh_tarball() {
	svc_fresh="$GETBOT_TEST_CACHE/debian-12-fresh-v$svc_fresh_version-$(uname -m).tar.gz"
	mkdir -p "$GETBOT_TEST_CACHE" || return 1
	(
		exec 9>&- 8>>"$GETBOT_TEST_CACHE/.lock"
		if ! flock -w 900 8; then
			echo "fresh image: could not take $GETBOT_TEST_CACHE/.lock" >&2
			exit 1
		fi
		[ -s "$svc_fresh" ] && exit 0
		# what a build that was killed left (the lock is ours); not
		# across a /proc that debootstrap may have left mounted there
		rm -rf --one-file-system "$GETBOT_TEST_CACHE"/build.* "$GETBOT_TEST_CACHE"/*.part
		svc_mirror=$(svc_debian_mirror) || {
			echo "fresh image: no Debian bookworm entry in the apt sources" >&2
			exit 1
		}
		svc_work=$(mktemp -d "$GETBOT_TEST_CACHE/build.XXXXXX") || exit 1
		trap 'rm -rf --one-file-system "$svc_work"' EXIT
		trap 'exit 1' INT TERM HUP
		r="$svc_work/rootfs"
		svc_t0=$(date +%s)
		if ! debootstrap --variant=minbase \
			--include=systemd-sysv,udev,dbus,systemd-resolved,iproute2,ca-certificates \
			bookworm "$r" "$svc_mirror" >"$svc_work/debootstrap.log" 2>&1; then
			echo "fresh image: debootstrap failed:" >&2
			tail -20 "$svc_work/debootstrap.log" >&2
			exit 1
		fi
		echo "# debootstrap took $(($(date +%s) - svc_t0)) s"
		if [ -e "$r/usr/bin/dockerd" ] || [ -e "$r/usr/sbin/dockerd" ]; then
			echo "fresh image: dockerd is in the rootfs" >&2
			exit 1
		fi
		mkdir -p "$r/etc/systemd/network" "$svc_work/templates"
		printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' \
			>"$r/etc/systemd/network/eth0.network"
		systemctl --root="$r" enable systemd-networkd.service \
			systemd-resolved.service >/dev/null 2>&1 || exit 1
		printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' \
			>"$r/etc/hosts"
		: >"$r/etc/machine-id"
		rm -f "$r/var/lib/dbus/machine-id"
		rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/cache/apt/"*.bin \
			"$r/var/lib/apt/lists/"* \
			"$r/debootstrap"
		echo '{{ container.name }}' >"$svc_work/templates/hostname.tpl"
		cat >"$svc_work/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: Debian 12 (debootstrap minbase with systemd), without Docker
  os: debian
  release: bookworm
  variant: getbot-fresh
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
EOF
		tar -C "$svc_work" --numeric-owner -czf "$svc_fresh.part" \
			metadata.yaml templates rootfs &&
			mv "$svc_fresh.part" "$svc_fresh"
	) >&2 || return 1
	printf '%s\n' "$svc_fresh"
}

# incus_fresh_image ALIAS: the fresh image (debian_fresh_tarball), imported
# as a PUBLIC image with the alias ALIAS and the run marker, so it goes
# when the test ends; an image of the same version under ALIAS is reused.
# Exports GETBOT_INCUS_FRESH_IMAGE=ALIAS and its fingerprint,
# GETBOT_INCUS_FRESH_FINGERPRINT.
incus_fresh_image() {
	svc_alias=$1
	svc_fresh=$(debian_fresh_tarball) || return 1
	GETBOT_INCUS_FRESH_IMAGE=$svc_alias
	export GETBOT_INCUS_FRESH_IMAGE
	if incus_exists "/1.0/images/aliases/$svc_alias"; then
		fp=$(incus_call GET "/1.0/images/aliases/$svc_alias" | json_get 'd["target"]')
		have=$(incus_call GET "/1.0/images/$fp" |
			json_get 'd["properties"].get("getbot.test-image") if d["public"] else None')
		if [ "$have" = "fresh-$svc_fresh_version" ]; then
			GETBOT_INCUS_FRESH_FINGERPRINT=$fp
			export GETBOT_INCUS_FRESH_FINGERPRINT
			return 0
		fi
		incus_call DELETE "/1.0/images/$fp" >/dev/null || return 1
	fi
	INCUS_DIR="$GETBOT_TEST_INCUS_DIR" incus image import "$svc_fresh" \
		--public --alias "$svc_alias" \
		"getbot.test-image=fresh-$svc_fresh_version" \
		"getbot.test-run=$GETBOT_TEST_RUN" >>"$svc_tmp/incus.log" 2>&1 || {
		echo "incus: importing $svc_fresh failed" >&2
		return 1
	}
	GETBOT_INCUS_FRESH_FINGERPRINT=$(incus_call GET "/1.0/images/aliases/$svc_alias" |
		json_get 'd["target"]') || return 1
	export GETBOT_INCUS_FRESH_FINGERPRINT
}

# incus_fresh_profile: what a container of the fresh image needs here
# beyond the provider's own config, as the profile getbot-fresh-RUN,
# exported as GETBOT_INCUS_FRESH_PROFILE (a test names it in its target's
# profiles). It carries the run marker, so the containers do too. Not
# incus_test_profile's: that one binds the host's /usr over the image's.
incus_fresh_profile() {
	GETBOT_INCUS_FRESH_PROFILE="getbot-fresh-$GETBOT_TEST_RUN"
	export GETBOT_INCUS_FRESH_PROFILE
	svc_profile=$(cat <<EOF
{"config": {
   "user.getbot.test-run": "$GETBOT_TEST_RUN"},
 "description": "getbot tests: a fresh Debian 12 container, Docker installed by getbot"}
EOF
)
	if incus_exists "/1.0/profiles/$GETBOT_INCUS_FRESH_PROFILE"; then
		incus_call PUT "/1.0/profiles/$GETBOT_INCUS_FRESH_PROFILE" "$svc_profile" >/dev/null
	else
		incus_call POST /1.0/profiles "$(printf '%s' "$svc_profile" |
			python3 -c 'import json, sys; d = json.load(sys.stdin); d["name"] = sys.argv[1]; print(json.dumps(d))' \
				"$GETBOT_INCUS_FRESH_PROFILE")" >/dev/null
	fi
}

# incus_serve_images: this Incus serves its public images over HTTPS on a
# free loopback port, as an image server does, until the test ends.
# Exports GETBOT_INCUS_IMAGE_SERVER (https://127.0.0.1:PORT) and
# GETBOT_INCUS_IMAGE_CERT (a copy of the server's certificate in the
# run's temp dir).
incus_serve_images() {
	svc_old=$(incus_call GET /1.0 | json_get 'd["config"].get("core.https_address")') ||
		return 1
	svc_port=$(svc_free_port)
	# written first: a run that dies from here on is undone by the next
	if [ ! -f "$svc_https_state" ]; then
		printf '%s %s\n' "$GETBOT_TEST_RUN" "$svc_old" >"$svc_https_state" ||
			return 1
	fi
	svc_https_changed=1
	incus_call PATCH /1.0 "{\"config\":{\"core.https_address\":\"127.0.0.1:$svc_port\"}}" \
		>/dev/null || return 1
	cp "$GETBOT_TEST_INCUS_DIR/server.crt" "$svc_tmp/image-server.crt" || return 1
	GETBOT_INCUS_IMAGE_SERVER="https://127.0.0.1:$svc_port"
	GETBOT_INCUS_IMAGE_CERT="$svc_tmp/image-server.crt"
	export GETBOT_INCUS_IMAGE_SERVER GETBOT_INCUS_IMAGE_CERT
	svc_wait 10 curl -sf --cacert "$GETBOT_INCUS_IMAGE_CERT" \
		"$GETBOT_INCUS_IMAGE_SERVER/1.0" || {
		echo "incus: nothing answers on $GETBOT_INCUS_IMAGE_SERVER" >&2
		return 1
	}
}

# incus_https_put_back: core.https_address as it was before
# incus_serve_images, when this run changed it or the run that did is no
# longer alive (its state file, $GETBOT_TEST_LOCK.https, says which, and
# what the value was). Runs in incus_start and when the test ends.
incus_https_put_back() {
	[ -f "$svc_https_state" ] || return 0
	read -r svc_run svc_old <"$svc_https_state"
	if [ "$svc_run" = "$GETBOT_TEST_RUN" ] || ! svc_run_alive "$svc_run"; then
		incus_call PATCH /1.0 "{\"config\":{\"core.https_address\":\"${svc_old:-}\"}}" \
			>/dev/null || return 1
		rm -f "$svc_https_state"
	fi
	svc_https_changed=""
}

# --- systemd in Incus ----------------------------------------------------------

# incus_systemd_profile: the profile of the systemd image's containers,
# named getbot-systemd-RUN and exported as GETBOT_INCUS_SYSTEMD_PROFILE.
# systemd as PID 1 needs little more here than the image itself: the
# container stays unprivileged, with Incus's own defaults (its /proc, a
# read-only /sys/fs/cgroup with a writable name=systemd hierarchy of its
# own on this cgroup-v1 host), and
#   device usr: the host's /usr, read-only (the rootfs is links into it),
#               shift=true: an idmapped mount, so root owns it inside
#               (unshifted, all of it would be nobody's)
#   raw.lxc: lxc.init.cmd = /usr/lib/systemd/systemd
#               the host's systemd, as /sbin/init is only where
#               systemd-sysv is installed
#            lxc.mount.auto = sys:mixed
#               /sys read-only but for the network devices, as systemd
#               expects of a container without udev (the host has none
#               to lend): with /sys writable, systemd-networkd waits
#               for udev to announce each link, for ever
#   user.getbot.test-run=RUN (the marker, seen in expanded_config)
incus_systemd_profile() {
	GETBOT_INCUS_SYSTEMD_PROFILE="getbot-systemd-$GETBOT_TEST_RUN"
	export GETBOT_INCUS_SYSTEMD_PROFILE
	svc_profile=$(cat <<EOF
{"config": {"user.getbot.test-run": "$GETBOT_TEST_RUN",
            "raw.lxc": "lxc.init.cmd = /usr/lib/systemd/systemd\\nlxc.mount.auto = sys:mixed\\n"},
 "description": "getbot tests: systemd as init over the host's /usr (test image only)",
 "devices": {"usr": {"type": "disk", "source": "/usr", "path": "/usr", "readonly": "true",
                     "shift": "true"}}}
EOF
)
	if incus_exists "/1.0/profiles/$GETBOT_INCUS_SYSTEMD_PROFILE"; then
		incus_call PUT "/1.0/profiles/$GETBOT_INCUS_SYSTEMD_PROFILE" "$svc_profile" >/dev/null
	else
		incus_call POST /1.0/profiles "$(printf '%s' "$svc_profile" |
			python3 -c 'import json, sys; d = json.load(sys.stdin); d["name"] = sys.argv[1]; print(json.dumps(d))' \
				"$GETBOT_INCUS_SYSTEMD_PROFILE")" >/dev/null
	fi
}

# The systemd image's version: bump it when its rootfs below changes (the
# host's /etc files it copies count too, as for the test image).
svc_systemd_image_version=1

# incus_systemd_image ALIAS: a server that boots systemd. Like the test
# image, links into the host's /usr and a few files of /etc; its init is
# the host's systemd (the profile says so), which finds in /etc what it
# needs to boot a container cleanly:
#   machine-id      empty: systemd makes one at boot
#   os-release      the host's (a link into /usr)
#   default.target  multi-user.target; nothing else is enabled but
#                   systemd-networkd (and its socket), which takes any
#                   Ethernet link by DHCP, so a NIC hot-plugged later
#                   gets an address as on a real server
# No unit needs masking: those that cannot work in a container say so
# with conditions (ConditionVirtualization, read-only /sys). Skips the
# import when ALIAS has this version already. Exports
# GETBOT_INCUS_SYSTEMD_IMAGE=ALIAS.
incus_systemd_image() {
	[ -n "$svc_tmp" ] || services_init
	svc_alias=$1
	GETBOT_INCUS_SYSTEMD_IMAGE=$svc_alias
	export GETBOT_INCUS_SYSTEMD_IMAGE
	svc_version="systemd-$svc_systemd_image_version-$(svc_image_version)"
	if incus_exists "/1.0/images/aliases/$svc_alias"; then
		fp=$(incus_call GET "/1.0/images/aliases/$svc_alias" | json_get 'd["target"]')
		have=$(incus_call GET "/1.0/images/$fp" | json_get 'd["properties"].get("getbot.test-image")')
		[ "$have" = "$svc_version" ] && return 0
		incus_call DELETE "/1.0/images/$fp" >/dev/null || return 1
	fi
	img="$svc_tmp/image-systemd"
	rm -rf "$img"
	r="$img/rootfs"
	svc_units=/usr/lib/systemd/system
	mkdir -p "$r/usr" "$r/etc/systemd/network" \
		"$r/etc/systemd/system/multi-user.target.wants" \
		"$r/etc/systemd/system/sockets.target.wants" \
		"$r/var/lib" "$r/var/log" "$r/var/tmp" "$r/run" "$r/tmp" \
		"$r/proc" "$r/sys" "$r/dev" "$r/root" "$r/mnt" "$r/srv" "$r/opt"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 0700 "$r/root"
	ln -s usr/bin "$r/bin"
	ln -s usr/lib "$r/lib"
	ln -s usr/lib64 "$r/lib64"
	ln -s usr/sbin "$r/sbin"
	ln -s ../run "$r/var/run"
	cp /etc/passwd /etc/group /etc/nsswitch.conf "$r/etc/"
	[ -f /etc/ld.so.cache ] && cp /etc/ld.so.cache "$r/etc/"
	cp -a /etc/alternatives "$r/etc/"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
	: >"$r/etc/resolv.conf"
	: >"$r/etc/machine-id"
	ln -s ../usr/lib/os-release "$r/etc/os-release"
	ln -s "$svc_units/multi-user.target" "$r/etc/systemd/system/default.target"
	ln -s "$svc_units/systemd-networkd.service" \
		"$r/etc/systemd/system/multi-user.target.wants/"
	ln -s "$svc_units/systemd-networkd.socket" \
		"$r/etc/systemd/system/sockets.target.wants/"
	cat >"$r/etc/systemd/network/80-getbot-test.network" <<'EOF'
# getbot's systemd test image: every Incus NIC by DHCP, IPv4 only. By
# type: a NIC hot-plugged comes in under its host name, renamed after.
[Match]
Type=ether

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
	cat >"$img/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: getbot test image (host /usr, systemd as init)
  os: debian
  release: host
  getbot.test-image: "$svc_version"
EOF
	tar -C "$img" -czf "$img/metadata.tar.gz" metadata.yaml &&
		tar -C "$r" --numeric-owner -czf "$img/rootfs.tar.gz" . &&
		INCUS_DIR="$GETBOT_TEST_INCUS_DIR" incus image import \
			"$img/metadata.tar.gz" "$img/rootfs.tar.gz" --alias "$svc_alias" \
			>>"$svc_tmp/incus.log" 2>&1
}

# incus_systemd_launch NAME [DEVICES-JSON]: a container of the systemd
# image (incus_systemd_image, incus_systemd_profile) with these devices
# of its own, started, and deleted when the test ends; returns once
# systemd says the system is up (incus_systemd_wait).
incus_systemd_launch() {
	svc_devices=${2:-"{}"}
	incus_track instance "$1"
	incus_call POST /1.0/instances "{\"name\": \"$1\", \"type\": \"container\",
		\"source\": {\"type\": \"image\", \"alias\": \"$GETBOT_INCUS_SYSTEMD_IMAGE\"},
		\"profiles\": [\"default\", \"$GETBOT_INCUS_SYSTEMD_PROFILE\"],
		\"devices\": $svc_devices}" >/dev/null &&
		incus_call PUT "/1.0/instances/$1/state" \
			'{"action": "start", "timeout": 30}' >/dev/null &&
		incus_systemd_wait "$1"
}

# incus_systemd_wait NAME [SECONDS]: until `systemctl is-system-running`
# in NAME says running (or degraded: a unit failed, which the caller may
# look into); 60 s by default. Prints the failed units if it gives up.
incus_systemd_wait() {
	if svc_wait "${2:-60}" svc_systemd_up "$1"; then
		return 0
	fi
	echo "systemd in $1: $(incus_exec "$1" systemctl is-system-running)" >&2
	incus_exec "$1" systemctl --failed --no-pager >&2
	return 1
}
svc_systemd_up() {
	case $(incus_exec "$1" systemctl is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}

# --- Docker --------------------------------------------------------------------

# busybox_image_context DIR: a Docker build context for a stand-in bot,
# FROM scratch with a static busybox (no registry is reachable). It
# serves HTTP on 18789 as UID 1000: /healthz, and /cgi-bin/env, which
# lists the names (never the values) of its environment variables.
# /home/node/.openclaw belongs to UID 1000, so a new named volume mounted
# there (openclaw-config) is 1000's too, as with OpenClaw's image. The
# image's HEALTHCHECK polls /healthz every second; /bin/sh and wget are
# busybox's, for a health check the provider sets itself. Exports
# GETBOT_TEST_BOT_CONTEXT=DIR: the build context the provider uses in
# place of OpenClaw's in tests.
busybox_image_context() {
	GETBOT_TEST_BOT_CONTEXT=$1
	export GETBOT_TEST_BOT_CONTEXT
	mkdir -p "$1/www/cgi-bin" || return 1
	cp "$(svc_busybox_path)" "$1/busybox" || return 1
	echo ok >"$1/www/healthz"
	echo 'getbot test bot' >"$1/www/index.html"
	cat >"$1/www/cgi-bin/env" <<'EOF'
#!/bin/busybox sh
printf 'Content-Type: text/plain\r\n\r\n'
/bin/busybox env | /bin/busybox sed 's/=.*//' | /bin/busybox sort
EOF
	chmod 0755 "$1/www/cgi-bin/env"
	cat >"$1/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY www /www
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/home/node/.openclaw"]
RUN ["/bin/busybox", "chown", "-R", "1000:1000", "/home/node"]
USER 1000:1000
EXPOSE 18789
HEALTHCHECK --interval=1s --timeout=3s --retries=3 \
  CMD ["/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:18789/healthz"]
CMD ["/bin/busybox", "httpd", "-f", "-p", "18789", "-h", "/www"]
EOF
}

# --- getbot-auth ----------------------------------------------------------------

# getbot_auth_stop AUTH.JSON: stop the getbot-auth that getbot's auth
# provider started (no systemd here: a daemon with getbot-auth.pid beside
# auth.json) for that config, if it runs. By its pid, checked against its
# command line; every test whose config has a server target calls this at
# the end, with the auth.config its target names.
getbot_auth_stop() {
	svc_auth_pid=$(cut -d' ' -f1 "$(dirname "$1")/getbot-auth.pid" 2>/dev/null)
	[ -n "$svc_auth_pid" ] || return 0
	tr '\0' ' ' <"/proc/$svc_auth_pid/cmdline" 2>/dev/null |
		grep -q "getbot-auth --config $1\( \|\$\)" || return 0
	kill "$svc_auth_pid" 2>/dev/null
	svc_wait 10 svc_auth_gone "$svc_auth_pid" "$1"
}
svc_auth_gone() {
	! tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q "getbot-auth --config $2"
}

# --- Caddy ---------------------------------------------------------------------

# caddy_start [--bare]: Caddy with its admin API and one plain-HTTP server
# named "getbot" (no routes) on free loopback ports. Exports
# GETBOT_CADDY_ADMIN (http://127.0.0.1:PORT), GETBOT_CADDY_HTTP_PORT (the
# port for getbot's server) and GETBOT_CADDY_PID. With --bare, Caddy has
# its admin block and nothing else (no apps): for the caddy provider to
# make the server block itself.
caddy_start() {
	[ -n "$svc_tmp" ] || services_init
	svc_http_port=$(svc_free_port)
	svc_admin_port=$(svc_free_port)
	while [ "$svc_admin_port" = "$svc_http_port" ]; do
		svc_admin_port=$(svc_free_port)
	done
	mkdir -p "$svc_tmp/caddy-data" "$svc_tmp/caddy-config"
	if [ "${1:-}" = --bare ]; then
		cat >"$svc_tmp/caddy.json" <<EOF
{
  "admin": {"listen": "127.0.0.1:$svc_admin_port"},
  "logging": {"logs": {"default": {"level": "ERROR"}}}
}
EOF
	else
		cat >"$svc_tmp/caddy.json" <<EOF
{
  "admin": {"listen": "127.0.0.1:$svc_admin_port"},
  "logging": {"logs": {"default": {"level": "ERROR"}}},
  "apps": {"http": {"servers": {"getbot": {
    "listen": ["127.0.0.1:$svc_http_port"],
    "automatic_https": {"disable": true},
    "routes": []
  }}}}
}
EOF
	fi
	svc_spawn "$svc_tmp/caddy.log" env XDG_DATA_HOME="$svc_tmp/caddy-data" \
		XDG_CONFIG_HOME="$svc_tmp/caddy-config" \
		caddy run --config "$svc_tmp/caddy.json"
	svc_pids="$svc_pids $svc_pid"
	GETBOT_CADDY_ADMIN="http://127.0.0.1:$svc_admin_port"
	GETBOT_CADDY_HTTP_PORT=$svc_http_port
	GETBOT_CADDY_PID=$svc_pid
	export GETBOT_CADDY_ADMIN GETBOT_CADDY_HTTP_PORT GETBOT_CADDY_PID
	svc_wait 20 curl -sf "$GETBOT_CADDY_ADMIN/config/" || {
		echo "caddy: the admin API did not answer" >&2
		return 1
	}
}
