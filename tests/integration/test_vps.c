/*
 * Integration: the same binaries as FastCGI servers on a VPS, the way the
 * README's "Behind nginx, lighttpd or mod_proxy_fcgi" section sets them up:
 * spawn-fcgi starts EVENTS_CHILDREN events.fcgi and two post.fcgi processes
 * on Unix sockets, and three fronts pass requests to them:
 *
 *   nginx            Debian's nginx with the README's location blocks;
 *   lighttpd         Debian's lighttpd with the README's fastcgi.server
 *                    and server.stream-response-body = 2;
 *   mod_proxy_fcgi   the Apache of scripts/apache.sh with the README's two
 *                    ProxyPass lines (a distinct fcgi:// name per socket).
 *
 * nginx and lighttpd start here on free loopback ports with configs
 * generated below.  Every check runs against each front (a table).  What
 * it pins: streaming through each front (no buffer holds an event), posts
 * reach post.fcgi and streams events.fcgi (two ProxyPass lines naming the
 * same fcgi://localhost share one socket), Last-Event-ID passes through,
 * and a stream process comes free after its client leaves (nginx closes
 * the FastCGI connection at once; lighttpd and mod_proxy_fcgi only let the
 * next write fail, within two keepalives).
 *
 * Timings are printed and asserted only as "works" against "stuck".  As root
 * the processes run as www-data, as Apache does (scripts/apache.sh).  All
 * processes started here are stopped by PID, also when the setup fails half
 * way; a missing nginx, lighttpd or spawn-fcgi fails the run
 * (scripts/deps.sh test installs them).
 */
#include "httpclient.h"

#define BUFFERED_MS 5000          /* an event later than this was held back */
#define EVENTS_CHILDREN 4         /* spawn-fcgi -F for events.fcgi */
#define KEEPALIVE_S 2
#define NGINX "/usr/sbin/nginx"
#define LIGHTTPD "/usr/sbin/lighttpd"
#define SPAWN_FCGI "/usr/bin/spawn-fcgi"

static const char site_conf[] =
	"keepalive_s = 2\nlifetime_s = 60\nrate_limit = 0\nmax_streams = 0\n";

struct vps {
	char repo[PATH_MAX];
	char site[PATH_MAX];
	const char *user;           /* what the servers run as; NULL: as we do */
	int apache_port, nginx_port, lighttpd_port;
};

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

/* Each start step prints what failed and returns false; the group teardown
 * then stops whatever did start. */
static bool spawn(struct vps *v, const char *name, int children)
{
	char owner[128] = "";
	if (v->user != NULL)
		snprintf(owner, sizeof(owner), "-u %s -g %s -U %s -G %s", v->user, v->user,
		         v->user, v->user);
	if (tu_sh("%s -s '%s/run/%s.sock' -F %d %s -P '%s/run/%s.pids' -- "
	          "'%s/htdocs/cgi-bin/%s.fcgi' >/dev/null",
	          SPAWN_FCGI, v->site, name, children, owner, v->site, name, v->site,
	          name) != 0)
		return fprintf(stderr, "test_vps: spawn-fcgi could not start %s.fcgi\n", name), false;
	return true;
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
	/* The README's ProxyPass lines, on a path of their own. */
	char httpd_extra[4 * PATH_MAX];
	snprintf(httpd_extra, sizeof(httpd_extra),
	         "<IfModule !proxy_module>\n"
	         "LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n"
	         "</IfModule>\n"
	         "<IfModule !proxy_fcgi_module>\n"
	         "LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so\n"
	         "</IfModule>\n"
	         "ProxyPass \"/vps/events.fcgi\" \"unix:%s/run/events.sock|fcgi://sse-events/\" flushpackets=on\n"
	         "ProxyPass \"/vps/post.fcgi\" \"unix:%s/run/post.sock|fcgi://sse-post/\"\n",
	         v->site, v->site);
	setenv("SSE_CONF_EXTRA", site_conf, 1);
	setenv("SSE_HTTPD_EXTRA", httpd_extra, 1);
	if (tu_sh("'%s/scripts/apache.sh' start '%s' %d fcgid >/dev/null", v->repo, v->site,
	          v->apache_port) != 0) {
		fprintf(stderr, "apache.sh start failed (see %s/logs/error.log)\n", v->site);
		return -1;
	}
	bool up = spawn(v, "events", EVENTS_CHILDREN) && spawn(v, "post", 2) &&
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

/* ---- tests --------------------------------------------------------------- */

/* Headers, the first frame at once, and a post on the stream without delay. */
static void test_stream_and_post_through_each_front(void **state)
{
	const struct vps *v = *state;
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char channel[32], hv[128];
		snprintf(channel, sizeof(channel), "live-%d", i);
		struct http s;
		open_stream(&s, &f, channel, NULL);
		if (!http_wait_live(&s, BUFFERED_MS))
			fail_msg("%s: no first frame within %d ms", f.name, BUFFERED_MS);
		assert_int_equal(http_status(&s), 200);
		assert_string_equal(http_header(&s, "Content-Type", hv, sizeof(hv)),
		                    "text/event-stream; charset=utf-8");
		assert_null(http_header(&s, "Content-Length", hv, sizeof(hv)));
		long long t0 = tu_now_ms();
		assert_int_equal(post(&f, channel, "through the front"), 201);
		if (!http_wait_for(&s, "\"text\":\"through the front\"", BUFFERED_MS))
			fail_msg("%s: the event was held back (not within %d ms)", f.name,
			         BUFFERED_MS);
		print_message("vps[%s]: first byte %lld ms, post to event %lld ms\n", f.name,
		              s.first_byte_ms - s.sent_ms, tu_now_ms() - t0);
		http_close(&s);
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
		snprintf(channel, sizeof(channel), "resume-%d", i);
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
 * Every events.fcgi process busy, then all clients leave: a newcomer must
 * get a process.  nginx frees them at once; behind lighttpd and
 * mod_proxy_fcgi a process learns of it at its next keepalive write, so
 * within two keepalives.
 */
static void test_processes_come_free_after_clients_leave(void **state)
{
	const struct vps *v = *state;
	const long long bound_ms = 2 * KEEPALIVE_S * 1000 + BUFFERED_MS;
	for (int i = 0; i < FRONTS; i++) {
		struct front f = front(v, i);
		char channel[32];
		snprintf(channel, sizeof(channel), "free-%d", i);
		struct http s[EVENTS_CHILDREN];
		for (int k = 0; k < EVENTS_CHILDREN; k++) {
			open_stream(&s[k], &f, channel, NULL);
			if (!http_wait_live(&s[k], BUFFERED_MS))
				fail_msg("%s: stream %d of %d did not open", f.name, k + 1,
				         EVENTS_CHILDREN);
		}
		for (int k = 0; k < EVENTS_CHILDREN; k++)
			http_close(&s[k]);
		struct http late;
		open_stream(&late, &f, channel, NULL);
		bool live = http_wait_for(&late, ": live\n", (int)bound_ms);
		long long waited = tu_now_ms() - late.sent_ms;
		http_close(&late);
		if (!live)
			fail_msg("%s: no process came free within %lld ms", f.name, bound_ms);
		print_message("vps[%s]: %d streams closed, the next one live after %lld ms\n",
		              f.name, EVENTS_CHILDREN, waited);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_and_post_through_each_front),
		cmocka_unit_test(test_each_path_reaches_its_program),
		cmocka_unit_test(test_last_event_id_passes_through),
		cmocka_unit_test(test_processes_come_free_after_clients_leave),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
