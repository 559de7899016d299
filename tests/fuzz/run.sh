#!/usr/bin/env bash
# Runs the libFuzzer targets one after another (never two at once) and sums up.
#
#   tests/fuzz/run.sh fuzz SECONDS OUTDIR PROGRAM...
#       fuzzes each target for SECONDS (-max_total_time), starting from its
#       seed corpus tests/fuzz/corpus/NAME plus what earlier runs found
#       (OUTDIR/corpus/NAME, where new inputs are written; the seeds are
#       never touched); a crash is saved as OUTDIR/NAME-crash-<sha1>.
#   tests/fuzz/run.sh replay OUTDIR PROGRAM...
#       runs each target once over every file of its seed corpus, no fuzzing.
#
# PROGRAM is a path ending in fuzz_NAME.  Each target's full log goes to
# OUTDIR/NAME.log (replay: OUTDIR/replay-NAME.log); its tail is shown when it
# fails.  The last line is "LABEL: N passed, N failed", counting targets, and
# the exit status is non-zero when any target failed.
set -uo pipefail
mode=$1; shift
if [ "$mode" = fuzz ]; then
	seconds=$1; shift
	label=fuzz
else
	label=fuzz-replay
fi
out=$1; shift
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
