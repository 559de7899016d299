#!/usr/bin/env bash
# first_try.sh: plain make works the first time in a fresh copy of the tree,
# or stops with a message that says what to install, and never installs.
#
#   tests/first_try.sh          (make first-try-test; part of make test)
#
# "git clone ...; make" once failed on a fresh Debian at the link (undefined
# reference to FCGX_GetParam), because the link lines were worked out before
# the libraries were installed.  This test builds copies of the tree as a
# newcomer would, with fake apt-get, apt, apt-cache, dpkg and dpkg-query first
# on PATH that record every call and do nothing:
#
#   a. pkg-config blinded (PKG_CONFIG_LIBDIR and PKG_CONFIG_PATH name an
#      empty folder), as on a machine without the libraries: make and make
#      check fail, their message names the missing pkg-config modules and
#      make deps, and no "undefined reference" or missing header appears;
#      make clean and make help still work.
#   b. pkg-config as it is: make builds the three binaries.
#   In both, nothing called apt or dpkg: plain make only compiles.
#
# The copy is what git tracks plus untracked files that are not ignored
# (git ls-files -co --exclude-standard), so uncommitted work is tested and
# old build products are not.  Each check is one test; the last line is
# "first-try: N passed, N failed".  A missing tool is a failure, not a skip.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0

die() {
	echo "first-try: $*" >&2
	echo "first-try: $passed passed, $((failed + 1)) failed"
	exit 1
}

ok() {
	echo "ok: $1"
	passed=$((passed + 1))
}

not_ok() {
	echo "FAILED: $1"
	failed=$((failed + 1))
}

# lacks PATTERN FILE: FILE has no line matching the extended regex PATTERN.
lacks() {
	! grep -Eq "$1" "$2"
}

# check DESCRIPTION COMMAND...: one test, passed when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

for tool in git make cc pkg-config tar mktemp grep; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool is not installed: this test needs it (make deps installs it)"
done
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 ||
	die "$repo is not a git work tree: the copy is made from git ls-files"

work=$(mktemp -d /tmp/sse-first-try.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT

# --- the fakes: record the call, change nothing ---------------------------
fakes=$work/fakebin
calls=$work/calls.log
mkdir -p "$fakes" "$work/no-pc" || die "cannot create folders in $work"
: >"$calls"
for cmd in apt-get apt apt-cache dpkg dpkg-query; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 1\n' "$cmd" "$calls" >"$fakes/$cmd"
	chmod 755 "$fakes/$cmd"
done

no_apt_calls() {
	if [ -s "$calls" ]; then
		echo "  calls recorded:"
		sed 's/^/    /' "$calls"
		: >"$calls"
		return 1
	fi
}

# copy_tree DEST: the tree as a fresh clone plus uncommitted work would be.
copy_tree() {
	mkdir -p "$1" &&
	(cd "$repo" && git ls-files -co --exclude-standard -z |
		while IFS= read -r -d '' f; do
			# a tracked file deleted in the work tree is listed too
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar -c --null -T - -f -) | tar -x -C "$1" -f -
}

# in_copy DIR LOG [NAME=VALUE...] make ARGS...: run make in DIR as a
# newcomer would, the fakes first on PATH.  The make running this test (if
# any) must not pass its flags, jobserver or variables on: the copy is built
# as if typed at a shell.
in_copy() {
	local dir=$1 log=$2
	shift 2
	(cd "$dir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		PATH="$fakes:$PATH" "$@") >"$log" 2>&1
}

# pkg-config then finds no module at all, as on a machine without them.
blind="PKG_CONFIG_LIBDIR=$work/no-pc PKG_CONFIG_PATH=$work/no-pc"

show_log() {
	echo "  --- $1 (last 15 lines) ---"
	tail -n 15 "$1" | sed 's/^/  | /'
}

# --- a. the libraries missing ---------------------------------------------
echo "first-try: a. plain make with pkg-config finding nothing"
copy_tree "$work/a" || die "copying the tree to $work/a failed"

for goal in all check; do
	log=$work/a-$goal.log
	before=$failed
	# shellcheck disable=SC2086 # $blind is two words on purpose
	in_copy "$work/a" "$log" $blind make "$goal"
	rc=$?
	check "make $goal without the libraries fails" [ "$rc" -ne 0 ]
	check "make $goal names the missing modules fcgi and sqlite3" \
		grep -q 'fcgi sqlite3' "$log"
	if [ "$goal" = check ]; then
		check "make check names cmocka too" grep -q 'cmocka' "$log"
	fi
	check "make $goal says to run make deps" grep -q 'make deps' "$log"
	check "make $goal gives no linker error" \
		lacks 'undefined reference' "$log"
	check "make $goal gives no compiler error" \
		lacks 'fatal error|error:' "$log"
	check "make $goal called no apt or dpkg" no_apt_calls
	[ "$failed" -eq "$before" ] || show_log "$log"
done

for goal in clean help; do
	log=$work/a-$goal.log
	# shellcheck disable=SC2086
	in_copy "$work/a" "$log" $blind make "$goal"
	rc=$?
	check "make $goal works without the libraries" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || show_log "$log"
	check "make $goal called no apt or dpkg" no_apt_calls
done

# --- b. the libraries there -----------------------------------------------
echo "first-try: b. plain make in a fresh copy"
copy_tree "$work/b" || die "copying the tree to $work/b failed"
log=$work/b-all.log
in_copy "$work/b" "$log" make
rc=$?
check "make builds" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || show_log "$log"
for bin in cgi-bin/events.fcgi cgi-bin/post.fcgi ssectl; do
	check "make built $bin" [ -x "$work/b/$bin" ]
done
check "make gives no linker error" \
	lacks 'undefined reference' "$log"
check "make called no apt or dpkg" no_apt_calls

echo "first-try: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
