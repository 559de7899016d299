/*
 * Integration: the same binaries as FastCGI servers on a VPS, the way the
 * README's "Behind nginx, lighttpd or mod_proxy_fcgi" section sets them up,
 * in its two modes:
 *
 *   per process   spawn-fcgi -F EVENTS_CHILDREN starts that many
 *                 events.fcgi, each serving one stream at a time;
 *   one process   spawn-fcgi -F 1 ... -- events.fcgi --listen fd:0: ONE
 *                 process serves every stream from one epoll loop (hub.h);
 *                 one test also starts it directly with --listen unix:PATH,
 *                 as a process manager would.
 *
 * Two post.fcgi processes serve posts in both.  Three fronts pass requests
 * to them:
 *
 *   nginx            Debian's nginx with the README's location blocks;
 *   lighttpd         Debian's lighttpd with the README's fastcgi.server
 *                    and server.stream-response-body = 2;
 *   mod_proxy_fcgi   the Apache of scripts/apache.sh with the README's two
 *                    ProxyPass lines (a distinct fcgi:// name per socket)
 *                    and its CGIPassAuth On (else Authorization is hidden).
 *
 * nginx and lighttpd start here on free loopback ports with configs
 * generated below.  Every check runs against each front (a table), and the
 * common checks run in both modes (the same functions, listed twice; each
 * test's setup puts events.fcgi in its mode).  What it pins: streaming
 * through each front (no buffer holds an event), posts reach post.fcgi and
 * streams events.fcgi (two ProxyPass lines naming the same fcgi://localhost
 * share one socket), the page's own posts on the front's port pass the
 * origin check and other origins do not (nginx's stock fastcgi_params drops
 * the port from HTTP_HOST), Last-Event-ID passes through, private channels
 * made the README's way answer as they do under Apache
 * (tests/privatecheck.h: the cookie and Authorization pass, a stream ends at
 * its token's exp), and a stream's slot (a process, or one of
 * listen_max_streams) comes free after its client leaves (nginx closes the
 * FastCGI connection at once; lighttpd and mod_proxy_fcgi only let the next
 * write fail, within two keepalives).  In the one-process mode also: 50
 * streams per front from the one process, a kill -9 and restart that loses
 * nothing for a resuming client, and SIGTERM ending every stream.
 *
 * Timings are printed and asserted only as "works" against "stuck".  As root
 * the processes run as www-data, as Apache does (scripts/apache.sh).  All
 * processes started here are stopped by PID, also when the setup fails half
 * way; a missing nginx, lighttpd or spawn-fcgi fails the run
 * (scripts/deps.sh test installs them).
 */
#include <sys/resource.h>

#include "httpclient.h"
#include "privatecheck.h"

#define BUFFERED_MS 5000          /* an event later than this was held back */
#define EVENTS_CHILDREN 4         /* spawn-fcgi -F for events.fcgi, per process */
#define PRIVATE_CHILDREN 20       /* -F for the private channels' test: each
                                     front's PRIV_STREAMS open together, and
                                     lighttpd and mod_proxy_fcgi keep a closed
                                     one's process until its next keepalive */
#define LISTEN_CAP 4              /* listen_max_streams when slots are counted */
#define OVER_CAP_TRIES 30         /* streams past it, each answered one-shot */
#define MANY_STREAMS 50           /* streams per front on the one process */
#define MISSED 5                  /* messages published while it is down */
#define TERM_STREAMS 3            /* streams per front that SIGTERM ends */
#define RESTART_MS 10000          /* a front reaches a restarted process */
#define DIRECT_SOFT_NOFILE 256    /* the soft limit --listen unix: starts with */
#define KEEPALIVE_S 2
#define NGINX "/usr/sbin/nginx"
#define LIGHTTPD "/usr/sbin/lighttpd"
#define SPAWN_FCGI "/usr/bin/spawn-fcgi"

static const char site_conf[] =
	"keepalive_s = 2\nlifetime_s = 60\nrate_limit = 0\nmax_streams = 0\n";

/* How events.fcgi runs (README: the two spawn-fcgi setups). */
enum mode { PER_PROCESS, ONE_PROCESS };

struct vps {
	char repo[PATH_MAX];
	char site[PATH_MAX];
	const char *user;           /* what the servers run as; NULL: as we do */
	int apache_port, nginx_port, lighttpd_port;
	enum mode mode;             /* what runs on SITE/run/events.sock now */
};

/* What printed lines and channel names start with, per mode. */
static const char *tag(const struct vps *v)
{
	return v->mode == PER_PROCESS ? "vps" : "vps-one";
}

/* One front: how a request reaches the FastCGI processes. */
struct front {
	const char *name;
	int port;
	const char *events, *post;
};

/* The fronts under test, in order. */
#define FRONTS 3
static struct front front(const struct vps *v, int i)
{
	if (i == 0)
		return (struct front){ "nginx", v->nginx_port,
		                       "/cgi-bin/events.fcgi", "/cgi-bin/post.fcgi" };
	if (i == 1)
		return (struct front){ "lighttpd", v->lighttpd_port,
		                       "/cgi-bin/events.fcgi", "/cgi-bin/post.fcgi" };
	return (struct front){ "mod_proxy_fcgi", v->apache_port,
	                       "/vps/events.fcgi", "/vps/post.fcgi" };
}

/* ---- processes ----------------------------------------------------------- */

/*
 * Stops the processes whose PIDs a file lists (one per line), by PID; false
 * if one had to be killed.  (Not our children: spawn-fcgi and nginx fork
 * and leave, so this polls instead of waiting.)
 */
static bool stop_pids(const char *pidfile, int sig)
{
	FILE *f = fopen(pidfile, "r");
	if (f == NULL)
		return true;
	pid_t pids[64];
	int n = 0;
	long v;
	while (n < 64 && fscanf(f, "%ld", &v) == 1)
		pids[n++] = (pid_t)v;
	fclose(f);
	for (int i = 0; i < n; i++)
		if (tu_pid_alive(pids[i]))
			kill(pids[i], sig);
	long long deadline = tu_now_ms() + 5000;
	bool clean = true;
	for (int i = 0; i < n; i++) {
		while (tu_pid_alive(pids[i]) && tu_now_ms() < deadline)
			usleep(20 * 1000);
		if (tu_pid_alive(pids[i])) {
			fprintf(stderr, "test_vps: pid %d (%s) ignored signal %d: killed\n",
			        (int)pids[i], pidfile, sig);
			kill(pids[i], SIGKILL);
			clean = false;
		}
	}
	unlink(pidfile);
	return clean;
}

/*
 * spawn-fcgi starts `children` processes of SITE/htdocs/cgi-bin/NAME.fcgi
 * on SITE/run/NAME.sock with the README's options (as root: run as
 * www-data, the socket owned by www-data).  args follow the binary (the
 * one-process mode's "--listen fd:0"); env ("SSE_KEY=value" or "") goes
 * before spawn-fcgi, whose children inherit it.  Each start step prints
 * what failed and returns false; the group teardown then stops whatever
 * did start.
 */
static bool spawn(struct vps *v, const char *name, int children, const char *args,
                  const char *env)
{
	char owner[128] = "";
	if (v->user != NULL)
		snprintf(owner, sizeof(owner), "-u %s -g %s -U %s -G %s", v->user, v->user,
		         v->user, v->user);
	if (tu_sh("%s %s -s '%s/run/%s.sock' -F %d %s -P '%s/run/%s.pids' -- "
	          "'%s/htdocs/cgi-bin/%s.fcgi' %s >/dev/null",
	          env, SPAWN_FCGI, v->site, name, children, owner, v->site, name, v->site,
	          name, args) != 0)
		return fprintf(stderr, "test_vps: spawn-fcgi could not start %s.fcgi\n", name), false;
	return true;
}

/* events.fcgi as the mode runs it, with env as spawn() takes it. */
static bool events_start(struct vps *v, enum mode mode, const char *env)
{
	v->mode = mode;
	return mode == PER_PROCESS ? spawn(v, "events", EVENTS_CHILDREN, "", env)
	                           : spawn(v, "events", 1, "--listen fd:0", env);
}

/* Stops the events.fcgi processes started, by their PIDs. */
static bool events_stop(const struct vps *v, int sig)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/run/events.pids", v->site);
	return stop_pids(path, sig);
}

/* Creates SITE/conf/NAME for writing; its path into conf. */
static FILE *create_conf(const struct vps *v, const char *name, char *conf, size_t len)
{
	snprintf(conf, len, "%s/conf/%s", v->site, name);
	return fopen(conf, "w");
}

static bool nginx_start(struct vps *v)
{
	char conf[PATH_MAX + 32];
	FILE *f = create_conf(v, "nginx.conf", conf, sizeof(conf));
	if (f == NULL)
		return false;
	const char *s = v->site;
	if (v->user != NULL)
		fprintf(f, "user %s;\n", v->user);
	fprintf(f,
	        "worker_processes 1;\n"
	        "pid %s/run/nginx.pid;\n"
	        "error_log %s/logs/nginx-error.log;\n"
	        /* a stream is two connections (client, FastCGI): 50 take 100 */
	        "events { worker_connections 256; }\n"
	        "http {\n"
	        "  access_log %s/logs/nginx-access.log;\n"
	        "  client_body_temp_path %s/run/nginx-body;\n"
	        "  fastcgi_temp_path %s/run/nginx-fastcgi;\n"
	        "  proxy_temp_path %s/run/nginx-proxy;\n"
	        "  uwsgi_temp_path %s/run/nginx-uwsgi;\n"
	        "  scgi_temp_path %s/run/nginx-scgi;\n"
	        "  server {\n"
	        "    listen 127.0.0.1:%d;\n"
	        "    root %s/htdocs;\n"
	        "    location = /cgi-bin/events.fcgi {\n"
	        "      include /etc/nginx/fastcgi_params;\n"
	        "      fastcgi_pass unix:%s/run/events.sock;\n"
	        "      fastcgi_buffering off;\n"
	        "      fastcgi_read_timeout 1h;\n"
	        "    }\n"
	        "    location = /cgi-bin/post.fcgi {\n"
	        "      include /etc/nginx/fastcgi_params;\n"
	        "      fastcgi_pass unix:%s/run/post.sock;\n"
	        "    }\n"
	        "  }\n"
	        "}\n",
	        s, s, s, s, s, s, s, s, v->nginx_port, s, s, s);
	fclose(f);
	if (tu_sh("%s -c '%s' -p '%s' 2>&1", NGINX, conf, v->site) != 0)
		return fprintf(stderr, "test_vps: nginx did not start (%s/logs/nginx-error.log)\n",
		               v->site), false;
	return true;
}

static bool lighttpd_start(struct vps *v)
{
	/* lighttpd opens its error log after taking on the user */
	if (tu_sh("mkdir -p '%s/logs/lighttpd' && chown %s '%s/logs/lighttpd'", v->site,
	          v->user != NULL ? v->user : "$(id -u)", v->site) != 0)
		return false;
	char conf[PATH_MAX + 32];
	FILE *f = create_conf(v, "lighttpd.conf", conf, sizeof(conf));
	if (f == NULL)
		return false;
	const char *s = v->site;
	if (v->user != NULL)
		fprintf(f, "server.username = \"%s\"\nserver.groupname = \"%s\"\n", v->user,
		        v->user);
	fprintf(f,
	        "server.bind = \"127.0.0.1\"\n"
	        "server.port = %d\n"
	        "server.document-root = \"%s/htdocs\"\n"
	        "server.pid-file = \"%s/run/lighttpd.pid\"\n"
	        "server.errorlog = \"%s/logs/lighttpd/error.log\"\n"
	        "server.modules = ( \"mod_fastcgi\" )\n"
	        "server.stream-response-body = 2\n"
	        "fastcgi.server = (\n"
	        "  \"/cgi-bin/events.fcgi\" => (( \"socket\" => \"%s/run/events.sock\",\n"
	        "                               \"check-local\" => \"disable\" )),\n"
	        "  \"/cgi-bin/post.fcgi\" => (( \"socket\" => \"%s/run/post.sock\",\n"
	        "                             \"check-local\" => \"disable\" )),\n"
	        ")\n",
	        v->lighttpd_port, s, s, s, s, s);
	fclose(f);
	if (tu_sh("%s -f '%s' 2>&1", LIGHTTPD, conf) != 0)
		return fprintf(stderr, "test_vps: lighttpd did not start (%s/logs/lighttpd/)\n",
		               v->site), false;
	return true;
}

/* A free loopback port other than a and b (-1 if none came in 10 tries). */
static int free_port_besides(int a, int b)
{
	for (int tries = 0; tries < 10; tries++) {
		int port = http_free_port();
		if (port > 0 && port != a && port != b)
			return port;
	}
	return -1;
}

static int group_setup(void **state)
{
	struct vps *v = calloc(1, sizeof(*v));
	*state = v;   /* the teardown stops whatever starts below, also on failure */
	if (v == NULL || getcwd(v->repo, sizeof(v->repo)) == NULL)
		return -1;
	static const char *const tools[] = { NGINX, LIGHTTPD, SPAWN_FCGI };
	for (size_t i = 0; i < ARRAY_LEN(tools); i++) {
		if (access(tools[i], X_OK) != 0) {
			fprintf(stderr, "test_vps: %s is needed (scripts/deps.sh test)\n",
			        tools[i]);
			return -1;
		}
	}
	v->user = geteuid() == 0 ? "www-data" : NULL;
	char site[] = "/tmp/sse-vps-XXXXXX";
	if (mkdtemp(site) == NULL)
		return -1;
	snprintf(v->site, sizeof(v->site), "%s", site);
	v->apache_port = http_free_port();
	v->nginx_port = free_port_besides(v->apache_port, -1);
	v->lighttpd_port = free_port_besides(v->apache_port, v->nginx_port);
	if (v->apache_port < 0 || v->nginx_port < 0 || v->lighttpd_port < 0)
		return -1;
	/* The README's ProxyPass lines and CGIPassAuth, on a path of their own. */
	char httpd_extra[4 * PATH_MAX];
	snprintf(httpd_extra, sizeof(httpd_extra),
	         "<IfModule !proxy_module>\n"
	         "LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n"
	         "</IfModule>\n"
	         "<IfModule !proxy_fcgi_module>\n"
	         "LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so\n"
	         "</IfModule>\n"
	         "ProxyPass \"/vps/events.fcgi\" \"unix:%s/run/events.sock|fcgi://sse-events/\" flushpackets=on\n"
	         "ProxyPass \"/vps/post.fcgi\" \"unix:%s/run/post.sock|fcgi://sse-post/\"\n"
	         "<Location \"/vps/\">\n"
	         "    CGIPassAuth On\n"
	         "</Location>\n",
	         v->site, v->site);
	/* Private channels the README's way (privatecheck.h) for every test:
	 * channels other than user-* stay public, as the other tests show. */
	struct priv_site ps;
	priv_site_init(&ps, v->repo, v->site, v->user);
	char conf[sizeof(site_conf) + PATH_MAX + 128];
	priv_prepare(conf, sizeof(conf), site_conf, &ps);
	setenv("SSE_CONF_EXTRA", conf, 1);
	setenv("SSE_HTTPD_EXTRA", httpd_extra, 1);
	if (tu_sh("'%s/scripts/apache.sh' start '%s' %d fcgid >/dev/null", v->repo, v->site,
	          v->apache_port) != 0) {
		fprintf(stderr, "apache.sh start failed (see %s/logs/error.log)\n", v->site);
		return -1;
	}
	unsetenv("SSE_TOKEN_SECRET");
	bool up = events_start(v, PER_PROCESS, "") && spawn(v, "post", 2, "", "") &&
	          nginx_start(v) && lighttpd_start(v);
	return up ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct vps *v = *state;
	if (v == NULL || v->site[0] == '\0') {
		free(v);
		return 0;   /* nothing was started */
	}
	char path[PATH_MAX + 32];
	bool clean = true;
	static const char *const pidfiles[] = { "nginx.pid", "lighttpd.pid", "events.pids",
	                                        "post.pids" };
	for (size_t i = 0; i < ARRAY_LEN(pidfiles); i++) {
		/* SIGTERM: nginx's fast stop (its master waits for its workers) */
		snprintf(path, sizeof(path), "%s/run/%s", v->site, pidfiles[i]);
		clean = stop_pids(path, SIGTERM) && clean;
	}
	snprintf(path, sizeof(path), "%s/run/httpd.pid", v->site);
	int rc = access(path, F_OK) != 0 ? 0 :
	         tu_sh("'%s/scripts/apache.sh' stop '%s' 2>/dev/null", v->repo, v->site);
	if (!clean || tu_sh("pgrep -f '^%s/' >/dev/null", v->site) == 0)
		rc = 1;   /* something of ours survived a signal */
	if (rc != 0)
		fprintf(stderr, "test_vps: processes of %s survived or needed SIGKILL (kept)\n",
		        v->site);
	else
		tu_sh("rm -rf '%s'", v->site);
	free(v);
	return rc == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------- */

static void open_stream(struct http *h, const struct front *f, const char *channel,
                        const char *headers)
{
	char path[256];
	snprintf(path, sizeof(path), "%s?channel=%s", f->events, channel);
	http_send(h, f->port, "GET", path, headers, NULL);
}

static int post(const struct front *f, const char *channel, const char *text)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"user\":\"v\",\"text\":\"%s\"}",
	         channel, text);
	struct http h;
	int status = http_request(&h, f->port, "POST", f->post,
	                          "Content-Type: application/json\r\n", body);
	http_close(&h);
	return status;
}

/* The ssectl of SITE (as the servers' user) publishes text on channel. */
static void publish(const struct vps *v, const char *channel, const char *text)
{
	if (tu_sh("'%s/scripts/apache.sh' ssectl '%s' publish --channel '%s' '%s' >/dev/null",
	          v->repo, v->site, channel, text) != 0)
		fail_msg("ssectl publish --channel %s '%s' failed", channel, text);
}

/* The one events.fcgi process of the site (fails unless there is exactly
 * one, whichever way it was started). */
static pid_t the_one_process(const struct vps *v)
{
	pid_t pids[8];
	int n = tu_site_processes(v->site, "events.fcgi", pids, 8, NULL);
	if (n != 1)
		fail_msg("%d events.fcgi processes are running, not 1", n);
	return pids[0];
}

/* A process's resident memory in KiB (-1 if /proc does not say). */
static long vm_rss_kib(pid_t pid)
{
	char name[32], status[4096];
	snprintf(name, sizeof(name), "%d", (int)pid);
	if (!tu_proc_file(name, "status", status, sizeof(status)))
		return -1;
	const char *rss = strstr(status, "VmRSS:");
	return rss != NULL ? atol(rss + 6) : -1;
}

/*
 * How many inotify instances a process holds (its descriptors that are
 * one), and where its stderr goes (into stderr_to).
 */
static int inotify_instances(pid_t pid, char *stderr_to, size_t len)
{
	char dir[64], link[PATH_MAX + 80], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(stderr_to, len, "?");
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t r = readlink(link, target, sizeof(target) - 1);
		if (r <= 0)
			continue;
		target[r] = '\0';
		if (strcmp(target, "anon_inode:inotify") == 0)
			n++;
		if (strcmp(e->d_name, "2") == 0)
			snprintf(stderr_to, len, "%s", target);
	}
	closedir(d);
	return n;
}

/*
 * Each frame "data: PREFIX1" .. "data: PREFIXn" in body exactly once and
 * in that order.
 */
static void expect_once_in_order(const char *front_name, const char *body,
                                 const char *prefix, int n)
{
	const char *prev = body;
	for (int k = 1; k <= n; k++) {
		char needle[64];
		snprintf(needle, sizeof(needle), "\ndata: %s%d\n", prefix, k);
		const char *at = strstr(body, needle);
		if (at == NULL)
			fail_msg("%s: \"%s%d\" never came", front_name, prefix, k);
		if (strstr(at + 1, needle) != NULL)
			fail_msg("%s: \"%s%d\" came twice", front_name, prefix, k);
		if (at < prev)
			fail_msg("%s: \"%s%d\" came out of order", front_name, prefix, k);
		prev = at;
	}
}

/*
 * Opens a stream (with headers) until one is live: the one process answers
 * one-shot while all its slots are taken, and a front may still answer
 * that the process is down for a moment after it is back.  The time taken
 * since `since` in *waited; false if none was live within bound_ms of it.
 */
static bool reconnect(struct http *s, const struct front *f, const char *channel,
                      const char *headers, long long since, long long bound_ms,
                      long long *waited)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		long long left = since + bound_ms - tu_now_ms();
		open_stream(s, f, channel, headers);
		if (http_wait_live(s, left > 0 ? (int)left : 0)) {
			*waited = tu_now_ms() - since;
			return true;
		}
		http_close(s);
		if (tu_now_ms() - since >= bound_ms)
			break;
		usleep(100 * 1000);
	}
	return false;
}

/* ---- the mode of each test ----------------------------------------------- */

/* Per process: the processes the group started serve every such test. */
static int per_process_mode(void **state)
{
	struct vps *v = *state;
	if (v->mode == PER_PROCESS)
		return 0;
	return events_stop(v, SIGTERM) && events_start(v, PER_PROCESS, "") ? 0 : -1;
}

/* One process: each test starts a fresh one with the default configuration
 * (the test before may have capped, killed or stopped it). */
static int one_process_mode(void **state)
{
	struct vps *v = *state;
	return events_stop(v, SIGTERM) && events_start(v, ONE_PROCESS, "") ? 0 : -1;
}

/* ---- tests: both modes --------------------------------------------------- */

/* Headers, the first frame at once, and a post on the stream without delay. */
static void stream_and_post(const struct vps *v, const struct front *f,
                            const char *channel)
{
	char hv[128];
	struct http s;
	open_stream(&s, f, channel, NULL);
	if (!http_wait_live(&s, BUFFERED_MS))
		fail_msg("%s: no first frame within %d ms", f->name, BUFFERED_MS);
	assert_int_equal(http_status(&s), 200);
	assert_string_equal(http_header(&s, "Content-Type", hv, sizeof(hv)),
	                    "text/event-stream; charset=utf-8");
	assert_null(http_header(&s, "Content-Length", hv, sizeof(hv)));
	long long t0 = tu_now_ms();
	assert_int_equal(post(f, channel, "through the front"), 201);
	if (!http_wait_for(&s, "\"text\":\"through the front\"", BUFFERED_MS))
		fail_msg("%s: the event was held back (not within %d ms)", f->name,
		         BUFFERED_MS);
	print_message("%s[%s]: first byte %lld ms, post to event %lld ms\n", tag(v),
	              f->name, s.first_byte_ms - s.sent_ms, tu_now_ms() - t0);
	http_close(&s);
}

static void test_stream_and_post_through_each_front(void **state)
{
	const struct vps *v = *state;
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char channel[32];
		snprintf(channel, sizeof(channel), "%s-live-%d", tag(v), i);
		stream_and_post(v, &f, channel);
	}
}

/*
 * Issue 21: the chat page's own posts, from a browser on the front's port
 * (never 80 or 443 here), are answered 201 (fetch) and 303 back to the page
 * (a plain form) through every front, Debian's nginx with its stock
 * fastcgi_params included as is (HTTP_HOST is $host there, without the
 * port); another port of the host, another name for it, another site and
 * "null" are refused 403 (httpclient.h, http_origin_posts).
 */
static void test_page_posts_on_its_port_through_each_front(void **state)
{
	const struct vps *v = *state;
	bool host_only = tu_sh("grep -Eq '^[[:space:]]*fastcgi_param[[:space:]]+HTTP_HOST"
	                       "[[:space:]]+\\$host;' /etc/nginx/fastcgi_params") == 0;
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		http_check_origin_posts(f.name, f.port, f.post, front(v, (i + 1) % FRONTS).port);
		print_message("%s[%s]: on port %d the page's posts got 201 and 303, %zu "
		              "other origins 403%s\n", tag(v), f.name, f.port,
		              ARRAY_LEN(http_origin_posts) - 2,
		              i == 0 ? (host_only ? " (HTTP_HOST is $host, no port)"
		                                  : " (this fastcgi_params passes Host whole)")
		                     : "");
	}
}

/*
 * Each path reaches its own program: post.fcgi refuses GET with Allow: POST,
 * events.fcgi refuses POST with Allow: GET, HEAD.
 */
static void test_each_path_reaches_its_program(void **state)
{
	const struct vps *v = *state;
	static const struct {
		bool post_path;
		const char *method, *allow;
	} cases[] = {
		{ true, "GET", "POST" },
		{ false, "POST", "GET, HEAD" },
	};
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
			struct http h;
			char allow[64];
			int status = http_request(&h, f.port, cases[c].method,
			                          cases[c].post_path ? f.post : f.events,
			                          "Content-Type: application/json\r\n",
			                          strcmp(cases[c].method, "POST") == 0 ? "{}" : NULL);
			if (status != 405)
				fail_msg("%s: %s %s answered %d, not 405", f.name, cases[c].method,
				         cases[c].post_path ? f.post : f.events, status);
			assert_string_equal(http_header(&h, "Allow", allow, sizeof(allow)),
			                    cases[c].allow);
			http_close(&h);
		}
	}
}

/* A reconnect with Last-Event-ID gets what it missed, through each front. */
static void test_last_event_id_passes_through(void **state)
{
	const struct vps *v = *state;
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char channel[32];
		snprintf(channel, sizeof(channel), "%s-resume-%d", tag(v), i);
		assert_int_equal(post(&f, channel, "seen"), 201);
		struct http s;
		open_stream(&s, &f, channel, NULL);
		assert_true(http_wait_for(&s, "\"text\":\"seen\"", BUFFERED_MS));
		const char *idline = strstr(http_body(&s), "id: ");
		assert_non_null(idline);
		long long seen = atoll(idline + 4);
		http_close(&s);
		assert_int_equal(post(&f, channel, "missed"), 201);
		char header[64];
		snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", seen);
		open_stream(&s, &f, channel, header);
		if (!http_wait_for(&s, "\"text\":\"missed\"", BUFFERED_MS))
			fail_msg("%s: the missed message did not come", f.name);
		assert_null(strstr(http_body(&s), "\"text\":\"seen\""));
		http_close(&s);
	}
}

/*
 * Every slot busy, then all clients leave: a newcomer must be live again.
 * A slot is an events.fcgi process per process, and one of
 * listen_max_streams = LISTEN_CAP in the one process, where a stream past
 * the cap is answered one-shot (which shows the cap holds): 200, so that
 * a browser retries, every time (OVER_CAP_TRIES, since a front that sends
 * the request in two writes can race the answer's close).  nginx frees a
 * slot at once; behind lighttpd and mod_proxy_fcgi the stream learns of it
 * at its next keepalive write, so within two keepalives.
 */
static void test_slots_come_free_after_clients_leave(void **state)
{
	struct vps *v = *state;
	const long long bound_ms = 2 * KEEPALIVE_S * 1000 + BUFFERED_MS;
	int slots = v->mode == ONE_PROCESS ? LISTEN_CAP : EVENTS_CHILDREN;
	int refused[FRONTS] = { 0 };   /* past the cap, and not one-shot */
	char refusal[FRONTS][64];      /* how the first of those ended */
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		if (v->mode == ONE_PROCESS) {
			/* afresh per front: the last front's stream may hold a slot
			 * until its next keepalive */
			char env[64];
			snprintf(env, sizeof(env), "SSE_LISTEN_MAX_STREAMS=%d", LISTEN_CAP);
			if (!events_stop(v, SIGTERM) || !events_start(v, ONE_PROCESS, env))
				fail_msg("events.fcgi did not restart with %s", env);
		}
		char channel[32], cap[64];
		snprintf(channel, sizeof(channel), "%s-free-%d", tag(v), i);
		struct http s[EVENTS_CHILDREN > LISTEN_CAP ? EVENTS_CHILDREN : LISTEN_CAP];
		for (int k = 0; k < slots; k++) {
			open_stream(&s[k], &f, channel, NULL);
			if (!http_wait_live(&s[k], BUFFERED_MS))
				fail_msg("%s: stream %d of %d did not open", f.name, k + 1, slots);
		}
		snprintf(cap, sizeof(cap), ": all %d live streams are in use", LISTEN_CAP);
		for (int k = 0; v->mode == ONE_PROCESS && k < OVER_CAP_TRIES; k++) {
			struct http over;
			open_stream(&over, &f, channel, NULL);
			bool ended = http_finish(&over, BUFFERED_MS);
			if (!ended || http_status(&over) != 200 ||
			    strstr(http_body(&over), cap) == NULL) {
				if (refused[i]++ == 0)
					snprintf(refusal[i], sizeof(refusal[i]), "%s, status %d",
					         ended ? "ended" : "still open", http_status(&over));
			}
			http_close(&over);
		}
		long long closed = tu_now_ms(), waited = -1;
		for (int k = 0; k < slots; k++)
			http_close(&s[k]);
		struct http late;
		if (!reconnect(&late, &f, channel, NULL, closed, bound_ms, &waited))
			fail_msg("%s: no slot came free within %lld ms", f.name, bound_ms);
		http_close(&late);
		print_message("%s[%s]: %d streams closed, the next one live after %lld ms\n",
		              tag(v), f.name, slots, waited);
	}
	for (int i = 0; i < FRONTS; i++)   /* after every front had its turn */
		if (refused[i] > 0)
			fail_msg("%s: %d of %d streams past the cap of %d were not answered "
			         "one-shot (the first: %s)", front(v, i).name, refused[i],
			         OVER_CAP_TRIES, LISTEN_CAP, refusal[i]);
}

/*
 * Issue 20's "Done means" on a VPS: the private user-* channels of the
 * site's configuration (made the README's way in the group setup) through
 * each front, the cookie and Authorization: Bearer reaching events.fcgi and
 * post.fcgi as the fronts pass them (nginx with Debian's stock
 * fastcgi_params, which names neither: nginx passes every request header as
 * HTTP_*), and a live stream on a 3 s token ending at its exp through every
 * front at once, the reconnect meeting the gate.  privatecheck.h has the
 * cases.
 */
static void test_private_channels_through_each_front(void **state)
{
	struct vps *v = *state;
	struct priv_site s;
	priv_site_init(&s, v->repo, v->site, v->user);
	priv_check_secret_mode(&s);
	if (v->mode == PER_PROCESS &&
	    (!events_stop(v, SIGTERM) || !spawn(v, "events", PRIVATE_CHILDREN, "", "")))
		fail_msg("events.fcgi did not restart with -F %d", PRIVATE_CHILDREN);
	struct priv_tokens tokens;
	priv_mint(&tokens, &s);
	char names[FRONTS][64];
	struct priv_front f[FRONTS];
	for (int i = 0; i < FRONTS; i++) {
		struct front fr = front(v, i);
		snprintf(names[i], sizeof(names[i]), "%s[%s]", tag(v), fr.name);
		f[i] = (struct priv_front){ names[i], fr.port, fr.events, fr.post };
		priv_check_front(&f[i], &s, &tokens);
		print_message("%s: private user-* channels: %zu stream and %zu post cases "
		              "passed\n", names[i], PRIV_STREAMS, PRIV_POSTS);
	}
	priv_check_ends_at_exp(f, FRONTS, &s, 60);
	if (v->mode == PER_PROCESS &&
	    (!events_stop(v, SIGTERM) || !events_start(v, PER_PROCESS, "")))
		fail_msg("events.fcgi did not restart with -F %d", EVENTS_CHILDREN);
}

/* ---- tests: one process -------------------------------------------------- */

/*
 * MANY_STREAMS streams through each front at once, all open together: one
 * events.fcgi process serves them all with one inotify instance, and one
 * message reaches every one.
 */
static void test_one_process_serves_many_streams(void **state)
{
	const struct vps *v = *state;
	static struct http s[FRONTS][MANY_STREAMS];
	const char *channel = "vps-one-many";
	long long t0 = tu_now_ms(), live_ms[FRONTS], got_ms[FRONTS];
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		for (int k = 0; k < MANY_STREAMS; k++)
			open_stream(&s[i][k], &f, channel, NULL);
	}
	for (int i = 0; i < FRONTS; i++) {
		for (int k = 0; k < MANY_STREAMS; k++)
			if (!http_wait_live(&s[i][k], BUFFERED_MS))
				fail_msg("%s: stream %d of %d did not open (status %d)",
				         front(v, i).name, k + 1, MANY_STREAMS, http_status(&s[i][k]));
		live_ms[i] = tu_now_ms() - t0;
	}
	pid_t pid = the_one_process(v);
	long rss = vm_rss_kib(pid);
	char stderr_to[PATH_MAX];
	int watches = inotify_instances(pid, stderr_to, sizeof(stderr_to));
	if (watches != 1)
		fail_msg("the process holds %d inotify instances for %d streams, not 1",
		         watches, FRONTS * MANY_STREAMS);
	long long t1 = tu_now_ms();
	publish(v, channel, "to every stream");
	for (int i = 0; i < FRONTS; i++) {
		for (int k = 0; k < MANY_STREAMS; k++)
			if (!http_wait_for(&s[i][k], "\ndata: to every stream\n", BUFFERED_MS))
				fail_msg("%s: stream %d of %d did not get the message",
				         front(v, i).name, k + 1, MANY_STREAMS);
		got_ms[i] = tu_now_ms() - t1;
	}
	for (int i = 0; i < FRONTS; i++)
		print_message("vps-one[%s]: %d streams live after %lld ms, a message on all "
		              "%d after %lld ms\n", front(v, i).name, MANY_STREAMS, live_ms[i],
		              MANY_STREAMS, got_ms[i]);
	print_message("vps-one: %d streams served by 1 events.fcgi process (VmRSS %ld KiB, "
	              "1 inotify instance; under spawn-fcgi its stderr is %s)\n",
	              FRONTS * MANY_STREAMS, rss, stderr_to);
	for (int i = 0; i < FRONTS; i++)
		for (int k = 0; k < MANY_STREAMS; k++)
			http_close(&s[i][k]);
}

/*
 * kill -9 of the one process: the streams through each front end, each
 * front answers an error while it is down, and after the restart (the
 * same spawn-fcgi line) a reconnect with Last-Event-ID gets every message
 * published meanwhile exactly once, in order.
 */
static void test_kill_9_then_restart_loses_nothing(void **state)
{
	struct vps *v = *state;
	const char *channel = "vps-one-crash";
	struct http s[FRONTS];
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		open_stream(&s[i], &f, channel, NULL);
		if (!http_wait_live(&s[i], BUFFERED_MS))
			fail_msg("%s: the stream did not open", f.name);
	}
	publish(v, channel, "before");
	long long seen = -1;
	for (int i = 0; i < FRONTS; i++) {
		if (!http_wait_for(&s[i], "\ndata: before\n", BUFFERED_MS))
			fail_msg("%s: the first message did not come", front(v, i).name);
		const char *idline = strstr(http_body(&s[i]), "\nid: ");
		assert_non_null(idline);
		seen = atoll(idline + 5);
	}
	pid_t pid = the_one_process(v);
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (int i = 0; i < FRONTS; i++) {
		if (!http_finish(&s[i], BUFFERED_MS))
			fail_msg("%s: the stream stayed open after its process died",
			         front(v, i).name);
		http_close(&s[i]);
	}
	assert_true(events_stop(v, SIGKILL));   /* waits for it to be gone */
	int down[FRONTS];
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char path[256];
		snprintf(path, sizeof(path), "%s?channel=%s", f.events, channel);
		struct http h;
		down[i] = http_request(&h, f.port, "GET", path, NULL, NULL);
		http_close(&h);
		if (down[i] < 500 || down[i] > 599)
			fail_msg("%s: answered %d while events.fcgi was down", f.name, down[i]);
	}
	for (int k = 1; k <= MISSED; k++) {
		char text[32];
		snprintf(text, sizeof(text), "gone-%d", k);
		publish(v, channel, text);
	}
	if (!events_start(v, ONE_PROCESS, ""))
		fail_msg("events.fcgi did not start again");
	long long restarted = tu_now_ms();
	/* every front tried in turn, so each one's time since the restart is
	 * its own */
	char header[64];
	snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", seen);
	struct http r[FRONTS];
	bool live[FRONTS] = { false };
	long long waited[FRONTS];
	int n_live = 0;
	for (int round = 0; round < 200 && n_live < FRONTS; round++) {
		for (int i = 0; i < FRONTS; i++) {
			if (live[i])
				continue;
			struct front f = front(v, i);
			long long left = restarted + RESTART_MS - tu_now_ms();
			open_stream(&r[i], &f, channel, header);
			live[i] = http_wait_live(&r[i], left > 0 ? (int)left : 0);
			if (live[i]) {
				waited[i] = tu_now_ms() - restarted;
				n_live++;
			} else {
				http_close(&r[i]);
			}
		}
		if (n_live < FRONTS && tu_now_ms() - restarted >= RESTART_MS)
			break;
		if (n_live < FRONTS)
			usleep(100 * 1000);
	}
	for (int i = 0; i < FRONTS; i++)
		if (!live[i])
			fail_msg("%s: no live stream within %d ms of the restart",
			         front(v, i).name, RESTART_MS);
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char last[32];
		snprintf(last, sizeof(last), "\ndata: gone-%d\n", MISSED);
		if (!http_wait_for(&r[i], last, BUFFERED_MS))
			fail_msg("%s: the messages published while down did not all come", f.name);
		expect_once_in_order(f.name, http_body(&r[i]), "gone-", MISSED);
		assert_null(strstr(http_body(&r[i]), "\ndata: before\n"));
		print_message("vps-one[%s]: %d while down; live again %lld ms after the "
		              "restart with the %d messages missed, once each, in order\n",
		              f.name, down[i], waited[i], MISSED);
		http_close(&r[i]);
	}
}

/*
 * SIGTERM of the one process: every stream through every front ends
 * promptly (the client sees the response end, after the comment saying
 * why), and the process exits.
 */
static void test_sigterm_ends_every_stream(void **state)
{
	const struct vps *v = *state;
	const char *channel = "vps-one-term";
	struct http s[FRONTS][TERM_STREAMS];
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		for (int k = 0; k < TERM_STREAMS; k++) {
			open_stream(&s[i][k], &f, channel, NULL);
			if (!http_wait_live(&s[i][k], BUFFERED_MS))
				fail_msg("%s: stream %d did not open", f.name, k + 1);
		}
	}
	pid_t pid = the_one_process(v);
	long long t0 = tu_now_ms(), ended_ms[FRONTS];
	assert_int_equal(kill(pid, SIGTERM), 0);
	for (int i = 0; i < FRONTS; i++) {
		for (int k = 0; k < TERM_STREAMS; k++) {
			long long left = t0 + BUFFERED_MS - tu_now_ms();
			if (!http_finish(&s[i][k], left > 0 ? (int)left : 0))
				fail_msg("%s: stream %d still open %d ms after SIGTERM",
				         front(v, i).name, k + 1, BUFFERED_MS);
			if (strstr(http_body(&s[i][k]), "\n: the server is restarting\n") == NULL)
				fail_msg("%s: stream %d ended without saying why", front(v, i).name,
				         k + 1);
		}
		ended_ms[i] = tu_now_ms() - t0;
	}
	while (tu_pid_alive(pid) && tu_now_ms() - t0 < BUFFERED_MS)
		usleep(20 * 1000);
	if (tu_pid_alive(pid))
		fail_msg("events.fcgi still runs %d ms after SIGTERM", BUFFERED_MS);
	long long exited_ms = tu_now_ms() - t0;
	for (int i = 0; i < FRONTS; i++) {
		print_message("vps-one[%s]: SIGTERM: %d streams ended within %lld ms\n",
		              front(v, i).name, TERM_STREAMS, ended_ms[i]);
		for (int k = 0; k < TERM_STREAMS; k++)
			http_close(&s[i][k]);
	}
	print_message("vps-one: the process exited within %lld ms of SIGTERM\n", exited_ms);
}

/*
 * The alternative to spawn-fcgi: events.fcgi --listen unix:PATH started
 * directly (as a process manager would; a stale socket file is replaced),
 * with a low soft open-file limit.  It raises that limit to the hard one
 * and says so in its log; streams and posts pass through each front.
 */
static void test_listen_unix_started_directly(void **state)
{
	struct vps *v = *state;
	assert_true(events_stop(v, SIGTERM));   /* its socket file stays behind */
	/* a service's runtime folder is its user's (systemd: RuntimeDirectory=) */
	if (v->user != NULL && tu_sh("chown %s '%s/run'", v->user, v->site) != 0)
		fail_msg("chown %s %s/run failed", v->user, v->site);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	long hard = rl.rlim_max == RLIM_INFINITY ? -1 : (long)rl.rlim_max;
	long soft = hard >= 0 && hard < DIRECT_SOFT_NOFILE ? hard : DIRECT_SOFT_NOFILE;
	char runas[128] = "", log[PATH_MAX + 32];
	if (v->user != NULL)
		snprintf(runas, sizeof(runas),
		         "setpriv --reuid=%s --regid=$(id -g %s) --clear-groups", v->user,
		         v->user);
	snprintf(log, sizeof(log), "%s/logs/events-listen.log", v->site);
	/* exec'd by setpriv, so $! is events.fcgi itself */
	if (tu_sh("ulimit -S -n %ld || exit 1; %s '%s/htdocs/cgi-bin/events.fcgi' "
	          "--listen 'unix:%s/run/events.sock' </dev/null >/dev/null 2>'%s' & "
	          "echo $! >'%s/run/events.pids'",
	          soft, runas, v->site, v->site, log, v->site) != 0)
		fail_msg("events.fcgi --listen unix: did not start");
	struct strbuf text = STRBUF_INIT;
	const char *line = NULL;
	for (long long t0 = tu_now_ms(); line == NULL && tu_now_ms() - t0 < BUFFERED_MS;) {
		usleep(20 * 1000);
		sb_reset(&text);
		FILE *f = fopen(log, "r");
		char buf[1024];
		size_t n;
		while (f != NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0)
			sb_append(&text, buf, n);
		if (f != NULL)
			fclose(f);
		line = strstr(sb_str(&text), "serving up to ");
	}
	if (line == NULL)
		fail_msg("no \"serving up to\" line in %s: \"%s\"", log, sb_str(&text));
	long streams, nofile, before;
	if (sscanf(line, "serving up to %ld streams in this process (open files: %ld, "
	           "was %ld)", &streams, &nofile, &before) != 3)
		fail_msg("unexpected log line: %s", line);
	print_message("vps-one: --listen unix: logged \"%.*s\"\n",
	              (int)strcspn(line, "\n"), line);
	assert_int_equal(before, soft);
	if (hard >= 0)
		assert_int_equal(nofile, hard);
	assert_true(streams > 0 && streams <= 10000 && streams < nofile);
	sb_free(&text);
	the_one_process(v);
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char channel[32];
		snprintf(channel, sizeof(channel), "vps-one-direct-%d", i);
		stream_and_post(v, &f, channel);
	}
}

#define PER_PROCESS_TEST(f) { "per process: " #f, f, per_process_mode, NULL, NULL }
#define ONE_PROCESS_TEST(f) { "one process: " #f, f, one_process_mode, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		PER_PROCESS_TEST(test_stream_and_post_through_each_front),
		PER_PROCESS_TEST(test_each_path_reaches_its_program),
		PER_PROCESS_TEST(test_page_posts_on_its_port_through_each_front),
		PER_PROCESS_TEST(test_last_event_id_passes_through),
		PER_PROCESS_TEST(test_slots_come_free_after_clients_leave),
		PER_PROCESS_TEST(test_private_channels_through_each_front),
		ONE_PROCESS_TEST(test_stream_and_post_through_each_front),
		ONE_PROCESS_TEST(test_each_path_reaches_its_program),
		ONE_PROCESS_TEST(test_page_posts_on_its_port_through_each_front),
		ONE_PROCESS_TEST(test_last_event_id_passes_through),
		ONE_PROCESS_TEST(test_slots_come_free_after_clients_leave),
		ONE_PROCESS_TEST(test_private_channels_through_each_front),
		ONE_PROCESS_TEST(test_one_process_serves_many_streams),
		ONE_PROCESS_TEST(test_kill_9_then_restart_loses_nothing),
		ONE_PROCESS_TEST(test_sigterm_ends_every_stream),
		ONE_PROCESS_TEST(test_listen_unix_started_directly),
	};
	/* SSE_IT_ONLY="*posts_on_its_port*" (a cmocka pattern) runs a part. */
	if (getenv("SSE_IT_ONLY") != NULL)
		cmocka_set_test_filter(getenv("SSE_IT_ONLY"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
