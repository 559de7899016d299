#!/usr/bin/env bash
# bench/rounds.sh: the hub against nginx + nchan in alternating rounds, the
# comparison issue 18 asks for: at each N of ROUNDS_NS ("300 3000"),
# ROUNDS_R (3) rounds of bench/vps.sh with only those two setups, the order
# swapped every round (hub then nchan, nchan then hub, ...) so that neither
# always runs on a warmer or a busier machine.  Each round is a whole
# vps.sh run (its own nginx, database and clients, all stopped by PID);
# the steps that compare nothing here are skipped (idle CPU is sampled for
# ROUNDS_IDLE_S only, no POST throughput, no stalled reader).
#
# Then bench/rounds_report.py writes BENCH_OUT/hub-rounds.md and .json:
# per N, each round's p50 / p99 / lost for both, the medians, and the
# median of the per-round p99 ratios hub / nchan (target: <= 1.3).
#
# Nothing is raised: vps.sh prints the limits the run is under (ulimit -n,
# inotify instances) and the load average at the start and end of each
# round.  Loopback only; every round is bounded by vps.sh's own budget.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS=${ROUNDS_NS:-300 3000}
R=${ROUNDS_R:-3}
IDLE_S=${ROUNDS_IDLE_S:-5}
OUT=${BENCH_OUT:-$REPO/bench/results}
mkdir -p "$OUT"
tags=()
for n in $NS; do
	for r in $(seq 1 "$R"); do
		if [ $((r % 2)) = 1 ]; then modes="hub nchan"; else modes="nchan hub"; fi
		tag=rounds-n$n-r$r
		echo "rounds: N = $n, round $r of $R: $modes" >&2
		# 2 nginx workers past 5,000 listeners, as bench-10k (2 descriptors
		# per stream and worker).
		workers=1
		[ "$n" -gt 5000 ] && workers=2
		VPS_MODES=$modes VPS_N=$n VPS_TAG=$tag VPS_IDLE_S=$IDLE_S VPS_STALL_S=0 \
			VPS_POST_BENCH_S=0 VPS_NGINX_WORKERS=$workers BENCH_OUT=$OUT \
			bash "$REPO/bench/vps.sh" >/dev/null
		tags+=("$tag")
	done
done
python3 "$REPO/bench/rounds_report.py" "$OUT" "$OUT/hub-rounds.json" "$OUT/hub-rounds.md" "${tags[@]}"
cat "$OUT/hub-rounds.md"
