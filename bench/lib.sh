# shellcheck shell=bash
# bench/lib.sh: what bench/run.sh, bench/ab.sh and bench/vps.sh share.
#
# The caller sets REPO, BIN (the bench tools), SITE (the private site's
# folder), PORT (first port tried), MAX_WORKERS, and defines say() (and
# die(), for need_built); the functions here set MASTER (Apache's PID),
# BASE (its URL) and BINDIR (need_built).

# The bench tools named (in BIN), both binaries (sets BINDIR: SSE_TEST_BINARIES
# or the repo's cgi-bin) and python3 for the report; the caller's die()
# names what is missing and what builds it.
need_built() {
	local t
	for t in "$@"; do
		[ -x "$BIN/$t" ] || die "$BIN/$t missing: run make bench-tools (or make bench)"
	done
	BINDIR=${SSE_TEST_BINARIES:-$REPO/cgi-bin}
	for t in events.fcgi post.fcgi; do
		[ -x "$BINDIR/$t" ] || die "$BINDIR/$t missing: run make"
	done
	command -v python3 >/dev/null || die "python3 is needed for the report"
}

# The limits the run is under, printed at its start.  The bench changes
# none: a shared host's user cannot, and the streams must wake without
# (src/feed/watch.h: inotify for the first 128 stream processes of a user
# by default, the futex wake past them).  "unlimited" or "?" where so.
print_limits() {
	local inotify
	inotify=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo '?')
	say "limits: fs.inotify.max_user_instances $inotify," \
		"open files (ulimit -n) $(ulimit -Sn)/$(ulimit -Hn)," \
		"processes (ulimit -u) $(ulimit -Su)/$(ulimit -Hu), CPUs (nproc) $(nproc)"
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# nginx in $1 with $2 workers on port $3 (nchan loaded when $4 = nchan),
# the http-level lines $5 and the server's locations $6, sized for N
# listeners: a proxied stream costs a worker 2 connections (client +
# upstream), and with several workers reuseport spreads the clients
# evenly.  Needs NGINX, USER_ (and NCHAN_SO); sets NGINX_PID.
nginx_nofile() { echo $((2 * N / $1 + 2048)); }   # $1 workers
run_nginx() {
	local d=$1 workers=$2 port=$3 http=$5 locs=$6 conns reuse=""
	conns=$((2 * N / workers + 1024))
	[ "$workers" -gt 1 ] && reuse=" reuseport"
	mkdir -p "$d/run" "$d/logs"
	{
		[ "$4" = nchan ] && echo "load_module $NCHAN_SO;"
		cat <<EOF
user $USER_;
worker_processes $workers;
worker_rlimit_nofile $(nginx_nofile "$workers");
pid $d/run/nginx.pid;
error_log $d/logs/nginx-error.log;
events { worker_connections $conns; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $d/run/nginx-body;
  fastcgi_temp_path $d/run/nginx-fastcgi;
  proxy_temp_path $d/run/nginx-proxy;
  uwsgi_temp_path $d/run/nginx-uwsgi;
  scgi_temp_path $d/run/nginx-scgi;$http
  server {
    listen 127.0.0.1:$port backlog=4096$reuse;$locs
  }
}
EOF
	} >"$d/nginx.conf"
	"$NGINX" -c "$d/nginx.conf" -p "$d" 2>&1 | sed 's/^/    nginx: /' >&2 ||
		die "nginx did not start ($d/logs/nginx-error.log)"
	# shellcheck disable=SC2034  # for the script that sourced this
	NGINX_PID=$(cat "$d/run/nginx.pid")
}

# The locations of a front of ours in folder $1: the hub on its socket,
# unbuffered, and post.fcgi on its own (run/events.sock, run/post.sock).
hub_locations() {
	local d=$1
	echo "
    location = /cgi-bin/events.fcgi {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$d/run/events.sock;
      fastcgi_buffering off;
      fastcgi_read_timeout 1h;
    }
    location = /cgi-bin/post.fcgi {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$d/run/post.sock;
    }"
}

stop_pid() {   # $1 pid: TERM, wait up to 5 s, then KILL
	local p=$1 i
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	say "pid $p ignored SIGTERM: killed"
	kill -KILL "$p" 2>/dev/null || true
}

# Apache for the bench: rate_limit = 0 and max_streams = 0 (else posts get
# 429 and streams beyond 16 are one-shot), MaxRequestWorkers raised so that
# every stream has a worker thread; mode $1 (fcgid | cgid).
MASTER="" BASE=""
start_apache() {
	local mode=$1 port=$PORT limit
	while port_answers "$port"; do port=$((port + 1)); done
	# event MPM: MaxRequestWorkers <= ServerLimit * ThreadsPerChild (25).
	limit=$(((MAX_WORKERS + 24) / 25))
	[ "$limit" -lt 16 ] && limit=16
	SSE_CONF_EXTRA=$(printf 'rate_limit = 0\nmax_streams = 0\n%s' "${BENCH_CONF_EXTRA:-}") \
	SSE_HTTPD_EXTRA=$(printf 'ServerLimit %s\nMaxRequestWorkers %s\n%s' \
		"$limit" "$MAX_WORKERS" "${BENCH_HTTPD_EXTRA:-}") \
		"$REPO/scripts/apache.sh" start "$SITE" "$port" "$mode" >/dev/null
	MASTER=$(cat "$SITE/run/httpd.pid")
	BASE=http://127.0.0.1:$port
	say "$mode: Apache $MASTER on $BASE"
}

stop_apache() {
	"$REPO/scripts/apache.sh" stop "$SITE" >/dev/null 2>&1 || say "apache.sh stop reported a problem"
	MASTER=""
}

# Posts once on channel $1 (no listener).
poke() {
	"$BIN/loadclient" --url-post "$BASE/cgi-bin/post.fcgi" --channel "$1" -n 0 -m 1 \
		--warmup 0 --drain 0 --timeout 10 --quiet >/dev/null 2>&1 || true
}

# Waits (at most 40 s) until no events.fcgi is left in the tree.  A stream
# whose client left learns of it only when a write fails, so a post on its
# channel every other second makes the leftovers write, fail and end
# instead of waiting for their keepalive.
streams_gone() {
	local ch=$1 i n
	for i in $(seq 1 40); do
		n=$("$BIN/sampler" count --pid "$MASTER" --comm events.fcgi)
		[ "$n" = 0 ] && return 0
		[ $((i % 2)) = 1 ] && poke "$ch"
		sleep 1
	done
	say "warning: $n events.fcgi processes still alive after 40 s"
}

# Runs loadclient in the background (CHILD) until its phase is "hold" or it
# ended; true when it holds.  $1 json out, $2 log, rest: loadclient
# arguments.  Uses the caller's WORK and BIN.
run_client_bg() {
	local json=$1 log=$2 status=$WORK/status
	shift 2
	rm -f "$status"
	"$BIN/loadclient" --status-file "$status" --json "$json" "$@" 2>"$log" &
	CHILD=$!
	while kill -0 "$CHILD" 2>/dev/null; do
		case $(cat "$status" 2>/dev/null || true) in hold | done) break ;; esac
		sleep 0.2
	done
	[ "$(cat "$status" 2>/dev/null || true)" = hold ]
}

# Waits for the loadclient started by run_client_bg; shows its log ($1).
finish_client() {
	wait "$CHILD" || say "loadclient exited with $? (see its report)"
	CHILD=""
	sed 's/^/    /' "$1" >&2
}

# The files a Redis database's processes keep on this machine (sidecar.h:
# /tmp/sse-cgi-UID-HASH.streams and .metrics, HASH the 64-bit FNV-1a of the
# URL as configured), removed once the run is over.  $1: the user the
# servers ran as; the rest: the database URLs.
remove_redis_sidecars() {
	local uid
	uid=$(id -u "$1") || return 0
	shift
	python3 - "$uid" "$@" <<'PY'
import os, sys
uid = sys.argv[1]
for url in sys.argv[2:]:
    h = 14695981039346656037
    for b in url.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    for suffix in (".streams", ".metrics"):
        try:
            os.unlink(f"/tmp/sse-cgi-{uid}-{h:016x}{suffix}")
        except FileNotFoundError:
            pass
PY
}

# The run's facts for its report, exported as $1_DATE, _NPROC, _CPU,
# _KERNEL, _COMMIT (marked when the tree has uncommitted changes),
# _ELAPSED (seconds since START), _LOAD_START (LOAD_START) and _LOAD_END.
export_run_facts() {
	local p=$1 commit
	commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ "$commit" != unknown ] && [ -n "$(git -C "$REPO" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		commit="$commit (with uncommitted changes)"
	fi
	export "${p}_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${p}_NPROC=$(nproc)" \
		"${p}_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"${p}_KERNEL=$(uname -r)" "${p}_COMMIT=$commit" \
		"${p}_ELAPSED=$(($(date +%s) - START))" "${p}_LOAD_START=$LOAD_START" \
		"${p}_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)"
}
