# Shared by ci/test and ci/demo: install what getbot needs from Debian.
# Idempotent: apt-get runs only when a package is missing.

GETBOT_BUILD_PACKAGES="build-essential autoconf automake pkg-config clang
 libyaml-dev libcurl4-openssl-dev libcjson-dev libssh2-1-dev libsodium-dev
 libgit2-dev libpsl-dev libarchive-dev publicsuffix python3 git"
# getbot-auth: its HTTP server, and the real Caddy and curl its tests drive.
GETBOT_BUILD_PACKAGES="$GETBOT_BUILD_PACKAGES libmicrohttpd-dev caddy curl"
# The self-hosted target's integration tests (tests/services.sh): LXD for
# the Incus API, with dnsmasq for its bridges' DHCP (only a Recommends, and
# recommends are not installed here); Docker, run on the host and inside
# LXD containers; a static busybox for FROM-scratch images and the test
# image's DHCP client; iptables, uidmap, squashfs-tools and xz-utils for
# LXD and Docker; flock (util-linux) serializes the LXD tests.
GETBOT_BUILD_PACKAGES="$GETBOT_BUILD_PACKAGES lxd dnsmasq-base docker.io
 busybox-static iptables uidmap squashfs-tools xz-utils util-linux tar gzip"

ci_install() {
	missing=""
	for pkg in $GETBOT_BUILD_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	echo "ci: installing$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "ci: missing Debian packages:$missing (run as root, or install them)" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

ci_top() {
	cd "$(dirname "$0")/.." && pwd
}
