/*
 * Integration, fault injection and abuse limits: the real binaries
 * behind a real Apache httpd (scripts/apache.sh, a fresh site under /tmp on a
 * free loopback port), hurt from outside while they work.
 *
 *   1. the database locked by another writer past busy_timeout
 *   2. the disk full (the data folder on a small tmpfs, else a loop ext4)
 *   3. the database deleted, and replaced, under open streams
 *   4. post.fcgi SIGKILLed at random points during a burst
 *   5. stream processes sent SIGTERM / SIGUSR1 mid-stream
 *   6. a slow client that stops reading while much is posted
 *   7. 200 concurrent streams against max_streams = 50
 *   8. oversized and unwanted input, a slowloris body
 *   9. CR/LF and ANSI escapes never reach the error log raw
 *
 * Needs root (mount for 2; Apache then serves as www-data, and every touch of
 * the database from here runs as that user, so -wal/-shm keep their owner).
 * A missing capability is a failure naming it, never a silent skip.
 * Environment: SSE_IT_MODE (fcgid | cgid), SSE_TEST_BINARIES and
 * SSE_TEST_SSECTL (as for test_apache.c), SSE_IT_ONLY (a cmocka test-name
 * pattern: run only those).  Every wait is bounded; figures are printed, and
 * timings are asserted only as "works" against "stuck".  About 100 s a mode
 * (30 s of it is the slow-client test waiting out the write timeout).
 */
#include "httpclient.h"
#include "ring.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sqlite3.h>

/* An event arriving later than this was held by a buffer or a stall. */
#define PROMPT_MS 5000
/* keepalive_s below: a stream notices a gone client within two of these. */
#define KEEPALIVE_MS 2000

#define CONF_COMMON \
	"keepalive_s = 2\nlifetime_s = 200\nrate_limit = 0\nretention = 100000\n"
static const char base_conf[] = CONF_COMMON "max_streams = 0\n";
static const char capped_conf[] = CONF_COMMON "max_streams = 50\n";
/* Room for 200 streams at once (Debian's 150 workers would queue them). */
static const char many_workers[] =
	"ServerLimit 16\nStartServers 10\nThreadsPerChild 25\n"
	"MinSpareThreads 150\nMaxSpareThreads 400\nMaxRequestWorkers 400\n";
/*
 * So a stalled request body ends within the test's patience, yet well after
 * the binaries' own 10 s limit on a stalled body (TRANSPORT_READ_TIMEOUT_MS).
 */
static const char short_timeout[] = "Timeout 16\n";
#define APACHE_TIMEOUT_MS 16000
#define BODY_STALL_MS 10000

#define MAX_WINDOWS 8

struct it {
	char repo[PATH_MAX];
	char site[PATH_MAX];
	char db[PATH_MAX + 32];
	int port;
	const char *mode;
	char user[64];            /* the user Apache serves as ("" = ourselves) */
	char runas[96];           /* shell prefix running a command as that user */
	const char *conf;         /* what the running Apache was started with */
	const char *httpd;
	bool running;
	/* error.log byte ranges where killed scripts are expected (test 4) */
	long long allow_from[MAX_WINDOWS], allow_to[MAX_WINDOWS];
	int windows;
	pid_t helper;             /* a child of ours to stop in teardown */
	bool test_done;           /* the running test reached its end */
	int failed_tests;
};

/* ---- harness ------------------------------------------------------------ */

static int apache_start_rc(struct it *t, const char *conf, const char *httpd)
{
	setenv("SSE_CONF_EXTRA", conf ? conf : "", 1);
	setenv("SSE_HTTPD_EXTRA", httpd ? httpd : "", 1);
	int rc = tu_sh("'%s/scripts/apache.sh' start '%s' %d %s >/dev/null", t->repo,
	            t->site, t->port, t->mode);
	t->running = rc == 0;
	t->conf = conf;
	t->httpd = httpd;
	return rc;
}

static int apache_stop_rc(struct it *t)
{
	int rc = tu_sh("'%s/scripts/apache.sh' stop '%s' 2>/dev/null", t->repo, t->site);
	t->running = false;
	return rc;
}

static void apache_start(struct it *t, const char *conf, const char *httpd)
{
	if (apache_start_rc(t, conf, httpd) != 0)
		fail_msg("apache.sh start failed (see %s/logs/error.log)", t->site);
}

static void apache_stop(struct it *t)
{
	if (apache_stop_rc(t) != 0)
		fail_msg("apache.sh stop: processes had to be killed or survived");
}

/* Restarts Apache only when it runs with another configuration. */
static void ensure_config(struct it *t, const char *conf, const char *httpd)
{
	if (t->running && t->conf == conf && t->httpd == httpd)
		return;
	if (t->running)
		apache_stop(t);
	apache_start(t, conf, httpd);
}

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static long long log_size(struct it *t)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/logs/error.log", t->site);
	return file_size(path);
}

/* The error log from byte `from` on (NUL-terminated, caller frees). */
static char *log_from(struct it *t, long long from, size_t *len)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/logs/error.log", t->site);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long long size = ftell(f);
	if (from > size)
		from = size;
	fseek(f, (long)from, SEEK_SET);
	char *buf = malloc((size_t)(size - from) + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)(size - from), f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* ---- the database, always as the serving user ----------------------------- */

/*
 * Runs SQL with the sqlite3 shell as the serving user; its output in out.
 * The SQL goes through a file, so quoting never matters.
 */
static int sql_run(struct it *t, struct strbuf *out, const char *db, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sql_run(struct it *t, struct strbuf *out, const char *db, const char *fmt, ...)
{
	char qpath[PATH_MAX + 32];
	snprintf(qpath, sizeof(qpath), "%s/run/faults.sql", t->site);
	FILE *q = fopen(qpath, "w");
	assert_non_null(q);
	fputs(".timeout 10000\n", q);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(q, fmt, ap);
	va_end(ap);
	fputc('\n', q);
	assert_int_equal(fclose(q), 0);
	chmod(qpath, 0644);
	char cmd[3 * PATH_MAX];
	/* mode=rw: never create a database by looking at it. */
	snprintf(cmd, sizeof(cmd), "%s sqlite3 -batch -noheader 'file:%s?mode=rw' < '%s' 2>&1",
	         t->runas, db ? db : t->db, qpath);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char buf[4096];
	size_t n;
	if (out != NULL)
		sb_reset(out);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		if (out != NULL)
			sb_append(out, buf, n);
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long long sql_int(struct it *t, const char *query)
{
	struct strbuf out = STRBUF_INIT;
	int rc = sql_run(t, &out, NULL, "%s", query);
	if (rc != 0)
		fail_msg("sqlite3 '%s': exit %d: %s", query, rc, sb_str(&out));
	long long v = atoll(sb_str(&out));
	sb_free(&out);
	return v;
}

static void assert_integrity_ok(struct it *t, const char *when)
{
	struct strbuf out = STRBUF_INIT;
	int rc = sql_run(t, &out, NULL, "PRAGMA integrity_check;");
	if (rc != 0 || strcmp(sb_str(&out), "ok\n") != 0)
		fail_msg("%s: integrity_check (exit %d): %s", when, rc, sb_str(&out));
	sb_free(&out);
}

/* One stored row of a channel: id, json_valid(data), the text field. */
struct row {
	long long id;
	int valid;
	char text[160];
};

static size_t channel_rows(struct it *t, const char *channel, struct row *rows, size_t max)
{
	struct strbuf out = STRBUF_INIT;
	int rc = sql_run(t, &out, NULL,
	                 "SELECT id, json_valid(data),"
	                 " CASE WHEN json_valid(data) THEN json_extract(data, '$.text')"
	                 " ELSE '' END FROM messages WHERE channel = '%s' ORDER BY id;",
	                 channel);
	if (rc != 0)
		fail_msg("reading channel %s: %s", channel, sb_str(&out));
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r(out.data ? out.data : (char *)"", "\n", &save);
	     line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (n == max)
			fail_msg("channel %s has more than %zu rows", channel, max);
		struct row *r = &rows[n];
		char *bar1 = strchr(line, '|');
		char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		if (bar2 == NULL)
			fail_msg("unexpected sqlite3 output: %s", line);
		r->id = atoll(line);
		r->valid = atoi(bar1 + 1);
		snprintf(r->text, sizeof(r->text), "%s", bar2 + 1);
		n++;
	}
	sb_free(&out);
	return n;
}

/* How many rows of the channel carry exactly this text. */
static int count_text(const struct row *rows, size_t n, const char *text)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += strcmp(rows[i].text, text) == 0;
	return c;
}

/* ---- processes ------------------------------------------------------------- */

/* Live (non-zombie) processes whose argv[0] is SITE/htdocs/cgi-bin/name. */
static int site_pids(struct it *t, const char *name, pid_t *out, int max)
{
	return tu_site_processes(t->site, name, out, max, NULL);
}

static int count_site(struct it *t, const char *name)
{
	pid_t dummy[1];
	return site_pids(t, name, dummy, 0);
}

/* Waits until at most n such processes are left; the count then. */
static int wait_site_at_most(struct it *t, const char *name, int n, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	int c;
	while ((c = count_site(t, name)) > n && tu_now_ms() < deadline)
		usleep(50000);
	return c;
}

/* VmRSS of pid in KiB, -1 when it is gone. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	fclose(f);
	return kib;
}

/* Does pid run with AddressSanitizer (whose quarantine keeps freed memory)? */
static bool has_asan(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "libasan") != NULL;
	fclose(f);
	return found;
}

/* The one pid of `now` that is not in `before` (or 0). */
static pid_t new_pid(const pid_t *before, int nb, const pid_t *now, int nn)
{
	pid_t found = 0;
	for (int i = 0; i < nn; i++) {
		bool old = false;
		for (int k = 0; k < nb; k++)
			old = old || before[k] == now[i];
		if (!old)
			found = now[i];
	}
	return found;
}

static void stop_helper(struct it *t)
{
	if (t->helper > 0) {
		kill(t->helper, SIGKILL);
		waitpid(t->helper, NULL, 0);
		t->helper = 0;
	}
}

/* ---- an incremental SSE reader (big streams stay linear) ------------------- */

struct ev {
	long long id;
	char name[32];
	char data[256];           /* the first bytes: tokens sit at the front */
	size_t len;
};

struct sse {
	int fd;
	struct strbuf raw;        /* received, not yet parsed */
	size_t off;
	bool headers, eof;
	int status;
	bool live;                /* ": live" seen */
	long retry;
	char hello[160];          /* the first comment */
	char last_comment[160];
	long long cur_id;
	char cur_name[32];
	struct strbuf cur_data;
	bool cur_has_data;
	long long last_id;        /* what a browser would send as Last-Event-ID */
	struct ev *ev;
	size_t nev, cap;
	size_t bytes;
	long long eof_ms;
};

static void sse_line(struct sse *s, const char *l, size_t len)
{
	if (len == 0) {
		if (s->cur_id >= 0)
			s->last_id = s->cur_id;
		if (s->cur_has_data) {
			if (s->nev == s->cap) {
				s->cap = s->cap ? 2 * s->cap : 64;
				s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
				assert_non_null(s->ev);
			}
			struct ev *e = &s->ev[s->nev++];
			e->id = s->cur_id;
			snprintf(e->name, sizeof(e->name), "%s", s->cur_name);
			snprintf(e->data, sizeof(e->data), "%s", sb_str(&s->cur_data));
			e->len = s->cur_data.len;
		}
		s->cur_id = -1;
		strcpy(s->cur_name, "message");
		sb_reset(&s->cur_data);
		s->cur_has_data = false;
		return;
	}
	if (l[0] == ':') {
		const char *c = l + 1 + (len > 1 && l[1] == ' ');
		size_t clen = len - (size_t)(c - l);
		if (strspn(c, " ") >= clen)
			return;   /* the first frame's padding */
		snprintf(s->last_comment, sizeof(s->last_comment), "%.*s", (int)clen, c);
		if (s->hello[0] == '\0')
			snprintf(s->hello, sizeof(s->hello), "%.*s", (int)clen, c);
		if (clen == 4 && memcmp(c, "live", 4) == 0)
			s->live = true;
	} else if (len > 7 && memcmp(l, "retry: ", 7) == 0) {
		s->retry = atol(l + 7);
	} else if (len > 4 && memcmp(l, "id: ", 4) == 0) {
		s->cur_id = atoll(l + 4);
	} else if (len > 7 && memcmp(l, "event: ", 7) == 0) {
		snprintf(s->cur_name, sizeof(s->cur_name), "%.*s", (int)len - 7, l + 7);
	} else if (len >= 5 && memcmp(l, "data:", 5) == 0) {
		if (s->cur_has_data)
			sb_putc(&s->cur_data, '\n');
		size_t skip = len > 5 && l[5] == ' ' ? 6 : 5;
		if (s->cur_data.len < 4096)
			sb_append(&s->cur_data, l + skip, len - skip);
		s->cur_has_data = true;
	}
}

static void sse_parse(struct sse *s)
{
	if (!s->headers) {
		const char *end = strstr(sb_str(&s->raw), "\r\n\r\n");
		if (end == NULL)
			return;
		sscanf(sb_str(&s->raw), "HTTP/1.%*d %d", &s->status);
		s->headers = true;
		s->off = (size_t)(end - s->raw.data) + 4;
	}
	for (;;) {
		const char *start = s->raw.data + s->off;
		const char *nl = memchr(start, '\n', s->raw.len - s->off);
		if (nl == NULL)
			break;
		sse_line(s, start, (size_t)(nl - start));
		s->off += (size_t)(nl - start) + 1;
	}
	if (s->off > 65536) {
		memmove(s->raw.data, s->raw.data + s->off, s->raw.len - s->off);
		s->raw.len -= s->off;
		s->raw.data[s->raw.len] = '\0';
		s->off = 0;
	}
}

/*
 * Readers still open when a test fails (its fail_msg skips the closing) are
 * closed by the test's teardown, so their streams end and later tests that
 * count processes start clean.  Descriptors, not pointers: a failed test's
 * readers may have lived on its stack.
 */
#define OPEN_MAX 1024
static bool open_fds[OPEN_MAX];

static void sse_open(struct sse *s, struct it *t, const char *query,
                     const char *headers, int rcvbuf)
{
	memset(s, 0, sizeof(*s));
	s->cur_id = -1;
	s->last_id = -1;
	strcpy(s->cur_name, "message");
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	if (s->fd < OPEN_MAX)
		open_fds[s->fd] = true;
	if (rcvbuf > 0)
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect to 127.0.0.1:%d: %s", t->port, strerror(errno));
	struct strbuf req = STRBUF_INIT;
	sb_printf(&req, "GET /cgi-bin/events.fcgi%s%s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
	          "Accept: text/event-stream\r\n%s\r\n", query ? "?" : "",
	          query ? query : "", t->port, headers ? headers : "");
	assert_int_equal(write(s->fd, req.data, req.len), (ssize_t)req.len);
	sb_free(&req);
}

/* Reads what is there (waiting up to wait_ms); false at EOF. */
static bool sse_pump(struct sse *s, int wait_ms)
{
	if (s->eof || s->fd < 0)
		return false;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	if (poll(&pfd, 1, wait_ms) <= 0)
		return true;
	char buf[65536];
	ssize_t n = read(s->fd, buf, sizeof(buf));
	if (n <= 0) {
		s->eof = true;
		s->eof_ms = tu_now_ms();
		return false;
	}
	s->bytes += (size_t)n;
	sb_append(&s->raw, buf, (size_t)n);
	sse_parse(s);
	return true;
}

/* Pumps every open reader of the array once, waiting up to wait_ms in all. */
static void sse_pump_all(struct sse *s, size_t n, int wait_ms)
{
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	assert_non_null(pfd);
	for (size_t i = 0; i < n; i++) {
		pfd[i].fd = s[i].eof ? -1 : s[i].fd;
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, (nfds_t)n, wait_ms) > 0)
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents != 0)
				sse_pump(&s[i], 0);
	free(pfd);
}

static bool sse_wait_live(struct sse *s, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	while (!s->live && !s->eof && tu_now_ms() < deadline)
		sse_pump(s, 50);
	return s->live;
}

/* Index of the first event from `from` whose data contains needle, or -1. */
static long sse_find(const struct sse *s, size_t from, const char *needle)
{
	for (size_t i = from; i < s->nev; i++)
		if (strstr(s->ev[i].data, needle) != NULL)
			return (long)i;
	return -1;
}

static bool sse_wait_text(struct sse *s, const char *needle, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	while (sse_find(s, 0, needle) < 0) {
		if (s->eof || tu_now_ms() >= deadline)
			return false;
		sse_pump(s, 50);
	}
	return true;
}

static void sse_close(struct sse *s)
{
	if (s->fd >= 0 && s->fd < OPEN_MAX)
		open_fds[s->fd] = false;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	sb_free(&s->raw);
	sb_free(&s->cur_data);
	free(s->ev);
	s->ev = NULL;
	s->nev = s->cap = 0;
}

/* Ids strictly increasing, no event twice: fails with the stream's name. */
static void assert_ordered(const struct sse *s, const char *who)
{
	for (size_t i = 1; i < s->nev; i++)
		if (s->ev[i].id <= s->ev[i - 1].id)
			fail_msg("%s: id %lld after %lld", who, s->ev[i].id, s->ev[i - 1].id);
}

/* ---- posting --------------------------------------------------------------- */

#define POST_URL "/cgi-bin/post.fcgi"
#define FORM "Content-Type: application/x-www-form-urlencoded\r\n"
#define JSON "Content-Type: application/json\r\n"

/* Posts text (plain characters only) to channel; the status, *id on 201. */
static int post_msg(struct it *t, const char *channel, const char *text,
                    long long *id, struct http *keep)
{
	struct strbuf body = STRBUF_INIT;
	sb_printf(&body, "{\"channel\":\"%s\",\"user\":\"faults\",\"text\":\"%s\"}",
	          channel, text);
	struct http h;
	int status = http_request(&h, t->port, "POST", POST_URL, JSON, body.data);
	const char *p = strstr(http_body(&h), "{\"id\":");
	if (id != NULL)
		*id = status == 201 && p ? atoll(p + 6) : -1;
	if (keep != NULL)
		*keep = h;
	else
		http_close(&h);
	sb_free(&body);
	return status;
}

static long long post_ok(struct it *t, const char *channel, const char *text)
{
	long long id;
	struct http h;
	int status = post_msg(t, channel, text, &id, &h);
	if (status != 201)
		fail_msg("post '%s': status %d: %.300s", text, status, sb_str(&h.in));
	http_close(&h);
	return id;
}

/* ---- group --------------------------------------------------------------- */

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	struct it *t = calloc(1, sizeof(*t));
	if (getcwd(t->repo, sizeof(t->repo)) == NULL)
		return -1;
	t->mode = getenv("SSE_IT_MODE") ? getenv("SSE_IT_MODE") : "fcgid";
	snprintf(t->site, sizeof(t->site), "/tmp/sse-faults-%s-XXXXXX", t->mode);
	if (mkdtemp(t->site) == NULL)
		return -1;
	snprintf(t->db, sizeof(t->db), "%s/data/sse.db", t->site);
	if (geteuid() == 0) {
		const char *u = getenv("SSE_APACHE_USER");
		snprintf(t->user, sizeof(t->user), "%s", u ? u : "www-data");
		snprintf(t->runas, sizeof(t->runas), "runuser -u '%s' --", t->user);
	} else {
		fprintf(stderr, "test_faults: not root: the disk-full test will fail "
		        "(mount needs CAP_SYS_ADMIN)\n");
	}
	t->port = http_free_port();
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	srand(seed);
	fprintf(stderr, "test_faults[%s]: site %s, port %d, seed %u\n", t->mode, t->site,
	        t->port, seed);
	if (apache_start_rc(t, base_conf, NULL) != 0)
		return -1;
	/* As a user would (README, step 4): the database exists before any request. */
	if (tu_sh("'%s/scripts/apache.sh' ssectl '%s' init >/dev/null", t->repo, t->site) != 0)
		return -1;
	*state = t;
	return 0;
}

/* The log, with the windows where killed scripts are expected blanked. */
static int scan_log_for_crashes(struct it *t)
{
	size_t len;
	char *log = log_from(t, 0, &len);
	static const char *always[] = { "AddressSanitizer", "LeakSanitizer",
	                                "runtime error:", "Segmentation fault" };
	/* Apache's own worker dying at its stop (test_apache.c says why):
	 * said, and blanked, so that only our processes' crashes count. */
	for (char *at = strstr(log, "AH00052: child pid "); at != NULL;
	     at = strstr(at, "AH00052: child pid ")) {
		size_t n = strcspn(at, "\n");
		fprintf(stderr, "faults: Apache itself (not ours): %.*s\n", (int)n, at);
		memset(at, ' ', n);
	}
	int bad = 0;
	for (size_t i = 0; i < ARRAY_LEN(always); i++)
		if (strstr(log, always[i]) != NULL) {
			fprintf(stderr, "error.log: '%s'\n", always[i]);
			bad++;
		}
	for (int w = 0; w < t->windows; w++)
		for (long long i = t->allow_from[w]; i < t->allow_to[w] && i < (long long)len; i++)
			log[i] = ' ';
	if (strstr(log, "End of script output before headers") != NULL) {
		fprintf(stderr, "error.log: a script died before its headers outside test 4\n");
		bad++;
	}
	free(log);
	return bad;
}

static int group_teardown(void **state)
{
	struct it *t = *state;
	stop_helper(t);
	int rc = 0;
	if (apache_stop_rc(t) != 0) {
		fprintf(stderr, "apache.sh stop: processes had to be killed or survived\n");
		rc = -1;
	}
	/* A mount left by a failed disk-full test must not stay behind. */
	tu_sh("if mountpoint -q '%s/data'; then umount '%s/data' || umount -l '%s/data'; fi",
	   t->site, t->site, t->site);
	if (scan_log_for_crashes(t) != 0)
		rc = -1;
	if (rc != 0 || t->failed_tests > 0) {
		fprintf(stderr, "%s kept for inspection\n", t->site);
	} else {
		tu_sh("rm -rf '%s'", t->site);
	}
	free(t);
	return rc;
}

/* After every test, failed or not: nothing of it may hurt the next one. */
static int teardown_common(void **state)
{
	struct it *t = *state;
	if (!t->test_done)
		t->failed_tests++;
	t->test_done = false;
	for (int fd = 0; fd < OPEN_MAX; fd++)
		if (open_fds[fd]) {
			close(fd);
			open_fds[fd] = false;
		}
	stop_helper(t);
	/* The log-injection test moves the data folder away for a moment. */
	tu_sh("if [ -d '%s/data.away' ]; then rm -rf '%s/data' && mv '%s/data.away' '%s/data'; fi",
	   t->site, t->site, t->site, t->site);
	return 0;
}

/* ---- 1. locked past busy_timeout -------------------------------------------- */

/* Drops to the serving user (in a child). */
static void become_serving_user(struct it *t)
{
	if (t->user[0] == '\0')
		return;
	struct passwd *pw = getpwnam(t->user);
	if (pw == NULL || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		_exit(3);
}

/*
 * A separate process, as the serving user, holds BEGIN IMMEDIATE on the
 * database for hold_ms and then commits.  Returns once the lock is held.
 */
static pid_t hold_write_lock(struct it *t, int hold_ms)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		become_serving_user(t);
		sqlite3 *db;
		if (sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
			_exit(4);
		sqlite3_busy_timeout(db, 10000);
		int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (write(p[1], rc == SQLITE_OK ? "L" : "E", 1) != 1)
			_exit(5);
		struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(rc == SQLITE_OK ? 0 : 6);
	}
	close(p[1]);
	t->helper = pid;
	char c = 0;
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	if (poll(&pfd, 1, 15000) != 1 || read(p[0], &c, 1) != 1 || c != 'L')
		fail_msg("the lock holder could not take BEGIN IMMEDIATE (got '%c')", c);
	close(p[0]);
	return pid;
}

static int wait_child(pid_t pid, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (tu_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(20000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_locked_database(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	enum { HOLD_MS = 5000, CONCURRENT = 3, MAXP = 16 };
	struct sse a;
	sse_open(&a, t, "channel=locked", NULL, 0);
	assert_true(sse_wait_live(&a, PROMPT_MS));
	long long ids[MAXP];
	char texts[MAXP][32];
	int nok = 0;
	ids[nok] = post_ok(t, "locked", "L-before");
	strcpy(texts[nok++], "L-before");
	assert_true(sse_wait_text(&a, "L-before", PROMPT_MS));

	pid_t holder = hold_write_lock(t, HOLD_MS);
	long long t0 = tu_now_ms();
	/* Readers are not blocked: a stream opened now is live at once. */
	struct sse b;
	sse_open(&b, t, "channel=locked", NULL, 0);
	assert_true(sse_wait_live(&b, PROMPT_MS));
	long long b_live_ms = tu_now_ms() - t0;

	/* Posts while the lock is held: some at once, then one after another. */
	int n503 = 0, n201 = 0, k = 0;
	long long slowest = 0;
	struct http p[CONCURRENT];
	char tx[CONCURRENT][32];
	for (int i = 0; i < CONCURRENT; i++) {
		snprintf(tx[i], sizeof(tx[i]), "L-during-%d", k++);
		char body[160];
		snprintf(body, sizeof(body),
		         "{\"channel\":\"locked\",\"user\":\"faults\",\"text\":\"%s\"}", tx[i]);
		http_send(&p[i], t->port, "POST", POST_URL, JSON, body);
	}
	for (int i = 0; i < CONCURRENT + 8; i++) {
		struct http h;
		char text[32];
		if (i < CONCURRENT) {
			if (!http_finish(&p[i], 20000))
				fail_msg("a post during the lock got no answer in 20 s");
			h = p[i];
			memcpy(text, tx[i], sizeof(text));
		} else {
			if (tu_now_ms() - t0 >= HOLD_MS)
				break;
			snprintf(text, sizeof(text), "L-during-%d", k++);
			char body[160];
			snprintf(body, sizeof(body),
			         "{\"channel\":\"locked\",\"user\":\"faults\",\"text\":\"%s\"}", text);
			long long s0 = tu_now_ms();
			http_request(&h, t->port, "POST", POST_URL, JSON, body);
			slowest = tu_now_ms() - s0 > slowest ? tu_now_ms() - s0 : slowest;
		}
		int status = http_status(&h);
		char v[64];
		if (status == 503) {
			n503++;
			if (http_header(&h, "Retry-After", v, sizeof(v)) == NULL)
				fail_msg("503 without Retry-After: %s", sb_str(&h.in));
			if (strstr(http_body(&h), "\"error\":\"database is locked") == NULL)
				fail_msg("503 body: %s", http_body(&h));
		} else if (status == 201) {
			n201++;
			assert_true(nok < MAXP);
			const char *idp = strstr(http_body(&h), "{\"id\":");
			assert_non_null(idp);
			ids[nok] = atoll(idp + 6);
			snprintf(texts[nok++], sizeof(texts[0]), "%s", text);
		} else {
			fail_msg("a post during the lock answered %d (want 503 or 201): %.300s",
			         status, sb_str(&h.in));
		}
		http_close(&h);
	}
	assert_int_equal(wait_child(holder, 15000), 0);
	t->helper = 0;
	long long held = tu_now_ms() - t0;
	assert_true(n503 >= 1);
	/* The lock is gone: posts work and both streams get them. */
	for (int i = 0; i < 3; i++) {
		snprintf(texts[nok], sizeof(texts[0]), "L-after-%d", i);
		ids[nok] = post_ok(t, "locked", texts[nok]);
		nok++;
	}
	assert_true(sse_wait_text(&a, texts[nok - 1], PROMPT_MS));
	assert_true(sse_wait_text(&b, texts[nok - 1], PROMPT_MS));
	sse_pump(&a, 200);
	assert_false(a.eof);
	assert_false(b.eof);
	assert_ordered(&a, "stream A");
	assert_ordered(&b, "stream B");
	for (size_t i = 0; i < b.nev; i++)
		assert_true(b.ev[i].id >= ids[0]);
	/* Answers came in the order they were read, commits in id order. */
	for (int i = 1; i < nok; i++)
		for (int j = i; j > 0 && ids[j] < ids[j - 1]; j--) {
			long long id = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = id;
			char tmp[32];
			memcpy(tmp, texts[j], sizeof(tmp));
			memcpy(texts[j], texts[j - 1], sizeof(tmp));
			memcpy(texts[j - 1], tmp, sizeof(tmp));
		}
	/* Exactly the answered posts, each once, in order, ids as answered. */
	if (a.nev != (size_t)nok)
		fail_msg("stream got %zu events, %d posts were answered 201", a.nev, nok);
	for (int i = 0; i < nok; i++) {
		if (a.ev[i].id != ids[i] || strstr(a.ev[i].data, texts[i]) == NULL)
			fail_msg("event %d: id %lld '%s', want id %lld '%s'", i, a.ev[i].id,
			         a.ev[i].data, ids[i], texts[i]);
	}
	struct row rows[64];
	size_t nrows = channel_rows(t, "locked", rows, 64);
	assert_int_equal(nrows, (size_t)nok);
	print_message("it[%s] locked: lock held %lld ms; %d posts 503 (+Retry-After), %d got 201 "
	              "while it was held (slowest sequential post %lld ms); a stream opened under "
	              "the lock was live after %lld ms; %d events, none lost or doubled\n",
	              t->mode, held, n503, n201, slowest, b_live_ms, nok);
	sse_close(&a);
	sse_close(&b);
	t->test_done = true;
}

/* ---- 2. disk full ------------------------------------------------------------ */

static void test_disk_full(void **state)
{
	struct it *t = *state;
	if (geteuid() != 0)
		fail_msg("disk-full test needs root to mount a small filesystem "
		         "(tmpfs or loop ext4); running as uid %d", (int)geteuid());
	if (t->running)
		apache_stop(t);
	assert_int_equal(tu_sh("mv '%s/data' '%s/data.saved' && mkdir '%s/data'", t->site,
	                    t->site, t->site), 0);
	const char *how = "tmpfs, 2 MiB";
	if (tu_sh("mount -t tmpfs -o size=2m,mode=0755 sse-faults '%s/data' 2>'%s/run/mount.err'",
	       t->site, t->site) != 0) {
		char why[PATH_MAX + 64] = "";
		tu_sh("cat '%s/run/mount.err' >&2", t->site);
		how = "loop-mounted ext4, 8 MiB";
		if (tu_sh("truncate -s 8M '%s/full.img' && mkfs.ext4 -q -F '%s/full.img' && "
		       "mount -o loop '%s/full.img' '%s/data' 2>>'%s/run/mount.err'",
		       t->site, t->site, t->site, t->site, t->site) != 0) {
			snprintf(why, sizeof(why), "see %s/run/mount.err", t->site);
			fail_msg("cannot mount a small filesystem for the data folder: "
			         "neither tmpfs nor a loop ext4 image (%s)", why);
		}
	}
	apache_start(t, base_conf, NULL);
	struct sse s;
	sse_open(&s, t, "channel=full", NULL, 0);
	assert_true(sse_wait_live(&s, PROMPT_MS));
	enum { BEFORE = 5, DURING = 5 };
	char text[64];
	for (int i = 0; i < BEFORE; i++) {
		snprintf(text, sizeof(text), "F-before-%d", i);
		post_ok(t, "full", text);
	}
	assert_true(sse_wait_text(&s, "F-before-4", PROMPT_MS));

	/* Fill it, as root: every byte, down to the last one. */
	char filler[PATH_MAX + 32];
	snprintf(filler, sizeof(filler), "%s/data/filler", t->site);
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	static char chunk[65536];
	long long filled = 0;
	int err = 0;
	for (size_t size = sizeof(chunk); size >= 1; size /= 2) {
		ssize_t n;
		while ((n = write(fd, chunk, size)) > 0)
			filled += n;
		err = errno;
	}
	fsync(fd);
	close(fd);
	if (err != ENOSPC)
		fail_msg("filling the data folder stopped with %s, not ENOSPC", strerror(err));

	int n503 = 0;
	for (int i = 0; i < DURING; i++) {
		snprintf(text, sizeof(text), "F-full-%d", i);
		struct http h;
		char body[160], v[64];
		snprintf(body, sizeof(body),
		         "{\"channel\":\"full\",\"user\":\"faults\",\"text\":\"%s\"}", text);
		int status = http_request(&h, t->port, "POST", POST_URL, JSON, body);
		if (status != 503)
			fail_msg("post on a full disk: %d, want 503: %.300s", status, sb_str(&h.in));
		if (http_header(&h, "Retry-After", v, sizeof(v)) == NULL)
			fail_msg("503 without Retry-After");
		if (strstr(http_body(&h), "\"error\":") == NULL)
			fail_msg("503 without a JSON error: %s", http_body(&h));
		if (i == 0)
			print_message("it[%s] full: 503 %.*s\n", t->mode,
			              (int)strcspn(http_body(&h), "\n"), http_body(&h));
		n503++;
		http_close(&h);
	}
	/* Reading still works: a newcomer gets the history and stays live. */
	struct sse s2;
	sse_open(&s2, t, "channel=full", NULL, 0);
	assert_true(sse_wait_live(&s2, PROMPT_MS));
	assert_true(sse_wait_text(&s2, "F-before-4", PROMPT_MS));
	assert_int_equal(s2.status, 200);
	assert_integrity_ok(t, "while full");
	struct row rows[64];
	size_t n = channel_rows(t, "full", rows, 64);
	assert_int_equal(n, BEFORE);
	for (int i = 0; i < BEFORE; i++) {
		snprintf(text, sizeof(text), "F-before-%d", i);
		assert_int_equal(count_text(rows, n, text), 1);
		assert_int_equal(rows[i].valid, 1);
	}
	sse_pump(&s, 100);
	assert_false(s.eof);
	assert_int_equal(s.nev, BEFORE);

	/* Space again: posts work, the open stream gets them. */
	assert_int_equal(unlink(filler), 0);
	long long id = post_ok(t, "full", "F-after");
	assert_true(sse_wait_text(&s, "F-after", PROMPT_MS));
	assert_true(sse_wait_text(&s2, "F-after", PROMPT_MS));
	assert_integrity_ok(t, "after freeing space");
	n = channel_rows(t, "full", rows, 64);
	assert_int_equal(n, BEFORE + 1);
	assert_int_equal(rows[BEFORE].id, id);
	assert_ordered(&s, "stream");
	print_message("it[%s] full: data on %s; filled %lld bytes; %d/%d posts 503 with "
	              "Retry-After; integrity ok; %d earlier rows intact; post after freeing: 201\n",
	              t->mode, how, filled, n503, DURING, BEFORE);
	sse_close(&s);
	sse_close(&s2);
	t->test_done = true;
}

static int teardown_disk_full(void **state)
{
	struct it *t = *state;
	int rc = teardown_common(state);
	apache_stop_rc(t);
	if (tu_sh("test -d '%s/data.saved'", t->site) == 0) {
		if (tu_sh("if mountpoint -q '%s/data'; then umount '%s/data' || umount -l '%s/data'; fi",
		       t->site, t->site, t->site) != 0)
			rc = -1;
		tu_sh("rm -f '%s/full.img'; rm -rf '%s/data' && mv '%s/data.saved' '%s/data'",
		   t->site, t->site, t->site, t->site);
	}
	if (apache_start_rc(t, base_conf, NULL) != 0)
		rc = -1;
	return rc;
}

/* ---- 3. deleted / replaced under open streams -------------------------------- */

static void make_fresh_database(struct it *t, const char *path)
{
	if (tu_sh("%s '%s/bin/ssectl' --db '%s' init >/dev/null", t->runas, t->site, path) != 0)
		fail_msg("ssectl init %s failed", path);
	/* Fold the WAL in: the file must stand alone when it is moved. */
	struct strbuf out = STRBUF_INIT;
	if (sql_run(t, &out, path, "PRAGMA wal_checkpoint(TRUNCATE);") != 0)
		fail_msg("checkpoint of %s: %s", path, sb_str(&out));
	sb_free(&out);
	if (tu_sh("test ! -s '%s-wal'", path) != 0)
		fail_msg("%s-wal is left after the checkpoint", path);
}

static void test_database_deleted_or_replaced(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	/*
	 * "steady" posts to the new database every 500 ms while waiting, as a
	 * busy chat would: the streams must notice the change all the same.
	 */
	static const struct {
		const char *what;
		bool replace;
		int every_ms;    /* posts to the new database while waiting */
		bool overtake;   /* ... until it has issued more ids than the old one */
	} cases[] = {
		{ "deleted", false, 0, false },
		{ "replaced", true, 0, false },
		{ "deleted, then a post every 500 ms", false, 500, false },
		/*
		 * Not tested: a replacement that has already issued more ids than
		 * the client saw.  docs/PROTOCOL.md ("The reset event") defines
		 * unknown-id as a resume point above every id issued, so such an
		 * old id looks valid; telling databases apart would need ids other
		 * than the plain message ids that "Frames" requires ("Resume
		 * rules" states this limit).
		 */
	};
	enum { STREAMS = 3, NOTICE_MS = 4 * KEEPALIVE_MS + 3000, HISTORY = 50 };
	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		const char *what = cases[c].what;
		char text[80], prefix[64];
		long long old_last = 0;
		for (int i = 0; i < 3; i++) {
			snprintf(text, sizeof(text), "G-old-%zu-%d", c, i);
			old_last = post_ok(t, "gone", text);
		}
		struct sse s[STREAMS];
		size_t before[STREAMS];
		for (int i = 0; i < STREAMS; i++) {
			sse_open(&s[i], t, "channel=gone", NULL, 0);
			assert_true(sse_wait_live(&s[i], PROMPT_MS));
			assert_true(sse_wait_text(&s[i], text, PROMPT_MS));
			before[i] = s[i].nev;
		}
		if (!cases[c].replace) {
			assert_int_equal(tu_sh("rm -f '%s' '%s-wal' '%s-shm'", t->db, t->db, t->db), 0);
		} else {
			char fresh[PATH_MAX + 32];
			snprintf(fresh, sizeof(fresh), "%s/data/fresh.db", t->site);
			make_fresh_database(t, fresh);
			assert_int_equal(tu_sh("rm -f '%s-wal' '%s-shm' && mv '%s' '%s'", t->db, t->db,
			                    fresh, t->db), 0);
		}
		long long t0 = tu_now_ms();
		/* Every post to the new database is "G-new-C-K". */
		snprintf(prefix, sizeof(prefix), "G-new-%zu-", c);
		int posted = 0;
		snprintf(text, sizeof(text), "%s%d", prefix, posted++);
		long long new_id = post_ok(t, "gone", text);
		long long next_post = tu_now_ms() + cases[c].every_ms;
		/* Each stream ends, or delivers a post to the new database. */
		for (;;) {
			int pending = 0;
			for (int i = 0; i < STREAMS; i++)
				pending += !s[i].eof && sse_find(&s[i], before[i], prefix) < 0;
			if (pending == 0 || tu_now_ms() - t0 >= NOTICE_MS)
				break;
			if (cases[c].every_ms > 0 && tu_now_ms() >= next_post) {
				snprintf(text, sizeof(text), "%s%d", prefix, posted++);
				post_ok(t, "gone", text);
				next_post += cases[c].every_ms;
			}
			sse_pump_all(s, STREAMS, cases[c].every_ms > 0 && cases[c].every_ms < 50 ? 5 : 50);
		}
		int ended = 0, delivered = 0;
		long long worst = 0;
		for (int i = 0; i < STREAMS; i++) {
			if (s[i].eof)
				ended++;
			else if (sse_find(&s[i], before[i], prefix) >= 0)
				delivered++;
			else
				fail_msg("%s: stream %d neither ended nor delivered a post to the new "
				         "database in %d ms (%d posted to it; last comment '%s')", what, i,
				         NOTICE_MS, posted, s[i].last_comment);
			long long took = (s[i].eof ? s[i].eof_ms : tu_now_ms()) - t0;
			worst = took > worst ? took : worst;
			assert_int_equal(s[i].status, 200);
			/* Nothing stale arrived after the change. */
			for (size_t e = before[i]; e < s[i].nev; e++)
				if (strstr(s[i].ev[e].data, "G-old-") != NULL)
					fail_msg("%s: stream %d sent stale '%s'", what, i, s[i].ev[e].data);
		}
		char last_comment[160];
		snprintf(last_comment, sizeof(last_comment), "%s", s[0].last_comment);
		for (int i = 0; i < STREAMS; i++)
			sse_close(&s[i]);
		/*
		 * A busy new database soon issues ids the client has seen from the
		 * old one: the browser that comes back later must still be told.
		 */
		while (cases[c].overtake && new_id + posted - 1 <= old_last + 5) {
			snprintf(text, sizeof(text), "%s%d", prefix, posted++);
			post_ok(t, "gone", text);
		}

		/* The browser comes back with the old id: reset, then the new history. */
		char header[64];
		snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", old_last);
		struct sse r;
		sse_open(&r, t, "channel=gone", header, 0);
		assert_true(sse_wait_live(&r, PROMPT_MS));
		assert_true(sse_wait_text(&r, text, PROMPT_MS));   /* the newest post */
		int history = posted < HISTORY ? posted : HISTORY;
		if (r.nev != (size_t)history + 1 || strcmp(r.ev[0].name, "reset") != 0 ||
		    strstr(r.ev[0].data, "\"reason\":\"unknown-id\"") == NULL)
			fail_msg("%s: reconnect with Last-Event-ID %lld (issued by the old database; "
			         "the new one has issued ids %lld..%lld): %zu events, want a reset and "
			         "%d; first event: '%s' id %lld '%s'", what, old_last, new_id,
			         new_id + posted - 1, r.nev, history, r.nev ? r.ev[0].name : "",
			         r.nev ? r.ev[0].id : -1, r.nev ? r.ev[0].data : "");
		assert_int_equal(r.ev[1].id, new_id + posted - history);
		assert_true(r.ev[0].id < r.ev[1].id);
		assert_ordered(&r, "the reconnected stream");
		/* ... and it is live on the new database. */
		snprintf(text, sizeof(text), "G-next-%zu", c);
		post_ok(t, "gone", text);
		assert_true(sse_wait_text(&r, text, PROMPT_MS));
		print_message("it[%s] %s: %d/%d streams ended, %d delivered a post to the new "
		              "database, within %lld ms (%d posted to it; comment '%s'); reconnect "
		              "with id %lld: reset %s, then ids %lld..%lld\n", t->mode, what, ended,
		              STREAMS, delivered, worst, posted, last_comment, old_last,
		              r.ev[0].data, r.ev[1].id, r.ev[r.nev - 1].id);
		sse_close(&r);
	}
	assert_integrity_ok(t, "after replacement");
	t->test_done = true;
}

/* ---- 4. post.fcgi SIGKILLed during a burst --------------------------------- */

static void test_post_killed_during_burst(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	enum { TOTAL = 300, INFLIGHT = 6, ROWS_MAX = TOTAL + 16 };
	bool fcgid = strcmp(t->mode, "fcgid") == 0;
	/*
	 * mod_fcgid throttles respawning after kills (measured: 4 kills cost
	 * nothing, 8 kills 27 s, 65 kills three minutes), so a few there; mod_cgid
	 * starts a process per post, so many there, close together.
	 */
	int max_kills = fcgid ? 5 : 30;
	int gap_min = fcgid ? 20 : 5, gap_max = fcgid ? 150 : 40;
	struct { int status; long long id; char text[40]; long long started; } post[TOTAL];
	struct http pool[INFLIGHT];
	int slot_of[INFLIGHT];
	for (int i = 0; i < INFLIGHT; i++)
		slot_of[i] = -1;
	unsigned tag = (unsigned)rand();
	int next = 0, done = 0, kills = 0;
	/* Killed scripts log "End of script output before headers" from here on. */
	assert_true(t->windows < MAX_WINDOWS);
	int window = t->windows++;
	t->allow_from[window] = log_size(t);
	t->allow_to[window] = LLONG_MAX;   /* until this test has finished */
	long long t0 = tu_now_ms();
	long long next_kill = t0 + gap_min + rand() % (gap_max - gap_min);
	while (done < TOTAL && tu_now_ms() - t0 < 90000) {
		for (int i = 0; i < INFLIGHT; i++) {
			if (slot_of[i] >= 0 || next >= TOTAL)
				continue;
			snprintf(post[next].text, sizeof(post[next].text), "K-%u-%03d", tag, next);
			char body[160];
			snprintf(body, sizeof(body),
			         "{\"channel\":\"kill\",\"user\":\"faults\",\"text\":\"%s\"}",
			         post[next].text);
			http_send(&pool[i], t->port, "POST", POST_URL, JSON, body);
			post[next].started = tu_now_ms();
			slot_of[i] = next++;
		}
		struct pollfd pfd[INFLIGHT];
		for (int i = 0; i < INFLIGHT; i++) {
			pfd[i].fd = slot_of[i] >= 0 ? pool[i].fd : -1;
			pfd[i].events = POLLIN;
		}
		poll(pfd, INFLIGHT, 3);
		for (int i = 0; i < INFLIGHT; i++) {
			if (slot_of[i] < 0)
				continue;
			int k = slot_of[i];
			bool stuck = tu_now_ms() - post[k].started > 30000;
			if (pfd[i].revents != 0)
				http_pump(&pool[i], 0);
			if (!pool[i].eof && !stuck)
				continue;
			post[k].status = stuck ? -1 : http_status(&pool[i]);
			const char *p = strstr(http_body(&pool[i]), "{\"id\":");
			post[k].id = post[k].status == 201 && p ? atoll(p + 6) : -1;
			http_close(&pool[i]);
			slot_of[i] = -1;
			done++;
		}
		if (tu_now_ms() >= next_kill && done < TOTAL && kills < max_kills) {
			pid_t pids[64];
			int n = site_pids(t, "post.fcgi", pids, 64);
			if (n > 0 && kill(pids[rand() % (n < 64 ? n : 64)], SIGKILL) == 0)
				kills++;
			next_kill = tu_now_ms() + gap_min + rand() % (gap_max - gap_min);
		}
	}
	long long took = tu_now_ms() - t0;
	for (int i = 0; i < INFLIGHT; i++)
		if (slot_of[i] >= 0)
			http_close(&pool[i]);
	if (done < TOTAL)
		fail_msg("only %d of %d posts finished in %lld ms", done, TOTAL, took);
	/* Posts work again once the killing stops (mod_fcgid may respawn slowly). */
	long long settle0 = tu_now_ms();
	int status = 0;
	while (tu_now_ms() - settle0 < 30000) {
		long long id;
		if ((status = post_msg(t, "kill", "K-after", &id, NULL)) == 201)
			break;
		usleep(500000);
	}
	if (status != 201)
		fail_msg("posts do not work again 30 s after the kills (last status %d)", status);
	long long settle = tu_now_ms() - settle0;
	if (!fcgid)
		assert_int_equal(wait_site_at_most(t, "post.fcgi", 0, 5000), 0);
	t->allow_to[window] = log_size(t);

	static struct row rows[ROWS_MAX];
	size_t nrows = channel_rows(t, "kill", rows, ROWS_MAX);
	int ok = 0, unanswered = 0, stored_unanswered = 0, other = 0;
	char statuses[256] = "";
	for (int i = 0; i < TOTAL; i++) {
		int c = count_text(rows, nrows, post[i].text);
		if (c > 1)
			fail_msg("%s stored %d times", post[i].text, c);
		if (post[i].status == 201) {
			ok++;
			if (c != 1)
				fail_msg("%s got 201 (id %lld) but is stored %d times", post[i].text,
				         post[i].id, c);
			bool found = false;
			for (size_t r = 0; r < nrows; r++)
				found = found || (rows[r].id == post[i].id &&
				                  strcmp(rows[r].text, post[i].text) == 0);
			if (!found)
				fail_msg("%s: row %lld does not hold it", post[i].text, post[i].id);
		} else {
			if (post[i].status <= 0)
				unanswered++;
			else
				other++;
			stored_unanswered += c;
			char one[16];
			snprintf(one, sizeof(one), " %d", post[i].status);
			if (strstr(statuses, one) == NULL && strlen(statuses) < 200)
				strcat(statuses, one);
		}
	}
	for (size_t r = 0; r < nrows; r++) {
		if (rows[r].valid != 1)
			fail_msg("row %lld: stored JSON is not valid", rows[r].id);
		if (strcmp(rows[r].text, "K-after") != 0 && strncmp(rows[r].text, "K-", 2) != 0)
			fail_msg("row %lld: unexpected text '%s'", rows[r].id, rows[r].text);
	}
	assert_int_equal(sql_int(t, "SELECT count(*) FROM messages WHERE NOT json_valid(data);"), 0);
	assert_integrity_ok(t, "after the kills");
	assert_true(kills > 0);
	print_message("it[%s] kill: %d posts in %lld ms, %d SIGKILLs; %d answered 201 (each "
	              "stored once), %d other answers (statuses:%s), %d no answer; of those "
	              "without 201, %d stored whole, none half; posts normal again after %lld ms\n",
	              t->mode, TOTAL, took, kills, ok, other, statuses[0] ? statuses : " none",
	              unanswered, stored_unanswered, settle);
	t->test_done = true;
}

/* ---- 5. SIGTERM / SIGUSR1 to stream processes ------------------------------ */

static void test_stream_signals_lose_nothing(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	enum { MESSAGES = 14, SIGNALS = 6, MAXPIDS = 64 };
	long long seen[MESSAGES + 8];
	size_t nseen = 0;
	long long last = -1;
	int posted = 0, connections = 0, signals = 0;
	int sig_term = 0, sig_usr1 = 0;
	pid_t before[MAXPIDS];
	int nbefore = 0;
	pid_t target = 0;
	struct sse s = { .fd = -1 };
	long long deadline = tu_now_ms() + 40000;
	long long next_post = tu_now_ms(), next_signal = tu_now_ms() + 700;
	/* Until all is posted and seen, and a connection was made after the last signal. */
	while (tu_now_ms() < deadline && (posted < MESSAGES || nseen < (size_t)MESSAGES ||
	                                  signals < SIGNALS || connections <= SIGNALS)) {
		if (s.fd < 0) {
			char header[64] = "";
			if (last >= 0)
				snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", last);
			nbefore = site_pids(t, "events.fcgi", before, MAXPIDS);
			sse_open(&s, t, "channel=signals", header, 0);
			connections++;
			target = 0;
		}
		/* The last message waits for the last signal. */
		if (posted < MESSAGES && tu_now_ms() >= next_post &&
		    (posted < MESSAGES - 1 || signals == SIGNALS)) {
			char text[32];
			snprintf(text, sizeof(text), "T-%d", posted);
			post_ok(t, "signals", text);
			posted++;
			next_post = tu_now_ms() + 300;
		}
		bool open = sse_pump(&s, 30);
		if (s.live && target == 0) {
			pid_t now[MAXPIDS];
			int n = site_pids(t, "events.fcgi", now, MAXPIDS);
			target = new_pid(before, nbefore, now, n < MAXPIDS ? n : MAXPIDS);
		}
		if (open && s.live && target > 0 && signals < SIGNALS &&
		    tu_now_ms() >= next_signal) {
			int sig = signals % 2 == 0 ? SIGTERM : SIGUSR1;
			if (kill(target, sig) == 0) {
				signals++;
				if (sig == SIGTERM)
					sig_term++;
				else
					sig_usr1++;
			}
			target = -1;   /* once per process */
			next_signal = tu_now_ms() + 500 + rand() % 700;
		}
		for (size_t i = 0; i < s.nev; i++) {
			if (s.ev[i].id <= last)
				continue;
			assert_true(nseen < ARRAY_LEN(seen));
			seen[nseen++] = s.ev[i].id;
			last = s.ev[i].id;
		}
		if (!open) {
			if (s.status != 200)
				fail_msg("connection %d answered %d", connections, s.status);
			sse_close(&s);
		}
	}
	if (s.fd >= 0)
		sse_close(&s);
	assert_int_equal(posted, MESSAGES);
	assert_int_equal(signals, SIGNALS);
	if (nseen != MESSAGES)
		fail_msg("received %zu of %d messages over %d connections", nseen, MESSAGES,
		         connections);
	for (size_t i = 1; i < nseen; i++)
		assert_true(seen[i] > seen[i - 1]);
	assert_true(connections >= SIGNALS + 1);
	print_message("it[%s] signals: %d SIGTERM + %d SIGUSR1 to live streams; %d messages "
	              "over %d connections, none lost or doubled\n",
	              t->mode, sig_term, sig_usr1, MESSAGES, connections);
	t->test_done = true;
}

/* ---- 6. a slow client ------------------------------------------------------ */

static void test_slow_client(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	enum { POSTS = 200, BULK = 4000, TEXT = 1500, MAXPIDS = 256 };
	const long GROWTH_MAX_KIB = 3 * 1024;
	const int DROP_MS = 30000 + 20000;   /* the 30 s write timeout, and a margin */
	pid_t before[MAXPIDS], now[MAXPIDS];
	int nb = site_pids(t, "events.fcgi", before, MAXPIDS);
	struct sse slow;
	sse_open(&slow, t, "channel=slow", NULL, 4096);   /* a small window */
	assert_true(sse_wait_live(&slow, PROMPT_MS));
	int nn = site_pids(t, "events.fcgi", now, MAXPIDS);
	pid_t pid = new_pid(before, nb < MAXPIDS ? nb : MAXPIDS, now, nn < MAXPIDS ? nn : MAXPIDS);
	assert_true(pid > 0);
	long rss0 = rss_kib(pid), rss_max = rss0;
	/* Under ASan freed memory stays in quarantine: RSS then says nothing. */
	bool asan = has_asan(pid);
	/* From here on the slow client reads nothing. */
	struct sse fast;
	sse_open(&fast, t, "channel=slow", NULL, 0);
	assert_true(sse_wait_live(&fast, PROMPT_MS));

	static char text[TEXT + 64];
	long long worst_lag = 0;
	long long t0 = tu_now_ms();
	for (int i = 0; i < POSTS; i++) {
		int n = snprintf(text, sizeof(text), "S-%03d-", i);
		memset(text + n, 'x', TEXT - (size_t)n);
		text[TEXT] = '\0';
		long long sent = tu_now_ms();
		post_ok(t, "slow", text);
		char token[16];
		snprintf(token, sizeof(token), "S-%03d-", i);
		if (i % 20 == 0) {   /* the other listener keeps up as it goes */
			if (!sse_wait_text(&fast, token, PROMPT_MS))
				fail_msg("the other listener did not get post %d within %d ms", i, PROMPT_MS);
			worst_lag = tu_now_ms() - sent > worst_lag ? tu_now_ms() - sent : worst_lag;
		}
		sse_pump(&fast, 0);
		long r = rss_kib(pid);
		rss_max = r > rss_max ? r : rss_max;
	}
	long long posted_ms = tu_now_ms() - t0;
	/* Then much more at once, as another program on the host would publish. */
	struct strbuf out = STRBUF_INIT;
	int rc = sql_run(t, &out, NULL,
	        "BEGIN IMMEDIATE;"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
	        " INSERT INTO messages(channel, event, data, created)"
	        " SELECT 'slow', 'message', json_object('id', 0, 'channel', 'slow',"
	        " 'user', 'bulk', 'text', printf('B-%%04d-', i) || substr(hex(zeroblob(%d)), 1, %d),"
	        " 'time', '2026-01-01T00:00:00Z'), CAST(strftime('%%s', 'now') AS INTEGER) FROM n;"
	        "COMMIT;", BULK, TEXT, TEXT - 7);
	if (rc != 0)
		fail_msg("bulk insert: %s", sb_str(&out));
	sb_free(&out);
	char notify[PATH_MAX + 64];
	snprintf(notify, sizeof(notify), "%s.notify", t->db);
	int nfd = open(notify, O_WRONLY);
	if (nfd >= 0) {
		/* What ring_wake does: a byte at the wake offset, then close
		 * (streams wake on IN_CLOSE_WRITE). */
		assert_int_equal(pwrite(nfd, "", 1, RING_WAKE_OFFSET), 1);
		close(nfd);
	}
	long long bulk_at = tu_now_ms();
	char marker[32];
	snprintf(marker, sizeof(marker), "B-%04d-", BULK);
	while (sse_find(&fast, fast.nev > 50 ? fast.nev - 50 : 0, marker) < 0 &&
	       tu_now_ms() - bulk_at < 4 * PROMPT_MS) {
		sse_pump(&fast, 50);
		long r = rss_kib(pid);
		rss_max = r > rss_max ? r : rss_max;
	}
	if (sse_find(&fast, 0, marker) < 0)
		fail_msg("the other listener did not get the bulk (%zu events)", fast.nev);
	long long bulk_ms = tu_now_ms() - bulk_at;

	/* While the slow one is stuck, the other keeps getting posts promptly. */
	long long ticks = 0;
	long long gone_at = 0;
	long long next_tick = tu_now_ms();
	while (tu_now_ms() - bulk_at < DROP_MS) {
		long r = rss_kib(pid);
		if (r < 0 || !tu_pid_alive(pid)) {
			gone_at = tu_now_ms();
			break;
		}
		rss_max = r > rss_max ? r : rss_max;
		if (tu_now_ms() >= next_tick) {
			char tick[32];
			snprintf(tick, sizeof(tick), "S-tick-%lld", ticks++);
			long long sent = tu_now_ms();
			post_ok(t, "slow", tick);
			if (!sse_wait_text(&fast, tick, PROMPT_MS))
				fail_msg("the other listener stalled: '%s' not within %d ms", tick, PROMPT_MS);
			worst_lag = tu_now_ms() - sent > worst_lag ? tu_now_ms() - sent : worst_lag;
			next_tick = tu_now_ms() + 3000;
		}
		sse_pump(&fast, 100);
	}
	if (gone_at == 0)
		fail_msg("the slow listener's process %d is still there %d ms after the last "
		         "bulk write (rss %ld -> %ld KiB)", (int)pid, DROP_MS, rss0, rss_max);
	size_t total = POSTS + BULK + (size_t)ticks;
	if (fast.nev != total)
		fail_msg("the other listener got %zu of %zu events", fast.nev, total);
	assert_ordered(&fast, "the other listener");
	assert_false(fast.eof);
	long growth = rss_max - rss0;
	if (growth > GROWTH_MAX_KIB && !asan)
		fail_msg("the slow listener's process grew %ld KiB (%ld -> %ld) while %.1f MiB "
		         "were pending", growth, rss0, rss_max,
		         (double)total * TEXT / (1024.0 * 1024.0));
	print_message("it[%s] slow: %d posts x %d B in %lld ms + %d published at once "
	              "(%.1f MiB); slow listener's process: VmRSS %ld -> max %ld KiB (+%ld%s), "
	              "gone %lld ms after the bulk; the other got all %zu (bulk drained in %lld ms, "
	              "worst post-to-event lag %lld ms)\n",
	              t->mode, POSTS, TEXT, posted_ms, BULK,
	              (double)(POSTS + BULK) * TEXT / (1024.0 * 1024.0), rss0, rss_max, growth,
	              asan ? ", ASan build: not bounded by this test" : "", gone_at - bulk_at,
	              total, bulk_ms, worst_lag);
	sse_close(&slow);
	sse_close(&fast);
	t->test_done = true;
}

/* ---- 7. abuse: 200 streams against max_streams = 50 ------------------------ */

static void test_stream_cap_under_abuse(void **state)
{
	struct it *t = *state;
	ensure_config(t, capped_conf, many_workers);
	enum { N = 200, CAP = 50 };
	long long first = post_ok(t, "abuse", "A-0");
	static struct sse s[N];
	long long t0 = tu_now_ms();
	int max_procs = 0;
	for (int i = 0; i < N; i++) {
		sse_open(&s[i], t, "channel=abuse", NULL, 0);
		if (i % 10 == 9)
			sse_pump_all(s, (size_t)i + 1, 0);
	}
	long long opened = tu_now_ms() - t0;
	/* Each one is either live or has answered one-shot and ended. */
	for (;;) {
		int pending = 0;
		for (int i = 0; i < N; i++)
			pending += !s[i].live && !s[i].eof;
		int procs = count_site(t, "events.fcgi");
		max_procs = procs > max_procs ? procs : max_procs;
		if (pending == 0)
			break;
		if (tu_now_ms() - t0 > 30000)
			fail_msg("%d of %d streams neither live nor ended after 30 s", pending, N);
		sse_pump_all(s, N, 50);
	}
	long long settled = tu_now_ms() - t0;
	int live = 0, oneshot = 0;
	long retry = 0;
	for (int i = 0; i < N; i++) {
		if (s[i].status != 200)
			fail_msg("stream %d answered %d", i, s[i].status);
		if (sse_find(&s[i], 0, "\"A-0\"") < 0)
			fail_msg("stream %d did not get the history", i);
		if (s[i].live) {
			live++;
			if (s[i].retry != 2000)
				fail_msg("live stream %d: retry %ld", i, s[i].retry);
		} else {
			oneshot++;
			if (s[i].retry < 2000)
				fail_msg("one-shot stream %d: retry %ld below the normal 2000", i, s[i].retry);
			if (strstr(s[i].hello, "in use") == NULL)
				fail_msg("one-shot stream %d: comment '%s'", i, s[i].hello);
			retry = s[i].retry > retry ? s[i].retry : retry;
		}
	}
	int procs = wait_site_at_most(t, "events.fcgi", CAP, 10000);
	if (live != CAP || oneshot != N - CAP || procs > CAP)
		fail_msg("%d live, %d one-shot, %d stream processes (cap %d)", live, oneshot, procs, CAP);

	/* A new message reaches the live ones at once... */
	long long id1 = post_ok(t, "abuse", "A-1");
	long long d0 = tu_now_ms();
	for (;;) {
		int missing = 0;
		for (int i = 0; i < N; i++)
			missing += s[i].live && sse_find(&s[i], 0, "\"A-1\"") < 0;
		if (missing == 0)
			break;
		if (tu_now_ms() - d0 > PROMPT_MS)
			fail_msg("%d live streams did not get A-1 within %d ms", missing, PROMPT_MS);
		sse_pump_all(s, N, 50);
	}
	/* ... and the others when they come back after their retry. */
	long long wait_until = tu_now_ms() + retry;
	while (tu_now_ms() < wait_until)
		sse_pump_all(s, N, 100);
	int got = 0, again_oneshot = 0;
	static struct sse r[N];
	int nr = 0;
	for (int i = 0; i < N; i++) {
		if (s[i].live)
			continue;
		char header[64];
		snprintf(header, sizeof(header), "Last-Event-ID: %lld\r\n", s[i].last_id);
		if (s[i].last_id != first)
			fail_msg("one-shot stream %d: last id %lld, want %lld", i, s[i].last_id, first);
		sse_close(&s[i]);
		sse_open(&r[nr++], t, "channel=abuse", header, 0);
	}
	long long r0 = tu_now_ms();
	for (;;) {
		int pending = 0;
		for (int i = 0; i < nr; i++)
			pending += !r[i].eof && !(r[i].live && sse_find(&r[i], 0, "\"A-1\"") >= 0);
		if (pending == 0)
			break;
		if (tu_now_ms() - r0 > 20000)
			fail_msg("%d returning streams unfinished after 20 s", pending);
		sse_pump_all(r, (size_t)nr, 50);
	}
	for (int i = 0; i < nr; i++) {
		long k = sse_find(&r[i], 0, "\"A-1\"");
		if (k < 0)
			fail_msg("returning stream %d did not get A-1 ('%s', %zu events)", i,
			         r[i].hello, r[i].nev);
		if (r[i].nev != 1 || r[i].ev[k].id != id1)
			fail_msg("returning stream %d: %zu events", i, r[i].nev);
		got++;
		again_oneshot += r[i].eof;
	}
	/* kill -9 frees a slot too: the kernel drops the lock of a dead process. */
	enum { KILLED = 10 };
	pid_t pids[N];
	int np = site_pids(t, "events.fcgi", pids, N);
	if (np != CAP)
		fail_msg("%d stream processes before the kill -9, want %d", np, CAP);
	for (int i = 0; i < KILLED; i++)
		assert_int_equal(kill(pids[i], SIGKILL), 0);
	assert_int_equal(wait_site_at_most(t, "events.fcgi", CAP - KILLED, 5000), CAP - KILLED);
	struct sse more[KILLED + 1];
	int more_live = 0;
	for (int i = 0; i <= KILLED; i++) {
		sse_open(&more[i], t, "channel=abuse", NULL, 0);
		long long m0 = tu_now_ms();
		while (!more[i].live && !more[i].eof && tu_now_ms() - m0 < PROMPT_MS)
			sse_pump(&more[i], 50);
		more_live += more[i].live;
	}
	if (more_live != KILLED || !more[KILLED].eof)
		fail_msg("after kill -9 of %d live streams, %d of %d newcomers were live (want %d, "
		         "and the last one-shot)", KILLED, more_live, KILLED + 1, KILLED);
	/* Closing the live ones frees their slots: a newcomer is live again. */
	for (int i = 0; i <= KILLED; i++)
		sse_close(&more[i]);
	for (int i = 0; i < N; i++)
		sse_close(&s[i]);
	for (int i = 0; i < nr; i++)
		sse_close(&r[i]);
	long long c0 = tu_now_ms();
	int left = wait_site_at_most(t, "events.fcgi", 0, 3 * KEEPALIVE_MS + 4000);
	if (left != 0)
		fail_msg("%d stream processes left %lld ms after the clients closed", left,
		         tu_now_ms() - c0);
	long long freed = tu_now_ms() - c0;
	struct sse n;
	sse_open(&n, t, "channel=abuse", NULL, 0);
	assert_true(sse_wait_live(&n, PROMPT_MS));
	sse_close(&n);
	print_message("it[%s] cap: %d streams opened in %lld ms, settled in %lld ms: %d live, "
	              "%d one-shot (retry %ld ms), at most %d stream processes seen while "
	              "opening, %d after; A-1 reached all %d live at once and all %d others "
	              "on their return (%d one-shot again); after kill -9 of %d live streams "
	              "%d newcomers were live, the next one-shot; slots free %lld ms after "
	              "close\n",
	              t->mode, N, opened, settled, live, oneshot, retry, max_procs, procs, live,
	              got, again_oneshot, KILLED, more_live, freed);
	t->test_done = true;
}

/* ---- 8. oversized and unwanted input ---------------------------------------- */

struct input_case {
	const char *what;
	const char *method;
	const char *url;          /* NULL: events.fcgi; else the path */
	int query_pad;            /* padding bytes added to the query string */
	int lei_len;              /* a Last-Event-ID of this many digits */
	int hdr_count, hdr_size;  /* extra X-Pad headers */
	const char *headers;
	int body_pad;             /* a form body this long (0: body below) */
	const char *body;
	const char *length;       /* a Content-Length to claim instead */
	int status;               /* expected; 0 = see status_fcgid */
	int status_fcgid;         /* when it differs in fcgid mode */
	bool ours;                /* answered by the binaries: a JSON error */
	bool stream;              /* a stream: 200, ": live" wanted */
	int ours_fcgid;           /* in fcgid mode: 1 ours, -1 not, 0 as `ours` */
};

#define EVENTS NULL
static const struct input_case inputs[] = {
	{ "query of 7000 bytes", "GET", EVENTS, 7000, 0, 0, 0, NULL, 0, NULL, NULL, 200, 0, true,
	  true, 0 },
	{ "query over LimitRequestLine", "GET", EVENTS, 9000, 0, 0, 0, NULL, 0, NULL, NULL, 414, 0,
	  false, false, 0 },
	{ "channel of 65 characters", "GET", "/cgi-bin/events.fcgi?channel="
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0, 0, 0, NULL, 0,
	  NULL, NULL, 400, 0, true, false, 0 },
	{ "channel twice", "GET", "/cgi-bin/events.fcgi?channel=a&channel=b", 0, 0, 0, 0, NULL, 0,
	  NULL, NULL, 400, 0, true, false, 0 },
	{ "Last-Event-ID of 8000 digits", "GET", EVENTS, 0, 8000, 0, 0, NULL, 0, NULL, NULL, 200, 0,
	  true, true, 0 },
	{ "Last-Event-ID of 10 KB", "GET", EVENTS, 0, 10240, 0, 0, NULL, 0, NULL, NULL, 400, 0,
	  false, false, 0 },
	{ "stream with 7 headers of 8000 bytes", "GET", EVENTS, 0, 0, 7, 8000, NULL, 0, NULL, NULL,
	  200, 0, true, true, 0 },
	{ "stream with 101 headers", "GET", EVENTS, 0, 0, 101, 10, NULL, 0, NULL, NULL, 400, 0,
	  false, false, 0 },
	{ "body over max_body", "POST", POST_URL, 0, 0, 0, 0, FORM, 9000, NULL, NULL, 413, 0, true,
	  false, 0 },
	/*
	 * Over Apache's LimitRequestBody (1 GiB since 2.4.54): mod_cgid answers
	 * 413 itself; mod_fcgid swallows that error and hands the script
	 * CONTENT_LENGTH 0, which it refuses as 411.  Either way nothing stored.
	 */
	{ "Content-Length of 10^11", "POST", POST_URL, 0, 0, 0, 0, FORM, 0, "user=a&text=b",
	  "100000000000", 413, 411, false, false, 1 },
	{ "Content-Length not a number", "POST", POST_URL, 0, 0, 0, 0, FORM, 0, "user=a&text=b",
	  "12abc", 400, 0, false, false, 0 },
	{ "post with 7 headers of 8000 bytes", "POST", POST_URL, 0, 0, 7, 8000, FORM, 0,
	  "user=a&text=I-bigheaders-7", NULL, 201, 0, true, false, 0 },
	/* mod_fcgid puts all request variables in one FastCGI record (< 64 KiB). */
	{ "post with 90 headers of 8000 bytes", "POST", POST_URL, 0, 0, 90, 8000, FORM, 0,
	  "user=a&text=I-bigheaders-90", NULL, 201, 500, true, false, -1 },
	{ "post with 101 headers", "POST", POST_URL, 0, 0, 101, 10, FORM, 0, "user=a&text=b", NULL,
	  400, 0, false, false, 0 },
	{ "PUT", "PUT", POST_URL, 0, 0, 0, 0, FORM, 0, "user=a&text=I-put", NULL, 405, 0, true, false, 0 },
	{ "DELETE", "DELETE", POST_URL, 0, 0, 0, 0, NULL, 0, NULL, NULL, 405, 0, true, false, 0 },
	{ "OPTIONS", "OPTIONS", POST_URL, 0, 0, 0, 0, NULL, 0, NULL, NULL, 405, 0, true, false, 0 },
	{ "PATCH", "PATCH", POST_URL, 0, 0, 0, 0, JSON, 0, "{\"user\":\"a\",\"text\":\"I-patch\"}",
	  NULL, 405, 0, true, false, 0 },
	{ "PUT to the stream", "PUT", "/cgi-bin/events.fcgi", 0, 0, 0, 0, FORM, 0, "x=1", NULL, 405,
	  0, true, false, 0 },
	{ "DELETE to the stream", "DELETE", "/cgi-bin/events.fcgi", 0, 0, 0, 0, NULL, 0, NULL, NULL,
	  405, 0, true, false, 0 },
	{ "OPTIONS to the stream", "OPTIONS", "/cgi-bin/events.fcgi", 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, 405, 0, true, false, 0 },
	{ "PATCH to the stream", "PATCH", "/cgi-bin/events.fcgi", 0, 0, 0, 0, NULL, 0, NULL, NULL,
	  405, 0, true, false, 0 },
	{ "text/plain", "POST", POST_URL, 0, 0, 0, 0, "Content-Type: text/plain\r\n", 0,
	  "user=a&text=I-plain", NULL, 415, 0, true, false, 0 },
	{ "multipart/form-data", "POST", POST_URL, 0, 0, 0, 0,
	  "Content-Type: multipart/form-data; boundary=x\r\n", 0,
	  "--x\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\na\r\n--x--\r\n", NULL, 415, 0,
	  true, false, 0 },
	{ "JSON in latin-1", "POST", POST_URL, 0, 0, 0, 0,
	  "Content-Type: application/json; charset=iso-8859-1\r\n", 0,
	  "{\"user\":\"a\",\"text\":\"I-latin\"}", NULL, 415, 0, true, false, 0 },
	{ "form in latin-1", "POST", POST_URL, 0, 0, 0, 0,
	  "Content-Type: application/x-www-form-urlencoded; charset=latin1\r\n", 0,
	  "user=a&text=I-latin", NULL, 415, 0, true, false, 0 },
	{ "application/jsonx", "POST", POST_URL, 0, 0, 0, 0, "Content-Type: application/jsonx\r\n",
	  0, "{\"user\":\"a\",\"text\":\"I-jsonx\"}", NULL, 415, 0, true, false, 0 },
	{ "application/xml", "POST", POST_URL, 0, 0, 0, 0, "Content-Type: application/xml\r\n", 0,
	  "<m/>", NULL, 415, 0, true, false, 0 },
	{ "no Content-Type", "POST", POST_URL, 0, 0, 0, 0, NULL, 0, "user=a&text=I-none", NULL,
	  415, 0, true, false, 0 },
};

/* A raw request: everything built by hand, sent in one write. */
static void send_raw(struct http *h, struct it *t, const struct strbuf *req)
{
	memset(h, 0, sizeof(*h));
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect: %s", strerror(errno));
	size_t off = 0;
	while (off < req->len) {
		ssize_t n = write(h->fd, req->data + off, req->len - off);
		if (n <= 0)
			break;   /* the server may refuse early and close */
		off += (size_t)n;
	}
	h->sent_ms = tu_now_ms();
}

static void build_case(struct strbuf *req, struct it *t, const struct input_case *c)
{
	sb_reset(req);
	sb_printf(req, "%s ", c->method);
	if (c->url != NULL)
		sb_puts(req, c->url);
	else
		sb_puts(req, "/cgi-bin/events.fcgi?channel=big");
	if (c->query_pad > 0) {
		sb_puts(req, "&pad=");
		for (int i = 0; i < c->query_pad; i++)
			sb_putc(req, 'q');
	}
	sb_printf(req, " HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n", t->port);
	if (c->lei_len > 0) {
		sb_puts(req, "Last-Event-ID: ");
		for (int i = 0; i < c->lei_len; i++)
			sb_putc(req, (char)('1' + i % 9));
		sb_puts(req, "\r\n");
	}
	for (int k = 0; k < c->hdr_count; k++) {
		sb_printf(req, "X-Pad-%d: ", k);
		for (int i = 0; i < c->hdr_size; i++)
			sb_putc(req, 'h');
		sb_puts(req, "\r\n");
	}
	if (c->headers != NULL)
		sb_puts(req, c->headers);
	struct strbuf body = STRBUF_INIT;
	if (c->body_pad > 0) {
		sb_puts(&body, "user=a&text=I-big-");
		while (body.len < (size_t)c->body_pad)
			sb_putc(&body, 'b');
	} else if (c->body != NULL) {
		sb_puts(&body, c->body);
	}
	if (c->length != NULL)
		sb_printf(req, "Content-Length: %s\r\n", c->length);
	else if (c->body_pad > 0 || c->body != NULL)
		sb_printf(req, "Content-Length: %zu\r\n", body.len);
	sb_puts(req, "\r\n");
	sb_append(req, sb_str(&body), body.len);
	sb_free(&body);
}

static long long all_rows(struct it *t)
{
	return sql_int(t, "SELECT count(*) FROM messages;");
}

struct slowloris {
	struct http h;
	int sent;
	long long last_byte;
	long long closed_at;
	bool stalled;
};

#define SLOW_BODY "user=slowloris&text=I-slowloris-never-whole"
enum { SLOW_BYTES = 4 };   /* sent one a second, then nothing */

static void slowloris_tick(struct slowloris *sl)
{
	if (sl->closed_at == 0 && !http_pump(&sl->h, 0))
		sl->closed_at = tu_now_ms();
	if (sl->sent < SLOW_BYTES && tu_now_ms() - sl->last_byte >= 1000) {
		if (write(sl->h.fd, SLOW_BODY + sl->sent, 1) == 1) {
			sl->sent++;
			sl->last_byte = tu_now_ms();
		}
	}
}

static void test_oversized_and_unwanted_input(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, short_timeout);
	bool fcgid = strcmp(t->mode, "fcgid") == 0;
	long long rows0 = all_rows(t);

	/* The slowloris starts first and dribbles on while the table runs. */
	struct slowloris sl = { .sent = 0 };
	struct strbuf req = STRBUF_INIT;
	sb_printf(&req, "POST %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n" FORM
	          "Content-Length: %zu\r\n\r\n", POST_URL, t->port, strlen(SLOW_BODY));
	send_raw(&sl.h, t, &req);
	sl.last_byte = tu_now_ms() - 1000;
	long long slow0 = tu_now_ms();
	slowloris_tick(&sl);

	long long stored = 0;
	for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
		const struct input_case *c = &inputs[i];
		int want = fcgid && c->status_fcgid != 0 ? c->status_fcgid : c->status;
		bool ours = fcgid && c->ours_fcgid != 0 ? c->ours_fcgid > 0 : c->ours;
		long long before = all_rows(t);
		build_case(&req, t, c);
		struct http h;
		send_raw(&h, t, &req);
		if (c->stream && want == 200) {
			if (!http_wait_for(&h, ": live\n", PROMPT_MS))
				fail_msg("%s: no live stream: %.300s", c->what, sb_str(&h.in));
		} else if (!http_finish(&h, 15000)) {
			fail_msg("%s: no complete answer in 15 s", c->what);
		}
		int status = http_status(&h);
		if (status != want)
			fail_msg("%s: status %d, want %d: %.300s", c->what, status, want, sb_str(&h.in));
		char v[128];
		if (ours && status != 200 && status != 201) {
			const char *ct = http_header(&h, "Content-Type", v, sizeof(v));
			if (ct == NULL || strncmp(ct, "application/json", 16) != 0 ||
			    strncmp(http_body(&h), "{\"error\":\"", 10) != 0)
				fail_msg("%s: not a JSON error: %.400s", c->what, sb_str(&h.in));
		}
		if (status == 405) {
			const char *allow = http_header(&h, "Allow", v, sizeof(v));
			const char *want_allow = c->url && strstr(c->url, "events") ? "GET, HEAD" : "POST";
			if (allow == NULL || strcmp(allow, want_allow) != 0)
				fail_msg("%s: Allow '%s', want '%s'", c->what, allow ? allow : "(none)",
				         want_allow);
		}
		if (c->lei_len > 0 && status == 200 &&
		    !http_wait_for(&h, "\"reason\":\"unknown-id\"", PROMPT_MS))
			fail_msg("%s: no reset for an unreadable id: %.300s", c->what, sb_str(&h.in));
		http_close(&h);
		long long after = all_rows(t);
		if (after != before + (status == 201))
			fail_msg("%s: rows %lld -> %lld (status %d)", c->what, before, after, status);
		stored += status == 201;
		slowloris_tick(&sl);
	}
	/*
	 * The slowloris: ends in bounded time, stores nothing, leaves no process.
	 * Under mod_cgid post.fcgi reads the body as it comes and must give up by
	 * itself (10 s stalled), before Apache's Timeout; mod_fcgid reads the
	 * whole body before it starts the script, so there only Apache acts.
	 */
	long long script_gone = 0;
	while (sl.closed_at == 0 && tu_now_ms() - sl.last_byte < APACHE_TIMEOUT_MS + 10000) {
		slowloris_tick(&sl);
		if (!fcgid && script_gone == 0 && sl.sent == SLOW_BYTES &&
		    count_site(t, "post.fcgi") == 0)
			script_gone = tu_now_ms();
		usleep(100000);
	}
	if (!fcgid && script_gone == 0 && count_site(t, "post.fcgi") == 0)
		script_gone = tu_now_ms();
	if (sl.closed_at == 0)
		fail_msg("the slowloris post is still open %lld ms after its last byte",
		         tu_now_ms() - sl.last_byte);
	int slow_status = http_status(&sl.h);
	long long slow_ended = sl.closed_at - sl.last_byte;
	http_close(&sl.h);
	int posts_left = fcgid ? 0 : wait_site_at_most(t, "post.fcgi", 0, 5000);
	int streams_left = wait_site_at_most(t, "events.fcgi", 0, 3 * KEEPALIVE_MS + 4000);
	if (posts_left != 0 || streams_left != 0)
		fail_msg("left over: %d post.fcgi, %d events.fcgi", posts_left, streams_left);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM messages WHERE data LIKE '%slowloris%';"), 0);
	assert_int_equal(all_rows(t), rows0 + stored);
	sb_free(&req);
	/* Halfway between its limit and Apache's: it gave up, not Apache. */
	long long bound = BODY_STALL_MS + (APACHE_TIMEOUT_MS - BODY_STALL_MS) / 2;
	if (!fcgid && (script_gone == 0 || script_gone - sl.last_byte > bound))
		fail_msg("post.fcgi did not give up on the stalled body by itself: gone %lld ms "
		         "after the last byte (its limit is %d ms; Apache's Timeout, %d ms, ended "
		         "it); the rest of the slowloris checks passed: answer %d, closed %lld ms "
		         "after the last byte, nothing stored, no process left",
		         script_gone ? script_gone - sl.last_byte : -1LL, BODY_STALL_MS,
		         APACHE_TIMEOUT_MS, slow_status, slow_ended);
	char gave_up[96] = "the script never saw it (mod_fcgid buffers bodies)";
	if (!fcgid)
		snprintf(gave_up, sizeof(gave_up), "post.fcgi gave up %lld ms after the last byte",
		         script_gone - sl.last_byte);
	print_message("it[%s] input: %zu cases with the right statuses (%lld stored, as "
	              "expected); slowloris (%d bytes at 1/s of %zu, Apache Timeout %d s): "
	              "%s; answer %d, closed %lld ms after its last byte (%lld ms in all), "
	              "nothing stored, no process left\n",
	              t->mode, ARRAY_LEN(inputs), stored, SLOW_BYTES, strlen(SLOW_BODY),
	              APACHE_TIMEOUT_MS / 1000, gave_up, slow_status, slow_ended,
	              sl.closed_at - slow0);
	t->test_done = true;
}

/* ---- 9. nothing raw reaches the log ------------------------------------------ */

#define FORGE "%0D%0Asse-cgi:%20post:%20FORGED%1B%5B31m%1B%5D0;x%07"
#define FORGE_RAW "\x1b[31mFORGED\x1b]0;x\x07"

struct inject {
	const char *what;
	const char *method;
	const char *target;
	const char *headers;
	const char *body;
};

static const struct inject injections[] = {
	{ "channel", "GET", "/cgi-bin/events.fcgi?channel=" FORGE, NULL, NULL },
	{ "since", "GET", "/cgi-bin/events.fcgi?channel=inj&since=" FORGE, NULL, NULL },
	{ "other query", "GET", "/cgi-bin/events.fcgi?channel=inj&x=" FORGE, NULL, NULL },
	{ "path info", "GET", "/cgi-bin/events.fcgi/" FORGE "?channel=inj", NULL, NULL },
	{ "Last-Event-ID encoded", "GET", "/cgi-bin/events.fcgi?channel=inj",
	  "Last-Event-ID: " FORGE "\r\n", NULL },
	{ "Last-Event-ID raw ESC", "GET", "/cgi-bin/events.fcgi?channel=inj",
	  "Last-Event-ID: 1" FORGE_RAW "\r\n", NULL },
	{ "User-Agent raw ESC", "GET", "/cgi-bin/events.fcgi?channel=inj",
	  "User-Agent: " FORGE_RAW "\r\n", NULL },
	{ "post channel", "POST", POST_URL, FORM, "user=u&text=t&channel=" FORGE },
	{ "post user", "POST", POST_URL, FORM, "user=" FORGE "&text=t" },
	{ "post text", "POST", POST_URL, FORM, "user=u&text=I-inject" FORGE },
	{ "post text CRLF", "POST", POST_URL, FORM,
	  "user=u&text=I-inject%0D%0Asse-cgi:%20post:%20FORGED%0D%0A" },
	{ "post JSON", "POST", POST_URL, JSON,
	  "{\"user\":\"u\",\"text\":\"I-inject\\r\\nsse-cgi: post: FORGED\\u001b[31m\"}" },
	{ "post path info", "POST", POST_URL "/" FORGE, FORM, "user=u&text=I-inject-path" },
	{ "post Origin", "POST", POST_URL, FORM "Origin: http://x" FORGE "\r\n", "user=u&text=t" },
	{ "post Origin raw", "POST", POST_URL, FORM "Origin: http://x" FORGE_RAW "\r\n",
	  "user=u&text=t" },
	{ "post Referer", "POST", POST_URL,
	  FORM "Accept: text/html\r\nReferer: http://127.0.0.1/" FORGE "\r\n", "user=u&text=I-ref" },
	{ "post Content-Type", "POST", POST_URL,
	  "Content-Type: application/x-www-form-urlencoded; charset=" FORGE "\r\n", "user=u&text=t" },
	{ "post Content-Type raw", "POST", POST_URL,
	  "Content-Type: application/json" FORGE_RAW "\r\n", "{}" },
	{ "post Content-Length", "POST", POST_URL, FORM "Content-Length: 1" FORGE "\r\n", NULL },
	{ "post method", "FORGED", POST_URL "?" FORGE, NULL, NULL },
	/* 0x9B is CSI to an 8-bit terminal; Apache lets such bytes through headers. */
	{ "C1 CSI in the query", "GET", "/cgi-bin/events.fcgi?channel=inj&x=%9B31mFORGED", NULL,
	  NULL },
	{ "C1 CSI raw in a header", "GET", "/cgi-bin/events.fcgi?channel=inj",
	  "Last-Event-ID: 1\x9b" "31mFORGED\r\nUser-Agent: \x9b" "2J\r\n", NULL },
	{ "C1 CSI in a post", "POST", POST_URL, FORM "User-Agent: \x9b" "31m\r\n",
	  "user=%9B31m&text=%C2%9B31mFORGED" },
};

static int run_injections(struct it *t)
{
	int answered = 0;
	struct strbuf req = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_LEN(injections); i++) {
		const struct inject *c = &injections[i];
		sb_reset(&req);
		sb_printf(&req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s", c->method, c->target,
		          t->port, c->headers ? c->headers : "");
		if (c->body != NULL)
			sb_printf(&req, "Content-Length: %zu\r\n", strlen(c->body));
		sb_puts(&req, "\r\n");
		if (c->body != NULL)
			sb_puts(&req, c->body);
		struct http h;
		send_raw(&h, t, &req);
		/* A live stream is closed once it has begun; the rest end by themselves. */
		long long deadline = tu_now_ms() + 15000;
		while (!h.eof && strstr(sb_str(&h.in), ": live\n") == NULL && tu_now_ms() < deadline)
			http_pump(&h, 50);
		if (!h.eof && strstr(sb_str(&h.in), ": live\n") == NULL)
			fail_msg("%s: no answer in 15 s", c->what);
		int status = http_status(&h);
		if (status == 0 || status == 500)
			fail_msg("%s: status %d: %.300s", c->what, status, sb_str(&h.in));
		answered++;
		http_close(&h);
	}
	sb_free(&req);
	return answered;
}

static void test_nothing_raw_reaches_the_log(void **state)
{
	struct it *t = *state;
	ensure_config(t, base_conf, NULL);
	long long from = log_size(t);
	/* Once with the database there, once with it gone: then every request logs. */
	int n = run_injections(t);
	assert_int_equal(tu_sh("mv '%s/data' '%s/data.away'", t->site, t->site), 0);
	n += run_injections(t);
	assert_int_equal(tu_sh("mv '%s/data.away' '%s/data'", t->site, t->site), 0);
	assert_int_equal(wait_site_at_most(t, "events.fcgi", 0, 3 * KEEPALIVE_MS + 4000), 0);
	usleep(300000);   /* the last lines reach the log */
	size_t len;
	char *log = log_from(t, from, &len);
	int ours = 0, forged_lines = 0, escaped = 0;
	if (memchr(log, 0x1b, len) != NULL)
		fail_msg("error.log has a raw ESC byte:\n%.2000s", log);
	if (memchr(log, '\r', len) != NULL)
		fail_msg("error.log has a raw CR byte:\n%.2000s", log);
	if (memchr(log, 0x07, len) != NULL)
		fail_msg("error.log has a raw BEL byte:\n%.2000s", log);
	if (memchr(log, 0x9b, len) != NULL)
		fail_msg("error.log has a raw 8-bit CSI byte:\n%.2000s", log);
	char *save = NULL;
	for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *own = strstr(line, "sse-cgi: ");
		ours += own != NULL;
		if (strstr(line, "FORGED") == NULL)
			continue;
		escaped++;
		/* The first "sse-cgi:" of a line is the program's own prefix. */
		if (own != NULL && (strncmp(own, "sse-cgi: post: FORGED", 21) == 0 ||
		                    strncmp(own, "sse-cgi: events: FORGED", 23) == 0)) {
			forged_lines++;
			fprintf(stderr, "forged: %s\n", line);
		}
	}
	free(log);
	if (forged_lines > 0)
		fail_msg("%d forged 'sse-cgi:' lines in the error log", forged_lines);
	if (ours == 0)
		fail_msg("no sse-cgi line was logged: the test reached no logging code");
	print_message("it[%s] log: %d requests with CR/LF/ESC/BEL/CSI in query, path, headers "
	              "and bodies; %d sse-cgi lines logged, %d lines mention the payload (escaped), "
	              "no raw control byte, no forged line\n", t->mode, n, ours, escaped);
	t->test_done = true;
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test_teardown(test_locked_database, teardown_common),
		cmocka_unit_test_teardown(test_disk_full, teardown_disk_full),
		cmocka_unit_test_teardown(test_database_deleted_or_replaced, teardown_common),
		cmocka_unit_test_teardown(test_post_killed_during_burst, teardown_common),
		cmocka_unit_test_teardown(test_stream_signals_lose_nothing, teardown_common),
		cmocka_unit_test_teardown(test_slow_client, teardown_common),
		cmocka_unit_test_teardown(test_nothing_raw_reaches_the_log, teardown_common),
		cmocka_unit_test_teardown(test_oversized_and_unwanted_input, teardown_common),
		cmocka_unit_test_teardown(test_stream_cap_under_abuse, teardown_common),
	};
	/* SSE_IT_ONLY=test_slow_client (a cmocka pattern) runs a part. */
	if (getenv("SSE_IT_ONLY") != NULL)
		cmocka_set_test_filter(getenv("SSE_IT_ONLY"));
	char name[64];
	snprintf(name, sizeof(name), "Apache fault injection (%s)",
	         getenv("SSE_IT_MODE") ? getenv("SSE_IT_MODE") : "fcgid");
	return _cmocka_run_group_tests(name, all, ARRAY_LEN(all), group_setup, group_teardown);
}
