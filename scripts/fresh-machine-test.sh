#!/usr/bin/env bash
# fresh-machine-test.sh: does "git clone ...; make test" pass the first time
# on a fresh Debian 12?  Not part of make test: it takes a while.
#
#   scripts/fresh-machine-test.sh            (as root, on Debian)
#   KEEP=1 scripts/fresh-machine-test.sh     leave the chroot for a look
#
# debootstrap makes a minimal Debian 12 (bookworm, variant minbase, plus
# git and make: what a person who types "git clone ...; make test" has) in a
# new folder under /var/tmp, from the mirror this machine's apt uses.  proc,
# sys, dev, dev/pts and dev/shm are mounted into it, a git clone of this
# repository's HEAD is put in /root/sse-cgi, and "make test" is the first
# command run there, as root: it has to install everything itself (make
# deps: apt-get update, apt-get install) and pass without a second run.
# Uncommitted changes are not in a clone, so commit first.
#
# The last lines give the wall time of make test and of the whole run, the
# suites' "N passed, N failed" lines and whether it passed.  The full log is
# kept in /var/tmp/sse-fresh-machine.log.  On exit, however it ends, every
# process still running inside the chroot is stopped by its PID, the mounts
# are undone, and (without KEEP=1) the chroot is deleted, but only once
# nothing is mounted inside it any more.
#
# Not a perfect fresh machine: the kernel, the network and the ports are
# this machine's (the tests use loopback addresses only, on free ports), and
# no init system runs (nothing in make test needs one).  What this machine
# needs to reach the package registries is copied in, as /etc/resolv.conf
# is: apt's options (Acquire::Check-Valid-Until, Check-Date, proxies), the
# certificate authorities added locally (/usr/local/share/ca-certificates,
# e.g. an HTTPS proxy's; the ca-certificates package, installed by make
# deps, adds them to the system's list) and NODE_EXTRA_CA_CERTS when it is
# set (node's own builds do not read the system's list).
# shellcheck disable=SC2317 # cleanup and its helpers run from a trap
set -euo pipefail

SUITE=bookworm
INCLUDE=git,make             # beyond minbase: what "git clone; make test" needs
LOG=/var/tmp/sse-fresh-machine.log
STOP_WAIT_S=5                # after SIGTERM, before SIGKILL

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "fresh-machine: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mount and chroot need it)"
command -v apt-get >/dev/null 2>&1 || die "needs a Debian host with apt-get"
git -C "$repo" rev-parse --verify -q HEAD >/dev/null ||
	die "$repo is not a git repository with a commit: it is cloned from there"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
	say "note: uncommitted changes in $repo are not tested (a clone of HEAD is)"
fi

# --- the mirror: the one this machine's apt uses --------------------------
# Prints "URI SUITE" for every enabled deb source, from one-line .list files
# and deb822 .sources files alike.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
			awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush() {
				if (deb && enabled && uri != "")
					for (i = 1; i <= ns; i++) print uri, suites[i]
				deb = 0; enabled = 1; uri = ""; ns = 0
			}
			BEGIN { enabled = 1 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "types:"   { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:"    { uri = $2 }
			tolower($1) == "suites:"  { ns = 0; for (i = 2; i <= NF; i++) suites[++ns] = $i }
			tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
			END { flush() }
		' "$f"
	done
}
mirror=$(apt_sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')
security=$(apt_sources | awk -v s="$SUITE-security" '$2 == s { print $1; exit }')
[ -n "$mirror" ] ||
	die "no '$SUITE' source in /etc/apt/sources.list or /etc/apt/sources.list.d/"
say "mirror $mirror${security:+, security $security}"

if ! command -v debootstrap >/dev/null 2>&1; then
	say "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends debootstrap; } ||
		die "cannot install debootstrap"
fi

# --- cleanup: whatever happens from here on --------------------------------
root=""
mounted=()      # mount points, in the order they were mounted
run_pid=""

# PIDs of the processes whose root directory is the chroot: what make test
# started and left behind (an Apache, say).  Found by their root, stopped by
# PID, never by name.
chroot_pids() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		if [ "$r" = "$root" ]; then echo "${p#/proc/}"; fi
	done
	return 0
}

stop_chroot_processes() {
	local pids pid i
	pids=$(chroot_pids)
	[ -n "$pids" ] || return 0
	say "stopping processes left in the chroot: ${pids//$'\n'/ }"
	for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < STOP_WAIT_S * 10; i++)); do
		[ -n "$(chroot_pids)" ] || return 0
		sleep 0.1
	done
	for pid in $(chroot_pids); do kill -KILL "$pid" 2>/dev/null || true; done
	sleep 0.5
}

still_mounted() {
	awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts
}

cleanup() {
	local rc=$? i m
	trap - EXIT INT TERM HUP
	# Every step must be tried, whatever the one before it returned.
	set +e
	if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
		kill -TERM "$run_pid" 2>/dev/null || true
	fi
	if [ -n "$root" ]; then
		stop_chroot_processes
		for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
			m=${mounted[i]}
			umount "$m" 2>/dev/null || umount -l "$m" ||
				say "could not unmount $m"
		done
		# debootstrap mounts proc and sys itself while it works; if it
		# failed, they may still be there.  Deepest first.
		for m in $(still_mounted | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" ||
				say "could not unmount $m"
		done
		if [ -n "$(still_mounted)" ]; then
			say "still mounted, so $root is NOT deleted:"
			still_mounted >&2
		elif [ -n "${KEEP:-}" ]; then
			say "chroot kept in $root"
		else
			rm -rf --one-file-system "$root"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

mount_in() {   # mount_in POINT MOUNT-ARGS...: mount, and remember to undo it
	local point=$root/$1
	shift
	mkdir -p "$point"
	mount "$@" "$point" || die "mount $* $point failed"
	mounted+=("$point")
}

# --- the fresh machine -----------------------------------------------------
t0=$(date +%s)
root=$(mktemp -d /var/tmp/sse-fresh.XXXXXX)
chmod 755 "$root"
say "debootstrap $SUITE (minbase, +$INCLUDE) into $root"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$mirror" \
	>"$root.debootstrap.log" 2>&1 ||
	{ tail -20 "$root.debootstrap.log" >&2; die "debootstrap failed (log $root.debootstrap.log)"; }
rm -f "$root.debootstrap.log"

# Its apt sees the same suites as this machine's: the release, its updates
# and the security archive.
{
	echo "deb $mirror $SUITE main"
	echo "deb $mirror $SUITE-updates main"
	[ -z "$security" ] || echo "deb $security $SUITE-security main"
} >"$root/etc/apt/sources.list"
apt-config dump |
	grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
	>"$root/etc/apt/apt.conf.d/99host-mirror" || true
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp -R /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

mount_in proc -t proc proc
mount_in sys --bind /sys
mount_in dev --bind /dev
mount_in dev/pts --bind /dev/pts
mount_in dev/shm -t tmpfs -o mode=1777,nosuid,nodev shm

git clone -q --no-hardlinks "$repo" "$root/root/sse-cgi"
head=$(git -C "$root/root/sse-cgi" log --oneline -1)
say "testing $head"

# --- make test, the first command -----------------------------------------
: >"$LOG"
t1=$(date +%s)
say "make test in the chroot (log $LOG)"
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
	${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"} \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	/bin/bash -c 'cd /root/sse-cgi && make test' >"$LOG" 2>&1 </dev/null &
run_pid=$!
rc=0
wait "$run_pid" || rc=$?
run_pid=""
t2=$(date +%s)

echo
echo "fresh-machine: tested $head"
echo "fresh-machine: suites:"
grep -E '^([A-Za-z0-9+_-]+: )?[0-9]+ passed, [0-9]+ failed' "$LOG" | sed 's/^/    /' || true
echo "fresh-machine: make test took $(((t2 - t1) / 60)) min $(((t2 - t1) % 60)) s" \
	"(the whole run $(((t2 - t0) / 60)) min $(((t2 - t0) % 60)) s)"
if [ "$rc" -eq 0 ]; then
	echo "fresh-machine: PASSED on the first try"
else
	echo "fresh-machine: FAILED: make test exited $rc (log $LOG, last lines below)"
	tail -n 30 "$LOG" | sed 's/^/    | /'
fi
exit "$rc"
