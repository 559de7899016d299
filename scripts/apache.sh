#!/usr/bin/env bash
# apache.sh: a private Apache httpd serving sse-cgi the way a shared host does.
#
#   scripts/apache.sh start SITE PORT MODE   build SITE, start Apache, print URL
#   scripts/apache.sh stop  SITE             stop it and every process it made
#                                            (exit 1 if any needed SIGKILL)
#   scripts/apache.sh fg    SITE PORT MODE   start, stay in the foreground,
#                                            stop cleanly on Ctrl-C / SIGTERM
#   scripts/apache.sh ssectl SITE ARGS...    run ssectl on SITE's database, as
#                                            the user Apache serves as
#
# MODE is "fcgid" (mod_fcgid + mod_cgid loaded, as on most shared hosts) or
# "cgid" (mod_cgid only).  In both modes the handler mapping comes from the
# shipped cgi-bin/.htaccess alone (AllowOverride All), never from this
# server config, so the tests exercise the file users upload.  mod_fcgid
# keeps its stock defaults.  Used by make run, make test, the browser tests
# and the benchmark (see scripts/NOTES-apache.md for the facts behind it).
#
# SITE is laid out like a cPanel account (public_html/cgi-bin inside the
# document root, data outside it):
#   SITE/htdocs/                  copy of the repo's htdocs/
#   SITE/htdocs/cgi-bin/          events.fcgi, post.fcgi, .htaccess, sse-cgi.conf
#   SITE/data/sse.db              the database (writable by the serving user)
#   SITE/bin/ssectl               copy of ssectl, if built
#   SITE/conf/httpd.conf          complete standalone config (generated)
#   SITE/logs/error.log, access.log (access: %D = microseconds taken)
#   SITE/run/                     httpd.pid, cgid socket, fcgid sockets
# Starting again on an existing SITE refreshes everything but SITE/data.
#
# Environment (all optional):
#   SSE_TEST_BINARIES  folder holding events.fcgi and post.fcgi to serve
#                      (default: the repo's cgi-bin/; e.g. build/san/cgi-bin)
#   SSE_TEST_SSECTL    ssectl binary to copy (default: the repo's ssectl)
#   SSE_HTACCESS       .htaccess to ship (default: the repo's cgi-bin/.htaccess)
#   SSE_CONF_EXTRA     lines appended to sse-cgi.conf (e.g. "keepalive_s = 1")
#   SSE_TOKEN_SECRET   written to SITE/data/token.secret (mode 600, the serving
#                      user's), for token_secret_file = ../../data/token.secret
#   SSE_HTTPD_EXTRA    lines appended to httpd.conf (e.g. "SetOutputFilter
#                      DEFLATE", "MaxRequestWorkers 400"); later lines win
#   SSE_APACHE_SCRIPTALIAS=1  also "ScriptAlias /cgi-bin/ SITE/htdocs/cgi-bin/",
#                      as cPanel's vhost template does
#   SSE_APACHE_MPM     event (default) or prefork
#   SSE_APACHE_LOGLEVEL  LogLevel line (default "warn")
#   SSE_APACHE_USER    user Apache serves as when started by root (www-data)
#   APACHE_BIN, APACHE_MODULES  (/usr/sbin/apache2, /usr/lib/apache2/modules)
#   SSE_APACHE_PASSENV  names of further variables to hand to the binaries,
#                      e.g. "SSE_KEEPALIVE_S" (SSE_<KEY> overrides a key:
#                      docs/PROTOCOL.md, "Environment overrides");
#                      nothing else from the caller's environment reaches them
# ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS, when set, are always passed
# (PassEnv for the request; FcgidInitialEnv too in fcgid mode, since a
# FastCGI process reads them when it starts).
#
# Never touches /etc/apache2 or the system's apache2 service; needs no root
# for a port >= 1024.  Run as root, Apache drops to SSE_APACHE_USER, so SITE
# must be traversable by that user: a SITE under /tmp (mktemp -d) is.
set -euo pipefail
umask 022 # everything made here must be readable by Apache's user

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APACHE_BIN=${APACHE_BIN:-/usr/sbin/apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
START_TIMEOUT=10   # seconds to wait for the port to answer
STOP_TIMEOUT=15    # seconds to wait for Apache and its children to exit

die() { echo "apache.sh: $*" >&2; exit 1; }
say() { echo "apache.sh: $*" >&2; }

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed -n '1,10p' >&2
	exit 2
}

# Can something be reached on 127.0.0.1:$1?
port_answers() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- process bookkeeping ----------------------------------------------------
# "pid starttime" of every process that belongs to the Apache of SITE:
#  - its session: "apache2 -k start" detaches with setsid(), so the master,
#    its children, the cgid daemon, the fcgid process manager and every
#    CGI/FastCGI process share the session id = master pid, and keep it
#    when orphaned (a CGI whose worker died is re-parented to init).  Only
#    members whose command line names SITE/ count ("apache2 -f SITE/conf/..",
#    "SITE/htdocs/cgi-bin/events.fcgi"), so a stale pid file can never
#    point at somebody else's session;
#  - anything whose argv[0] starts with SITE/ (a CGI that called setsid()
#    itself, or the leftovers of a master that died earlier);
#  - every descendant of those (e.g. a shell CGI's sleep).
# The start time (field 22 of /proc/PID/stat) guards against pid reuse.
family() {
	local sid=$1 site=$2 d p stat cmd added
	local -a f args all=()
	local -A parent=() start=() fam=()
	# Fork-free on purpose: forks are slow on small VMs and stop polls this.
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		{ read -r stat <"$d/stat"; } 2>/dev/null || continue
		# shellcheck disable=SC2206 # numbers only: split on blanks
		f=(${stat##*) })
		# f[0] state, f[1] ppid, f[2] pgrp, f[3] session ... f[19] starttime
		[ "${f[0]}" = Z ] && continue
		parent[$p]=${f[1]}
		start[$p]=${f[19]}
		all+=("$p")
		{ mapfile -d '' -t args <"$d/cmdline"; } 2>/dev/null || continue
		[ ${#args[@]} -gt 0 ] || continue
		cmd=" ${args[*]}"
		if { [ -n "$sid" ] && [ "${f[3]}" = "$sid" ] && [[ $cmd == *"$site/"* ]]; } ||
			[[ ${args[0]} == "$site/"* ]]; then
			fam[$p]=1
		fi
	done
	added=1
	while [ "$added" = 1 ]; do
		added=0
		for p in "${all[@]}"; do
			if [ -z "${fam[$p]:-}" ] && [ -n "${fam[${parent[$p]}]:-}" ]; then
				fam[$p]=1
				added=1
			fi
		done
	done
	for p in "${!fam[@]}"; do
		echo "$p ${start[$p]}"
	done
}

# Is "pid starttime" ($1 $2) still the same live (non-zombie) process?
alive() {
	local stat
	local -a f
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	# shellcheck disable=SC2206
	f=(${stat##*) })
	[ "${f[0]}" != Z ] && [ "${f[19]}" = "$2" ]
}

# The live master pid of SITE $1 from its pid file, if it is ours.
master_of() {
	local pid stat
	local -a args
	[ -f "$1/run/httpd.pid" ] || return 1
	pid=$(cat "$1/run/httpd.pid")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	{ read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
	[[ ${stat##*) } == Z* ]] && return 1
	{ mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
	[[ " ${args[*]} " == *" $1/conf/httpd.conf "* ]] || return 1
	echo "$pid"
}

# --- stop -------------------------------------------------------------------
# Keep only the entries of list $1 ("pid starttime" lines) still alive.
still_alive() {
	local p st
	while read -r p st; do
		if [ -n "$p" ] && alive "$p" "$st"; then echo "$p $st"; fi
	done <<<"$1"
}

# Signal $1 to every pid of list $2.
signal_all() {
	local p st
	while read -r p st; do
		if [ -n "$p" ]; then kill "-$1" "$p" 2>/dev/null || true; fi
	done <<<"$2"
}

# Wait up to $2 tenths of a second until nothing of SITE $1's family is
# alive; keeps adding newcomers.  Leaves the survivors in $procs.
wait_gone() {
	local site=$1 n=$2 t=0
	while :; do
		procs=$(printf '%s\n%s\n' "$procs" "$(family "$master" "$site")" |
			sed '/^$/d' | sort -u)
		procs=$(still_alive "$procs")
		[ -z "$procs" ] && return 0
		[ "$t" -ge "$n" ] && return 1
		sleep 0.2
		t=$((t + 2))
	done
}

cmd_stop() {
	local site=$1 pidfile master="" scripts procs="" killed=""
	pidfile=$site/run/httpd.pid
	[ -f "$pidfile" ] && master=$(cat "$pidfile")
	case $master in
	'' | *[!0-9]*) master="" ;;
	esac
	procs=$(family "$master" "$site")
	if [ -z "$procs" ]; then
		rm -f "$pidfile"
		say "nothing running for $site"
		return 0
	fi
	# 1. SIGTERM the CGI/FastCGI processes first.  A worker blocked on a
	#    silent stream otherwise holds Apache's shutdown for ~10 s (the
	#    master SIGKILLs such children after 9 s), and mod_cgid leaves
	#    running scripts behind as orphans.  Give them 2 s.
	scripts=$(ps -o pid= -o args= -p "$(echo "$procs" | awk '{print $1}' | paste -sd,)" 2>/dev/null |
		awk -v bin="$APACHE_BIN" '$2 != bin {print $1}') || true
	scripts=$(echo "$procs" | awk -v l=" $(echo "$scripts" | paste -sd' ') " 'index(l, " " $1 " ")')
	if [ -n "$scripts" ]; then
		signal_all TERM "$scripts"
		local t=0
		while [ -n "$(still_alive "$scripts")" ] && [ "$t" -lt 20 ]; do
			sleep 0.2
			t=$((t + 2))
		done
		scripts=$(still_alive "$scripts")
		if [ -n "$scripts" ]; then
			killed=$(echo "$scripts" | awk '{print $1}' | paste -sd' ')
			say "scripts ignored SIGTERM for 2s, SIGKILL: $killed"
			signal_all KILL "$scripts"
		fi
	fi
	# 2. SIGTERM the master: it stops its children, the cgid daemon and the
	#    fcgid process manager (which SIGTERMs, then SIGKILLs, its apps).
	if master_of "$site" >/dev/null; then
		kill -TERM "$master" 2>/dev/null || true
	fi
	if ! wait_gone "$site" $((STOP_TIMEOUT * 10)); then
		# 3. Whatever is left after STOP_TIMEOUT: SIGKILL, by pid.
		say "still running after ${STOP_TIMEOUT}s, sending SIGKILL:"
		ps -o pid=,ppid=,user=,args= -p "$(echo "$procs" | awk '{print $1}' | paste -sd,)" >&2 || true
		killed="$killed $(echo "$procs" | awk '{print $1}' | paste -sd' ')"
		signal_all KILL "$procs"
		if ! wait_gone "$site" 20; then
			die "processes survived SIGKILL: $(echo "$procs" | awk '{print $1}' | paste -sd' ')"
		fi
	fi
	rm -f "$pidfile"
	if [ -n "$killed" ]; then
		say "stopped ($site), but only with SIGKILL for:$killed"
		return 1
	fi
	say "stopped ($site)"
}

# --- site layout --------------------------------------------------------------
build_site() {
	local site=$1 port=$2 mode=$3 user=$4
	local bindir=${SSE_TEST_BINARIES:-$REPO/cgi-bin}
	local htaccess=${SSE_HTACCESS:-$REPO/cgi-bin/.htaccess}
	local ssectl=${SSE_TEST_SSECTL:-$REPO/ssectl}
	local f

	for f in "$bindir/events.fcgi" "$bindir/post.fcgi"; do
		[ -x "$f" ] || die "$f missing or not executable (run make, or set SSE_TEST_BINARIES)"
	done
	[ -f "$htaccess" ] || die "$htaccess missing"

	mkdir -p "$site"
	touch "$site/.sse-cgi-site" # marks a folder this script may rebuild
	# Apache's user must reach everything under SITE; mktemp -d makes 0700.
	chmod 755 "$site"
	mkdir -p "$site/conf" "$site/logs" "$site/run" "$site/data" "$site/bin"
	rm -rf "$site/htdocs" "$site/run/fcgid"
	mkdir -p "$site/htdocs"
	if [ -d "$REPO/htdocs" ] && [ -n "$(ls -A "$REPO/htdocs")" ]; then
		cp -R "$REPO/htdocs/." "$site/htdocs/"
	else
		cat >"$site/htdocs/index.html" <<-'EOF'
			<!doctype html>
			<meta charset="utf-8">
			<title>sse-cgi</title>
			<p>sse-cgi test site (placeholder: the repo's htdocs/ is empty).</p>
		EOF
	fi
	rm -rf "$site/htdocs/cgi-bin"
	mkdir -p "$site/htdocs/cgi-bin"
	install -m 755 "$bindir/events.fcgi" "$bindir/post.fcgi" "$site/htdocs/cgi-bin/"
	install -m 644 "$htaccess" "$site/htdocs/cgi-bin/.htaccess"
	if [ -x "$ssectl" ]; then
		install -m 755 "$ssectl" "$site/bin/ssectl"
	fi
	{
		echo "# Generated by scripts/apache.sh for this test site."
		echo "# The database lives outside the document root (SITE/data);"
		echo "# the path is relative to this file, as a user would write it."
		echo "database = ../../data/sse.db"
		if [ -n "${SSE_CONF_EXTRA:-}" ]; then
			echo "# SSE_CONF_EXTRA"
			printf '%s\n' "$SSE_CONF_EXTRA"
		fi
	} >"$site/htdocs/cgi-bin/sse-cgi.conf"
	if [ -n "${SSE_TOKEN_SECRET:-}" ]; then
		printf '%s\n' "$SSE_TOKEN_SECRET" >"$site/data/token.secret"
		chmod 600 "$site/data/token.secret"
	fi
	chmod -R a+rX "$site/htdocs" "$site/conf" "$site/bin"
	if [ -n "$user" ]; then
		chown "$user:" "$site/data"
		# a database made earlier by root (ssectl init) must stay writable
		find "$site/data" -mindepth 1 -exec chown "$user:" {} +
	fi
	chmod 755 "$site/data"
	write_httpd_conf "$site" "$port" "$mode" "$user"
}

write_httpd_conf() {
	local site=$1 port=$2 mode=$3 user=$4
	local mpm=${SSE_APACHE_MPM:-event} m v
	local mods="authz_core authz_host mime dir alias log_config env headers deflate filter setenvif cgid"
	[ "$mode" = fcgid ] && mods="$mods fcgid"
	for m in "mpm_$mpm" $mods; do
		[ -f "$APACHE_MODULES/mod_$m.so" ] || [ "$m" = log_config ] ||
			die "$APACHE_MODULES/mod_$m.so missing (scripts/deps.sh test)"
	done
	{
		cat <<-EOF
			# Generated by scripts/apache.sh: a standalone httpd config for the
			# sse-cgi test site $site ($mode mode). Do not edit; regenerated on start.
			ServerRoot "$site"
			DefaultRuntimeDir "$site/run"
			PidFile "$site/run/httpd.pid"
			Listen 127.0.0.1:$port
			ServerName 127.0.0.1:$port
			ServerAdmin webmaster@localhost
			ServerTokens Prod

			# Debian's default MPM (also what Debian's mod_cgid pairs with):
			# each stream holds one worker thread for its whole life.
			LoadModule mpm_${mpm}_module $APACHE_MODULES/mod_mpm_$mpm.so
		EOF
		for m in $mods; do
			[ "$m" = log_config ] && [ ! -f "$APACHE_MODULES/mod_log_config.so" ] && continue
			echo "LoadModule ${m}_module $APACHE_MODULES/mod_$m.so"
		done
		if [ "$mpm" = event ]; then
			cat <<-'EOF'
				# Debian's mpm_event.conf values.
				StartServers 2
				MinSpareThreads 25
				MaxSpareThreads 75
				ThreadLimit 64
				ThreadsPerChild 25
				MaxRequestWorkers 150
				MaxConnectionsPerChild 0
			EOF
		else
			cat <<-'EOF'
				# Debian's mpm_prefork.conf values.
				StartServers 5
				MinSpareServers 5
				MaxSpareServers 10
				MaxRequestWorkers 150
				MaxConnectionsPerChild 0
			EOF
		fi
		if [ -n "$user" ]; then
			echo "User $user"
			echo "Group $(id -gn "$user")"
		fi
		cat <<-EOF

			ErrorLog "$site/logs/error.log"
			LogLevel ${SSE_APACHE_LOGLEVEL:-warn}
			# %D: microseconds taken; %P: the child pid; %{Content-Encoding}o
			# shows whether anything compressed the answer.
			LogFormat "%h %{%Y-%m-%dT%H:%M:%S}t \"%r\" %>s %B %D pid=%P \"%{Content-Type}o\" \"%{Content-Encoding}o\"" sse
			CustomLog "$site/logs/access.log" sse

			TypesConfig /etc/mime.types
			AddType text/html .html
			AddType text/css .css
			AddType text/javascript .js .mjs
			AddType application/json .json
			AddType image/svg+xml .svg
			AddDefaultCharset off
			DirectoryIndex index.html

			# mod_cgid: its daemon's socket inside SITE.
			ScriptSock "$site/run/cgid.sock"
		EOF
		if [ "$mode" = fcgid ]; then
			cat <<-EOF
				# mod_fcgid: stock defaults (FcgidOutputBufferSize 65536,
				# FcgidIOTimeout 40, FcgidBusyTimeout 300, ...); only its files
				# are moved into SITE.
				FcgidIPCDir "$site/run/fcgid"
				FcgidProcessTableFile "$site/run/fcgid_shm"
			EOF
		fi
		cat <<-EOF

			DocumentRoot "$site/htdocs"
			<Directory />
			    Options None
			    AllowOverride None
			    Require all denied
			</Directory>
			# As on a shared host: the account may override everything, and
			# the shipped cgi-bin/.htaccess maps the handlers and ExecCGI.
			<Directory "$site/htdocs">
			    Options FollowSymLinks
			    AllowOverride All
			    Require all granted
			</Directory>
			<FilesMatch "^\.ht">
			    Require all denied
			</FilesMatch>
		EOF
		if [ "${SSE_APACHE_SCRIPTALIAS:-0}" = 1 ]; then
			echo "ScriptAlias /cgi-bin/ \"$site/htdocs/cgi-bin/\""
		fi
		# Pass sanitizer options and the named variables to the binaries.
		for v in $(passed_vars); do
			echo "PassEnv $v"
			if [ "$mode" = fcgid ]; then
				printf 'FcgidInitialEnv %s "%s"\n' "$v" "${!v//\"/\\\"}"
			fi
		done
		if [ -n "${SSE_HTTPD_EXTRA:-}" ]; then
			echo "# SSE_HTTPD_EXTRA"
			printf '%s\n' "$SSE_HTTPD_EXTRA"
		fi
	} >"$site/conf/httpd.conf"
}

# Names of the variables handed to the binaries: the sanitizer options and
# SSE_APACHE_PASSENV, those that are set.
passed_vars() {
	local v seen=" "
	# shellcheck disable=SC2086 # a list of names
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS ${SSE_APACHE_PASSENV:-}; do
		case $v in
		[A-Za-z_]*[!A-Za-z0-9_]* | [!A-Za-z_]*) die "SSE_APACHE_PASSENV: bad name '$v'" ;;
		esac
		case $seen in *" $v "*) continue ;; esac
		seen="$seen$v "
		if [ -n "${!v+set}" ]; then echo "$v"; fi
	done
}

# The environment Apache starts with: minimal, plus what PassEnv names.
apache_env() {
	local v out=(PATH=/usr/local/bin:/usr/bin:/bin LANG=C)
	for v in $(passed_vars); do
		out+=("$v=${!v}")
	done
	printf '%s\0' "${out[@]}"
}

# --- start ------------------------------------------------------------------
cmd_start() {
	local site=$1 port=$2 mode=$3 user="" pid="" t out
	case $mode in fcgid | cgid) ;; *) die "MODE must be fcgid or cgid, not '$mode'" ;; esac
	case $port in '' | *[!0-9]*) die "PORT must be a number, not '$port'" ;; esac
	[ -x "$APACHE_BIN" ] || die "$APACHE_BIN not found (scripts/deps.sh test)"
	if pid=$(master_of "$site"); then
		die "already running for $site (pid $pid); stop it first"
	fi
	pid=""
	if [ -d "$site" ] && [ -n "$(ls -A "$site")" ] && [ ! -f "$site/.sse-cgi-site" ]; then
		die "$site is not empty and was not made by apache.sh: refusing to build a site there"
	fi
	if port_answers "$port"; then
		die "something already answers on 127.0.0.1:$port"
	fi
	if [ "$(id -u)" = 0 ]; then
		user=${SSE_APACHE_USER:-www-data}
		id "$user" >/dev/null 2>&1 || die "user $user does not exist (set SSE_APACHE_USER)"
	fi
	passed_vars >/dev/null # dies on a bad SSE_APACHE_PASSENV
	build_site "$site" "$port" "$mode" "$user"
	if [ -n "$user" ] &&
		! setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
			test -x "$site/htdocs/cgi-bin/events.fcgi" -a -w "$site/data"; then
		die "$user cannot reach $site (a parent folder is closed to it); use a SITE under /tmp"
	fi

	local -a envv
	mapfile -d '' envv < <(apache_env)
	if ! out=$(env -i "${envv[@]}" "$APACHE_BIN" -t -f "$site/conf/httpd.conf" 2>&1); then
		printf '%s\n' "$out" >&2
		die "config test failed: $site/conf/httpd.conf"
	fi
	rm -f "$site/run/httpd.pid"
	# -k start: Apache daemonizes (fork + setsid), writes PidFile, returns.
	env -i "${envv[@]}" "$APACHE_BIN" -f "$site/conf/httpd.conf" -k start ||
		die "$APACHE_BIN -k start failed"
	t=0
	while :; do
		[ -z "$pid" ] && [ -s "$site/run/httpd.pid" ] && pid=$(cat "$site/run/httpd.pid")
		if [ -n "$pid" ] && port_answers "$port"; then
			break
		fi
		if [ -n "$pid" ] && ! master_of "$site" >/dev/null; then
			t=$((START_TIMEOUT * 10)) # it died
		fi
		if [ "$t" -ge $((START_TIMEOUT * 10)) ]; then
			say "Apache did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; error log:"
			tail -n 30 "$site/logs/error.log" >&2 || true
			cmd_stop "$site" || true
			exit 1
		fi
		sleep 0.1
		t=$((t + 1))
	done
	say "Apache pid $pid, $mode mode, site $site, logs in $site/logs/"
	echo "http://127.0.0.1:$port/"
}

# --- fg ---------------------------------------------------------------------
cmd_fg() {
	local site=$1 url pid
	url=$(cmd_start "$@")
	pid=$(cat "$site/run/httpd.pid")
	# shellcheck disable=SC2064
	trap "trap - INT TERM HUP; echo >&2; cmd_stop '$site'; exit \$?" INT TERM HUP
	echo "Serving $url  (chat page: ${url}index.html; Ctrl-C stops)" >&2
	echo "$url"
	while master_of "$site" >/dev/null; do
		sleep 1 &
		wait $! || true
	done
	trap - INT TERM HUP
	say "Apache (pid $pid) exited by itself; error log tail:"
	tail -n 20 "$site/logs/error.log" >&2 || true
	cmd_stop "$site" || true
	exit 1
}

# --- ssectl -----------------------------------------------------------------
cmd_ssectl() {
	local site=$1 user
	shift
	[ -x "$site/bin/ssectl" ] || die "$site/bin/ssectl missing (build ssectl, then start)"
	if [ "$(id -u)" = 0 ]; then
		user=${SSE_APACHE_USER:-www-data}
		exec setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
			"$site/bin/ssectl" --db "$site/data/sse.db" "$@"
	fi
	exec "$site/bin/ssectl" --db "$site/data/sse.db" "$@"
}

[ $# -ge 2 ] || usage
cmd=$1
site=$(realpath -m -- "$2")
site=${site%/}
shift 2
case $cmd in
start) [ $# -eq 2 ] || usage; cmd_start "$site" "$1" "$2" ;;
fg) [ $# -eq 2 ] || usage; cmd_fg "$site" "$1" "$2" ;;
stop) [ $# -eq 0 ] || usage; cmd_stop "$site" ;;
ssectl) cmd_ssectl "$site" "$@" ;;
*) usage ;;
esac
