#!/usr/bin/env bash
# Runs the libFuzzer targets one after another (never two at once) and sums up.
#
#   tests/fuzz/run.sh fuzz SECONDS OUTDIR PROGRAM...
#       fuzzes each target for SECONDS (-max_total_time), starting from its
#       seed corpus tests/fuzz/corpus/NAME plus what earlier runs found
#       (OUTDIR/corpus/NAME, where new inputs are written; the seeds are
#       never touched); a crash is saved as OUTDIR/NAME-crash-<sha1>.
#   tests/fuzz/run.sh long RUNS SECONDS OUTDIR KEEPDIR PROGRAM...
#       fuzzes each target to RUNS executions (-runs), SECONDS being only a
#       safety cap (-max_total_time): stopping short of RUNS is a failure.
#       It starts from the seed corpus plus the kept corpus KEEPDIR/NAME,
#       grows a copy of the kept corpus in OUTDIR/long/NAME, and then
#       minimises what it grew with -merge=1 back into KEEPDIR/NAME: the
#       fewest inputs that, with the seeds, reach every feature reached (the
#       seeds themselves are never touched nor copied).  Prints per target
#       the executions, seconds, exec/s, coverage and features at start and
#       end, and the kept corpus before and after; a crash is saved as
#       OUTDIR/long/NAME-crash-<sha1>.
#   tests/fuzz/run.sh replay OUTDIR PROGRAM...
#       runs each target once over every file of its seed corpus, no fuzzing.
#
# PROGRAM is a path ending in fuzz_NAME.  Each target's full log goes to
# OUTDIR/NAME.log (long: OUTDIR/long/NAME.log; replay: OUTDIR/replay-NAME.log);
# its tail is shown when it fails.  The last line is "LABEL: N passed,
# N failed", counting targets, and the exit status is non-zero when any
# target failed.
set -uo pipefail
mode=$1; shift
if [ "$mode" = fuzz ]; then
	seconds=$1; shift
	label=fuzz
elif [ "$mode" = long ]; then
	runs=$1 seconds=$2; shift 2
	label=fuzz-long
else
	label=fuzz-replay
fi
out=$1; shift
if [ "$mode" = long ]; then
	keep=$1; shift
fi
here=$(dirname "$0")
mkdir -p "$out"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
max_len=${FUZZ_MAX_LEN:-8192}   # the default max_body: no longer body is read

passed=0 failed=0 summary=""
for prog in "$@"; do
	name=${prog##*/fuzz_}
	seeds=$here/corpus/$name
	if [ "$mode" = fuzz ]; then
		log=$out/$name.log
		mkdir -p "$out/corpus/$name"
		echo "fuzz: $name for ${seconds}s ..."
		"$prog" -max_total_time="$seconds" -max_len="$max_len" \
		        -print_final_stats=1 -artifact_prefix="$out/$name-" \
		        "$out/corpus/$name" "$seeds" >"$log" 2>&1
		rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		corpus=$(ls "$out/corpus/$name" | wc -l)
		line=$(printf '%-8s %12s executions, %5s inputs in corpus' \
		       "$name" "${execs:-?}" "$corpus")
	elif [ "$mode" = long ]; then
		work=$out/long/$name
		log=$out/long/$name.log
		rm -rf "$work" "$work.merged" && mkdir -p "$work" "$work.merged" "$keep/$name"
		cp -R "$keep/$name"/. "$work"/
		before=$(ls "$keep/$name" | wc -l)
		echo "fuzz-long: $name to $runs executions (at most ${seconds}s) ..."
		t0=$(date +%s)
		"$prog" -runs="$runs" -max_total_time="$seconds" -max_len="$max_len" \
		        -print_final_stats=1 -artifact_prefix="$out/long/$name-" \
		        "$work" "$seeds" >"$log" 2>&1
		rc=$?
		t1=$(date +%s)
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		secs=$((t1 - t0))
		rate=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
		# "#N INITED cov: C ft: F corp: ..." and "#N DONE cov: C ft: F ...".
		covft() { sed -n "s/^#[0-9]*[[:space:]]*$1 *cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p" "$log" | tail -1; }
		read -r cov0 ft0 <<<"$(covft INITED)"
		read -r cov1 ft1 <<<"$(covft DONE)"
		# Minimise into the kept corpus: merge into a copy of the seeds, so
		# that only inputs adding features beyond them are chosen, then drop
		# the seeds again (libFuzzer names what it adds by its SHA-1).
		cp -R "$seeds"/. "$work.merged"/
		if "$prog" -merge=1 -max_len="$max_len" "$work.merged" "$work" \
		           >"$log.merge" 2>&1; then
			for f in "$seeds"/*; do rm -f "$work.merged/${f##*/}"; done
			rm -rf "${keep:?}/$name" && mv "$work.merged" "$keep/$name"
		else
			echo "!! $name: -merge=1 failed (log $log.merge); $keep/$name unchanged" >&2
			[ "$rc" -eq 0 ] && rc=1
		fi
		after=$(ls "$keep/$name" | wc -l)
		if [ "$rc" -eq 0 ] && [ "${execs:-0}" -lt "$runs" ]; then
			echo "!! $name stopped short: ${execs:-?} of $runs executions in ${secs}s" >&2
			rc=1
		fi
		line=$(printf '%-8s %9s execs %6ss %7s exec/s  cov %s->%s ft %s->%s  kept %s->%s' \
		       "$name" "${execs:-?}" "$secs" "$rate" \
		       "${cov0:-?}" "${cov1:-?}" "${ft0:-?}" "${ft1:-?}" "$before" "$after")
		echo "  $line"
	else
		log=$out/replay-$name.log
		files=$(ls "$seeds" | wc -l)
		"$prog" -runs=0 -artifact_prefix="$out/replay-$name-" "$seeds" >"$log" 2>&1
		rc=$?
		line=$(printf '%-8s %4s corpus files' "$name" "$files")
	fi
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		summary+="  ok    $line"$'\n'
	else
		failed=$((failed + 1))
		summary+="  FAIL  $line (exit $rc; log $log)"$'\n'
		echo "!! $prog exited $rc; from $log:" >&2
		# The first report (sanitizer, failed invariant, timeout, leak).
		awk '/invariant failed|runtime error|ERROR: |SUMMARY: |deadly signal/ \
		     { on = 1 } on && n++ < 30' "$log" >&2
		sed -n 's/.*Test unit written to \(.*\)$/!! reproducer: \1/p' "$log" |
			sort -u >&2
	fi
done
printf '%s' "$summary"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
