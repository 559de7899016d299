#!/usr/bin/env bash
# bench/ab.sh: A/B of stream binaries under one Apache, runs alternating.
#
#   bench/ab.sh ROUNDS N DIR...
#
# Each DIR holds an events.fcgi (another build of the stream endpoint).  One
# private Apache (fcgid mode, the binaries of SSE_TEST_BINARIES or cgi-bin/
# for everything else) serves them in turn: for each round, for each DIR,
# that events.fcgi is installed into the site's cgi-bin (a CGI is exec'd
# anew for every request, so the next streams run it), N listeners open,
# 50 posts go out at 5/s, and the delivery line is printed.  At the end,
# the median p50 / p90 / p99 of each DIR over the rounds.
#
# Why not two `make bench` runs: the machine is shared and its speed drifts
# within minutes; alternating runs of one Apache see the same drift, so the
# difference between the variants is what stays.  Only the stream binary is
# swapped: compare writers (post.fcgi, ssectl) with two `make bench` runs
# whose SSE_TEST_BINARIES point at the two builds (bench/README.md).
#
# Bounded (every loadclient has its own timeout; leftover streams are waited
# for at most 40 s per run), loopback only, Apache stopped by PID on exit.
# Apache's settings and the wait for leftover streams are run.sh's own
# (bench/lib.sh); no system limit is raised, the ones in force are printed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$REPO/build/bench}
PORT=${BENCH_PORT:-18580}
MAX_WORKERS=400
say() { echo "ab: $*" >&2; }
die() { echo "ab: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[ $# -ge 3 ] || die "usage: bench/ab.sh ROUNDS N DIR..."
ROUNDS=$1 N=$2
shift 2
for d in "$@"; do
	[ -x "$d/events.fcgi" ] || die "$d/events.fcgi missing"
done
for t in loadclient sampler; do
	[ -x "$BIN/$t" ] || die "$BIN/$t missing: run make bench-tools"
done

WORK=$(mktemp -d /tmp/sse-ab.XXXXXX)
chmod 755 "$WORK"
SITE=$WORK/site
cleanup() {
	local rc=$?
	[ -f "$SITE/run/httpd.pid" ] && "$REPO/scripts/apache.sh" stop "$SITE" >/dev/null 2>&1
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
print_limits

start_apache fcgid
# the database exists and post.fcgi's FastCGI process runs
"$BIN/loadclient" --url-post "$BASE/cgi-bin/post.fcgi" --channel warm -n 0 -m 5 \
	-r 10 --warmup 0 --drain 0 --timeout 20 --quiet >/dev/null 2>&1 || true

for r in $(seq 1 "$ROUNDS"); do
	i=0
	for d in "$@"; do
		i=$((i + 1))
		install -m 755 "$d/events.fcgi" "$SITE/htdocs/cgi-bin/events.fcgi"
		ch=ab-$r-$i
		"$BIN/loadclient" --url-stream "$BASE/cgi-bin/events.fcgi?channel=$ch" \
			--url-post "$BASE/cgi-bin/post.fcgi" --channel "$ch" -n "$N" -m 50 -r 5 -k 4 \
			--warmup 2000 --drain 5000 --hold 1 --open-timeout 30 --timeout 90 \
			--json "$WORK/$i-$r.json" 2>"$WORK/$i-$r.log" || true
		echo "$d round $r: $(grep -o 'latency.*' "$WORK/$i-$r.log" || echo 'no result')" \
			"| $(grep -o 'delivery.*' "$WORK/$i-$r.log" || true)"
		streams_gone "$ch"
	done
done

i=0
for d in "$@"; do
	i=$((i + 1))
	python3 - "$d" "$WORK"/"$i"-*.json <<'EOF'
import json, statistics, sys
runs = [json.load(open(f))["delivery"]["latency_ms"] for f in sys.argv[2:]]
med = {q: statistics.median(r[q] for r in runs) for q in ("p50", "p90", "p99")}
print(f"{sys.argv[1]}: median over {len(runs)} runs: p50 {med['p50']:.2f} ms, "
      f"p90 {med['p90']:.2f} ms, p99 {med['p99']:.2f} ms")
EOF
done
