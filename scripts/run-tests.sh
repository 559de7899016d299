#!/usr/bin/env bash
# Runs cmocka test programs one after another and prints a total.
#
#   scripts/run-tests.sh LABEL PROGRAM...
#
# A PROGRAM may carry environment assignments before it, as one argument:
# "SSE_IT_MODE=cgid build/tests/test_apache" (no spaces inside values).
#
# Each program's own cmocka summary is shown as it runs; at the end one line
# "LABEL: N passed, N failed" sums them, and the exit status is non-zero if any
# test failed, any group's setup or teardown failed, or any program crashed
# without a summary (a sanitizer abort).
set -uo pipefail
label=$1; shift
passed=0 failed=0 broken=0
set -f   # the words of an argument are split, never globbed
for prog in "$@"; do
	# shellcheck disable=SC2086
	out=$(env $prog 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	# A group's setup or teardown that failed (the integration tests check
	# the web server's error log there) is no test of cmocka's count, and
	# cmocka's exit status does not say it either: counted here.
	g=$(printf '%s\n' "$out" | grep -c '^\[  FAILED  \] GROUP ')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + g))
	if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
		echo "!! $prog exited $rc without a cmocka summary" >&2
		broken=$((broken + 1))
	fi
done
failed=$((failed + broken))
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
