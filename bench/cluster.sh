#!/usr/bin/env bash
# bench/cluster.sh: several web machines on one Redis (issue 19), the two
# setups side by side in the same run, in alternating rounds:
#
#   hub    two fronts, each nginx + events.fcgi --listen + post.fcgi (under
#          spawn-fcgi, -F CLUSTER_POST_F (4) per front: one per poster of
#          the posts/s step, as post.fcgi answers one post at a time),
#          every sse-cgi.conf
#          with `database = redis://127.0.0.1:PORT` on the one Redis;
#   nchan  two nginx + nchan, both with `nchan_redis_pass` to an upstream
#          of `nchan_redis_server redis://127.0.0.1:PORT` (nchan's
#          distributed Redis mode; the newer spelling of nchan_redis_url).
#
# Each setup gets a redis-server of its own, started here in a temp folder
# on a 127.0.0.1 port with the settings README "Several machines" asks for
# (appendonly yes, appendfsync always, maxmemory-policy noeviction, no RDB
# snapshots), so that neither setup inherits the other's data or AOF.
# CLUSTER_APPENDFSYNC=everysec tries the other fsync policy (both setups).
# nginx runs one worker per front, as bench/vps.sh does.
#
# Per setup, at N = CLUSTER_N (2000) listeners split over the two fronts
# (loadclient --url-stream twice: listener i on front i mod 2, as a load
# balancer would spread them), all on one channel:
#   - delivery: CLUSTER_RATE (5) posts/s for CLUSTER_POST_S (20) s, all
#     posted on front A (so front B's listeners get every message through
#     Redis): p50 / p99 per front and overall, lost, duplicates, order;
#   - CPU split over the posting phase: Redis, the hubs (events.fcgi and
#     post.fcgi of both fronts), nginx (both; with nchan, nchan's work),
#     each as % of one core (bench/sampler cpu, three at once);
#   - posts/s: CLUSTER_POSTERS (8) closed-loop posters spread over both
#     fronts (--url-post twice) for CLUSTER_POST_BENCH_S (10) s, no
#     listener, and the CPU split over it;
#   - Redis commands processed (those run inside Lua scripts included)
#     over the posting phase and over the posts/s step, per post.
# The order of the setups is swapped every round (hub then nchan, nchan
# then hub, ...); CLUSTER_ROUNDS (3) rounds; bench/cluster_report.py prints
# each round, the medians and the median of the per-round p99 ratios
# hub / nchan (the target: 0 lost, ratio <= 1).
#
#   make bench-cluster     (~6 min at the defaults)
#
# Needs nginx (nginx-light), spawn-fcgi, nchan (libnginx-mod-nchan) and
# redis-server; CLUSTER_INSTALL=1 lets this script apt-get install the
# missing ones, otherwise it names them.  Runs as root (nginx and the
# FastCGI servers as CLUSTER_USER, www-data).  Loopback only, ports from
# CLUSTER_PORT (19000) up to CLUSTER_PORT_MAX (19099); every tool has its own
# time limit; no new setup starts after CLUSTER_BUDGET_S; everything
# started here is stopped by PID.  Nothing is raised: the limits the run is
# under are printed, and the load average at the start and end recorded.
#
# Writes BENCH_OUT/cluster.md and cluster.json (BENCH_OUT: bench/results).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$REPO/build/bench}
MODES=${CLUSTER_MODES:-hub nchan}
ROUNDS=${CLUSTER_ROUNDS:-3}
N=${CLUSTER_N:-2000}
RATE=${CLUSTER_RATE:-5}
POST_S=${CLUSTER_POST_S:-20}
POSTERS=${CLUSTER_POSTERS:-8}
POST_BENCH_S=${CLUSTER_POST_BENCH_S:-10}
POST_F=${CLUSTER_POST_F:-4}
FSYNC=${CLUSTER_APPENDFSYNC:-always}
PORT0=${CLUSTER_PORT:-19000}
PORT_MAX=${CLUSTER_PORT_MAX:-19099}
BUDGET_S=${CLUSTER_BUDGET_S:-900}
OUT=${BENCH_OUT:-$REPO/bench/results}
USER_=${CLUSTER_USER:-www-data}
NGINX=/usr/sbin/nginx
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
REDIS_SERVER=/usr/bin/redis-server
REDIS_CLI=/usr/bin/redis-cli

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

need_built loadclient sampler
for m in $MODES; do
	case $m in hub | nchan) ;; *) die "unknown setup $m (hub nchan)" ;; esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$N" -lt 2 ]; then die "CLUSTER_ROUNDS >= 1 and CLUSTER_N >= 2"; fi
[ "$(id -u)" = 0 ] || die "run as root: nginx, the hubs and post.fcgi run as $USER_"
# what this bench needs and the project does not (nchan), or the tests only
# (redis-server): installed when asked to, else named
missing=()
[ -x "$NGINX" ] || missing+=(nginx-light)
command -v spawn-fcgi >/dev/null || missing+=(spawn-fcgi)
[ -x "$REDIS_SERVER" ] || missing+=(redis-server)
[ -x "$REDIS_CLI" ] || missing+=(redis-tools)
case " $MODES " in *" nchan "*) [ -f "$NCHAN_SO" ] || missing+=(libnginx-mod-nchan) ;; esac
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${CLUSTER_INSTALL:-0}" = 1 ]; then
		say "installing ${missing[*]} (bench dependencies)"
		apt-get install -y "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
	else
		die "missing: apt-get install -y ${missing[*]}   (or CLUSTER_INSTALL=1 make bench-cluster)"
	fi
fi

START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/sse-cluster.XXXXXX)
chmod 755 "$WORK"
BG=()                 # background tools (loadclient, samplers) still to reap
SERVERS=()            # PIDs of this setup's servers, stopped in reverse
PIDFILES=()           # spawn-fcgi's pid files (post.fcgi)

stop_servers() {
	local i f p
	for f in "${PIDFILES[@]}"; do
		[ -f "$f" ] || continue
		for p in $(cat "$f"); do stop_pid "$p"; done
	done
	PIDFILES=()
	for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do stop_pid "${SERVERS[i]}"; done
	SERVERS=()
}
wait_bg() {   # every tool of BG has ended by itself (each has its own limit)
	local p
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
	BG=()
}
REDIS_URLS=()   # the databases used: their files in /tmp go at the end
cleanup() {
	local rc=$? p
	for p in "${BG[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true
	done
	BG=()
	stop_servers
	remove_redis_sidecars "$USER_" "${REDIS_URLS[@]}"
	if [ "${CLUSTER_KEEP:-0}" = 1 ]; then say "kept $WORK (CLUSTER_KEEP=1)"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
print_limits

left() { echo $((START + BUDGET_S - $(date +%s))); }
NEXT_PORT=$PORT0
take_port() {   # the next free port of the range, into PORT_TAKEN
	local p=$NEXT_PORT
	while port_answers "$p"; do p=$((p + 1)); done
	[ "$p" -le "$PORT_MAX" ] || die "no free port left in $PORT0..$PORT_MAX"
	PORT_TAKEN=$p
	NEXT_PORT=$((p + 1))
}

# redis-server as $USER_ in $1, on 127.0.0.1:$2; sets REDIS_PID.
start_redis() {
	local d=$1 port=$2 i
	mkdir -p "$d"
	chown "$USER_:" "$d"
	setpriv --reuid="$USER_" --regid="$USER_" --init-groups \
		"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 \
		--dir "$d" --save "" --appendonly yes --appendfsync "$FSYNC" \
		--maxmemory-policy noeviction --logfile "$d/redis.log" --daemonize no \
		>/dev/null 2>&1 &
	REDIS_PID=$!
	SERVERS+=("$REDIS_PID")
	for i in $(seq 1 50); do
		[ "$("$REDIS_CLI" -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "redis-server did not start on port $port: $(tail -3 "$d/redis.log" 2>/dev/null)"
}
redis_commands() {   # total_commands_processed of the Redis on port $1
	"$REDIS_CLI" -p "$1" info stats 2>/dev/null |
		sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'
}

# nginx in $1 on port $2 with the http-level lines $3 and the locations $4
# (nchan loaded when $5 = nchan), one worker; appends its PID to SERVERS.
start_nginx() {
	run_nginx "$1" 1 "$2" "${5:-}" "$3" "$4"
	SERVERS+=("$NGINX_PID")
}

# One front of setup $1 in folder $2 on port $3 with Redis on port $4:
# appends to STREAM_URLS, POST_URLS, HUB_ROOTS (events + post.fcgi) and
# NGINX_ROOTS.
start_front() {
	local mode=$1 d=$2 port=$3 rport=$4 hub
	mkdir -p "$d"
	if [ "$mode" = nchan ]; then
		start_nginx "$d" "$port" "
  upstream cluster_redis { nchan_redis_server redis://127.0.0.1:$rport; }" "
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id \$arg_channel;
      nchan_eventsource_ping_interval 15;   # = our keepalive_s
      nchan_redis_pass cluster_redis;
    }
    location = /pub {
      nchan_publisher http;
      nchan_channel_id \$arg_channel;
      nchan_message_buffer_length 256;
      nchan_message_timeout 1h;
      nchan_redis_pass cluster_redis;
    }" nchan
		STREAM_URLS+=("http://127.0.0.1:$port/sub")
		POST_URLS+=("http://127.0.0.1:$port/pub")
		NGINX_ROOTS+=(--pid "$NGINX_PID")
		return 0
	fi
	mkdir -p "$d/cgi-bin" "$d/run" "$d/logs"
	cp "$BINDIR/events.fcgi" "$BINDIR/post.fcgi" "$d/cgi-bin/"
	printf 'database = redis://127.0.0.1:%s\nrate_limit = 0\nmax_streams = 0\n%s\n' \
		"$rport" "${BENCH_CONF_EXTRA:-}" >"$d/cgi-bin/sse-cgi.conf"
	REDIS_URLS+=("redis://127.0.0.1:$rport")
	chown "$USER_:" "$d/run"
	setpriv --reuid="$USER_" --regid="$USER_" --init-groups \
		"$d/cgi-bin/events.fcgi" --listen "unix:$d/run/events.sock" \
		2>"$d/logs/events.log" &
	hub=$!
	SERVERS+=("$hub")
	PIDFILES+=("$d/run/post.pids")
	spawn-fcgi -s "$d/run/post.sock" -F "$POST_F" -u "$USER_" -g "$USER_" -U "$USER_" \
		-G "$USER_" -P "$d/run/post.pids" -- "$d/cgi-bin/post.fcgi" >/dev/null ||
		die "spawn-fcgi could not start post.fcgi"
	for _ in $(seq 1 50); do [ -S "$d/run/events.sock" ] && break; sleep 0.1; done
	[ -S "$d/run/events.sock" ] || die "events.fcgi --listen did not start: $(cat "$d/logs/events.log")"
	start_nginx "$d" "$port" "" "$(hub_locations "$d")"
	STREAM_URLS+=("http://127.0.0.1:$port/cgi-bin/events.fcgi")
	POST_URLS+=("http://127.0.0.1:$port/cgi-bin/post.fcgi")
	HUB_ROOTS+=(--pid "$hub" --pidfile "$d/run/post.pids")
	NGINX_ROOTS+=(--pid "$NGINX_PID")
}

# The CPU of Redis, the hubs and nginx over $2 s, into $1-{redis,hubs,nginx}.json,
# three samplers at once in the background (BG).
sample_cpu() {
	local pre=$1 secs=$2
	"$BIN/sampler" cpu --pid "$REDIS_PID" --interval "$secs" --json "$pre-redis.json" &
	BG+=($!)
	if [ ${#HUB_ROOTS[@]} -gt 0 ]; then
		"$BIN/sampler" cpu "${HUB_ROOTS[@]}" --interval "$secs" --json "$pre-hubs.json" &
		BG+=($!)
	fi
	"$BIN/sampler" cpu "${NGINX_ROOTS[@]}" --interval "$secs" --json "$pre-nginx.json" &
	BG+=($!)
}

# Setup $1 in round $2: start, measure, stop.
run_setup() {
	local mode=$1 round=$2 tag="r$2-$1" d rport c0 c1 c2 c3 status ch q="" raw=()
	d=$WORK/$tag
	ch=cluster-$mode-r$round
	STREAM_URLS=() POST_URLS=() HUB_ROOTS=() NGINX_ROOTS=()
	take_port
	rport=$PORT_TAKEN
	start_redis "$d/redis" "$rport"
	take_port
	start_front "$mode" "$d/front-a" "$PORT_TAKEN" "$rport"
	take_port
	start_front "$mode" "$d/front-b" "$PORT_TAKEN" "$rport"
	say "round $round, $mode: Redis $REDIS_PID on 127.0.0.1:$rport, fronts ${STREAM_URLS[*]}"
	if [ "$mode" = nchan ]; then
		q="?channel=$ch"     # the channel travels in the publisher's query
		raw=(--post-raw)
	fi
	printf '{"mode":"%s","round":%s,"redis_port":%s,"fronts":["%s","%s"],"load":"%s"}\n' \
		"$mode" "$round" "$rport" "${STREAM_URLS[0]}" "${STREAM_URLS[1]}" \
		"$(cut -d' ' -f1-3 /proc/loadavg)" >"$WORK/$tag-info.json"
	# warm-up: both fronts have posted (post.fcgi, nchan's Redis scripts)
	"$BIN/loadclient" --url-post "${POST_URLS[0]}$q" --url-post "${POST_URLS[1]}$q" \
		--channel "$ch" "${raw[@]}" -k 2 -n 0 -m 6 -r 10 --warmup 0 --drain 0 \
		--timeout 20 --quiet >/dev/null 2>&1 || true
	sleep 1

	local open_s=$((30 + N / 200)) cpu_s=$((POST_S > 4 ? POST_S - 2 : POST_S))
	say "round $round, $mode: N=$N listeners on 2 fronts, $RATE posts/s on front A for ${POST_S}s"
	"$BIN/loadclient" --url-stream "${STREAM_URLS[0]}?channel=$ch" \
		--url-stream "${STREAM_URLS[1]}?channel=$ch" --url-post "${POST_URLS[0]}$q" \
		--channel "$ch" "${raw[@]}" -n "$N" -m $((RATE * POST_S)) -r "$RATE" -k 4 \
		--detail --warmup 2000 --drain 5000 --open-timeout "$open_s" \
		--timeout $((open_s + 2 + POST_S + 5 + 30)) --status-file "$d/status" \
		--json "$WORK/$tag-n.json" 2>"$WORK/$tag-n.log" &
	local lc=$!
	BG+=("$lc")
	status=""
	while kill -0 "$lc" 2>/dev/null; do
		status=$(cat "$d/status" 2>/dev/null || true)
		case $status in posting | drain | hold | done) break ;; esac
		sleep 0.1
	done
	if [ "$status" = posting ]; then
		c0=$(redis_commands "$rport")
		sample_cpu "$WORK/$tag-cpu" "$cpu_s"
	else
		say "round $round, $mode: the posting phase never came ($status): no CPU sample"
	fi
	wait "$lc" || say "loadclient exited with $? (see its report)"
	c1=$(redis_commands "$rport")
	wait_bg
	sed 's/^/    /' "$WORK/$tag-n.log" >&2

	if [ "$POST_BENCH_S" != 0 ]; then
		say "round $round, $mode: posts/s, $POSTERS posters over both fronts, ${POST_BENCH_S}s"
		local pq=""
		[ "$mode" = nchan ] && pq="?channel=cluster-posts"
		"$BIN/loadclient" --url-post "${POST_URLS[0]}$pq" --url-post "${POST_URLS[1]}$pq" \
			--channel cluster-posts "${raw[@]}" -n 0 -m 100000 -r 0 -k "$POSTERS" \
			--warmup 0 --drain 0 --post-duration 2 --timeout 20 --quiet >/dev/null 2>&1 || true
		c2=$(redis_commands "$rport")
		"$BIN/loadclient" --url-post "${POST_URLS[0]}$pq" --url-post "${POST_URLS[1]}$pq" \
			--channel cluster-posts "${raw[@]}" -n 0 -m 100000 -r 0 -k "$POSTERS" \
			--warmup 0 --drain 0 --post-duration "$POST_BENCH_S" \
			--timeout $((POST_BENCH_S + 20)) --json "$WORK/$tag-posts.json" \
			2>"$WORK/$tag-posts.log" &
		lc=$!
		BG+=("$lc")
		sleep 1
		sample_cpu "$WORK/$tag-pcpu" $((POST_BENCH_S > 3 ? POST_BENCH_S - 2 : 1))
		wait_bg
		c3=$(redis_commands "$rport")
		sed 's/^/    /' "$WORK/$tag-posts.log" >&2
	fi
	printf '{"delivery":%s,"posts":%s}\n' "$(( ${c1:-0} - ${c0:-0} ))" \
		"$(( ${c3:-0} - ${c2:-0} ))" >"$WORK/$tag-redis.json"
	# the hubs' log lines (errors, outages), kept for the report
	cat "$d"/front-*/logs/events.log >"$WORK/$tag-events.log" 2>/dev/null || true
	stop_servers
}

tags=()
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order=$MODES; else order=$(echo "$MODES" | tr ' ' '\n' | tac | tr '\n' ' '); fi
	for mode in $order; do
		need=$((60 + N / 200 + POST_S + POST_BENCH_S))
		if [ "$(left)" -lt "$need" ]; then
			say "skipping round $round, $mode: the ${BUDGET_S}s budget is spent"
			continue
		fi
		run_setup "$mode" "$round"
		tags+=("r$round-$mode")
	done
done

export_run_facts C
export C_N="$N" C_RATE="$RATE" C_POST_S="$POST_S" C_POSTERS="$POSTERS" C_POST_BENCH_S="$POST_BENCH_S"
export C_POST_F="$POST_F" C_ROUNDS="$ROUNDS" C_APPENDFSYNC="$FSYNC"
export C_LIMITS; C_LIMITS="open files $(ulimit -Sn)/$(ulimit -Hn), processes $(ulimit -Su)/$(ulimit -Hu)"
export C_NGINX; C_NGINX=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
export C_NCHAN; C_NCHAN=$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo "?")
export C_REDIS; C_REDIS=$("$REDIS_SERVER" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
mkdir -p "$OUT"
python3 "$REPO/bench/cluster_report.py" "$WORK" "$OUT/cluster.json" "$OUT/cluster.md" "${tags[@]}"
cat "$OUT/cluster.md"
say "done in ${C_ELAPSED}s: $OUT/cluster.md"
