/*
 * Integration: the real binaries behind a real Apache httpd (Debian's
 * apache2, started by scripts/apache.sh on a free loopback port with a config
 * it generates; the shipped cgi-bin/.htaccess does the handler mapping), on a
 * real SQLite file, checked from outside with an HTTP client.
 *
 * Environment: SSE_IT_MODE (fcgid | cgid), SSE_TEST_BINARIES (the folder of
 * events.fcgi and post.fcgi to serve), SSE_IT_QUICK=1 for the short list
 * (used for the static binaries).  Measured figures are printed, never
 * asserted tighter than what tells "streaming" from "buffered".
 */
#include "httpclient.h"
#include "privatecheck.h"

#include <dirent.h>

/* A stream event arriving later than this was held by a buffer or timeout. */
#define BUFFERED_MS 5000

static const char base_conf[] =
	"keepalive_s = 2\nlifetime_s = 60\nrate_limit = 0\nmax_streams = 0\n";

struct it {
	char repo[PATH_MAX];
	char site[PATH_MAX];
	char db[PATH_MAX + 32];
	int port;
	const char *mode;
};

static void apache_start(struct it *t, const char *conf_extra, const char *httpd_extra)
{
	setenv("SSE_CONF_EXTRA", conf_extra ? conf_extra : "", 1);
	setenv("SSE_HTTPD_EXTRA", httpd_extra ? httpd_extra : "", 1);
	if (tu_sh("'%s/scripts/apache.sh' start '%s' %d %s >/dev/null", t->repo, t->site,
	       t->port, t->mode) != 0)
		fail_msg("apache.sh start failed (see %s/logs/error.log)", t->site);
}

static void apache_stop(struct it *t)
{
	if (tu_sh("'%s/scripts/apache.sh' stop '%s' 2>/dev/null", t->repo, t->site) != 0)
		fail_msg("apache.sh stop: processes had to be killed or survived");
}

static void apache_restart(struct it *t, const char *conf_extra, const char *httpd_extra)
{
	apache_stop(t);
	apache_start(t, conf_extra, httpd_extra);
}

/* Rows in the database, read as the serving user (WAL files keep its owner). */
static long long stored_rows(struct it *t)
{
	return tu_sh_number("'%s/scripts/apache.sh' ssectl '%s' stats" TU_STATS_ROWS,
	                    t->repo, t->site);
}

static int group_setup(void **state)
{
	struct it *t = calloc(1, sizeof(*t));
	if (getcwd(t->repo, sizeof(t->repo)) == NULL)
		return -1;
	t->mode = getenv("SSE_IT_MODE") ? getenv("SSE_IT_MODE") : "fcgid";
	snprintf(t->site, sizeof(t->site), "/tmp/sse-it-%s-XXXXXX", t->mode);
	if (mkdtemp(t->site) == NULL)
		return -1;
	snprintf(t->db, sizeof(t->db), "%s/data/sse.db", t->site);
	t->port = http_free_port();
	apache_start(t, base_conf, NULL);
	*state = t;
	return 0;
}

static int group_teardown(void **state)
{
	struct it *t = *state;
	apache_stop(t);
	/*
	 * A sanitizer report or a crash anywhere behind Apache fails the run.
	 * Apache's own worker process dying at its stop (AH00052, seen once:
	 * mpm_event and mod_fcgid ending a thread that still relayed a
	 * stream) is no crash of ours, which run as processes of their own:
	 * said, not failed.
	 */
	tu_sh("grep 'AH00052: child pid .* Segmentation fault' '%s/logs/error.log'"
	      " | sed 's/^/it: Apache itself (not ours): /' >&2", t->site);
	if (tu_sh("! grep -v 'AH00052: child pid ' '%s/logs/error.log' | grep -E"
	          " 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|"
	          "End of script output before headers'", t->site) != 0) {
		fprintf(stderr, "errors in %s/logs/error.log (kept)\n", t->site);
		free(t);
		return -1;
	}
	tu_sh("rm -rf '%s'", t->site);
	free(t);
	return 0;
}

/* ---- a small SSE reader for the checks ---------------------------------- */

struct event {
	long long id;
	char name[32];
	char data[512];
};

/* Parses complete frames of body into ev (at most max); returns the count. */
static size_t parse_events(const char *body, struct event *ev, size_t max)
{
	size_t n = 0;
	const char *p = body;
	const char *end;
	while (n < max && (end = strstr(p, "\n\n")) != NULL) {
		struct event e = { .id = -1, .name = "message", .data = "" };
		bool has_data = false;
		for (const char *l = p; l < end;) {
			const char *nl = memchr(l, '\n', (size_t)(end - l));
			size_t len = nl ? (size_t)(nl - l) : (size_t)(end - l);
			if (len > 4 && strncmp(l, "id: ", 4) == 0)
				e.id = atoll(l + 4);
			else if (len > 7 && strncmp(l, "event: ", 7) == 0)
				snprintf(e.name, sizeof(e.name), "%.*s", (int)len - 7, l + 7);
			else if (len >= 6 && strncmp(l, "data: ", 6) == 0) {
				size_t used = strlen(e.data);
				snprintf(e.data + used, sizeof(e.data) - used, "%s%.*s",
				         has_data ? "\n" : "", (int)len - 6, l + 6);
				has_data = true;
			}
			l += len + 1;
		}
		if (has_data)
			ev[n++] = e;
		p = end + 2;
	}
	return n;
}

static const char *stream_path(const char *query)
{
	static char path[256];
	snprintf(path, sizeof(path), "/cgi-bin/events.fcgi%s%s", query ? "?" : "",
	         query ? query : "");
	return path;
}

static int post_json(struct it *t, const char *user, const char *text)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"text\":\"%s\"}", user, text);
	struct http h;
	int status = http_request(&h, t->port, "POST", "/cgi-bin/post.fcgi",
	                          "Content-Type: application/json\r\n", body);
	http_close(&h);
	return status;
}

/* ---- tests --------------------------------------------------------------- */

static void test_stream_headers_and_first_bytes(void **state)
{
	struct it *t = *state;
	struct http h;
	http_send(&h, t->port, "GET", stream_path("channel=first"), NULL, NULL);
	assert_true(http_wait_live(&h, BUFFERED_MS));
	char v[256];
	assert_int_equal(http_status(&h), 200);
	assert_string_equal(http_header(&h, "Content-Type", v, sizeof(v)),
	                    "text/event-stream; charset=utf-8");
	assert_string_equal(http_header(&h, "Cache-Control", v, sizeof(v)),
	                    "no-cache, no-transform");
	assert_string_equal(http_header(&h, "X-Accel-Buffering", v, sizeof(v)), "no");
	assert_null(http_header(&h, "Content-Length", v, sizeof(v)));
	assert_null(http_header(&h, "Content-Encoding", v, sizeof(v)));
	assert_string_equal(tu_unpad(http_body(&h)), "retry: 2000\n: live\n\n");
	print_message("it[%s]: first byte after %lld ms\n", t->mode,
	              h.first_byte_ms - h.sent_ms);
	http_close(&h);
}

/* A post reaches every open stream, each event without waiting for a buffer. */
static void test_live_delivery_to_every_stream(void **state)
{
	struct it *t = *state;
	enum { N = 5, ROUNDS = 5 };
	struct http s[N];
	for (int i = 0; i < N; i++) {
		http_send(&s[i], t->port, "GET", stream_path("channel=live"), NULL, NULL);
		assert_true(http_wait_live(&s[i], BUFFERED_MS));
	}
	long long worst = 0, total = 0;
	for (int r = 0; r < ROUNDS; r++) {
		char text[32], needle[64];
		snprintf(text, sizeof(text), "round %d", r);
		snprintf(needle, sizeof(needle), "\"text\":\"round %d\"", r);
		long long t0 = tu_now_ms();
		struct http p;
		char body[128];
		snprintf(body, sizeof(body), "{\"channel\":\"live\",\"user\":\"u\",\"text\":\"%s\"}", text);
		http_send(&p, t->port, "POST", "/cgi-bin/post.fcgi",
		          "Content-Type: application/json\r\n", body);
		for (int i = 0; i < N; i++) {
			if (!http_wait_for(&s[i], needle, BUFFERED_MS))
				fail_msg("stream %d: '%s' not delivered within %d ms", i, text, BUFFERED_MS);
			long long gap = tu_now_ms() - t0;
			worst = gap > worst ? gap : worst;
			total += gap;
		}
		assert_true(http_finish(&p, 5000));
		assert_int_equal(http_status(&p), 201);
		http_close(&p);
	}
	print_message("it[%s]: post-to-event gap over %d deliveries: mean %lld ms, max %lld ms\n",
	              t->mode, N * ROUNDS, total / (N * ROUNDS), worst);
	for (int i = 0; i < N; i++)
		http_close(&s[i]);
}

static void test_resume_after_drop(void **state)
{
	struct it *t = *state;
	struct http h;
	http_send(&h, t->port, "GET", stream_path("channel=resume"), NULL, NULL);
	assert_true(http_wait_live(&h, BUFFERED_MS));
	struct http p;
	http_request(&p, t->port, "POST", "/cgi-bin/post.fcgi",
	             "Content-Type: application/x-www-form-urlencoded\r\n",
	             "channel=resume&user=u&text=before");
	http_close(&p);
	assert_true(http_wait_for(&h, "before", BUFFERED_MS));
	struct event ev[8];
	size_t n = parse_events(tu_unpad(http_body(&h)), ev, 8);
	assert_int_equal(n, 1);
	long long last = ev[0].id;
	http_close(&h);   /* the connection drops */

	for (int i = 0; i < 3; i++)
		assert_int_equal(post_json(t, "u", "while away"), 201);
	struct http p2;
	http_request(&p2, t->port, "POST", "/cgi-bin/post.fcgi",
	             "Content-Type: application/json\r\n",
	             "{\"channel\":\"resume\",\"user\":\"u\",\"text\":\"missed 1\"}");
	http_close(&p2);
	http_request(&p2, t->port, "POST", "/cgi-bin/post.fcgi",
	             "Content-Type: application/json\r\n",
	             "{\"channel\":\"resume\",\"user\":\"u\",\"text\":\"missed 2\"}");
	http_close(&p2);

	char header[64];
	snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", last);
	http_send(&h, t->port, "GET", stream_path("channel=resume"), header, NULL);
	assert_true(http_wait_for(&h, "missed 2", BUFFERED_MS));
	n = parse_events(tu_unpad(http_body(&h)), ev, 8);
	assert_int_equal(n, 2);
	assert_non_null(strstr(ev[0].data, "missed 1"));
	assert_non_null(strstr(ev[1].data, "missed 2"));
	http_close(&h);

	char query[64];
	snprintf(query, sizeof(query), "channel=resume&since=%lld", last);
	http_send(&h, t->port, "GET", stream_path(query), NULL, NULL);
	assert_true(http_wait_for(&h, "missed 2", BUFFERED_MS));
	assert_int_equal(parse_events(tu_unpad(http_body(&h)), ev, 8), 2);
	http_close(&h);
}

/* Like a browser: reconnect with Last-Event-ID whenever the stream ends. */
static void test_lifetime_end_and_reconnect_lose_nothing(void **state)
{
	struct it *t = *state;
	apache_restart(t, "keepalive_s = 1\nlifetime_s = 2\nrate_limit = 0\nmax_streams = 0\n", NULL);
	enum { MESSAGES = 12 };
	long long last = -1;
	long long seen[MESSAGES + 8];
	size_t nseen = 0;
	int posted = 0, connections = 0;
	long long deadline = tu_now_ms() + 30000;
	long long next_post = tu_now_ms();
	struct http h = { .fd = -1 };
	while (tu_now_ms() < deadline && (posted < MESSAGES || nseen < MESSAGES)) {
		if (h.fd < 0) {
			char header[64] = "";
			if (last >= 0)
				snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", last);
			http_send(&h, t->port, "GET", stream_path("channel=life"), header, NULL);
			connections++;
		}
		if (posted < MESSAGES && tu_now_ms() >= next_post) {
			char body[128];
			snprintf(body, sizeof(body),
			         "{\"channel\":\"life\",\"user\":\"u\",\"text\":\"n%d\"}", posted);
			struct http p;
			assert_int_equal(http_request(&p, t->port, "POST", "/cgi-bin/post.fcgi",
			                              "Content-Type: application/json\r\n", body), 201);
			http_close(&p);
			posted++;
			next_post = tu_now_ms() + 400;
		}
		bool open = http_pump(&h, 50);
		struct event ev[64];
		size_t n = parse_events(tu_unpad(http_body(&h)), ev, 64);
		for (size_t i = 0; i < n; i++) {
			if (ev[i].id <= last)
				continue;   /* already counted from this connection */
			assert_true(nseen < ARRAY_LEN(seen));
			seen[nseen++] = ev[i].id;
			last = ev[i].id;
		}
		if (!open) {
			assert_int_equal(http_status(&h), 200);
			http_close(&h);
		}
	}
	if (h.fd >= 0)
		http_close(&h);
	assert_int_equal(posted, MESSAGES);
	assert_int_equal(nseen, MESSAGES);
	for (size_t i = 1; i < nseen; i++)
		assert_true(seen[i] > seen[i - 1]);
	assert_true(connections >= 3);   /* the lifetime really ended streams */
	print_message("it[%s]: %d messages over %d connections, none lost or doubled\n",
	              t->mode, MESSAGES, connections);
	apache_restart(t, base_conf, NULL);
}

struct status_case {
	const char *what;
	const char *method;
	const char *path;
	const char *headers;
	const char *body;
	int status;
	const char *has;
};

#define FORM "Content-Type: application/x-www-form-urlencoded\r\n"
#define JSON "Content-Type: application/json\r\n"
#define POST_URL "/cgi-bin/post.fcgi"

static const struct status_case statuses[] = {
	{ "post ok", "POST", POST_URL, FORM, "user=a&text=stored", 201, "{\"id\":" },
	{ "post GET", "GET", POST_URL, NULL, NULL, 405, "\"error\"" },
	{ "post cross-origin", "POST", POST_URL, FORM "Origin: https://evil.example\r\n",
	  "user=a&text=b", 403, "cross-origin" },
	{ "post Origin null", "POST", POST_URL, FORM "Origin: null\r\n", "user=a&text=b", 403, NULL },
	{ "post no type", "POST", POST_URL, NULL, "user=a&text=b", 415, NULL },
	{ "post text/plain", "POST", POST_URL, "Content-Type: text/plain\r\n", "user=a&text=b", 415, NULL },
	{ "post no length", "POST", POST_URL, FORM, NULL, 411, NULL },
	{ "post bad field", "POST", POST_URL, FORM, "user=&text=b", 400, "user is required" },
	{ "post bad UTF-8", "POST", POST_URL, FORM, "user=a&text=%FF", 400, "UTF-8" },
	{ "post bad JSON", "POST", POST_URL, JSON, "{\"user\":", 400, "JSON" },
	{ "stream bad channel", "GET", "/cgi-bin/events.fcgi?channel=a%20b", NULL, NULL, 400, "channel" },
	{ "stream POST", "POST", "/cgi-bin/events.fcgi", FORM, "x=1", 405, NULL },
	{ "config is not served", "GET", "/cgi-bin/sse-cgi.conf", NULL, NULL, 403, NULL },
};

static void test_error_statuses_store_nothing(void **state)
{
	struct it *t = *state;
	for (size_t i = 0; i < ARRAY_LEN(statuses); i++) {
		const struct status_case *c = &statuses[i];
		long long before = stored_rows(t);
		struct http h;
		int status = http_request(&h, t->port, c->method, c->path, c->headers, c->body);
		if (status != c->status)
			fail_msg("%s: status %d, want %d: %.300s", c->what, status, c->status,
			         sb_str(&h.in));
		if (c->has != NULL && strstr(tu_unpad(http_body(&h)), c->has) == NULL)
			fail_msg("%s: body lacks '%s': %s", c->what, c->has, tu_unpad(http_body(&h)));
		long long after = stored_rows(t);
		if (after != before + (status == 201 ? 1 : 0))
			fail_msg("%s: rows %lld -> %lld", c->what, before, after);
		http_close(&h);
	}
	/* 413 is answered from Content-Length, before the body is read. */
	struct strbuf big = STRBUF_INIT;
	sb_puts(&big, "user=a&text=");
	for (int i = 0; i < 9000; i++)
		sb_putc(&big, 'x');
	struct http h;
	assert_int_equal(http_request(&h, t->port, "POST", POST_URL, FORM, big.data), 413);
	http_close(&h);
	sb_free(&big);
}

/*
 * Issue 21: the chat page's own posts, from a browser on Apache's port
 * (never 80 or 443 here), get 201 and 303 back to the page and store one
 * message each; another port, name or site, and "null", get 403 and store
 * nothing (httpclient.h, http_origin_posts).
 */
static void test_page_posts_on_its_port(void **state)
{
	struct it *t = *state;
	long long before = stored_rows(t);
	char front[32];
	snprintf(front, sizeof(front), "apache %s", t->mode);
	http_check_origin_posts(front, t->port, POST_URL, t->port == 65535 ? 1 : t->port + 1);
	assert_int_equal(stored_rows(t), before + 2);
	print_message("it[%s]: on port %d the page's posts got 201 and 303, %zu other "
	              "origins 403\n", t->mode, t->port, ARRAY_LEN(http_origin_posts) - 2);
}

static void test_rate_limit(void **state)
{
	struct it *t = *state;
	apache_restart(t, "rate_limit = 3\n", NULL);
	long long before = stored_rows(t);
	for (int i = 0; i < 3; i++)
		assert_int_equal(post_json(t, "r", "within the limit"), 201);
	struct http h;
	assert_int_equal(http_request(&h, t->port, "POST", POST_URL, JSON,
	                              "{\"user\":\"r\",\"text\":\"one too many\"}"), 429);
	char v[64];
	assert_string_equal(http_header(&h, "Retry-After", v, sizeof(v)), "60");
	http_close(&h);
	assert_int_equal(stored_rows(t), before + 3);
	apache_restart(t, base_conf, NULL);
}

/* mod_deflate on for everything: the stream stays uncompressed and live. */
static void test_deflate_neither_compresses_nor_buffers(void **state)
{
	struct it *t = *state;
	apache_restart(t, base_conf, "SetOutputFilter DEFLATE\n"
	               "AddOutputFilterByType DEFLATE text/event-stream text/html\n");
	struct http h;
	assert_int_equal(http_request(&h, t->port, "GET", "/index.html",
	                              "Accept-Encoding: gzip\r\n", NULL), 200);
	char v[64];
	const char *enc = http_header(&h, "Content-Encoding", v, sizeof(v));
	if (enc == NULL || strcmp(enc, "gzip") != 0)
		fail_msg("mod_deflate is not active for a page: the test proves nothing");
	http_close(&h);

	http_send(&h, t->port, "GET", stream_path("channel=deflate"),
	          "Accept-Encoding: gzip, deflate, br\r\n", NULL);
	assert_true(http_wait_live(&h, BUFFERED_MS));
	assert_null(http_header(&h, "Content-Encoding", v, sizeof(v)));
	long long t0 = tu_now_ms();
	struct http p;
	assert_int_equal(http_request(&p, t->port, "POST", POST_URL, JSON,
	        "{\"channel\":\"deflate\",\"user\":\"z\",\"text\":\"not squeezed\"}"), 201);
	http_close(&p);
	assert_true(http_wait_for(&h, "not squeezed", BUFFERED_MS));
	print_message("it[%s]: with mod_deflate on, event arrived %lld ms after the post\n",
	              t->mode, tu_now_ms() - t0);
	http_close(&h);
	apache_restart(t, base_conf, NULL);
}

/* Apache passes no SSE_* variables (as under suEXEC): the file configures. */
static void test_config_from_file_without_environment(void **state)
{
	struct it *t = *state;
	assert_null(getenv("SSE_RETRY_MS"));
	apache_restart(t, "retry_ms = 1234\nrate_limit = 0\nmax_streams = 0\n", NULL);
	struct http h;
	http_send(&h, t->port, "GET", stream_path("channel=quiet"), NULL, NULL);
	assert_true(http_wait_live(&h, BUFFERED_MS));
	assert_string_equal(tu_unpad(http_body(&h)), "retry: 1234\n: live\n\n");
	http_close(&h);
	apache_restart(t, base_conf, NULL);
}

/*
 * Issue 20's "Done means" on a shared host: one channel per user made
 * private by following the README ("Private channels and signed names")
 * with nothing but sse-cgi.conf and the shipped .htaccess: a secret from
 * `openssl rand -base64 48`, mode 600, outside the document root (its
 * owner the serving user, as under suEXEC), token_secret_file with its
 * full path, private_channels = user-*.  Tokens from ssectl token, node
 * and the README's PHP snippet; Authorization: Bearer reaches both
 * programs only through the .htaccess's SetEnvIf line (events.fcgi as CGI,
 * post.fcgi as FastCGI under mod_fcgid).  privatecheck.h has the cases.
 */
static void test_private_channels_the_readme_way(void **state)
{
	struct it *t = *state;
	struct priv_site s;
	/* Apache serves as www-data when started as root (scripts/apache.sh) */
	priv_site_init(&s, t->repo, t->site, geteuid() == 0 ? "www-data" : NULL);
	char conf[sizeof(base_conf) + PATH_MAX + 128];
	priv_prepare(conf, sizeof(conf), base_conf, &s);
	apache_restart(t, conf, NULL);
	unsetenv("SSE_TOKEN_SECRET");
	priv_check_secret_mode(&s);
	struct priv_tokens tokens;
	priv_mint(&tokens, &s);
	char name[64];
	snprintf(name, sizeof(name), "apache %s", t->mode);
	const struct priv_front f = { name, t->port, "/cgi-bin/events.fcgi", POST_URL };
	priv_check_front(&f, &s, &tokens);
	priv_check_ends_at_exp(&f, 1, &s, 60);
	print_message("it[%s]: private user-* channels: %zu stream and %zu post cases, "
	              "tokens from ssectl, node and the README's PHP\n", t->mode, PRIV_STREAMS,
	              PRIV_POSTS);
	apache_restart(t, base_conf, NULL);
}

/* Stream processes of this site, zombies included (*zombies of them). */
static int count_stream_processes(struct it *t, int *zombies)
{
	int live = tu_site_processes(t->site, "events.fcgi", NULL, 0, zombies);
	return live + *zombies;
}

static void test_streams_closed_processes_return(void **state)
{
	struct it *t = *state;
	enum { N = 20 };
	int zombies;
	/* Streams of earlier tests end within two keepalives: wait for them. */
	long long settle = tu_now_ms() + 3 * 2000 + 2000;
	while (count_stream_processes(t, &zombies) > 0 && tu_now_ms() < settle)
		usleep(50000);
	int baseline = count_stream_processes(t, &zombies);
	assert_int_equal(baseline, 0);
	struct http s[N];
	for (int i = 0; i < N; i++) {
		http_send(&s[i], t->port, "GET", stream_path("channel=cleanup"), NULL, NULL);
		assert_true(http_wait_live(&s[i], BUFFERED_MS));
	}
	assert_int_equal(count_stream_processes(t, &zombies), baseline + N);
	long long t0 = tu_now_ms();
	for (int i = 0; i < N; i++)
		http_close(&s[i]);
	/* keepalive_s = 2: two intervals and a margin for a loaded machine. */
	int left = N;
	while (tu_now_ms() - t0 < 3 * 2000 + 2000) {
		left = count_stream_processes(t, &zombies) - baseline;
		if (left <= 0 && zombies == 0)
			break;
		usleep(50000);
	}
	long long took = tu_now_ms() - t0;
	if (left > 0 || zombies > 0)
		fail_msg("%d stream processes (%d zombies) still there after %lld ms",
		         left, zombies, took);
	print_message("it[%s]: %d closed streams' processes gone after %lld ms (keepalive 2 s)\n",
	              t->mode, N, took);
}

/* 5 posters x 50 while 20 streams listen: every listener gets all 250. */
static void test_concurrent_posters_and_listeners(void **state)
{
	struct it *t = *state;
	enum { LISTENERS = 20, POSTERS = 5, EACH = 50, TOTAL = POSTERS * EACH };
	struct http s[LISTENERS];
	for (int i = 0; i < LISTENERS; i++) {
		http_send(&s[i], t->port, "GET", stream_path("channel=crowd"), NULL, NULL);
		assert_true(http_wait_live(&s[i], BUFFERED_MS));
	}
	pid_t kids[POSTERS];
	for (int k = 0; k < POSTERS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			int bad = 0;
			for (int m = 0; m < EACH; m++) {
				char body[128];
				snprintf(body, sizeof(body),
				         "{\"channel\":\"crowd\",\"user\":\"p%d\",\"text\":\"m%d\"}", k, m);
				struct http p;
				http_send(&p, t->port, "POST", POST_URL, JSON, body);
				http_finish(&p, 15000);
				if (http_status(&p) != 201)
					bad++;
				http_close(&p);
			}
			_exit(bad > 255 ? 255 : bad);
		}
	}
	long long deadline = tu_now_ms() + 60000;
	size_t got[LISTENERS] = { 0 };
	bool all = false;
	while (!all && tu_now_ms() < deadline) {
		all = true;
		for (int i = 0; i < LISTENERS; i++) {
			http_pump(&s[i], 0);
			struct event ev[TOTAL + 1];
			got[i] = parse_events(tu_unpad(http_body(&s[i])), ev, TOTAL + 1);
			all = all && got[i] >= TOTAL;
		}
		usleep(20000);
	}
	int failed_posts = 0;
	for (int k = 0; k < POSTERS; k++) {
		int status;
		waitpid(kids[k], &status, 0);
		failed_posts += WIFEXITED(status) ? WEXITSTATUS(status) : EACH;
	}
	assert_int_equal(failed_posts, 0);
	static struct event ev[TOTAL + 1];
	for (int i = 0; i < LISTENERS; i++) {
		size_t n = parse_events(tu_unpad(http_body(&s[i])), ev, TOTAL + 1);
		if (n != TOTAL)
			fail_msg("listener %d got %zu of %d events", i, n, TOTAL);
		for (size_t k = 1; k < n; k++)
			if (ev[k].id <= ev[k - 1].id)
				fail_msg("listener %d: id %lld after %lld", i, ev[k].id, ev[k - 1].id);
		http_close(&s[i]);
	}
	print_message("it[%s]: %d listeners each received all %d posts in order\n",
	              t->mode, LISTENERS, TOTAL);
}

/* Read-only database, then its folder gone: 503, nothing half-written, back. */
static void test_database_read_only_then_gone(void **state)
{
	struct it *t = *state;
	assert_int_equal(post_json(t, "d", "before trouble"), 201);
	long long before = stored_rows(t);
	/* Apache's user (www-data when started as root) can no longer write. */
	assert_int_equal(tu_sh("chmod 444 '%s'", t->db), 0);
	struct http h;
	assert_int_equal(http_request(&h, t->port, "POST", POST_URL, JSON,
	                              "{\"user\":\"d\",\"text\":\"read-only\"}"), 503);
	char v[64];
	assert_non_null(http_header(&h, "Retry-After", v, sizeof(v)));
	assert_non_null(strstr(tu_unpad(http_body(&h)), "read-only"));
	http_close(&h);
	assert_int_equal(tu_sh("chmod 644 '%s'", t->db), 0);
	assert_int_equal(post_json(t, "d", "writable again"), 201);
	assert_int_equal(stored_rows(t), before + 1);

	assert_int_equal(tu_sh("mv '%s/data' '%s/data.away'", t->site, t->site), 0);
	assert_int_equal(http_request(&h, t->port, "POST", POST_URL, JSON,
	                              "{\"user\":\"d\",\"text\":\"no folder\"}"), 503);
	assert_non_null(http_header(&h, "Retry-After", v, sizeof(v)));
	http_close(&h);
	http_send(&h, t->port, "GET", stream_path(NULL), NULL, NULL);
	assert_true(http_finish(&h, BUFFERED_MS));   /* answered, then ended */
	assert_int_equal(http_status(&h), 200);
	assert_non_null(strstr(tu_unpad(http_body(&h)), ": database is unavailable\n"));
	assert_non_null(strstr(tu_unpad(http_body(&h)), "retry: "));
	http_close(&h);
	assert_int_equal(tu_sh("mv '%s/data.away' '%s/data'", t->site, t->site), 0);
	assert_int_equal(post_json(t, "d", "recovered"), 201);
	assert_int_equal(stored_rows(t), before + 2);
	assert_int_equal(tu_sh("sqlite3 '%s' 'PRAGMA integrity_check' | grep -qx ok", t->db), 0);
}

/* make static: nothing from the host but the kernel. */
static void test_binaries_are_static(void **state)
{
	(void)state;
	const char *dir = getenv("SSE_TEST_BINARIES");
	assert_non_null(dir);
	const char *names[] = { "events.fcgi", "post.fcgi" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		assert_int_equal(tu_sh("ldd '%s/%s' 2>&1 | grep -q 'not a dynamic executable'",
		                    dir, names[i]), 0);
		assert_int_equal(tu_sh("! readelf -d '%s/%s' | grep -q NEEDED", dir, names[i]), 0);
	}
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_stream_headers_and_first_bytes),
		cmocka_unit_test(test_live_delivery_to_every_stream),
		cmocka_unit_test(test_resume_after_drop),
		cmocka_unit_test(test_error_statuses_store_nothing),
		cmocka_unit_test(test_page_posts_on_its_port),
		cmocka_unit_test(test_streams_closed_processes_return),
		cmocka_unit_test(test_concurrent_posters_and_listeners),
		cmocka_unit_test(test_database_read_only_then_gone),
		cmocka_unit_test(test_lifetime_end_and_reconnect_lose_nothing),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_deflate_neither_compresses_nor_buffers),
		cmocka_unit_test(test_config_from_file_without_environment),
		cmocka_unit_test(test_private_channels_the_readme_way),
	};
	const struct CMUnitTest quick[] = {
		cmocka_unit_test(test_binaries_are_static),   /* SSE_IT_STATIC only */
		cmocka_unit_test(test_stream_headers_and_first_bytes),
		cmocka_unit_test(test_live_delivery_to_every_stream),
		cmocka_unit_test(test_resume_after_drop),
		cmocka_unit_test(test_error_statuses_store_nothing),
		cmocka_unit_test(test_page_posts_on_its_port),
		cmocka_unit_test(test_private_channels_the_readme_way),
	};
	/* SSE_IT_ONLY=test_page_posts_on_its_port (a cmocka pattern) runs a part. */
	if (getenv("SSE_IT_ONLY") != NULL)
		cmocka_set_test_filter(getenv("SSE_IT_ONLY"));
	char name[64];
	snprintf(name, sizeof(name), "Apache integration (%s%s)",
	         getenv("SSE_IT_MODE") ? getenv("SSE_IT_MODE") : "fcgid",
	         getenv("SSE_IT_QUICK") ? ", quick" : "");
	if (getenv("SSE_IT_QUICK") != NULL) {
		size_t skip = getenv("SSE_IT_STATIC") != NULL ? 0 : 1;
		return _cmocka_run_group_tests(name, quick + skip, ARRAY_LEN(quick) - skip,
		                               group_setup, group_teardown);
	}
	return _cmocka_run_group_tests(name, all, ARRAY_LEN(all), group_setup, group_teardown);
}
