#!/bin/sh
# need-libs.sh: stop the build with a clear message when pkg-config cannot
# find a library it needs.
#
#   scripts/need-libs.sh MODULE...     (pkg-config module names)
#
# The Makefile runs this before any compile or link.  Without it a missing
# library shows up as a compiler error about a header or, worse, as
# "undefined reference to FCGX_GetParam" at the link, which says nothing
# about what to install.  It names the missing modules and the packages that
# provide them on Debian, Alpine and Fedora, and exits 1; exit 0 when
# everything is found.
#
# It asks pkg-config only, never dpkg or apt: plain make must work on any
# Linux and must never install anything (that is make deps).  POSIX sh, not
# bash: a minimal Alpine has no bash.
set -u

# Debian, Alpine and Fedora package for one pkg-config module.
packages() {
	case $1 in
	pkg-config) echo "pkg-config pkgconf pkgconf-pkg-config" ;;
	fcgi) echo "libfcgi-dev fcgi-dev fcgi-devel" ;;
	sqlite3) echo "libsqlite3-dev sqlite-dev sqlite-devel" ;;
	jansson) echo "libjansson-dev jansson-dev jansson-devel" ;;
	libsodium) echo "libsodium-dev libsodium-dev libsodium-devel" ;;
	hiredis) echo "libhiredis-dev hiredis-dev hiredis-devel" ;;
	cmocka) echo "libcmocka-dev cmocka-dev libcmocka-devel" ;;
	*) echo "? ? ?" ;;
	esac
}

missing=""
if command -v pkg-config >/dev/null 2>&1; then
	for m in "$@"; do
		pkg-config --exists "$m" 2>/dev/null || missing="$missing $m"
	done
	[ -z "$missing" ] && exit 0
	what="pkg-config cannot find the module(s):$missing"
else
	# Without pkg-config nothing can be found; name it and every module.
	missing=" pkg-config $*"
	what="pkg-config is not installed; the build also needs:$*"
fi

deb="" alpine="" fedora=""
for m in $missing; do
	# shellcheck disable=SC2046 # split into its three names on purpose
	set -- $(packages "$m")
	deb="$deb $1" alpine="$alpine $2" fedora="$fedora $3"
done

cat >&2 <<EOF
cannot build sse-cgi: $what
  On Debian 12, as root:  make deps   (installs everything make test needs)
  or install by hand:
    Debian/Ubuntu:  apt-get install$deb
    Alpine:         apk add$alpine
    Fedora:         dnf install$fedora
  A library installed elsewhere: add the folder holding its .pc file to
  PKG_CONFIG_PATH.
EOF
exit 1
