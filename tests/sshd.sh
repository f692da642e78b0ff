# A throwaway OpenSSH sshd on a free loopback port, for the ssh
# connection's tests. Source it after tests/lib.sh:
#
#   . "$top_srcdir/tests/sshd.sh"
#   sshd_require          # no sshd, or not root: skip (fail under
#                         # GETBOT_TEST_REQUIRE=all)
#   sshd_start DIR        # keys, config and the daemon, all under DIR
#   sshd_start_isolated T # sshd_start T/sshd, or bail out; then HOME is T/home
#                         # and no agent or passphrase of the user's is seen
#   trap 'sshd_stop; rm -rf DIR' EXIT
#   sshd_kill             # sshd and every connection's process die
#                         # at once: a server that dies mid-operation
#   sshd_restart_with_new_host_key   # the same port, another host key
#   sshd_restart_with_host_key FILE  # the same port, only that host key
#   sshd_stop             # stop it (by pid) and wait for it
#
# What sshd_start leaves (exported, for the tests and the programs they run):
#   SSHD_PORT          the port on 127.0.0.1
#   SSHD_PID           sshd's pid (sshd -D, the test's own child)
#   SSHD_DIR           DIR
#   SSHD_CONNECT       ssh://root@127.0.0.1:PORT
#   SSHD_HOST_KEY      the host key (ed25519); SSHD_HOST_KEY.pub its public line
#   SSHD_USER_KEY      a user key (ed25519, no passphrase) root signs in with;
#                      further public keys are added with sshd_authorize FILE
#   SSHD_KNOWN_HOSTS   a known_hosts file holding the host key for
#                      [127.0.0.1]:PORT, as OpenSSH writes it
#
# sshd runs as root (privilege separation needs /run/sshd), logs to
# DIR/sshd.log, takes keys only (no PAM, no passwords), and allows TCP and
# unix-socket forwarding (dial). It is stopped by its pid, never by name.

SSHD=/usr/sbin/sshd

# sshd_skip REASON: skip the whole test, or fail it under CI.
sshd_skip() {
	if [ "${GETBOT_TEST_REQUIRE:-}" = all ]; then
		echo "not ok 1 - $1 (GETBOT_TEST_REQUIRE=all)"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

sshd_require() {
	[ -x "$SSHD" ] || sshd_skip "no $SSHD (Debian package openssh-server)"
	for tool in ssh-keygen ssh-agent ssh-add python3; do
		command -v "$tool" >/dev/null 2>&1 ||
			sshd_skip "no $tool (Debian packages openssh-client, python3)"
	done
	[ "$(id -u)" -eq 0 ] || sshd_skip "sshd's privilege separation needs root"
}

sshd_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sshd_config for the current SSHD_PORT.
sshd_write_config() {
	cat >"$SSHD_DIR/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_HOST_KEY
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PidFile $SSHD_DIR/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
# bash reads ~/.bashrc for ssh commands only at SHLVL 0: the machine's
# root may have a slow one (pyenv), which is not what is tested here
SetEnv SHLVL=1
EOF
}

# Start sshd on SSHD_PORT and wait until it listens; 1 when it did not.
sshd_launch() {
	: >"$SSHD_DIR/sshd.log"
	"$SSHD" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" &
	SSHD_PID=$!
	export SSHD_PID
	i=0
	while [ $i -lt 100 ]; do
		grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" \
			"$SSHD_DIR/sshd.log" 2>/dev/null && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=""
	return 1
}

# The known_hosts line of the current host key.
sshd_known_line() {
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
		"$(cut -d' ' -f1,2 "$SSHD_HOST_KEY.pub")"
}

sshd_start() {
	SSHD_DIR=$1
	export SSHD_DIR
	mkdir -p "$SSHD_DIR" /run/sshd || return 1
	chmod 700 "$SSHD_DIR"
	SSHD_HOST_KEY=$SSHD_DIR/host_ed25519
	SSHD_USER_KEY=$SSHD_DIR/id_ed25519
	SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
	export SSHD_HOST_KEY SSHD_USER_KEY SSHD_KNOWN_HOSTS
	ssh-keygen -q -t ed25519 -N '' -C getbot-test-host -f "$SSHD_HOST_KEY" || return 1
	ssh-keygen -q -t ed25519 -N '' -C getbot-test-user -f "$SSHD_USER_KEY" || return 1
	cp "$SSHD_USER_KEY.pub" "$SSHD_DIR/authorized_keys"
	for try in 1 2 3 4 5; do
		SSHD_PORT=$(sshd_free_port)
		export SSHD_PORT
		sshd_write_config
		if sshd_launch; then
			SSHD_CONNECT=ssh://root@127.0.0.1:$SSHD_PORT
			export SSHD_CONNECT
			sshd_known_line >"$SSHD_KNOWN_HOSTS"
			return 0
		fi
		: "$try"
	done
	echo "# sshd did not start:" && sed 's/^/# /' "$SSHD_DIR/sshd.log"
	return 1
}

# The server for a test whose scratch directory is $1, and nothing of the
# user's own (~/.ssh, the agent, a passphrase) in what the test runs.
sshd_start_isolated() {
	sshd_start "$1/sshd" || {
		echo "Bail out! sshd did not start"
		exit 1
	}
	HOME="$1/home"
	export HOME
	mkdir -p "$HOME"
	unset SSH_AUTH_SOCK SSH_AGENT_PID GETBOT_SSH_PASSPHRASE
}

# sshd_authorize PUBLIC-KEY-FILE: root may sign in with that key too.
sshd_authorize() {
	cat "$1" >>"$SSHD_DIR/authorized_keys"
}

# Every process under pid $1 (itself included): sshd's connections run in
# sessions of their own, out of its process group.
sshd_tree() {
	for stat in /proc/[0-9]*/stat; do
		cat "$stat" 2>/dev/null && echo
	done | awk -v root="$1" '
		NF > 0 {
			rest = $0
			sub(/.*\) /, "", rest)
			split(rest, field, " ")
			parent[$1] = field[2]
		}
		END {
			want[root] = 1
			for (changed = 1; changed; ) {
				changed = 0
				for (p in parent)
					if (!(p in want) && (parent[p] in want)) {
						want[p] = 1
						changed = 1
					}
			}
			for (p in want)
				print p
		}'
}

# sshd_signal SIGNAL: sshd and every process it started.
sshd_signal() {
	[ -n "${SSHD_PID:-}" ] || return 0
	# shellcheck disable=SC2046
	kill -"$1" $(sshd_tree "$SSHD_PID") 2>/dev/null
}

# sshd_kill: the server dies at once, as in a crash. Every process is
# stopped before any is killed, so none of them sees another go first (a
# session that saw its command killed would send the exit signal: a
# clean end, not a lost server).
sshd_kill() {
	sshd_signal STOP
	sshd_signal KILL
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=""
}

sshd_stop() {
	sshd_signal TERM
	[ -n "${SSHD_PID:-}" ] && wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=""
}

# The server gets a new host key (reinstalled, or someone in between).
sshd_restart_with_new_host_key() {
	sshd_stop
	rm -f "$SSHD_HOST_KEY" "$SSHD_HOST_KEY.pub"
	ssh-keygen -q -t ed25519 -N '' -C getbot-test-host-2 -f "$SSHD_HOST_KEY" || return 1
	sshd_launch
}

# sshd_restart_with_host_key FILE: the same port, with only the host key
# FILE (another type, say); SSHD_HOST_KEY names it from then on.
sshd_restart_with_host_key() {
	sshd_stop
	SSHD_HOST_KEY=$1
	export SSHD_HOST_KEY
	sshd_write_config
	sshd_launch
}

# After sshd was killed by another process (a test program): reap it (or
# stop it, when it was not killed after all), and start it again on the
# same port.
sshd_relaunch() {
	sshd_stop
	sshd_launch
}
