/*
 * End to end, as plain CGI: the built binaries run as child processes with a
 * CGI environment and a body on stdin, exactly as a web server starts them,
 * and their output is checked byte for byte.  (Behind a real Apache: see
 * tests/integration.)
 */
#include "testutil.h"

#include "tally.h"

#include <sys/file.h>

#include "token.h"

#define MAX_ENV 24

struct site {
	char dir[PATH_MAX];
	char events[PATH_MAX + 32];
	char post[PATH_MAX + 32];
	char ssectl[PATH_MAX + 32];
	char db[PATH_MAX + 32];
};

static void site_make(struct site *s, const char *extra_conf)
{
	tu_tempdir(s->dir, sizeof(s->dir));
	tu_make_site(s->dir, extra_conf);
	snprintf(s->events, sizeof(s->events), "%s/cgi-bin/events.fcgi", s->dir);
	snprintf(s->post, sizeof(s->post), "%s/cgi-bin/post.fcgi", s->dir);
	snprintf(s->ssectl, sizeof(s->ssectl), "%s/ssectl", s->dir);
	snprintf(s->db, sizeof(s->db), "%s/data/sse.db", s->dir);
}

/* A CGI environment: the basics, sanitizer options, then "NAME=value"s. */
struct env {
	char *vars[MAX_ENV + 1];
	char store[MAX_ENV][1024];
	int n;
};

static void env_add(struct env *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A variable set again replaces the first one (getenv reads only that). */
static void env_add(struct env *e, const char *fmt, ...)
{
	assert_true(e->n < MAX_ENV);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->store[e->n], sizeof(e->store[0]), fmt, ap);
	va_end(ap);
	size_t name = strcspn(e->store[e->n], "=") + 1;
	for (int i = 0; i < e->n; i++) {
		if (strncmp(e->store[i], e->store[e->n], name) == 0) {
			memcpy(e->store[i], e->store[e->n], sizeof(e->store[0]));
			return;
		}
	}
	e->vars[e->n] = e->store[e->n];
	e->vars[++e->n] = NULL;
}

static void env_init(struct env *e, const char *method, const char *query)
{
	e->n = 0;
	e->vars[0] = NULL;
	env_add(e, "GATEWAY_INTERFACE=CGI/1.1");
	env_add(e, "SERVER_PROTOCOL=HTTP/1.1");
	env_add(e, "REQUEST_METHOD=%s", method);
	env_add(e, "QUERY_STRING=%s", query ? query : "");
	env_add(e, "HTTP_HOST=localhost:8080");
	env_add(e, "REMOTE_ADDR=127.0.0.1");
	const char *pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	for (size_t i = 0; i < ARRAY_LEN(pass); i++)
		if (getenv(pass[i]) != NULL)
			env_add(e, "%s=%s", pass[i], getenv(pass[i]));
}

static int run_post(const struct site *s, struct env *e, const char *type,
                    const char *body, struct strbuf *out)
{
	if (type != NULL)
		env_add(e, "CONTENT_TYPE=%s", type);
	if (body != NULL)
		env_add(e, "CONTENT_LENGTH=%zu", strlen(body));
	return tu_run_cgi(s->post, e->vars, body, out, 10000);
}

static int ssectl(const struct site *s, const char *args)
{
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s/cgi-bin/sse-cgi.conf' %s >/dev/null",
	         s->ssectl, s->dir, args);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ssectl with stdin from a printf (dash's printf knows \\r, \\n, \\ooo). */
static int ssectl_printf(const struct site *s, const char *printf_arg,
                         const char *args)
{
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "printf '%s' | '%s' --db '%s' %s >/dev/null 2>&1",
	         printf_arg, s->ssectl, s->db, args);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long long count_rows(const struct site *s)
{
	return tu_sh_number("'%s' --db '%s' stats" TU_STATS_ROWS, s->ssectl, s->db);
}

/* The value of one series in `ssectl stats --prometheus` (-1: absent). */
static long long metric(const struct site *s, const char *series)
{
	return tu_sh_number("'%s' --db '%s' stats --prometheus | "
	                    "awk -v s='%s' '$1 == s { print $2; n++ } END { if (!n) print -1 }'",
	                    s->ssectl, s->db, series);
}

/* ---- post.fcgi: a table of requests and the answer each must get -------- */

struct post_case {
	const char *what;
	const char *method;
	const char *type;         /* CONTENT_TYPE, NULL: unset */
	const char *body;         /* also sets CONTENT_LENGTH; NULL: neither */
	const char *extra[4];     /* more "NAME=value" variables */
	const char *status;       /* expected first line */
	const char *has[3];       /* substrings of the whole output */
	int stored;               /* rows the request adds */
};

#define FORM_T "application/x-www-form-urlencoded"
#define JSON_T "application/json"

static const struct post_case post_cases[] = {
	{ "form post", "POST", FORM_T, "user=alice&text=hi", { 0 },
	  "Status: 201 Created", { "\r\n\r\n{\"id\":1}\n", "Content-Type: application/json" }, 1 },
	{ "json post", "POST", JSON_T, "{\"user\":\"bob\",\"text\":\"hey\"}", { 0 },
	  "Status: 201 Created", { "{\"id\":2}" }, 1 },
	{ "same origin", "POST", JSON_T, "{\"user\":\"b\",\"text\":\"x\"}",
	  { "HTTP_ORIGIN=http://localhost:8080" }, "Status: 201 Created", { 0 }, 1 },
	{ "GET", "GET", NULL, NULL, { 0 }, "Status: 405 Method Not Allowed",
	  { "Allow: POST\r\n", "{\"error\":" }, 0 },
	{ "PUT", "PUT", JSON_T, "{}", { 0 }, "Status: 405", { "Allow: POST" }, 0 },
	{ "cross origin", "POST", FORM_T, "user=a&text=b", { "HTTP_ORIGIN=https://evil.example" },
	  "Status: 403 Forbidden", { "cross-origin" }, 0 },
	{ "null origin", "POST", FORM_T, "user=a&text=b", { "HTTP_ORIGIN=null" },
	  "Status: 403", { 0 }, 0 },
	{ "prefix origin", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_ORIGIN=http://localhost:8080.evil.example" }, "Status: 403", { 0 }, 0 },
	{ "same origin, Host without its port (Debian's nginx)", "POST", JSON_T,
	  "{\"user\":\"b\",\"text\":\"x\"}",
	  { "HTTP_HOST=localhost", "SERVER_PORT=18203", "HTTP_ORIGIN=http://localhost:18203" },
	  "Status: 201 Created", { 0 }, 1 },
	{ "another port, Host without its port", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_HOST=localhost", "SERVER_PORT=18203", "HTTP_ORIGIN=http://localhost:18204" },
	  "Status: 403 Forbidden", { "cross-origin" }, 0 },
	{ "cross-site fetch without Origin", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_SEC_FETCH_SITE=cross-site" }, "Status: 403", { 0 }, 0 },
	{ "no content type", "POST", NULL, "user=a&text=b", { 0 },
	  "Status: 415 Unsupported Media Type", { 0 }, 0 },
	{ "text/plain", "POST", "text/plain", "user=a&text=b", { 0 }, "Status: 415", { 0 }, 0 },
	{ "latin-1 charset", "POST", "application/json; charset=iso-8859-1",
	  "{\"user\":\"a\",\"text\":\"b\"}", { 0 }, "Status: 415", { 0 }, 0 },
	{ "no length", "POST", FORM_T, NULL, { 0 }, "Status: 411 Length Required", { 0 }, 0 },
	{ "too large", "POST", FORM_T, NULL, { "CONTENT_LENGTH=8193" },
	  "Status: 413 Payload Too Large", { "too large" }, 0 },
	{ "bad length", "POST", FORM_T, NULL, { "CONTENT_LENGTH=12x" }, "Status: 400", { 0 }, 0 },
	{ "short body", "POST", FORM_T, NULL, { "CONTENT_LENGTH=100" }, "Status: 400",
	  { "ended before" }, 0 },
	{ "missing user", "POST", FORM_T, "text=b", { 0 }, "Status: 400 Bad Request",
	  { "{\"error\":\"user is required\"}" }, 0 },
	{ "bad utf-8", "POST", FORM_T, "user=a&text=%C3", { 0 }, "Status: 400",
	  { "not valid UTF-8" }, 0 },
	{ "bad json", "POST", JSON_T, "{\"user\":", { 0 }, "Status: 400", { "not valid JSON" }, 0 },
	{ "plain form wants a page", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_ACCEPT=text/html,application/xhtml+xml,*/*;q=0.8" },
	  "Status: 303 See Other", { "Location: /\r\n" }, 1 },
	{ "back to the posting page", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_ACCEPT=text/html", "HTTP_REFERER=http://localhost:8080/chat/#room" },
	  "Status: 303", { "Location: /chat/#room\r\n" }, 1 },
	{ "back to the page, Host without its port", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_ACCEPT=text/html", "HTTP_HOST=localhost", "SERVER_PORT=18203",
	    "HTTP_REFERER=http://localhost:18203/chat/" },
	  "Status: 303", { "Location: /chat/\r\n" }, 1 },
	{ "foreign referer goes home", "POST", FORM_T, "user=a&text=b",
	  { "HTTP_ACCEPT=text/html", "HTTP_REFERER=http://localhost:8080.evil/x" },
	  "Status: 303", { "Location: /\r\n" }, 1 },
};

static void test_post_table(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "rate_limit = 0\n");
	long long rows = 0, refused = 0, cross_origin = 0;
	for (size_t i = 0; i < ARRAY_LEN(post_cases); i++) {
		const struct post_case *c = &post_cases[i];
		struct env e;
		env_init(&e, c->method, NULL);
		for (size_t k = 0; k < ARRAY_LEN(c->extra) && c->extra[k]; k++)
			env_add(&e, "%s", c->extra[k]);
		struct strbuf out = STRBUF_INIT;
		int rc = run_post(&s, &e, c->type, c->body, &out);
		if (strncmp(sb_str(&out), c->status, strlen(c->status)) != 0)
			fail_msg("%s: got [%.80s]", c->what, sb_str(&out));
		for (size_t k = 0; k < ARRAY_LEN(c->has) && c->has[k]; k++)
			if (strstr(sb_str(&out), c->has[k]) == NULL)
				fail_msg("%s: [%s] lacks [%s]", c->what, sb_str(&out), c->has[k]);
		if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
			fail_msg("%s: exit status %d", c->what, rc);
		rows += c->stored;
		if (count_rows(&s) != rows)
			fail_msg("%s: %lld rows stored, want %lld", c->what, count_rows(&s), rows);
		refused += c->stored == 0;
		cross_origin += strncmp(c->status, "Status: 403", 11) == 0;
		sb_free(&out);
	}
	/* Every post counted in DATABASE.metrics, each process adding its own. */
	assert_int_equal(metric(&s, "sse_messages_stored_total"), rows);
	assert_int_equal(metric(&s, "sse_store_commit_seconds_count"), rows);
	assert_int_equal(metric(&s, "sse_posts_refused_total{reason=\"origin\"}"), cross_origin);
	assert_int_equal(tu_sh_number("'%s' --db '%s' stats --prometheus | awk "
	                              "'/^sse_posts_refused_total/ { n += $2 } END { print n }'",
	                              s.ssectl, s.db), refused);
	tu_rmtree(s.dir);
}

static void test_post_rate_limit(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "rate_limit = 2\n");
	for (int i = 0; i < 3; i++) {
		struct env e;
		env_init(&e, "POST", NULL);
		struct strbuf out = STRBUF_INIT;
		run_post(&s, &e, FORM_T, "user=a&text=b", &out);
		if (i < 2) {
			assert_non_null(strstr(sb_str(&out), "Status: 201"));
		} else {
			assert_non_null(strstr(sb_str(&out), "Status: 429 Too Many Requests"));
			assert_non_null(strstr(sb_str(&out), "Retry-After: 60\r\n"));
		}
		sb_free(&out);
	}
	assert_int_equal(count_rows(&s), 2);
	assert_int_equal(metric(&s, "sse_posts_refused_total{reason=\"rate_limit\"}"), 1);
	tu_rmtree(s.dir);
}

/* ---- post.fcgi with tokens: who may post, under whose name ------------- */

#define TOKEN_SECRET "post-secret-post-secret-post-secret-0123"

struct token_post {
	const char *what;
	const char *claims;       /* signed into the token; NULL: no token */
	const char *raw;          /* a token as is, when no claims */
	bool bearer;              /* in Authorization, not the cookie */
	const char *query, *type, *body;
	const char *status;
	const char *has;          /* in the answer */
	const char *stored;       /* in the data stored, when it stored */
	const char *not_stored;   /* not in it */
};

#define PUB(ch, rest) "{\"mercure\":{\"publish\":[\"" ch "\"]}" rest "}"

static const struct token_post token_posts[] = {
	{ "a signed name replaces the form's", PUB("chat", ",\"name\":\"Alice \\u2713\""),
	  NULL, false, NULL, FORM_T, "user=mallory&text=hi", "Status: 201", NULL,
	  "\"user\":\"Alice \xe2\x9c\x93\",\"text\":\"hi\"", "mallory" },
	{ "signed: \"signed\":true, last", PUB("*", ",\"name\":\"al\""), NULL, false,
	  NULL, FORM_T, "text=no+user+field", "Status: 201", NULL, "Z\",\"signed\":true}", NULL },
	{ "signed, JSON, in Authorization", PUB("chat", ",\"name\":\"srv\""), NULL, true,
	  NULL, JSON_T, "{\"text\":\"x\"}", "Status: 201", NULL, "\"user\":\"srv\"", NULL },
	{ "a publish token without a name: the form's", PUB("chat", ""), NULL, false, NULL,
	  FORM_T, "user=bob&text=x", "Status: 201", NULL, "\"user\":\"bob\"", "signed" },
	{ "a subscribe-only cookie: anonymous as before",
	  "{\"exp\":4102444800,\"name\":\"al\",\"mercure\":{\"subscribe\":[\"*\"]}}",
	  NULL, false, NULL, FORM_T, "user=bob&text=x", "Status: 201", NULL,
	  "\"user\":\"bob\"", "signed" },
	{ "no token on the open chat", NULL, NULL, false, NULL, FORM_T, "user=bob&text=x",
	  "Status: 201", NULL, "\"user\":\"bob\"", "signed" },
	{ "a token for another channel", PUB("news", ",\"name\":\"al\""), NULL, false, NULL,
	  FORM_T, "user=a&text=x", "Status: 403 Forbidden",
	  "does not let you post to this channel", NULL, NULL },
	{ "an expired token", "{\"exp\":1600000000,\"mercure\":{\"publish\":[\"*\"]}}",
	  NULL, false, NULL, FORM_T, "user=a&text=x", "Status: 401 Unauthorized",
	  "token has expired", NULL, NULL },
	{ "a malformed token is no anonymous post", NULL, "x.y", false, NULL, FORM_T,
	  "user=a&text=x", "Status: 401", "WWW-Authenticate: Bearer", NULL, NULL },
	{ "a private channel without a token", NULL, NULL, false, NULL, FORM_T,
	  "channel=user-42&user=a&text=x", "Status: 401", "needs a token", NULL, NULL },
	{ "a private channel with one", PUB("user-42", ",\"name\":\"shop\""), NULL, false,
	  NULL, FORM_T, "channel=user-42&text=shipped", "Status: 201", NULL,
	  "\"channel\":\"user-42\",\"user\":\"shop\"", NULL },
	{ "a name that is no user", PUB("chat", ",\"name\":\"a\\u0007b\""), NULL, false,
	  NULL, FORM_T, "user=a&text=x", "Status: 400", "the token's name", NULL, NULL },
	{ "?token= in the URL", NULL, NULL, false, "token=abc", FORM_T, "user=a&text=x",
	  "Status: 400", "never read from the URL", NULL, NULL },
};

static bool newest_row(void *ctx, long long id, const char *event,
                       const char *data, size_t len)
{
	(void)id;
	(void)event;
	struct strbuf *out = ctx;
	sb_reset(out);
	sb_append(out, data, len);
	return true;
}

/* The data of the newest message of channel, "" when there is none. */
static void newest(const struct site *s, const char *channel, struct strbuf *out)
{
	struct store *st = tu_store_open(s->db, false);
	struct store_read_result res;
	sb_reset(out);
	assert_int_equal(store_read(st, channel, -1, 1, newest_row, out, &res), STORE_OK);
	store_close(st);
}

/* Posts refused for their token so far, read from the metrics file itself
 * (ssectl reads it only once the database exists). */
static long long token_refusals(const struct site *s)
{
	struct tally t;
	return tally_read(s->db, &t) ? (long long)t.posts_refused[TALLY_TOKEN] : 0;
}

static void run_token_post(const struct site *s, const struct token_post *c)
{
	struct env e;
	env_init(&e, "POST", c->query);
	struct strbuf token = STRBUF_INIT, out = STRBUF_INIT, data = STRBUF_INIT;
	if (c->claims != NULL)
		assert_true(token_sign((const unsigned char *)TOKEN_SECRET,
		                       strlen(TOKEN_SECRET), c->claims, strlen(c->claims),
		                       &token));
	else if (c->raw != NULL)
		sb_puts(&token, c->raw);
	if (token.len > 0 && c->bearer)
		env_add(&e, "HTTP_AUTHORIZATION=Bearer %s", sb_str(&token));
	else if (token.len > 0)
		env_add(&e, "HTTP_COOKIE=theme=dark; sse_token=%s", sb_str(&token));
	long long before = count_rows(s);
	long long refused = token_refusals(s);
	run_post(s, &e, c->type, c->body, &out);
	if (strncmp(sb_str(&out), c->status, strlen(c->status)) != 0)
		fail_msg("%s: got [%.200s]", c->what, sb_str(&out));
	if (c->has != NULL && strstr(sb_str(&out), c->has) == NULL)
		fail_msg("%s: [%s] lacks [%s]", c->what, sb_str(&out), c->has);
	bool stored = strncmp(c->status, "Status: 201", 11) == 0;
	assert_int_equal(count_rows(s), before + stored);
	bool for_token = strncmp(c->status, "Status: 401", 11) == 0 ||
	                 strncmp(c->status, "Status: 403", 11) == 0;
	long long now = token_refusals(s);
	if (now != refused + for_token)
		fail_msg("%s: token refusals counted %lld, were %lld", c->what, now, refused);
	if (stored) {
		const char *ch = strstr(c->body, "channel=user-42") ? "user-42" : "chat";
		newest(s, ch, &data);
		if (c->stored != NULL && strstr(sb_str(&data), c->stored) == NULL)
			fail_msg("%s: stored [%s] lacks [%s]", c->what, sb_str(&data), c->stored);
		if (c->not_stored != NULL && strstr(sb_str(&data), c->not_stored) != NULL)
			fail_msg("%s: stored [%s] has [%s]", c->what, sb_str(&data), c->not_stored);
	}
	sb_free(&token);
	sb_free(&out);
	sb_free(&data);
}

static void test_post_tokens(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "rate_limit = 0\nprivate_channels = user-*\n"
	              "token_secret_file = token.secret\n");
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/cgi-bin/token.secret", s.dir);
	tu_write_file(path, TOKEN_SECRET "\n");
	assert_int_equal(chmod(path, 0600), 0);
	for (size_t i = 0; i < ARRAY_LEN(token_posts); i++)
		run_token_post(&s, &token_posts[i]);
	tu_rmtree(s.dir);

	/* publish_requires_token: the open chat needs a token too. */
	site_make(&s, "rate_limit = 0\npublish_requires_token = yes\n"
	              "token_secret_file = token.secret\n");
	snprintf(path, sizeof(path), "%s/cgi-bin/token.secret", s.dir);
	tu_write_file(path, TOKEN_SECRET);
	assert_int_equal(chmod(path, 0600), 0);
	static const struct token_post required[] = {
		{ "required: none", NULL, NULL, false, NULL, FORM_T, "user=a&text=x",
		  "Status: 401", "needs a token", NULL, NULL },
		{ "required: subscribe only", "{\"exp\":4102444800,\"mercure\":{\"subscribe\":[\"*\"]}}",
		  NULL, false, NULL, FORM_T, "user=a&text=x", "Status: 403", "no mercure.publish", NULL, NULL },
		{ "required: a publish token", PUB("chat", ""), NULL, false, NULL, FORM_T,
		  "user=a&text=x", "Status: 201", NULL, "\"user\":\"a\"", NULL },
	};
	for (size_t i = 0; i < ARRAY_LEN(required); i++)
		run_token_post(&s, &required[i]);
	tu_rmtree(s.dir);

	/* A site without tokens: what a proxy or another application sends as
	 * a token is not looked at, and posts stay anonymous. */
	site_make(&s, "rate_limit = 0\n");
	static const struct token_post tokenless[] = {
		{ "no secret: a Bearer header", NULL, "a.proxy.token", true, NULL, FORM_T,
		  "user=a&text=x", "Status: 201", NULL, "\"user\":\"a\"", "signed" },
		{ "no secret: an sse_token cookie", NULL, "not-ours", false, NULL, FORM_T,
		  "user=b&text=y", "Status: 201", NULL, "\"user\":\"b\"", "signed" },
	};
	for (size_t i = 0; i < ARRAY_LEN(tokenless); i++)
		run_token_post(&s, &tokenless[i]);
	tu_rmtree(s.dir);
}

static void test_post_database_unavailable(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, NULL);
	char conf[PATH_MAX + 64];
	snprintf(conf, sizeof(conf), "%s/cgi-bin/sse-cgi.conf", s.dir);
	tu_write_file(conf, "database = ../gone/sse.db\n");
	struct env e;
	env_init(&e, "POST", NULL);
	struct strbuf out = STRBUF_INIT;
	run_post(&s, &e, FORM_T, "user=a&text=b", &out);
	assert_non_null(strstr(sb_str(&out), "Status: 503 Service Unavailable"));
	assert_non_null(strstr(sb_str(&out), "Retry-After: 5\r\n"));
	assert_non_null(strstr(sb_str(&out), "{\"error\":\"database is unavailable"));
	sb_free(&out);

	/* A malformed body is the client's fault whatever the database's state:
	 * 400 with the reason, not a 503 that invites it to send it again. */
	static const struct { const char *type, *body, *reason; } bad[] = {
		{ JSON_T, "{\"user\":", "not valid JSON" },
		{ JSON_T, "[\"user\",\"text\"]", "must be a JSON object" },
		{ JSON_T, "{\"user\":\"a\",\"text\":\"b\",\"user\":\"c\"}", "given twice" },
		{ FORM_T, "user=a", "text is required" },
		{ FORM_T, "user=a&text=%C3", "not valid UTF-8" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		env_init(&e, "POST", NULL);
		run_post(&s, &e, bad[i].type, bad[i].body, &out);
		if (strncmp(sb_str(&out), "Status: 400", 11) != 0 ||
		    strstr(sb_str(&out), bad[i].reason) == NULL)
			fail_msg("database gone, body %s: got [%.120s], want 400 '%s'",
			         bad[i].body, sb_str(&out), bad[i].reason);
		sb_free(&out);
	}

	tu_write_file(conf, "keepalive_s = soon\n");
	env_init(&e, "POST", NULL);
	run_post(&s, &e, FORM_T, "user=a&text=b", &out);
	assert_non_null(strstr(sb_str(&out), "Status: 500"));
	assert_non_null(strstr(sb_str(&out), "configuration error"));
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* ---- events.fcgi --------------------------------------------------------- */

static const char stream_head[] =
	"Status: 200 OK\r\n"
	"Content-Type: text/event-stream; charset=utf-8\r\n"
	"Cache-Control: no-cache, no-transform\r\n"
	"X-Accel-Buffering: no\r\n"
	"\r\n";

/* Runs a stream to its end (short lifetimes in these sites). */
static void run_stream(const struct site *s, const char *query,
                       const char *last_event_id, struct strbuf *out)
{
	struct env e;
	env_init(&e, "GET", query);
	if (last_event_id != NULL)
		env_add(&e, "HTTP_LAST_EVENT_ID=%s", last_event_id);
	int rc = tu_run_cgi(s->events, e.vars, NULL, out, 15000);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
}

static void test_stream_bytes(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 1\nkeepalive_s = 5\nretry_ms = 1500\n");
	assert_int_equal(ssectl(&s, "publish 'first'"), 0);
	assert_int_equal(ssectl_printf(&s, "two\\r\\nlines\\n\\nid: 9", "publish --event news -"), 0);
	assert_int_equal(ssectl(&s, "publish --channel other 'not here'"), 0);
	struct strbuf out = STRBUF_INIT;
	long long t0 = tu_now_ms();
	run_stream(&s, "channel=chat", NULL, &out);
	long long took = tu_now_ms() - t0;
	const char *want =
		"retry: 1500\n: live\n\n"
		"id: 1\ndata: first\n\n"
		"id: 2\nevent: news\ndata: two\ndata: lines\ndata: \ndata: id: 9\n\n";
	assert_memory_equal(sb_str(&out), stream_head, strlen(stream_head));
	assert_string_equal(tu_unpad(tu_body(&out)), want);
	assert_true(took >= 700 && took < 5000);   /* 0.8-1.0 of lifetime_s */
	/* The first frame is padded to 128 bytes with a blank comment. */
	const char *body = tu_body(&out);
	assert_memory_equal(body, "retry: 1500\n: live\n: ", 21);
	assert_memory_equal(body + 125, " \n\n", 3);
	assert_memory_equal(body + 128, "id: 1\n", 6);
	sb_free(&out);
	tu_rmtree(s.dir);
}

struct resume_case {
	const char *what;
	const char *query;
	const char *last_event_id;
	const char *body;
};

/* Five messages 1..5, retention 3 (so 1 and 2 are pruned), history 2. */
static const struct resume_case resume_cases[] = {
	{ "newcomer gets history", "", NULL,
	  "retry: 2000\n: live\n\nid: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "since", "since=3", NULL,
	  "retry: 2000\n: live\n\nid: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "since at the end", "since=5", NULL, "retry: 2000\n: live\n\n" },
	{ "Last-Event-ID wins over since", "since=0", "4",
	  "retry: 2000\n: live\n\nid: 5\ndata: m5\n\n" },
	{ "gap", "", "1",
	  "retry: 2000\n: live\n\nid: 3\nevent: reset\ndata: {\"reason\":\"gap\",\"oldest\":3}\n\n"
	  "id: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "gap via since", "since=0", NULL,
	  "retry: 2000\n: live\n\nid: 3\nevent: reset\ndata: {\"reason\":\"gap\",\"oldest\":3}\n\n"
	  "id: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "no gap from the last pruned id", "", "2",
	  "retry: 2000\n: live\n\nid: 3\ndata: m3\n\nid: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "unknown id (database replaced)", "", "99",
	  "retry: 2000\n: live\n\nid: 3\nevent: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":3}\n\n"
	  "id: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "unreadable Last-Event-ID", "", "abc",
	  "retry: 2000\n: live\n\nid: 3\nevent: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":3}\n\n"
	  "id: 4\ndata: m4\n\nid: 5\ndata: m5\n\n" },
	{ "empty channel", "channel=empty", NULL, "retry: 2000\n: live\n\n" },
};

static void test_stream_resume_table(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 1\nretention = 3\nhistory = 2\n");
	for (int i = 1; i <= 5; i++) {
		char args[32];
		snprintf(args, sizeof(args), "publish m%d", i);
		assert_int_equal(ssectl(&s, args), 0);
	}
	for (size_t i = 0; i < ARRAY_LEN(resume_cases); i++) {
		const struct resume_case *c = &resume_cases[i];
		struct strbuf out = STRBUF_INIT;
		run_stream(&s, c->query, c->last_event_id, &out);
		if (strcmp(tu_unpad(tu_body(&out)), c->body) != 0)
			fail_msg("%s: got [%s]", c->what, tu_unpad(tu_body(&out)));
		sb_free(&out);
	}
	tu_rmtree(s.dir);
}

struct refusal_case {
	const char *method;
	const char *query;
	const char *status;
	const char *has;
};

static const struct refusal_case refusals[] = {
	{ "POST", "", "Status: 405 Method Not Allowed", "Allow: GET, HEAD\r\n" },
	{ "DELETE", "", "Status: 405", "Allow: GET, HEAD" },
	{ "GET", "channel=a%20b", "Status: 400 Bad Request", "channel must be" },
	{ "GET", "channel=", "Status: 400", "channel must be" },
	{ "GET", "since=x", "Status: 400", "since must be" },
	{ "GET", "channel=a&channel=b", "Status: 400", "twice" },
};

static void test_stream_refusals(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 1\n");
	for (size_t i = 0; i < ARRAY_LEN(refusals); i++) {
		struct env e;
		env_init(&e, refusals[i].method, refusals[i].query);
		struct strbuf out = STRBUF_INIT;
		tu_run_cgi(s.events, e.vars, NULL, &out, 5000);
		if (strncmp(sb_str(&out), refusals[i].status, strlen(refusals[i].status)) != 0 ||
		    strstr(sb_str(&out), refusals[i].has) == NULL)
			fail_msg("%s ?%s: got [%s]", refusals[i].method, refusals[i].query,
			         sb_str(&out));
		sb_free(&out);
	}
	/* HEAD: the stream's headers, nothing else, at once. */
	struct env e;
	env_init(&e, "HEAD", "");
	struct strbuf out = STRBUF_INIT;
	long long t0 = tu_now_ms();
	tu_run_cgi(s.events, e.vars, NULL, &out, 5000);
	assert_string_equal(sb_str(&out), stream_head);
	assert_true(tu_now_ms() - t0 < 700);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* Transient trouble is 200 + retry + a comment + the end, never an error. */
static void test_stream_transient_problems(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, NULL);
	char conf[PATH_MAX + 64];
	snprintf(conf, sizeof(conf), "%s/cgi-bin/sse-cgi.conf", s.dir);
	tu_write_file(conf, "database = ../gone/sse.db\nretry_ms = 3000\n");
	struct strbuf out = STRBUF_INIT;
	run_stream(&s, "", NULL, &out);
	assert_memory_equal(sb_str(&out), stream_head, strlen(stream_head));
	assert_string_equal(tu_unpad(tu_body(&out)), "retry: 3000\n: database is unavailable\n\n");
	sb_free(&out);

	tu_write_file(conf, "colour = blue\n");
	run_stream(&s, "", NULL, &out);
	assert_memory_equal(sb_str(&out), stream_head, strlen(stream_head));
	assert_string_equal(tu_unpad(tu_body(&out)),
	                    "retry: 2000\n: server configuration error (see the error log)\n\n");
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* Starts a long stream; the caller reads from p and ends it. */
static void start_stream(const struct site *s, struct tu_proc *p,
                         const char *last_event_id)
{
	struct env e;
	env_init(&e, "GET", "channel=chat");
	if (last_event_id != NULL)
		env_add(&e, "HTTP_LAST_EVENT_ID=%s", last_event_id);
	char *argv[] = { (char *)s->events, NULL };
	tu_spawn(p, argv, e.vars, NULL);
}

/* Live delivery, a kill -9, and a resume that misses nothing. */
static void test_stream_live_kill_and_resume(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 60\nkeepalive_s = 1\npoll_interval_ms = 20\n");
	assert_int_equal(ssectl(&s, "publish m1"), 0);
	struct tu_proc p;
	start_stream(&s, &p, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, "id: 1\ndata: m1\n\n", 5000));
	assert_int_equal(ssectl(&s, "publish m2"), 0);
	assert_int_equal(ssectl(&s, "publish m3"), 0);
	assert_true(tu_read(&p, &out, "id: 3\ndata: m3\n\n", 5000));
	assert_true(tu_read(&p, &out, ": keepalive\n", 3000));
	kill(p.pid, SIGKILL);
	tu_wait(&p, 2000);
	assert_non_null(strstr(tu_unpad(tu_body(&out)),
	        "id: 1\ndata: m1\n\nid: 2\ndata: m2\n\nid: 3\ndata: m3\n\n"));

	assert_int_equal(ssectl(&s, "publish m4"), 0);
	assert_int_equal(ssectl(&s, "publish m5"), 0);
	sb_reset(&out);
	start_stream(&s, &p, "3");
	assert_true(tu_read(&p, &out, "id: 5\ndata: m5\n\n", 5000));
	assert_string_equal(tu_unpad(tu_body(&out)),
	        "retry: 2000\n: live\n\nid: 4\ndata: m4\n\nid: 5\ndata: m5\n\n");
	/* SIGTERM (how mod_fcgid stops a process) ends the stream cleanly. */
	kill(p.pid, SIGTERM);
	int rc = tu_wait(&p, 3000);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/*
 * Traffic on other channels wakes a stream but gives its client nothing:
 * the keepalive must still go out every keepalive_s (it is also how a
 * stream learns that its client left).
 */
static void test_keepalive_despite_other_channels(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 60\nkeepalive_s = 1\n");
	struct tu_proc p;
	start_stream(&s, &p, NULL);   /* channel chat */
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, ": live\n", 5000));
	long long t0 = tu_now_ms();
	while (tu_now_ms() - t0 < 3500)
		assert_int_equal(ssectl(&s, "publish --channel other busy"), 0);
	assert_true(tu_read(&p, &out, "\n: keepalive\n", 1500));
	const char *body = tu_body(&out);
	int keepalives = 0;
	for (const char *k = body; (k = strstr(k, ": keepalive\n")) != NULL; k++)
		keepalives++;
	assert_true(keepalives >= 2);
	assert_null(strstr(body, "busy"));
	kill(p.pid, SIGTERM);
	tu_wait(&p, 3000);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/*
 * A writer that cannot copy into the ring (its lock held by a stopped
 * process) still wakes the streams, and they find the post in SQLite at
 * once rather than at the 15 s fallback look.
 */
static void test_post_reaches_stream_when_ring_copy_fails(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 60\n");
	assert_int_equal(ssectl(&s, "publish m1"), 0);
	struct tu_proc p;
	start_stream(&s, &p, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, "id: 1\ndata: m1\n\n", 5000));
	char ring_file[sizeof(s.db) + 16];
	snprintf(ring_file, sizeof(ring_file), "%s.notify", s.db);
	int holder = open(ring_file, O_RDWR);
	assert_true(holder >= 0);
	assert_int_equal(flock(holder, LOCK_EX), 0);
	long long t0 = tu_now_ms();
	assert_int_equal(ssectl(&s, "publish m2"), 0);
	assert_true(tu_read(&p, &out, "id: 2\ndata: m2\n\n", 3000));
	print_message("delivered %lld ms after a publish that could not copy\n",
	              tu_now_ms() - t0);
	close(holder);
	kill(p.pid, SIGTERM);
	tu_wait(&p, 3000);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* A client that goes away ends the process within two keepalives. */
static void test_stream_ends_when_client_goes(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 60\nkeepalive_s = 1\n");
	struct tu_proc p;
	start_stream(&s, &p, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, ": live\n", 5000));
	long long t0 = tu_now_ms();
	close(p.out_fd);
	p.out_fd = open("/dev/null", O_RDONLY);
	int rc = tu_wait(&p, 4000);
	long long took = tu_now_ms() - t0;
	assert_true(WIFEXITED(rc));
	assert_true(took < 2500);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* The value of one series of `ssectl stats --prometheus` (-1: not there). */
static long long prom_value(const struct site *s, const char *series)
{
	return tu_sh_number("'%s' --config '%s/cgi-bin/sse-cgi.conf' stats --prometheus"
	                    " | awk -v k='%s' '$1 == k { print $2; found = 1 }"
	                    " END { if (!found) print -1 }'",
	                    s->ssectl, s->dir, series);
}

/*
 * Over max_streams: one-shot with a longer retry; slots come back.  And
 * what the per-process driver counted: a SIGKILLed stream went live but
 * its end is never counted (counts only ever add), the one-shot is over
 * the cap, SIGTERM's end is a shutdown, and each got m1 once.
 */
static void test_stream_cap(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 60\nmax_streams = 1\nretry_ms = 2000\n");
	assert_int_equal(ssectl(&s, "publish m1"), 0);
	struct tu_proc holder;
	start_stream(&s, &holder, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&holder, &out, "id: 1\n", 5000));
	sb_reset(&out);
	long long t0 = tu_now_ms();
	run_stream(&s, "", "0", &out);
	assert_true(tu_now_ms() - t0 < 2000);
	assert_string_equal(tu_unpad(tu_body(&out)),
	        "retry: 8000\n: all 1 live streams are in use: one-shot, polling every 8000 ms\n\n"
	        "id: 1\ndata: m1\n\n");
	kill(holder.pid, SIGKILL);
	tu_wait(&holder, 2000);
	sb_reset(&out);
	struct tu_proc p;
	start_stream(&s, &p, NULL);
	assert_true(tu_read(&p, &out, ": live\n", 5000));
	assert_int_equal(prom_value(&s, "sse_streams_open{mode=\"process\"}"), 1);
	kill(p.pid, SIGTERM);
	tu_wait(&p, 3000);
	static const struct { const char *series; long long value; } counted[] = {
		{ "sse_streams_open{mode=\"process\"}", 0 },
		{ "sse_streams_total", 2 },
		{ "sse_stream_ends_total{reason=\"over_cap\"}", 1 },
		{ "sse_stream_ends_total{reason=\"shutdown\"}", 1 },
		{ "sse_stream_ends_total{reason=\"client_gone\"}", 0 },
		{ "sse_deliveries_total", 3 },
	};
	for (size_t i = 0; i < ARRAY_LEN(counted); i++)
		if (prom_value(&s, counted[i].series) != counted[i].value)
			fail_msg("%s: %lld, want %lld", counted[i].series,
			         prom_value(&s, counted[i].series), counted[i].value);
	sb_free(&out);
	tu_rmtree(s.dir);
}

static void test_one_shot_lifetime_zero(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "lifetime_s = 0\n");
	assert_int_equal(ssectl(&s, "publish m1"), 0);
	struct strbuf out = STRBUF_INIT;
	long long t0 = tu_now_ms();
	run_stream(&s, "", NULL, &out);
	assert_true(tu_now_ms() - t0 < 2000);
	assert_string_equal(tu_unpad(tu_body(&out)),
	        "retry: 2000\n: one-shot: polling every 2000 ms\n\nid: 1\ndata: m1\n\n");
	sb_free(&out);
	tu_rmtree(s.dir);
}

static void test_ssectl_usage(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, NULL);
	assert_int_equal(ssectl(&s, "init"), 0);
	assert_int_equal(ssectl(&s, "frobnicate 2>/dev/null"), 2);
	assert_int_equal(ssectl(&s, "publish 2>/dev/null"), 2);
	assert_int_equal(ssectl(&s, "publish --event reset x 2>/dev/null"), 2);
	assert_int_equal(ssectl(&s, "publish --channel 'a b' x 2>/dev/null"), 2);
	assert_int_equal(ssectl(&s, "prune 2>/dev/null"), 2);
	assert_int_equal(ssectl_printf(&s, "\\377", "publish -"), 1);
	assert_int_equal(ssectl(&s, "--db /nonexistent/dir/x.db stats 2>/dev/null"), 1);
	assert_int_equal(ssectl_printf(&s, "multi\\nline\\n", "publish --event note -"), 0);
	assert_int_equal(ssectl(&s, "prune --keep 0"), 0);
	assert_int_equal(count_rows(&s), 0);

	/* Input is checked before the database opens: a mistake creates no file. */
	char other[PATH_MAX + 64], cmd[3 * PATH_MAX + 128];
	snprintf(other, sizeof(other), "%s/data/typo.db", s.dir);
	snprintf(cmd, sizeof(cmd), "printf '\\377' | '%s' --db '%s' publish - 2>/dev/null",
	         s.ssectl, other);
	int rc = system(cmd);
	assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
	snprintf(cmd, sizeof(cmd), "'%s' --db '%s' publish --channel 'a b' x 2>/dev/null",
	         s.ssectl, other);
	rc = system(cmd);
	assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
	assert_int_equal(access(other, F_OK), -1);
	tu_rmtree(s.dir);
}

/* ssectl tail prints frames as a client sees them, and follows. */
static void test_ssectl_tail_follows(void **state)
{
	(void)state;
	struct site s;
	site_make(&s, "poll_interval_ms = 20\n");
	assert_int_equal(ssectl(&s, "publish --channel room old"), 0);
	char *argv[] = { s.ssectl, "--db", s.db, "tail", "--channel", "room", NULL };
	struct env e;
	env_init(&e, "GET", NULL);
	struct tu_proc p;
	tu_spawn(&p, argv, e.vars, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, "id: 1\ndata: old\n\n", 5000));
	assert_int_equal(ssectl(&s, "publish --channel room --event note new"), 0);
	assert_true(tu_read(&p, &out, "id: 2\nevent: note\ndata: new\n\n", 5000));
	const char *want = "retry: 2000\n: live\n\nid: 1\ndata: old\n\n";
	assert_memory_equal(tu_unpad(sb_str(&out)), want, strlen(want));
	kill(p.pid, SIGTERM);
	tu_wait(&p, 3000);
	sb_free(&out);
	tu_rmtree(s.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_table),
		cmocka_unit_test(test_post_rate_limit),
		cmocka_unit_test(test_post_database_unavailable),
		cmocka_unit_test(test_post_tokens),
		cmocka_unit_test(test_stream_bytes),
		cmocka_unit_test(test_stream_resume_table),
		cmocka_unit_test(test_stream_refusals),
		cmocka_unit_test(test_stream_transient_problems),
		cmocka_unit_test(test_stream_live_kill_and_resume),
		cmocka_unit_test(test_keepalive_despite_other_channels),
		cmocka_unit_test(test_post_reaches_stream_when_ring_copy_fails),
		cmocka_unit_test(test_stream_ends_when_client_goes),
		cmocka_unit_test(test_stream_cap),
		cmocka_unit_test(test_one_shot_lifetime_zero),
		cmocka_unit_test(test_ssectl_usage),
		cmocka_unit_test(test_ssectl_tail_follows),
	};
	return cmocka_run_group_tests_name("CGI end to end", tests, NULL, NULL);
}
