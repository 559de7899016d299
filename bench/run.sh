#!/usr/bin/env bash
# bench/run.sh: the sse-cgi benchmark matrix, against the real Apache
# harness (scripts/apache.sh).  Run it with `make bench`.
#
# For each MODE (fcgid, cgid):
#   - start Apache on a private site under /tmp with rate_limit = 0 and
#     max_streams = 0 in sse-cgi.conf, and MaxRequestWorkers raised so that
#     300 streams fit (Debian's 150 would cap them);
#   - memory of the idle server tree (the baseline, after a few posts);
#   - for N in 10 100 300 listeners: 5 posts/s for 10 s, every (listener,
#     message) checked, delivery latency; memory with the N streams open;
#     with the largest N, CPU of the tree over 30 s of idle streams;
#   - POST throughput with 8 concurrent posters for 10 s;
# then post.fcgi as plain CGI without a server (fork/exec per request).
#
# Bounded: every tool has its own time limit, the whole run stops starting
# new steps after BENCH_BUDGET_S (480 s), and everything started here is
# stopped by PID on exit.  Loopback only.
#
# Writes bench/results/latest.md and latest.json (BENCH_OUT), and, when
# BENCH_OUT is bench/results, the table into bench/README.md between its
# "bench:latest" markers.
#
# Environment (optional): BENCH_BIN (tools, default build/bench), BENCH_PORT
# (first port tried, 18480), BENCH_MODES ("fcgid cgid"), BENCH_NS
# ("10 100 300"), BENCH_RATE (5), BENCH_POST_S (10), BENCH_IDLE_S (30),
# BENCH_POSTERS (8), BENCH_POST_BENCH_S (10), BENCH_CGI_N (300),
# BENCH_MAX_WORKERS (400), BENCH_BUDGET_S (480), BENCH_OUT (bench/results),
# BENCH_CONF_EXTRA / BENCH_HTTPD_EXTRA (more sse-cgi.conf / httpd.conf lines).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$REPO/build/bench}
MODES=${BENCH_MODES:-fcgid cgid}
NS=${BENCH_NS:-10 100 300}
RATE=${BENCH_RATE:-5}
POST_S=${BENCH_POST_S:-10}
IDLE_S=${BENCH_IDLE_S:-30}
POSTERS=${BENCH_POSTERS:-8}
POST_BENCH_S=${BENCH_POST_BENCH_S:-10}
CGI_N=${BENCH_CGI_N:-300}
MAX_WORKERS=${BENCH_MAX_WORKERS:-400}
BUDGET_S=${BENCH_BUDGET_S:-480}
PORT=${BENCH_PORT:-18480}
OUT=${BENCH_OUT:-$REPO/bench/results}

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

need_built loadclient sampler postbench
[ -x "$REPO/scripts/apache.sh" ] || die "scripts/apache.sh missing"

START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$WORK"
SITE=$WORK/site
CHILD=""     # a tool running in the background, stopped by PID on exit

cleanup() {
	local rc=$?
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	if [ -f "$SITE/run/httpd.pid" ]; then
		"$REPO/scripts/apache.sh" stop "$SITE" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
print_limits

left() { echo $((START + BUDGET_S - $(date +%s))); }
# Is there time for a step of about $1 seconds?
afford() {
	if [ "$(left)" -lt "$1" ]; then
		say "skipping $2: the ${BUDGET_S}s budget is spent"
		echo "{\"skipped\":\"budget\"}" >"$3"
		return 1
	fi
}

max_n=0
for n in $NS; do [ "$n" -gt "$max_n" ] && max_n=$n; done

# One Apache per mode: start_apache / stop_apache, poke, streams_gone, and
# the load client: run_client_bg / finish_client (lib.sh).

# --- the matrix ---------------------------------------------------------------
for mode in $MODES; do
	# a mode needs about 2 min; skip it whole if that is not left
	if [ "$(left)" -lt 90 ]; then
		say "skipping mode $mode: the ${BUDGET_S}s budget is spent"
		continue
	fi
	start_apache "$mode"
	echo "{\"mode\":\"$mode\",\"url\":\"$BASE\",\"max_request_workers\":$MAX_WORKERS}" >"$WORK/$mode-info.json"

	# Warm up: the database exists, post.fcgi has run (in fcgid mode its
	# FastCGI process stays), then the baseline tree with no stream.
	"$BIN/loadclient" --url-post "$BASE/cgi-bin/post.fcgi" --channel "bench-warm" -n 0 -m 5 \
		-r 10 --warmup 0 --drain 0 --timeout 20 --quiet >/dev/null 2>&1 || true
	sleep 1
	"$BIN/sampler" mem --pid "$MASTER" --json "$WORK/$mode-mem0.json"

	for n in $NS; do
		ch=bench-$mode-$n
		hold=2
		[ "$n" = "$max_n" ] && hold=$((IDLE_S + 6))
		need=$((POST_S + hold + 20))
		afford "$need" "$mode N=$n" "$WORK/$mode-n$n.json" || continue
		say "$mode: N=$n listeners, $RATE posts/s for ${POST_S}s"
		if run_client_bg "$WORK/$mode-n$n.json" "$WORK/$mode-n$n.log" \
			--url-stream "$BASE/cgi-bin/events.fcgi?channel=$ch" \
			--url-post "$BASE/cgi-bin/post.fcgi" --channel "$ch" \
			-n "$n" -m $((RATE * POST_S)) -r "$RATE" -k 4 --detail \
			--warmup 2000 --drain 5000 --hold "$hold" --open-timeout 30 \
			--timeout $((30 + 2 + POST_S + 5 + hold + 20)); then
			"$BIN/sampler" mem --pid "$MASTER" --json "$WORK/$mode-mem$n.json"
			if [ "$n" = "$max_n" ]; then
				say "$mode: CPU of $n idle streams over ${IDLE_S}s"
				"$BIN/sampler" cpu --pid "$MASTER" --interval "$IDLE_S" \
					--json "$WORK/$mode-cpu.json"
			fi
		else
			say "$mode: N=$n never reached the hold phase: no memory/CPU sample"
		fi
		finish_client "$WORK/$mode-n$n.log"
		streams_gone "$ch"
	done

	if afford $((POST_BENCH_S + 25)) "$mode post throughput" "$WORK/$mode-posts.json"; then
		say "$mode: POST throughput, $POSTERS concurrent posters for ${POST_BENCH_S}s"
		# unmeasured: lets mod_fcgid spawn its post.fcgi processes
		"$BIN/loadclient" --url-post "$BASE/cgi-bin/post.fcgi" --channel "bench-posts" -n 0 \
			-m 100000 -r 0 -k "$POSTERS" --warmup 0 --drain 0 --post-duration 2 \
			--timeout 20 --quiet >/dev/null 2>&1 || true
		"$BIN/loadclient" --url-post "$BASE/cgi-bin/post.fcgi" --channel "bench-posts" -n 0 \
			-m 100000 -r 0 -k "$POSTERS" --warmup 0 --drain 0 \
			--post-duration "$POST_BENCH_S" --timeout $((POST_BENCH_S + 20)) \
			--json "$WORK/$mode-posts.json" 2>"$WORK/$mode-posts.log" || true
		sed 's/^/    /' "$WORK/$mode-posts.log" >&2
		"$BIN/sampler" mem --pid "$MASTER" --json "$WORK/$mode-mem-after-posts.json"
	fi
	stop_apache
done

if afford 30 "plain-CGI post.fcgi" "$WORK/cgi.json"; then
	say "post.fcgi as plain CGI, $CGI_N requests"
	"$BIN/postbench" --bin "$BINDIR/post.fcgi" -n "$CGI_N" --timeout 60 \
		--json "$WORK/cgi.json" || say "postbench reported failures"
fi

# The static build (make static), when it is there and newer than every
# source: the same measurement, to show what dynamic linking costs.
STATIC_POST=$REPO/build/static/dist/cgi-bin/post.fcgi
if [ -x "$STATIC_POST" ] && [ -z "$(find "$REPO/src" -newer "$STATIC_POST" -print -quit)" ] &&
	afford 30 "plain-CGI static post.fcgi" "$WORK/cgi-static.json"; then
	say "static post.fcgi (make static) as plain CGI, $CGI_N requests"
	"$BIN/postbench" --bin "$STATIC_POST" -n "$CGI_N" --timeout 60 \
		--json "$WORK/cgi-static.json" || say "postbench reported failures"
fi

# --- the report -----------------------------------------------------------------
export_run_facts B
export B_ARCH B_APACHE
B_ARCH=$(uname -m)
B_APACHE=$(/usr/sbin/apache2 -v 2>/dev/null | sed -n 's/^Server version: //p' || true)
export B_MODES="$MODES" B_NS="$NS" B_RATE="$RATE" B_POST_S="$POST_S" B_IDLE_S="$IDLE_S"
export B_POSTERS="$POSTERS" B_POST_BENCH_S="$POST_BENCH_S" B_MAX_N="$max_n"
export B_MAX_WORKERS="$MAX_WORKERS"
mkdir -p "$OUT"
# the README's table only follows the real results folder, not a BENCH_OUT
readme=""
[ "$(cd "$OUT" && pwd)" = "$REPO/bench/results" ] && readme=$REPO/bench/README.md
python3 "$REPO/bench/report.py" "$WORK" "$OUT/latest.json" "$OUT/latest.md" $readme
cat "$OUT/latest.md"
say "done in ${B_ELAPSED}s: $OUT/latest.md, $OUT/latest.json"
