#!/usr/bin/env bash
# bench/vps.sh: one process for many streams, side by side with nginx + nchan
# and with the per-process mode, on the same machine in the same run.
#
# Setups (VPS_MODES, default "hub nchan fcgid"):
#   hub    events.fcgi --listen unix:SOCK (one process, one epoll loop) and
#          post.fcgi under spawn-fcgi (-F VPS_POST_F), both behind nginx
#          (fastcgi_buffering off);
#   nchan  nginx + nchan: nchan_subscriber eventsource, nchan_publisher http,
#          posts are HTTP POSTs to the publisher (loadclient --post-raw);
#   fcgid  Apache + mod_fcgid, what bench/run.sh measures: one events.fcgi
#          process per listener (CGI), post.fcgi under mod_fcgid.
# nginx runs VPS_NGINX_WORKERS (1) worker processes in both nginx setups,
# with worker_connections and worker_rlimit_nofile sized for N clients + N
# upstream connections.
#
# Per setup, at N = VPS_N listeners: delivery at VPS_RATE posts/s for
# VPS_POST_S s (latency, lost, duplicates, order); memory of the server
# processes (private and PSS from smaps_rollup, summed over nginx or Apache
# and every FastCGI process) idle without streams and idle with N streams;
# CPU of those processes over VPS_IDLE_S s with N idle streams; in the hub
# setup also posts/s with VPS_POSTERS closed-loop posters against post.fcgi,
# and a stalled reader: VPS_STALL_N (100) listeners at VPS_STALL_RATE (100)
# posts/s of 1900 more characters for VPS_STALL_S (30) s, once alone and
# once with one more stream that never reads (loadclient --stalled 1): the
# others' latency side by side, and whether the hub ended the stalled one.
# ~6 MB per stream: nginx's socket to a stalled client takes ~4 MB before
# the hub's own 256 KiB limit is reached (VPS_STALL_S=0 skips the step).
#
#   make bench       runs bench/run.sh, then this at N = 300 (~5 min)
#   make bench-10k   this at N = 10000, 1 post/s, hub and nchan (~4 min)
#
# Needs nginx (nginx-light), spawn-fcgi, Apache with mod_fcgid (fcgid only)
# and nchan: `apt-get install -y libnginx-mod-nchan` (VPS_INSTALL=1 lets
# this script run that itself; otherwise a missing module is an error).
# Loopback only; every tool has its own time limit; the run stops starting
# steps after VPS_BUDGET_S; everything started here is stopped by PID.
#
# Writes BENCH_OUT/vps-TAG.md and vps-TAG.json (TAG = VPS_TAG, "n300").
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$REPO/build/bench}
MODES=${VPS_MODES:-hub nchan fcgid}
N=${VPS_N:-300}
RATE=${VPS_RATE:-5}
POST_S=${VPS_POST_S:-10}
IDLE_S=${VPS_IDLE_S:-30}
POSTERS=${VPS_POSTERS:-8}
POST_BENCH_S=${VPS_POST_BENCH_S:-10}
POST_F=${VPS_POST_F:-4}
STALL_N=${VPS_STALL_N:-100}
STALL_RATE=${VPS_STALL_RATE:-100}
STALL_S=${VPS_STALL_S:-30}
WORKERS=${VPS_NGINX_WORKERS:-1}
BUDGET_S=${VPS_BUDGET_S:-480}
PORT=${VPS_PORT:-18580}
TAG=${VPS_TAG:-n$N}
OUT=${BENCH_OUT:-$REPO/bench/results}
USER_=${VPS_USER:-www-data}
NGINX=/usr/sbin/nginx
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
MAX_WORKERS=${BENCH_MAX_WORKERS:-$((N + 100))}

say() { echo "vps: $*" >&2; }
die() { echo "vps: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

need_built loadclient sampler
for m in $MODES; do
	case $m in
	hub | nchan)
		[ -x "$NGINX" ] || die "nginx missing: apt-get install -y nginx-light"
		command -v spawn-fcgi >/dev/null || die "spawn-fcgi missing: apt-get install -y spawn-fcgi"
		;;
	fcgid) [ -x "$REPO/scripts/apache.sh" ] || die "scripts/apache.sh missing" ;;
	*) die "unknown mode $m (hub nchan fcgid)" ;;
	esac
done
# nchan is a dependency of this bench only (not of the project): the setup
# step installs it when asked to, else says how.
case " $MODES " in *" nchan "*)
	if [ ! -f "$NCHAN_SO" ] && [ "${VPS_INSTALL:-0}" = 1 ]; then
		say "installing libnginx-mod-nchan (bench dependency)"
		apt-get install -y libnginx-mod-nchan >&2 || die "apt-get install libnginx-mod-nchan failed"
	fi
	[ -f "$NCHAN_SO" ] || die "nchan missing ($NCHAN_SO): the nchan setup needs
  apt-get install -y libnginx-mod-nchan   (or VPS_INSTALL=1 make bench), or VPS_MODES without nchan"
	;;
esac
[ "$(id -u)" = 0 ] || die "run as root: nginx and the FastCGI servers run as $USER_, and N = 10000 needs a raised fd limit"

START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/sse-vps.XXXXXX)
chmod 755 "$WORK"
SITE=$WORK/apache   # lib.sh's start_apache
CHILD=""            # a tool in the background
NGINX_PID="" HUB_PID="" POST_PIDFILE=""

stop_servers() {
	stop_pid "$NGINX_PID"
	NGINX_PID=""
	stop_pid "$HUB_PID"
	HUB_PID=""
	if [ -n "$POST_PIDFILE" ] && [ -f "$POST_PIDFILE" ]; then
		for p in $(cat "$POST_PIDFILE"); do stop_pid "$p"; done
	fi
	POST_PIDFILE=""
	if [ -f "$SITE/run/httpd.pid" ]; then
		"$REPO/scripts/apache.sh" stop "$SITE" >/dev/null 2>&1 || true
	fi
}
cleanup() {
	local rc=$?
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	stop_servers
	if [ "${VPS_KEEP:-0}" = 1 ]; then say "kept $WORK (VPS_KEEP=1)"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
print_limits   # raises none: the fcgid mode's streams wake past 128 too

left() { echo $((START + BUDGET_S - $(date +%s))); }
free_port() {
	local p=$1
	while port_answers "$p"; do p=$((p + 1)); done
	echo "$p"
}

# nginx with the locations of mode $1 on port $2; sets NGINX_PID.
start_nginx() {
	local mode=$1 port=$2 d=$WORK/$1 locs nofile hard
	nofile=$(nginx_nofile "$WORKERS")
	# nginx raises its workers' limit as root only with CAP_SYS_RESOURCE;
	# without it (containers) the hard limit this shell has is the ceiling
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$nofile" -gt "$hard" ] &&
		! prlimit --pid $$ --nofile="$nofile:$nofile" 2>/dev/null; then
		say "warning: an nginx worker needs $nofile open files, the hard limit is $hard" \
			"and cannot be raised here: use VPS_NGINX_WORKERS=$(((2 * N + hard - 4096) / (hard - 2048)))"
	fi
	if [ "$mode" = nchan ]; then
		locs="
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id \$arg_channel;
      nchan_eventsource_ping_interval 15;   # = our keepalive_s
    }
    location = /pub {
      nchan_publisher http;
      nchan_channel_id \$arg_channel;
      nchan_message_buffer_length 256;
      nchan_message_timeout 1h;
    }"
	else
		locs=$(hub_locations "$d")
	fi
	run_nginx "$d" "$WORKERS" "$port" "$mode" "" "$locs"
}

# The hub setup: a site folder with the binaries and sse-cgi.conf, the hub
# (events.fcgi --listen, as $USER_), post.fcgi under spawn-fcgi, nginx.
start_hub() {
	local d=$WORK/hub port
	mkdir -p "$d/cgi-bin" "$d/data" "$d/run" "$d/logs"
	cp "$BINDIR/events.fcgi" "$BINDIR/post.fcgi" "$d/cgi-bin/"
	printf 'database = %s/data/sse.db\nrate_limit = 0\nmax_streams = 0\n%s\n' \
		"$d" "${BENCH_CONF_EXTRA:-}" >"$d/cgi-bin/sse-cgi.conf"
	chown "$USER_:" "$d/data" "$d/run"
	# setpriv execs: the PID is the hub's.  It raises its soft fd limit to
	# the hard one it inherits (this shell's).
	setpriv --reuid="$USER_" --regid="$USER_" --init-groups \
		"$d/cgi-bin/events.fcgi" --listen "unix:$d/run/events.sock" \
		2>"$d/logs/events.log" &
	HUB_PID=$!
	POST_PIDFILE=$d/run/post.pids
	spawn-fcgi -s "$d/run/post.sock" -F "$POST_F" -u "$USER_" -g "$USER_" -U "$USER_" \
		-G "$USER_" -P "$POST_PIDFILE" -- "$d/cgi-bin/post.fcgi" >/dev/null ||
		die "spawn-fcgi could not start post.fcgi"
	for _ in $(seq 1 50); do [ -S "$d/run/events.sock" ] && break; sleep 0.1; done
	[ -S "$d/run/events.sock" ] || die "events.fcgi --listen did not start: $(cat "$d/logs/events.log")"
	port=$(free_port "$PORT")
	start_nginx hub "$port"
	BASE=http://127.0.0.1:$port
	STREAM_URL=$BASE/cgi-bin/events.fcgi
	POST_URL=$BASE/cgi-bin/post.fcgi
	POST_Q=""
	POST_ARGS=()
	ROOTS=(--pid "$NGINX_PID" --pid "$HUB_PID" --pidfile "$POST_PIDFILE")
	say "hub: nginx $NGINX_PID, events.fcgi --listen $HUB_PID, post.fcgi $(tr '\n' ' ' <"$POST_PIDFILE")on $BASE"
}

start_nchan() {
	local port
	port=$(free_port "$PORT")
	start_nginx nchan "$port"
	BASE=http://127.0.0.1:$port
	STREAM_URL=$BASE/sub
	POST_URL=$BASE/pub
	POST_Q=1            # the channel travels in the publisher's query
	POST_ARGS=(--post-raw)
	ROOTS=(--pid "$NGINX_PID")
	say "nchan: nginx $NGINX_PID on $BASE"
}

start_fcgid() {
	PORT=$(free_port "$PORT") start_apache fcgid
	STREAM_URL=$BASE/cgi-bin/events.fcgi
	POST_URL=$BASE/cgi-bin/post.fcgi
	POST_Q=""
	POST_ARGS=()
	ROOTS=(--pid "$MASTER")
}

open_s=$((30 + N / 200))   # opening 10,000 streams takes a while
for mode in $MODES; do
	need=$((open_s + POST_S + IDLE_S + 60))
	if [ "$(left)" -lt "$need" ]; then
		say "skipping $mode: the ${BUDGET_S}s budget is spent"
		echo '{"skipped":"budget"}' >"$WORK/$mode-n.json"
		continue
	fi
	"start_$mode"
	ch=vps-$mode-$N
	echo "{\"mode\":\"$mode\",\"url\":\"$BASE\",\"nginx_workers\":$WORKERS,\"post_f\":$POST_F}" >"$WORK/$mode-info.json"
	# warm-up: the database exists, post.fcgi has run; then the baseline
	"$BIN/loadclient" --url-post "$POST_URL${POST_Q:+?channel=$ch}" --channel "$ch" "${POST_ARGS[@]}" \
		-n 0 -m 5 -r 10 --warmup 0 --drain 0 --timeout 20 --quiet >/dev/null 2>&1 || true
	sleep 2
	"$BIN/sampler" mem "${ROOTS[@]}" --json "$WORK/$mode-mem0.json"
	say "$mode: N=$N listeners, $RATE posts/s for ${POST_S}s"
	hold=$((IDLE_S + 8))
	if run_client_bg "$WORK/$mode-n.json" "$WORK/$mode-n.log" \
		--url-stream "$STREAM_URL?channel=$ch" --url-post "$POST_URL${POST_Q:+?channel=$ch}" \
		--channel "$ch" "${POST_ARGS[@]}" -n "$N" -m $((RATE * POST_S)) -r "$RATE" -k 4 \
		--detail --warmup 2000 --drain 5000 --hold "$hold" --open-timeout "$open_s" \
		--timeout $((open_s + 2 + POST_S + 5 + hold + 30)); then
		sleep 2   # the last posts' buffers settle
		"$BIN/sampler" mem "${ROOTS[@]}" --json "$WORK/$mode-memN.json"
		say "$mode: CPU of $N idle streams over ${IDLE_S}s"
		"$BIN/sampler" cpu "${ROOTS[@]}" --interval "$IDLE_S" --json "$WORK/$mode-cpu.json"
	else
		say "$mode: never reached the hold phase: no memory/CPU sample"
	fi
	finish_client "$WORK/$mode-n.log"
	if [ "$mode" = hub ] && [ "$POST_BENCH_S" != 0 ]; then
		say "hub: POST throughput, $POSTERS posters, post.fcgi -F $POST_F behind nginx, ${POST_BENCH_S}s"
		"$BIN/loadclient" --url-post "$POST_URL" --channel vps-posts -n 0 -m 100000 -r 0 \
			-k "$POSTERS" --warmup 0 --drain 0 --post-duration 2 --timeout 20 --quiet \
			>/dev/null 2>&1 || true
		"$BIN/loadclient" --url-post "$POST_URL" --channel vps-posts -n 0 -m 100000 -r 0 \
			-k "$POSTERS" --warmup 0 --drain 0 --post-duration "$POST_BENCH_S" \
			--timeout $((POST_BENCH_S + 20)) --json "$WORK/hub-posts.json" \
			2>"$WORK/hub-posts.log" || true
		sed 's/^/    /' "$WORK/hub-posts.log" >&2
	fi
	if [ "$mode" = hub ] && [ "$STALL_S" != 0 ]; then
		for k in 0 1; do
			say "hub: $STALL_N listeners, $STALL_RATE posts/s of 1900 more characters for ${STALL_S}s, $k stalled"
			"$BIN/loadclient" --url-stream "$STREAM_URL?channel=vps-stall-$k" --url-post "$POST_URL" \
				--channel "vps-stall-$k" -n "$STALL_N" -m $((STALL_RATE * STALL_S)) -r "$STALL_RATE" \
				-k 4 --pad 1900 --stalled "$k" --warmup 1000 --drain 5000 --open-timeout 30 \
				--timeout $((STALL_S + 60)) --json "$WORK/hub-stall$k.json" 2>"$WORK/hub-stall$k.log" || true
			sed 's/^/    /' "$WORK/hub-stall$k.log" >&2
			# the hub's own count: its log line for each stream it ended
			grep -c 'stopped reading' "$WORK/hub/logs/events.log" >"$WORK/hub-stall$k.hub-ended" || true
		done
	fi
	cp "$WORK"/hub/logs/events.log "$WORK/hub-events.log" 2>/dev/null || true
	stop_servers
done

export_run_facts V
export V_MODES="$MODES" V_N="$N" V_RATE="$RATE" V_POST_S="$POST_S" V_IDLE_S="$IDLE_S"
export V_POSTERS="$POSTERS" V_POST_F="$POST_F" V_WORKERS="$WORKERS" V_TAG="$TAG"
export V_STALL_N="$STALL_N" V_STALL_RATE="$STALL_RATE" V_STALL_S="$STALL_S"
export V_NGINX; V_NGINX=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
export V_NCHAN; V_NCHAN=$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo "?")
mkdir -p "$OUT"
python3 "$REPO/bench/vps_report.py" "$WORK" "$OUT/vps-$TAG.json" "$OUT/vps-$TAG.md"
cat "$OUT/vps-$TAG.md"
say "done in ${V_ELAPSED}s: $OUT/vps-$TAG.md"
