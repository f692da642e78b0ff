# Shared by ci/test and ci/demo: install what getbot needs from Debian.
# Idempotent: apt-get runs only when a package is missing.

GETBOT_BUILD_PACKAGES="build-essential autoconf automake pkg-config clang
 libyaml-dev libcurl4-openssl-dev libcjson-dev libssh2-1-dev libsodium-dev
 libgit2-dev libpsl-dev libarchive-dev publicsuffix python3 git"
# getbot-auth: its HTTP server, and the real Caddy and curl its tests drive.
GETBOT_BUILD_PACKAGES="$GETBOT_BUILD_PACKAGES libmicrohttpd-dev caddy curl"
# The self-hosted target's integration tests (tests/services.sh): Docker,
# run on the host and inside Incus containers; dnsmasq for Incus's bridges'
# DHCP (only a Recommends, and recommends are not installed here); a static
# busybox for FROM-scratch images and the test image's DHCP client;
# iptables, uidmap, squashfs-tools and xz-utils for Incus and Docker;
# debootstrap for the fresh Debian image getbot installs Docker into;
# systemd for getbot-auth's unit (systemd-analyze) and the container that
# boots it (systemctl --root enables its network), with dbus, its system
# bus (systemd-analyze security asks systemd over it; only a Recommends of
# systemd); openssl for a certificate that is not the image server's;
# flock (util-linux) serializes the Incus tests.
GETBOT_BUILD_PACKAGES="$GETBOT_BUILD_PACKAGES dnsmasq-base docker.io
 busybox-static iptables uidmap squashfs-tools xz-utils util-linux tar gzip
 debootstrap systemd dbus openssl"
# The ssh connection's tests (tests/sshd.sh): a throwaway OpenSSH sshd, and
# ssh-keygen, ssh-agent and ssh-add.
GETBOT_BUILD_PACKAGES="$GETBOT_BUILD_PACKAGES openssh-server openssh-client"
# Incus 6.0 comes from Debian's bookworm-backports suite (ci_backports).
GETBOT_BACKPORTS_PACKAGES="incus"

ci_missing() {
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || printf ' %s' "$pkg"
	done
}

ci_install() {
	missing=$(ci_missing $GETBOT_BUILD_PACKAGES "$@")
	bpo_missing=$(ci_missing $GETBOT_BACKPORTS_PACKAGES)
	[ -z "$missing$bpo_missing" ] && return 0
	echo "ci: installing$missing$bpo_missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "ci: missing Debian packages:$missing$bpo_missing (run as root, or install them)" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	[ -z "$bpo_missing" ] || ci_backports || return 1
	apt-get update -qq
	# shellcheck disable=SC2086
	[ -z "$missing" ] ||
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# shellcheck disable=SC2086
	[ -z "$bpo_missing" ] ||
		apt-get install -y -qq --no-install-recommends \
			-t bookworm-backports $bpo_missing >/dev/null
}

# ci_backports: enable Debian's bookworm-backports suite, with the mirror
# and keyring of the machine's own bookworm entry (deb822 or one-line
# format), so no mirror address is written into the repository.
ci_backports() {
	list=/etc/apt/sources.list.d/getbot-bookworm-backports.sources
	[ -f "$list" ] && return 0
	grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ && return 0
	entry=$(python3 - /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list <<'PY'
import re, sys
# The first entry for the suite "bookworm" itself: its URI and keyring.
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
            if f.get("enabled", "yes") == "no":
                continue
            if "deb" in f.get("types", "").split() and \
                    "bookworm" in f.get("suites", "").split():
                print(f["uris"].split()[0], f.get("signed-by", ""))
                sys.exit(0)
    else:
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line + " ")
            if m:
                opts = m.group(1) or ""
                k = re.search(r"signed-by=(\S+?)[] ]", opts)
                print(m.group(2), k.group(1) if k else "")
                sys.exit(0)
sys.exit(1)
PY
) || {
		echo "ci: no Debian bookworm entry in the apt sources to derive bookworm-backports from" >&2
		return 1
	}
	uri=${entry%% *}
	key=${entry#* }
	{
		echo "# getbot's ci/lib.sh: Incus 6.0 from bookworm-backports"
		echo "Types: deb"
		echo "URIs: $uri"
		echo "Suites: bookworm-backports"
		echo "Components: main"
		[ -z "$key" ] || echo "Signed-By: $key"
	} >"$list"
}

ci_top() {
	cd "$(dirname "$0")/.." && pwd
}
