#!/usr/bin/env bash
# Browser tests of the chat page (htdocs/): a real headless Chromium against
# the real Apache harness (scripts/apache.sh, mod_fcgid) serving htdocs/ and
# the cgi-bin binaries from a fresh site folder under /tmp.
#
#   tests/browser/run.sh            run everything (one to two minutes)
#   KEEP_SITE=1 tests/browser/run.sh  leave the site folder for a look
#   tests/browser/run.sh --test-name-pattern=restart   one test (node --test options)
#
# Needs node >= 20 and Debian's chromium (/usr/bin/chromium, or $CHROMIUM);
# a missing one is a failure, never a skip.  playwright-core comes from
# package-lock.json (npm ci) when node_modules is missing.  Screenshots go to
# tests/out/screenshots/, the TAP report to tests/out/browser.tap.  Apache is
# stopped at the end, by its PID, whatever happened.  The last line is
# "N passed, N failed".
#
# Environment (optional): CHROMIUM (browser binary), SSE_BROWSER_PORT (port;
# default: a free one), SSE_APACHE_SH (harness; default scripts/apache.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/tests/out
apache_sh=${SSE_APACHE_SH:-$repo/scripts/apache.sh}
chromium=${CHROMIUM:-/usr/bin/chromium}

die() {
	echo "browser tests: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# --- what the tests need, checked loudly -----------------------------------
command -v node >/dev/null 2>&1 ||
	die "node is not installed (apt-get install -y nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] 2>/dev/null ||
	die "node $(node --version) is too old: need 20 or newer"
[ -x "$chromium" ] ||
	die "chromium is not installed at $chromium (apt-get install -y chromium)"
"$chromium" --version >/dev/null 2>&1 ||
	die "$chromium does not run"
[ -x "$apache_sh" ] ||
	die "$apache_sh is missing: it starts the Apache these tests run against"
if [ ! -x "$repo/cgi-bin/events.fcgi" ] || [ ! -x "$repo/cgi-bin/post.fcgi" ] ||
   [ ! -x "$repo/ssectl" ]; then
	echo "browser tests: building the binaries first (make)"
	make -C "$repo" >/dev/null || die "make failed"
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
	command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install -y npm)"
	echo "browser tests: installing playwright-core (npm ci)"
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
		die "npm ci failed in tests/browser"
fi

# --- the site ---------------------------------------------------------------
port=${SSE_BROWSER_PORT:-$(node -e '
	const s = require("net").createServer().listen(0, "127.0.0.1", () => {
		console.log(s.address().port); s.close(); });')}
site=$(mktemp -d /tmp/sse-browser.XXXXXX) || die "mktemp failed"
mkdir -p "$out/screenshots"

# Small limits make the error paths easy to reach: a 1 KiB body cap (413),
# keepalives every 2 s (a closed tab's stream ends within 4 s), no rate limit.
# Rooms named *-private* need a token (lib.mjs mints them with this secret).
export SSE_TOKEN_SECRET=browser-test-secret-browser-test-secret-0123
export SSE_CONF_EXTRA='max_body = 1024
keepalive_s = 2
rate_limit = 0
token_secret_file = ../../data/token.secret
private_channels = *-private*'

# Every Apache PID this run has seen: the harness's pidfile changes when the
# restart test stops and starts Apache again.
apache_pids() {
	find "$site" -name '*.pid' -type f -exec cat {} + 2>/dev/null | tr -s ' \n' '\n' | grep -E '^[0-9]+$'
}

cleanup() {
	local rc=$? pid pids
	pids=$(apache_pids)
	"$apache_sh" stop "$site" >/dev/null 2>&1
	for pid in $pids; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.2
			done
			kill -9 "$pid" 2>/dev/null
		fi
	done
	if [ -d "$site/logs" ]; then
		rm -rf "$out/browser-apache-logs"
		cp -r "$site/logs" "$out/browser-apache-logs" 2>/dev/null
	fi
	if [ -n "${KEEP_SITE:-}" ]; then
		echo "browser tests: site kept in $site" >&2
	else
		rm -rf "$site"
	fi
	exit "$rc"
}
node_pid=
on_signal() {
	[ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
	echo "browser tests: interrupted" >&2
	echo "0 passed, 1 failed"
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

echo "browser tests: Apache (fcgid) on 127.0.0.1:$port, site $site"
"$apache_sh" start "$site" "$port" fcgid ||
	die "scripts/apache.sh could not start Apache (see $site/logs)"
[ -n "$(apache_pids)" ] || die "Apache started but left no PID file under $site"

# --- the tests ----------------------------------------------------------------
export SSE_REPO=$repo SSE_SITE=$site SSE_PORT=$port SSE_APACHE_SH=$apache_sh \
       SSE_OUT=$out CHROMIUM=$chromium
tap=$out/browser.tap
rm -f "$tap"
# In the background, so that a signal to this script is handled at once.
(cd "$here" && exec node --test --test-concurrency=1 \
	--test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" \
	"$@" "$here"/*.test.mjs) &
node_pid=$!
wait "$node_pid"
rc=$?
node_pid=

passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
passed=${passed:-0}
failed=$(( ${failed:-0} + ${cancelled:-0} ))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "browser tests: node --test exited $rc without a failing test" >&2
	failed=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
	echo "browser tests: no test ran" >&2
	failed=1
fi
echo "screenshots: $out/screenshots/"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
