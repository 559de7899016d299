#!/usr/bin/env bash
# deps.sh: make sure the Debian packages sse-cgi needs are installed.
#
#   scripts/deps.sh [build|test|browser|fuzz|all]...   (default: all)
#
#   build    gcc make pkg-config libfcgi-dev libsqlite3-dev libcmocka-dev
#   test     apache2 libapache2-mod-fcgid nginx-light lighttpd spawn-fcgi curl
#            sqlite3 valgrind (the integration tests run a private Apache,
#            scripts/apache.sh, and a private nginx and lighttpd:
#            tests/integration/test_vps.c)
#   browser  chromium, nodejs and npm (Playwright drives Debian's chromium)
#   fuzz     clang and its runtime (libFuzzer, ASan, UBSan) for make fuzz
#            and the corpus replay in make test
#
# Called by make deps, which make run and make test (and so .ci/run) run
# first, so a fresh machine gets the same set everywhere.  Plain make never
# calls it: building needs only pkg-config and the libraries
# (scripts/need-libs.sh names what is missing), on any distribution.  As root, whatever is missing is installed with one
# "apt-get update" and one "apt-get install --no-install-recommends"; as
# anybody else the exact apt-get line is printed and the exit status is 1.
#
# Installing Debian's apache2 would normally start the system Apache on
# port 80 (invoke-rc.d in its postinst).  We run our own Apache instead, so
# during the install a policy-rc.d answering 101 ("action forbidden") is put
# in place and afterwards the previous one (or none) is restored: nothing
# we did not ask for is left running.
set -euo pipefail

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# Packages per group.  npm: NodeSource's nodejs package contains npm and
# conflicts with Debian's npm package, so an npm already on PATH counts.
pkgs_build="gcc make pkg-config libfcgi-dev libsqlite3-dev libcmocka-dev"
pkgs_test="apache2 libapache2-mod-fcgid nginx-light lighttpd spawn-fcgi curl sqlite3 valgrind"
pkgs_browser="chromium nodejs npm"
pkgs_fuzz="clang libclang-rt-14-dev"

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(all)
want=""
for g in "${groups[@]}"; do
	case $g in
	build) want="$want $pkgs_build" ;;
	test) want="$want $pkgs_test" ;;
	browser) want="$want $pkgs_browser" ;;
	fuzz) want="$want $pkgs_fuzz" ;;
	all) want="$want $pkgs_build $pkgs_test $pkgs_browser $pkgs_fuzz" ;;
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
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
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
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends "${missing[@]}"
