/*
 * test_cases: the stream rules of docs/PROTOCOL.md written once, as small
 * declarative cases (tests/cases/NAME.case; the format is described in
 * tests/cases/README.md), and run against every way events.fcgi serves a
 * stream:
 *
 *   cgi      a CGI child process per request: its environment, its stdout
 *   fastcgi  libfcgi FastCGI processes sharing one listening socket, as
 *            spawn-fcgi -F N and mod_fcgid run them (one more than the
 *            streams a case holds open), spoken to over FastCGI
 *   hub      one `events.fcgi --listen unix:PATH` process for every stream
 *            (our own FastCGI layer), spoken to over FastCGI
 *
 * Each (case, mode) pair is one cmocka test on a fresh site (tu_make_site),
 * so a case pins behaviour from outside, whatever serves the stream.  Every
 * process a test starts is stopped by its pid and must exit with status 0
 * (with nothing from a sanitizer in its error log).
 *
 *   build/tests/test_cases [tests/cases/NAME.case ...]   some cases only
 *   SSE_TEST_MODES="hub cgi"                              some modes only
 *   SSE_TEST_CASES=DIR                                    another folder
 *   SSE_TEST_JOBS=N          tests run at once in worker processes (3);
 *                            1: one after another in this process
 */
#include "fcgiclient.h"

#include <ctype.h>
#include <fnmatch.h>
#include <strings.h>

#include "feed.h"
#include "redisutil.h"

#define WAIT_MS 5000        /* the default bound for anything to arrive */
#define MAX_HOLDS 4         /* streams a case may hold open */
#define MAX_HEADERS 8       /* request headers of a case */
#define MAX_ENV 48
#define FIRST_FRAME_MIN 128 /* PROTOCOL.md, Frames: the first frame's padding */

enum mode { MODE_CGI, MODE_FASTCGI, MODE_HUB, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = { "cgi", "fastcgi", "hub" };

/* The feed's engine under every stream (SSE_TEST_ENGINE; sqlite unless
 * told): with redis, each test gets its own database of one server. */
enum engine { ENGINE_SQLITE, ENGINE_REDIS, ENGINE_COUNT };
static const char *const engine_names[ENGINE_COUNT] = { "sqlite", "redis" };
static enum engine engine;
static struct tu_redis redis;

/* ---- the cases ---------------------------------------------------------- */

enum op {
	OP_CONFIG, OP_ENV, OP_FILE, OP_SECRET, OP_MODES, OP_ENGINES, /* setup */
	OP_PUBLISH, OP_BURST, OP_HOLD, OP_REMOVE, OP_SIGNAL, /* any time */
	OP_REQUEST, OP_REQUEST_HEADER,                     /* the request */
	OP_STATUS, OP_STREAM_HEADERS, OP_HEADER, OP_NO_HEADER,
	OP_BODY_LIKE, OP_FRAMES, OP_OPEN, OP_ENDS,         /* the answer */
};

static const struct { const char *word; enum op op; } keywords[] = {
	{ "config", OP_CONFIG }, { "env", OP_ENV }, { "file", OP_FILE },
	{ "secret", OP_SECRET },
	{ "modes", OP_MODES }, { "engines", OP_ENGINES },
	{ "publish", OP_PUBLISH },
	{ "publish-burst", OP_BURST }, { "hold", OP_HOLD },
	{ "remove", OP_REMOVE }, { "signal", OP_SIGNAL },
	{ "request", OP_REQUEST }, { "request-header", OP_REQUEST_HEADER },
	{ "status", OP_STATUS }, { "stream-headers", OP_STREAM_HEADERS },
	{ "header", OP_HEADER }, { "no-header", OP_NO_HEADER },
	{ "body-like", OP_BODY_LIKE }, { "frames", OP_FRAMES },
	{ "open", OP_OPEN }, { "ends", OP_ENDS },
};

static const char *op_word(enum op op)
{
	for (size_t k = 0; k < ARRAY_LEN(keywords); k++)
		if (keywords[k].op == op)
			return keywords[k].word;
	return "?";
}

/* One expected line of a `frames` block (its LF included in text). */
struct want_line {
	struct strbuf text;
	bool padding;          /* `| : <padding>`: the first frame's padding */
};

struct step {
	enum op op;
	int line;
	char *arg[2];          /* words (channel, event; method, query; ...) */
	char *rest;            /* the rest of the line, as written */
	struct strbuf data;    /* the rest with its escapes decoded */
	long ms[2];            /* open MS; frames within MS; ends MIN..MAX */
	long count;            /* publish-burst */
	struct want_line *lines;
	size_t nlines;
};

struct case_file {
	char path[PATH_MAX];
	const char *name;      /* the file name, without the folder */
	unsigned modes;        /* a bit per mode it runs in */
	unsigned engines;      /* a bit per engine it runs on */
	struct step *steps;
	size_t nsteps;
	char error[600];       /* why it could not be read ("" when it could) */
};

/* Decodes the escapes of a case file: \\ \s \t \n \r \xHH. */
static bool unescape(const char *in, struct strbuf *out, char *why, size_t len)
{
	for (const char *p = in; *p; p++) {
		if (*p != '\\') {
			sb_putc(out, *p);
			continue;
		}
		p++;
		switch (*p) {
		case '\\': sb_putc(out, '\\'); break;
		case 's': sb_putc(out, ' '); break;
		case 't': sb_putc(out, '\t'); break;
		case 'n': sb_putc(out, '\n'); break;
		case 'r': sb_putc(out, '\r'); break;
		case 'x': {
			char hex[3] = { p[1], p[1] ? p[2] : 0, 0 };
			char *end;
			unsigned long v = strtoul(hex, &end, 16);
			if (end != hex + 2 || v == 0) {
				snprintf(why, len, "bad escape \\x%s (two hex digits, not 00)", hex);
				return false;
			}
			sb_putc(out, (char)v);
			p += 2;
			break;
		}
		default:
			snprintf(why, len, "unknown escape \\%c (known: \\\\ \\s \\t \\n \\r \\xHH)",
			         *p ? *p : '0');
			return false;
		}
	}
	return true;
}

/* The next word of *p (spaces apart); *p moves past it and the spaces after. */
static char *next_word(const char **p)
{
	const char *s = *p;
	size_t n = strcspn(s, " ");
	char *word = strndup(s, n);
	s += n;
	s += strspn(s, " ");
	*p = s;
	return word;
}

/* "700..1600" or "1600": milliseconds; false when it is neither. */
static bool parse_ms(const char *s, long *lo, long *hi)
{
	char *end;
	*lo = strtol(s, &end, 10);
	if (end == s || *lo < 0)
		return false;
	if (*end == '\0') {
		*hi = -1;
		return true;
	}
	if (strncmp(end, "..", 2) != 0)
		return false;
	const char *h = end + 2;
	*hi = strtol(h, &end, 10);
	return end != h && *end == '\0' && *hi >= *lo;
}

static void case_error(struct case_file *cf, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void case_error(struct case_file *cf, int line, const char *fmt, ...)
{
	if (cf->error[0] != '\0')
		return;   /* the first one says enough */
	int n = snprintf(cf->error, sizeof(cf->error), "%s:%d: ", cf->path, line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cf->error + n, sizeof(cf->error) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The step's arguments from the rest of its line; false (with the reason
 * in cf->error) when they are wrong. */
static bool parse_args(struct case_file *cf, struct step *s, const char *rest)
{
	char why[200] = "";
	const char *p = rest;
	s->rest = strdup(rest);
	s->ms[0] = WAIT_MS;
	s->ms[1] = -1;
	switch (s->op) {
	case OP_SIGNAL:
		if (strcmp(rest, "TERM") != 0 && strcmp(rest, "USR1") != 0 &&
		    strcmp(rest, "INT") != 0 && strcmp(rest, "STOP") != 0 &&
		    strcmp(rest, "CONT") != 0) {
			case_error(cf, s->line, "signal wants TERM, USR1, INT, STOP or CONT");
			return false;
		}
		return true;
	case OP_BURST: {
		char *end;
		s->count = strtol(p, &end, 10);
		if (end == p || *end != ' ' || s->count < 1 || s->count > 100000) {
			case_error(cf, s->line, "publish-burst wants N CHANNEL EVENT PREFIX");
			return false;
		}
		p = end + strspn(end, " ");
		s->arg[0] = next_word(&p);
		s->arg[1] = next_word(&p);
		if (*s->arg[1] == '\0') {
			case_error(cf, s->line, "publish-burst wants N CHANNEL EVENT PREFIX");
			return false;
		}
		if (!unescape(p, &s->data, why, sizeof(why))) {
			case_error(cf, s->line, "%s", why);
			return false;
		}
		return true;
	}
	case OP_CONFIG:
	case OP_ENV:
	case OP_REMOVE:
	case OP_STATUS:
	case OP_HEADER:
	case OP_NO_HEADER:
		if (*rest == '\0') {
			case_error(cf, s->line, "%s needs an argument", op_word(s->op));
			return false;
		}
		if (s->op == OP_ENV && strchr(rest, '=') == NULL) {
			case_error(cf, s->line, "env wants NAME=VALUE");
			return false;
		}
		return true;
	case OP_FILE:
	case OP_SECRET:
	case OP_PUBLISH:
		s->arg[0] = next_word(&p);
		if (s->op == OP_PUBLISH)
			s->arg[1] = next_word(&p);
		if (*s->arg[0] == '\0' || (s->op == OP_PUBLISH && *s->arg[1] == '\0')) {
			case_error(cf, s->line, "%s", s->op == OP_PUBLISH
			           ? "publish wants CHANNEL EVENT DATA"
			           : "file and secret want PATH TEXT");
			return false;
		}
		/* the data is the rest of the line, as for body-like */
		/* fallthrough */
	case OP_BODY_LIKE:
		if (!unescape(p, &s->data, why, sizeof(why))) {
			case_error(cf, s->line, "%s", why);
			return false;
		}
		return true;
	case OP_REQUEST:
		s->arg[0] = next_word(&p);
		s->arg[1] = next_word(&p);
		if (*s->arg[0] == '\0' || *p != '\0') {
			case_error(cf, s->line, "request wants METHOD [QUERY]");
			return false;
		}
		return true;
	case OP_REQUEST_HEADER:
		if (strchr(rest, ':') == NULL) {
			case_error(cf, s->line, "request-header wants Name: value");
			return false;
		}
		return true;
	case OP_HOLD:
	case OP_STREAM_HEADERS:
		if (*rest != '\0') {
			case_error(cf, s->line, "%s takes no argument", op_word(s->op));
			return false;
		}
		return true;
	case OP_FRAMES:
		if (*rest == '\0')
			return true;
		if (strncmp(rest, "within ", 7) == 0 && parse_ms(rest + 7, &s->ms[0], &s->ms[1]) &&
		    s->ms[1] < 0)
			return true;
		case_error(cf, s->line, "frames takes nothing or `within MS`");
		return false;
	case OP_OPEN:
		if (parse_ms(rest, &s->ms[0], &s->ms[1]) && s->ms[1] < 0)
			return true;
		case_error(cf, s->line, "open wants MS: how long nothing more may come");
		return false;
	case OP_ENDS:
		s->ms[0] = -1;
		if (*rest == '\0' || (parse_ms(rest, &s->ms[0], &s->ms[1]) && s->ms[1] >= 0))
			return true;
		case_error(cf, s->line, "ends takes nothing or MIN..MAX (ms since the request)");
		return false;
	case OP_MODES:
	case OP_ENGINES:
		break;
	}
	return true;
}

/*
 * `modes cgi fastcgi -- why the hub is left out`, and the same for
 * `engines sqlite -- why Redis is left out`: the words name bits of names.
 */
static unsigned parse_subset(struct case_file *cf, int line, const char *rest,
                             const char *what, const char *const *names,
                             int count)
{
	const char *dash = strstr(rest, " -- ");
	if (dash == NULL || dash[4] == '\0') {
		case_error(cf, line, "%s wants WORD... -- the reason the others are left out",
		           what);
		return 0;
	}
	unsigned set = 0;
	char *words = strndup(rest, (size_t)(dash - rest));
	const char *p = words;
	while (*p) {
		char *w = next_word(&p);
		int m = 0;
		while (m < count && strcmp(w, names[m]) != 0)
			m++;
		if (m == count)
			case_error(cf, line, "%s: unknown word '%s'", what, w);
		else
			set |= 1u << m;
		free(w);
	}
	free(words);
	return set;
}

/* Where in a case each directive may stand. */
static void check_order(struct case_file *cf)
{
	bool requested = false, answered = false;
	for (size_t i = 0; i < cf->nsteps; i++) {
		const struct step *s = &cf->steps[i];
		switch (s->op) {
		case OP_CONFIG: case OP_ENV: case OP_FILE: case OP_SECRET: case OP_MODES:
		case OP_ENGINES: case OP_HOLD:
			if (requested)
				case_error(cf, s->line, "%s belongs before the request",
				           op_word(s->op));
			break;
		case OP_PUBLISH: case OP_BURST: case OP_REMOVE:
			break;
		case OP_SIGNAL:
			if (!requested)
				case_error(cf, s->line, "signal belongs after the request");
			break;
		case OP_REQUEST:
			if (requested)
				case_error(cf, s->line, "one request per case");
			requested = true;
			break;
		case OP_REQUEST_HEADER:
			if (!requested || answered || (cf->steps[i - 1].op != OP_REQUEST_HEADER &&
			                               cf->steps[i - 1].op != OP_REQUEST))
				case_error(cf, s->line, "request-header belongs right after request");
			break;
		default:
			if (!requested)
				case_error(cf, s->line, "%s before any request", op_word(s->op));
			answered = true;
			break;
		}
	}
	const struct step *last = cf->nsteps ? &cf->steps[cf->nsteps - 1] : NULL;
	if (last == NULL || (last->op != OP_OPEN && last->op != OP_ENDS))
		case_error(cf, last ? last->line : 1,
		           "a case ends with `ends` or `open MS`: say what the stream does");
}

static void case_load(struct case_file *cf)
{
	cf->modes = (1u << MODE_COUNT) - 1;
	cf->engines = (1u << ENGINE_COUNT) - 1;
	const char *slash = strrchr(cf->path, '/');
	cf->name = slash ? slash + 1 : cf->path;
	FILE *f = fopen(cf->path, "r");
	if (f == NULL) {
		case_error(cf, 0, "cannot open: %s", strerror(errno));
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	struct step *block = NULL;   /* the `frames` step `|` lines add to */
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (strchr(line, '\r') != NULL || (n > 0 && line[n - 1] == ' ')) {
			case_error(cf, lineno, "a CR or a trailing space (write \\r, \\s)");
			continue;
		}
		if (line[0] == '|') {
			if (block == NULL || (line[1] != '\0' && line[1] != ' ')) {
				case_error(cf, lineno, block ? "`|` then a space, then the line"
				           : "`|` lines belong right after `frames`");
				continue;
			}
			block->lines = realloc(block->lines, (block->nlines + 1) * sizeof(*block->lines));
			struct want_line *w = &block->lines[block->nlines++];
			memset(w, 0, sizeof(*w));
			const char *text = line[1] ? line + 2 : "";
			char why[200];
			w->padding = strcmp(text, ": <padding>") == 0;
			if (!w->padding && !unescape(text, &w->text, why, sizeof(why)))
				case_error(cf, lineno, "%s", why);
			sb_putc(&w->text, '\n');
			continue;
		}
		if (block != NULL && block->nlines == 0)
			case_error(cf, block->line, "frames without `|` lines");
		block = NULL;
		if (line[0] == '\0' || line[0] == '#')
			continue;
		const char *p = line;
		char *word = next_word(&p);
		size_t k = 0;
		while (k < ARRAY_LEN(keywords) && strcmp(word, keywords[k].word) != 0)
			k++;
		free(word);
		if (k == ARRAY_LEN(keywords)) {
			case_error(cf, lineno, "unknown directive: %s", line);
			continue;
		}
		if (keywords[k].op == OP_MODES) {
			cf->modes = parse_subset(cf, lineno, p, "modes", mode_names,
			                         MODE_COUNT);
			continue;
		}
		if (keywords[k].op == OP_ENGINES) {
			cf->engines = parse_subset(cf, lineno, p, "engines", engine_names,
			                           ENGINE_COUNT);
			continue;
		}
		cf->steps = realloc(cf->steps, (cf->nsteps + 1) * sizeof(*cf->steps));
		struct step *s = &cf->steps[cf->nsteps++];
		memset(s, 0, sizeof(*s));
		s->op = keywords[k].op;
		s->line = lineno;
		parse_args(cf, s, p);
		if (s->op == OP_FRAMES)
			block = s;
	}
	if (block != NULL && block->nlines == 0)
		case_error(cf, block->line, "frames without `|` lines");
	free(line);
	fclose(f);
	check_order(cf);
}

static void case_free(struct case_file *cf)
{
	for (size_t i = 0; i < cf->nsteps; i++) {
		struct step *s = &cf->steps[i];
		free(s->arg[0]);
		free(s->arg[1]);
		free(s->rest);
		sb_free(&s->data);
		for (size_t k = 0; k < s->nlines; k++)
			sb_free(&s->lines[k].text);
		free(s->lines);
	}
	free(cf->steps);
}

/* ---- one answer, as its client reads it ----------------------------------- */

struct conn {
	pid_t pid;               /* CGI: the child process, 0 once reaped */
	int fd;                  /* its stdout, or the FastCGI connection */
	bool fastcgi;
	struct strbuf raw;       /* FastCGI bytes not yet whole records */
	struct strbuf out;       /* what the client got: headers, then body */
	size_t body;             /* where the body starts in out (0: not yet) */
	size_t pos;              /* the first byte no step has checked */
	bool ended;              /* CGI: end of file; FastCGI: END_REQUEST */
	bool closed;             /* FastCGI: the connection closed */
	int protocol_status;     /* of END_REQUEST */
	long long sent_ms, ended_ms;
};

static void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Whole FastCGI records from raw: STDOUT into out, END_REQUEST ends. */
static void conn_records(struct conn *c)
{
	size_t pos = 0;
	while (c->raw.len - pos >= 8) {
		const unsigned char *h = (const unsigned char *)c->raw.data + pos;
		size_t clen = (size_t)h[4] << 8 | h[5], total = 8 + clen + h[6];
		if (c->raw.len - pos < total)
			break;
		if (h[1] == FCGI_STDOUT && !c->ended)
			sb_append(&c->out, h + 8, clen);
		if (h[1] == FCGI_END && !c->ended) {
			c->ended = true;
			c->ended_ms = tu_now_ms();
			c->protocol_status = clen >= 5 ? h[8 + 4] : -1;
		}
		pos += total;
	}
	memmove(c->raw.data, c->raw.data + pos, c->raw.len - pos);
	sb_truncate(&c->raw, c->raw.len - pos);
}

/* Waits until deadline for bytes and takes what came; false on timeout. */
static bool conn_pump(struct conn *c, long long deadline)
{
	if (c->fd < 0 || c->closed || (c->ended && !c->fastcgi))
		return false;
	long long left = deadline - tu_now_ms();
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	if (poll(&pfd, 1, left > 0 ? (int)left : 0) <= 0)
		return false;
	char buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (c->fastcgi) {
			c->closed = true;
		} else {
			c->ended = true;
			c->ended_ms = tu_now_ms();
		}
		return true;
	}
	if (c->fastcgi) {
		sb_append(&c->raw, buf, (size_t)n);
		conn_records(c);
	} else {
		sb_append(&c->out, buf, (size_t)n);
	}
	if (c->body == 0) {
		const char *end = strstr(sb_str(&c->out), "\r\n\r\n");
		if (end != NULL)
			c->body = c->pos = (size_t)(end - c->out.data) + 4;
	}
	return true;
}

static bool conn_over(const struct conn *c)
{
	return c->ended || c->closed;
}

/* ---- one case in one mode ------------------------------------------------ */

struct run {
	const struct case_file *cf;
	enum mode mode;
	char dir[PATH_MAX];
	char events[PATH_MAX + 32], sock[PATH_MAX + 32], log[PATH_MAX + 32];
	char db[2 * PATH_MAX];
	long retention;
	const char *env[MAX_ENV];    /* the case's `env` lines */
	int nenv;
	pid_t servers[MAX_HOLDS + 1];
	int nservers;
	struct conn holds[MAX_HOLDS];
	int nholds;
	struct conn req;
	const struct step *request;
	const char *headers[MAX_HEADERS];   /* request-header lines */
	int nheaders;
	struct feed *feed;           /* the harness's writer */
	int index;                   /* its test's: the Redis database number */
	int line;                    /* the step being run */
};

static struct run *current;      /* for teardown, when a check failed */

/* Where a failure's text is put together (a check that fails does not
 * come back to free its buffers: this one stays reachable). */
static struct strbuf scratch_buf = STRBUF_INIT;
static struct strbuf *scratch(void)
{
	sb_reset(&scratch_buf);
	return &scratch_buf;
}

/* out, shown as `|` lines (as a case would write it). */
static void show_lines(struct strbuf *msg, const char *s, size_t len)
{
	const char *end = s + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		if (nl != NULL && n >= 2 && s[0] == ':' && strspn(s + 1, " ") == n - 1) {
			sb_puts(msg, "| : <padding>\n");   /* its size is checked apart */
			s += n + 1;
			continue;
		}
		sb_puts(msg, n ? "| " : "|");
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)s[i];
			if (ch == '\r')
				sb_puts(msg, "\\r");
			else if (ch == '\\')
				sb_puts(msg, "\\\\");
			else if (ch == ' ' && i == n - 1)
				sb_puts(msg, "\\s");
			else if (ch < 0x20 || ch == 0x7f)
				sb_printf(msg, "\\x%02x", ch);
			else
				sb_putc(msg, (char)ch);
		}
		sb_puts(msg, nl ? "\n" : "   (no LF yet)\n");
		s += n + (nl ? 1 : 0);
	}
}

/* Fails the test: the case, the mode, the line, the reason, the error log. */
static void run_fail(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void run_fail(struct run *r, const char *fmt, ...)
{
	static char text[16384];
	struct strbuf msg = STRBUF_INIT;   /* freed below: fail_msg gets a copy */
	sb_printf(&msg, "%s [%s] line %d: ", r->cf->path, mode_names[r->mode], r->line);
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&msg, fmt, ap);
	va_end(ap);
	FILE *f = r->log[0] ? fopen(r->log, "r") : NULL;
	if (f != NULL) {
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if (n > 0)
			sb_printf(&msg, "\n-- the binaries' error log:\n%s", buf);
	}
	snprintf(text, sizeof(text), "%s", sb_str(&msg));
	sb_free(&msg);
	fail_msg("%s", text);
	abort();   /* fail_msg does not return */
}

/* The parameters every request carries, CGI or FastCGI alike. */
static void put_params(const char *method, const char *query,
                       const char *const *headers, int nheaders,
                       void (*put)(void *ctx, const char *name, const char *value),
                       void *ctx)
{
	put(ctx, "GATEWAY_INTERFACE", "CGI/1.1");
	put(ctx, "SERVER_PROTOCOL", "HTTP/1.1");
	put(ctx, "REQUEST_METHOD", method);
	put(ctx, "QUERY_STRING", query);
	put(ctx, "SCRIPT_NAME", "/cgi-bin/events.fcgi");
	put(ctx, "HTTP_HOST", "localhost");
	put(ctx, "REMOTE_ADDR", "127.0.0.1");
	for (int i = 0; i < nheaders; i++) {
		const char *colon = strchr(headers[i], ':');
		char name[128] = "HTTP_";
		size_t n = 5;
		for (const char *p = headers[i]; p < colon && n < sizeof(name) - 1; p++)
			name[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		name[n] = '\0';
		const char *value = colon + 1;
		value += strspn(value, " ");
		put(ctx, name, value);
	}
}

struct cgi_env {
	char *vars[MAX_ENV + 1];
	int n;
};

static void env_put(void *ctx, const char *name, const char *value)
{
	struct cgi_env *e = ctx;
	assert_true(e->n < MAX_ENV);
	size_t len = strlen(name) + strlen(value) + 2;
	e->vars[e->n] = malloc(len);
	snprintf(e->vars[e->n], len, "%s=%s", name, value);
	e->vars[++e->n] = NULL;
}

static void pair_put(void *ctx, const char *name, const char *value)
{
	put_pair(ctx, name, value);
}

/* Opens the stream (or whatever the answer is) in the run's mode. */
static void conn_open(struct run *r, struct conn *c, const char *method,
                      const char *query, const char *const *headers, int nheaders)
{
	conn_init(c);
	if (r->mode == MODE_CGI) {
		struct cgi_env e = { .n = 0 };
		e.vars[0] = NULL;
		put_params(method, query, headers, nheaders, env_put, &e);
		static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
		                                    "LSAN_OPTIONS" };
		for (size_t i = 0; i < ARRAY_LEN(pass); i++)
			if (getenv(pass[i]) != NULL)
				env_put(&e, pass[i], getenv(pass[i]));
		for (int i = 0; i < r->nenv; i++) {
			assert_true(e.n < MAX_ENV);
			e.vars[e.n] = strdup(r->env[i]);
			e.vars[++e.n] = NULL;
		}
		/* The child's stderr is the site's error log, as under Apache. */
		fflush(stderr);
		int saved = dup(2), log = open(r->log, O_WRONLY | O_APPEND | O_CREAT, 0644);
		assert_true(saved >= 0 && log >= 0);
		dup2(log, 2);
		close(log);
		char *argv[] = { r->events, NULL };
		struct tu_proc p;
		tu_spawn(&p, argv, e.vars, NULL);
		dup2(saved, 2);
		close(saved);
		for (int i = 0; i < e.n; i++)
			free(e.vars[i]);
		c->pid = p.pid;
		c->fd = p.out_fd;
		fcntl(c->fd, F_SETFD, FD_CLOEXEC);   /* not for later children */
	} else {
		c->fastcgi = true;
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, r->sock, strlen(r->sock) + 1);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			run_fail(r, "connect %s: %s", r->sock, strerror(errno));
		struct strbuf rec = STRBUF_INIT, params = STRBUF_INIT;
		unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };  /* responder */
		put_record(&rec, FCGI_BEGIN, begin, 8);
		put_params(method, query, headers, nheaders, pair_put, &params);
		put_record(&rec, FCGI_PARAMS, params.data, params.len);
		put_record(&rec, FCGI_PARAMS, "", 0);
		put_record(&rec, FCGI_STDIN, "", 0);
		ssize_t n = write(c->fd, rec.data, rec.len);
		bool ok = n == (ssize_t)rec.len;
		sb_free(&rec);
		sb_free(&params);
		if (!ok)
			run_fail(r, "could not send the request: %s", strerror(errno));
	}
	c->sent_ms = tu_now_ms();
}

/* Starts one server process of the run's mode (fd 0: listen_fd, if any). */
static void server_spawn(struct run *r, int listen_fd)
{
	char addr[PATH_MAX + 64];
	snprintf(addr, sizeof(addr), "unix:%s", r->sock);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int log = open(r->log, O_WRONLY | O_APPEND | O_CREAT, 0644);
		dup2(listen_fd >= 0 ? listen_fd : null, 0);
		dup2(null, 1);
		dup2(log, 2);
		for (int i = 0; i < r->nenv; i++)
			putenv((char *)r->env[i]);
		if (r->mode == MODE_HUB)
			execl(r->events, r->events, "--listen", addr, (char *)NULL);
		else
			execl(r->events, r->events, (char *)NULL);
		_exit(127);
	}
	r->servers[r->nservers++] = pid;
}

static void servers_start(struct run *r, int holds)
{
	if (r->mode == MODE_FASTCGI) {
		/* spawn-fcgi -F N: every process accepts on the one socket, and
		 * each one serves one request at a time. */
		snprintf(r->sock, sizeof(r->sock), "%s/fcgi.sock", r->dir);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, r->sock, strlen(r->sock) + 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(fd, 64), 0);
		for (int i = 0; i <= holds; i++)
			server_spawn(r, fd);
		close(fd);
	} else if (r->mode == MODE_HUB) {
		/* It binds the socket itself: wait until it takes connections. */
		snprintf(r->sock, sizeof(r->sock), "%s/hub.sock", r->dir);
		server_spawn(r, -1);
		long long deadline = tu_now_ms() + WAIT_MS;
		for (;;) {
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			memcpy(sa.sun_path, r->sock, strlen(r->sock) + 1);
			int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
			close(fd);
			if (rc == 0)
				break;
			if (!tu_pid_alive(r->servers[0]) || tu_now_ms() > deadline)
				run_fail(r, "events.fcgi --listen unix:%s never listened", r->sock);
			usleep(5000);
		}
	}
}

/* The header block of c, waiting for it. */
static void need_headers(struct run *r, struct conn *c)
{
	long long deadline = tu_now_ms() + WAIT_MS;
	while (c->body == 0 && !conn_over(c) && tu_now_ms() < deadline)
		conn_pump(c, deadline);
	if (c->body == 0) {
		struct strbuf *msg = scratch();
		show_lines(msg, c->out.data ? c->out.data : "", c->out.len);
		run_fail(r, "no header block (%s); got:\n%s",
		         conn_over(c) ? "the answer ended" : "timed out", sb_str(msg));
	}
}

/* The value of a response header (name case-insensitive), or NULL. */
static const char *header_value(const struct conn *c, const char *name, char *buf,
                                size_t len)
{
	size_t n = strlen(name);
	const char *p = c->out.data, *end = c->out.data + c->body - 2;
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL || eol >= end)
			break;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			v += strspn(v, " ");
			snprintf(buf, len, "%.*s", (int)(eol - v), v);
			return buf;
		}
		p = eol + 2;
	}
	return NULL;
}

static void check_header(struct run *r, const char *spec, bool present)
{
	struct conn *c = &r->req;
	need_headers(r, c);
	char name[128], got[512];
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	snprintf(name, sizeof(name), "%.*s", (int)n, spec);
	const char *value = header_value(c, name, got, sizeof(got));
	if (!present) {
		if (value != NULL)
			run_fail(r, "header %s should be absent; it is '%s'", name, value);
		return;
	}
	if (value == NULL)
		run_fail(r, "no header %s; the headers:\n%.*s", name, (int)c->body, c->out.data);
	if (colon != NULL) {
		const char *want = colon + 1 + strspn(colon + 1, " ");
		if (strcmp(value, want) != 0)
			run_fail(r, "header %s is '%s', not '%s'", name, value, want);
	}
}

/* Counts the LFs in [s, s+len). */
static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;
	for (const char *p = s; (p = memchr(p, '\n', len - (size_t)(p - s))) != NULL; p++)
		n++;
	return n;
}

/* The frame holding the padding line at `at` must be 128 bytes or more. */
static bool padded_frame_ok(const struct conn *c, size_t at, size_t *size)
{
	const char *s = c->out.data;
	size_t start = at;
	while (start > c->body && !(start >= c->body + 2 && s[start - 1] == '\n' &&
	                            s[start - 2] == '\n'))
		start--;
	const char *end = strstr(s + at, "\n\n");
	if (end == NULL)
		return false;
	*size = (size_t)(end + 2 - (s + start));
	return *size >= FIRST_FRAME_MIN;
}

static void check_frames(struct run *r, const struct step *s)
{
	struct conn *c = &r->req;
	need_headers(r, c);
	long long deadline = tu_now_ms() + s->ms[0];
	while (count_lines(c->out.data + c->pos, c->out.len - c->pos) < s->nlines &&
	       !conn_over(c) && tu_now_ms() < deadline)
		conn_pump(c, deadline);
	const char *p = c->out.data + c->pos, *end = c->out.data + c->out.len;
	const char *why = NULL;
	size_t i = 0;
	for (; i < s->nlines; i++) {
		const struct want_line *w = &s->lines[i];
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			why = conn_over(c) ? "the answer ended before" : "timed out before";
			break;
		}
		size_t len = (size_t)(nl - p) + 1, frame;
		if (w->padding) {
			if (len < 3 || p[0] != ':' || strspn(p + 1, " ") != len - 2)
				why = "not a padding line (':' and spaces)";
			else if (!padded_frame_ok(c, (size_t)(p - c->out.data), &frame))
				why = "the padded frame is shorter than 128 bytes";
		} else if (len != w->text.len || memcmp(p, w->text.data, len) != 0) {
			why = "a different line at";
		}
		if (why != NULL)
			break;
		p = nl + 1;
	}
	if (why != NULL) {
		struct strbuf *msg = scratch();
		sb_printf(msg, "frames: %s expected line %zu; expected:\n", why, i + 1);
		for (size_t k = 0; k < s->nlines; k++) {
			if (s->lines[k].padding)
				sb_puts(msg, "| : <padding>\n");
			else
				show_lines(msg, s->lines[k].text.data, s->lines[k].text.len);
		}
		sb_puts(msg, "got:\n");
		show_lines(msg, c->out.data + c->pos, c->out.len - c->pos);
		run_fail(r, "%s", sb_str(msg));
	}
	c->pos = (size_t)(p - c->out.data);
}

/* Nothing may follow what the steps checked. */
static void check_nothing_more(struct run *r, const char *after)
{
	struct conn *c = &r->req;
	if (c->out.len > c->pos) {
		struct strbuf *msg = scratch();
		show_lines(msg, c->out.data + c->pos, c->out.len - c->pos);
		run_fail(r, "%s, yet more came:\n%s", after, sb_str(msg));
	}
}

static void check_open(struct run *r, const struct step *s)
{
	struct conn *c = &r->req;
	need_headers(r, c);
	long long deadline = tu_now_ms() + s->ms[0];
	while (!conn_over(c) && tu_now_ms() < deadline)
		conn_pump(c, deadline);
	char what[64];
	snprintf(what, sizeof(what), "nothing more for %ld ms was expected", s->ms[0]);
	check_nothing_more(r, what);
	if (conn_over(c))
		run_fail(r, "the answer %s; it should stay open",
		         c->closed && !c->ended ? "was cut (no END_REQUEST)" : "ended");
}

static void wait_end(struct run *r, long max_ms)
{
	struct conn *c = &r->req;
	need_headers(r, c);
	long long deadline = tu_now_ms() + WAIT_MS;
	if (max_ms >= 0 && c->sent_ms + max_ms + 1000 > deadline)
		deadline = c->sent_ms + max_ms + 1000;
	while (!c->ended && !c->closed && tu_now_ms() < deadline)
		conn_pump(c, deadline);
	if (!c->ended)
		run_fail(r, "the answer %s", c->closed ? "was cut: the connection closed"
		         " without END_REQUEST" : "did not end");
	if (c->fastcgi && c->protocol_status != 0)
		run_fail(r, "END_REQUEST with protocol status %d", c->protocol_status);
}

static void check_ends(struct run *r, const struct step *s)
{
	struct conn *c = &r->req;
	wait_end(r, s->ms[1]);
	check_nothing_more(r, "the answer should end here");
	long long took = c->ended_ms - c->sent_ms;
	if (s->ms[1] >= 0 && (took < s->ms[0] || took > s->ms[1]))
		run_fail(r, "ended after %lld ms, not within %ld..%ld", took, s->ms[0], s->ms[1]);
	char cl[64];
	if (strcmp(r->request->arg[0], "HEAD") != 0 &&
	    header_value(c, "Content-Length", cl, sizeof(cl)) != NULL &&
	    strtoull(cl, NULL, 10) != c->out.len - c->body)
		run_fail(r, "Content-Length: %s, but the body has %zu bytes", cl,
		         c->out.len - c->body);
}

static void check_body_like(struct run *r, const struct step *s)
{
	struct conn *c = &r->req;
	wait_end(r, -1);
	const char *body = c->out.data + c->pos;
	if (fnmatch(sb_str(&s->data), body, FNM_NOESCAPE) != 0) {
		struct strbuf *msg = scratch();
		show_lines(msg, body, c->out.len - c->pos);
		run_fail(r, "the body is not like `%s`:\n%s", s->rest, sb_str(msg));
	}
	c->pos = c->out.len;
}

/* A stream held open for the whole case (taking a live place). */
static void hold(struct run *r)
{
	if (r->nholds == MAX_HOLDS)
		run_fail(r, "at most %d streams held", MAX_HOLDS);
	struct conn *c = &r->holds[r->nholds++];
	conn_open(r, c, "GET", "channel=chat", NULL, 0);
	need_headers(r, c);
	long long deadline = tu_now_ms() + WAIT_MS;
	while (strstr(c->out.data + c->body, "\n\n") == NULL && !conn_over(c) &&
	       tu_now_ms() < deadline)
		conn_pump(c, deadline);
	const char *first = c->out.data + c->body;
	const char *comment = strchr(first, '\n');
	if (comment == NULL || strncmp(comment, "\n: live\n", 8) != 0)
		run_fail(r, "the held stream is not live: %s", first);
}

/* The value of the case's last `config KEY = VALUE` line, or NULL. */
static const char *conf_value(const struct case_file *cf, const char *key)
{
	const char *value = NULL;
	size_t n = strlen(key);
	for (size_t i = 0; i < cf->nsteps; i++) {
		const char *line = cf->steps[i].rest;
		if (cf->steps[i].op != OP_CONFIG || strncmp(line, key, n) != 0)
			continue;
		const char *p = line + n + strspn(line + n, " \t");
		if (*p == '=')
			value = p + 1 + strspn(p + 1, " \t");
	}
	return value;
}

/*
 * The site as the case sets it up: cgi-bin/sse-cgi.conf (the database in
 * data/ unless the case names its own), its files, its environment; and
 * where the harness publishes, with which retention.
 */
static void write_site(struct run *r)
{
	const struct case_file *cf = r->cf;
	const char *database = conf_value(cf, "database");
	const char *retention = conf_value(cf, "retention");
	r->retention = retention != NULL ? atol(retention) : 1000;
	struct strbuf conf = STRBUF_INIT;
	sb_puts(&conf, "# written by tests/test_cases.c\n");
	if (database == NULL && engine == ENGINE_REDIS)
		sb_printf(&conf, "database = %s?db=%d\n", redis.url, r->index + 1);
	else if (database == NULL)
		sb_puts(&conf, "database = ../data/sse.db\n");
	for (size_t i = 0; i < cf->nsteps; i++)
		if (cf->steps[i].op == OP_CONFIG)
			sb_printf(&conf, "%s\n", cf->steps[i].rest);
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/cgi-bin/sse-cgi.conf", r->dir);
	tu_write_file(path, sb_str(&conf));
	sb_free(&conf);
	if (database == NULL && engine == ENGINE_REDIS)
		snprintf(r->db, sizeof(r->db), "%s?db=%d", redis.url, r->index + 1);
	else if (database == NULL)
		snprintf(r->db, sizeof(r->db), "%s/data/sse.db", r->dir);
	else if (database[0] == '/')
		snprintf(r->db, sizeof(r->db), "%s", database);
	else   /* relative to the config file's folder */
		snprintf(r->db, sizeof(r->db), "%s/cgi-bin/%s", r->dir, database);
	for (size_t i = 0; i < cf->nsteps; i++) {
		const struct step *s = &cf->steps[i];
		if (s->op == OP_FILE || s->op == OP_SECRET) {
			snprintf(path, sizeof(path), "%s/%s", r->dir, s->arg[0]);
			tu_write_file(path, sb_str(&s->data));
			if (s->op == OP_SECRET)   /* what secret.c asks of a secret */
				assert_int_equal(chmod(path, 0600), 0);
		}
		if (s->op == OP_ENV && r->nenv < MAX_ENV)
			r->env[r->nenv++] = s->rest;
	}
}

static void publish(struct run *r, const struct step *s, const char *data, size_t len)
{
	bool reopened;
	if (r->feed == NULL)
		r->feed = feed_new(r->db, "test_cases");
	if (r->feed == NULL || feed_ready(r->feed, &reopened) != STORE_OK)
		run_fail(r, "publish: cannot open %s (see the log above)", r->db);
	long long id;
	if (feed_publish(r->feed, s->arg[0], s->arg[1], data, len, r->retention,
	                 &id) != STORE_OK)
		run_fail(r, "publish failed (see the log above)");
}

/*
 * Removes a file of the site (gone already is fine).  The harness's own
 * database connection goes with it: the next publish opens the path anew,
 * as a writer process started after the removal would.
 */
static void remove_file(struct run *r, const char *name)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	if (unlink(path) != 0 && errno != ENOENT)
		run_fail(r, "remove %s: %s", path, strerror(errno));
	feed_free(r->feed);
	r->feed = NULL;
}

/* A signal to what serves the request: the CGI child, or every server
 * process (as Apache and mod_fcgid stop them). */
static void send_signal(struct run *r, const char *name)
{
	int sig = strcmp(name, "TERM") == 0 ? SIGTERM
	        : strcmp(name, "USR1") == 0 ? SIGUSR1
	        : strcmp(name, "STOP") == 0 ? SIGSTOP
	        : strcmp(name, "CONT") == 0 ? SIGCONT : SIGINT;
	if (r->mode == MODE_CGI)
		kill(r->req.pid, sig);
	for (int i = 0; i < r->nservers; i++)
		kill(r->servers[i], sig);
}

static void request_send(struct run *r)
{
	if (r->req.sent_ms == 0)
		conn_open(r, &r->req, r->request->arg[0], r->request->arg[1], r->headers,
		          r->nheaders);
}

static void run_case(struct run *r)
{
	const struct case_file *cf = r->cf;
	tu_tempdir(r->dir, sizeof(r->dir));
	tu_make_site(r->dir, NULL);
	snprintf(r->events, sizeof(r->events), "%s/cgi-bin/events.fcgi", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/error.log", r->dir);
	write_site(r);
	int holds = 0;
	for (size_t i = 0; i < cf->nsteps; i++)
		holds += cf->steps[i].op == OP_HOLD;
	servers_start(r, holds);
	for (size_t i = 0; i < cf->nsteps; i++) {
		const struct step *s = &cf->steps[i];
		r->line = s->line;
		switch (s->op) {
		case OP_CONFIG: case OP_ENV: case OP_FILE: case OP_SECRET: case OP_MODES:
		case OP_ENGINES:
			break;   /* the site has them */
		case OP_PUBLISH:
			publish(r, s, s->data.data ? s->data.data : "", s->data.len);
			break;
		case OP_BURST:
			for (long k = 1; k <= s->count; k++) {
				struct strbuf *data = scratch();
				sb_printf(data, "%s%ld", sb_str(&s->data), k);
				publish(r, s, data->data, data->len);
			}
			break;
		case OP_HOLD:
			hold(r);
			break;
		case OP_REMOVE:
			remove_file(r, s->rest);
			break;
		case OP_SIGNAL:
			request_send(r);
			send_signal(r, s->rest);
			break;
		case OP_REQUEST:
			r->request = s;
			break;
		case OP_REQUEST_HEADER:
			r->headers[r->nheaders++] = s->rest;
			break;
		case OP_STATUS:
		case OP_STREAM_HEADERS: {
			request_send(r);
			need_headers(r, &r->req);
			char got[256];
			const char *want = s->op == OP_STATUS ? s->rest : "200 OK";
			if (header_value(&r->req, "Status", got, sizeof(got)) == NULL ||
			    strcmp(got, want) != 0)
				run_fail(r, "status '%s', not '%s'", header_value(&r->req, "Status",
				         got, sizeof(got)) ? got : "(none)", want);
			if (s->op == OP_STREAM_HEADERS) {
				check_header(r, "Content-Type: text/event-stream; charset=utf-8", true);
				check_header(r, "Cache-Control: no-cache, no-transform", true);
				check_header(r, "X-Accel-Buffering: no", true);
				check_header(r, "Content-Length", false);
			}
			break;
		}
		case OP_HEADER:
		case OP_NO_HEADER:
			request_send(r);
			check_header(r, s->rest, s->op == OP_HEADER);
			break;
		case OP_BODY_LIKE:
			request_send(r);
			check_body_like(r, s);
			break;
		case OP_FRAMES:
			request_send(r);
			check_frames(r, s);
			break;
		case OP_OPEN:
			request_send(r);
			check_open(r, s);
			break;
		case OP_ENDS:
			request_send(r);
			check_ends(r, s);
			break;
		}
	}
}

/* Reaps pid within ms (SIGKILL after); its wait status. */
static int reap(pid_t pid, int ms)
{
	long long deadline = tu_now_ms() + ms;
	int status = -1;
	pid_t got;
	while ((got = waitpid(pid, &status, WNOHANG)) != pid) {
		if (got < 0 && errno != EINTR)
			return -1;
		if (tu_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(2000);
	}
	return status;
}

/*
 * Stops everything the run started, by pid: streams first (a CGI child gets
 * SIGTERM, as Apache sends), then the servers (SIGTERM).  With check, every
 * one must exit 0 and the error log must hold no sanitizer report.
 */
static void run_finish(struct run *r, bool check)
{
	struct conn *conns[MAX_HOLDS + 1];
	int n = 0;
	conns[n++] = &r->req;
	for (int i = 0; i < r->nholds; i++)
		conns[n++] = &r->holds[i];
	const char *bad = NULL;
	pid_t bad_pid = 0;
	int bad_status = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = conns[i];
		if (c->pid > 0) {
			int status = -1;   /* not reaped reads as a failure, not as 0 */
			if (!check)
				kill(c->pid, SIGKILL);
			else if (waitpid(c->pid, &status, WNOHANG) == 0) {
				kill(c->pid, SIGCONT);   /* if a case stopped it */
				kill(c->pid, SIGTERM);   /* still streaming */
			}
			else
				c->pid = -c->pid;        /* reaped: status is its */
			if (c->pid > 0)
				status = reap(c->pid, 3000);
			if (check && bad == NULL && (status == -1 || !WIFEXITED(status) ||
			                             WEXITSTATUS(status) != 0)) {
				bad = "a CGI process";
				bad_pid = c->pid > 0 ? c->pid : -c->pid;
				bad_status = status;
			}
			c->pid = 0;
		}
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	for (int i = 0; i < r->nservers; i++) {
		if (r->servers[i] <= 0)
			continue;
		if (check)
			kill(r->servers[i], SIGCONT);
		kill(r->servers[i], check ? SIGTERM : SIGKILL);
		int status = reap(r->servers[i], 3000);
		if (check && bad == NULL && (status == -1 || !WIFEXITED(status) ||
		                             WEXITSTATUS(status) != 0)) {
			bad = "a server process";
			bad_pid = r->servers[i];
			bad_status = status;
		}
		r->servers[i] = 0;
	}
	feed_free(r->feed);
	r->feed = NULL;
	if (check && bad != NULL)
		run_fail(r, "%s (pid %d) did not exit with 0: wait status %d", bad,
		         (int)bad_pid, bad_status);
	if (check && r->log[0] != '\0' &&
	    tu_sh("grep -qE 'Sanitizer|runtime error' '%s' 2>/dev/null", r->log) == 0)
		run_fail(r, "a sanitizer report in the error log");
}

static void run_free(struct run *r)
{
	sb_free(&r->req.raw);
	sb_free(&r->req.out);
	for (int i = 0; i < r->nholds; i++) {
		sb_free(&r->holds[i].raw);
		sb_free(&r->holds[i].out);
	}
	if (r->dir[0] != '\0')
		tu_rmtree(r->dir);
	if (strncmp(r->db, "redis", 5) == 0)   /* its files are in /tmp */
		tu_redis_remove_sidecars(r->db);
	free(r);
}

/* One (case, mode) test, and its result when a worker ran it. */
struct entry {
	const struct case_file *cf;
	enum mode mode;
	char name[PATH_MAX + 16];
	int index;               /* in the run: its own Redis database */
	pid_t worker;            /* running in this worker process */
	long long started;
	bool ran;                /* a worker ran it: the result below */
	bool failed;
	char *output;            /* what the worker printed, when it failed */
};

static void test_case(void **state)
{
	const struct entry *e = *state;
	if (e->ran) {
		if (e->failed)
			fail_msg("%s", e->output ? e->output : "the worker printed nothing");
		return;
	}
	if (e->cf->error[0] != '\0')
		fail_msg("%s", e->cf->error);
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->cf = e->cf;
	r->mode = e->mode;
	r->index = e->index;
	conn_init(&r->req);
	current = r;
	run_case(r);
	run_finish(r, true);
	current = NULL;
	run_free(r);
}

static int teardown(void **state)
{
	(void)state;
	if (current != NULL) {
		run_finish(current, false);
		run_free(current);
		current = NULL;
	}
	return 0;
}

static int teardown(void **state);

/* A worker: the one test, through cmocka, its output into a file. */
static pid_t worker_start(struct entry *e, const char *out)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		struct CMUnitTest one = { .name = e->name, .test_func = test_case,
		                          .teardown_func = teardown, .initial_state = e };
		int rc = _cmocka_run_group_tests(e->name, &one, 1, NULL, NULL);
		fflush(stdout);
		exit(rc == 0 ? 0 : 1);
	}
	return pid;
}

static void worker_done(struct entry *e, int status, const char *out)
{
	e->worker = 0;
	e->ran = true;
	e->failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	if (!e->failed)
		return;
	struct strbuf text = STRBUF_INIT;
	FILE *f = fopen(out, "r");
	char buf[4096];
	size_t n;
	while (f != NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_append(&text, buf, n);
	if (f != NULL)
		fclose(f);
	/* Only what the test said, between cmocka's RUN and ERROR lines (all
	 * of it when the worker did not end that way: a crash says more). */
	const char *all = sb_str(&text), *from = strstr(all, "[ RUN      ]");
	from = from != NULL ? strchr(from, '\n') : NULL;
	const char *to = from != NULL ? strstr(from, "[  ERROR   ] ---") : NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && to != NULL) {
		from++;
		if (strncmp(from, "ERROR: ", 7) == 0)
			from += 7;   /* fail_msg says it again */
		while (to > from && to[-1] == '\n')
			to--;
		e->output = strndup(from, (size_t)(to - from));
	}
	else
		e->output = strdup(all);
	sb_free(&text);
}

/*
 * Runs the tests `jobs` at a time in worker processes (most of a test is
 * waiting: for a keepalive, a lifetime, the quiet of `open`), before the
 * cmocka run that reports them in order.  Each worker stops what it
 * started; one that outlives WORKER_MAX_MS is killed by its pid.
 */
#define WORKER_MAX_MS 120000
static void run_workers(struct entry *entries, size_t n, int jobs)
{
	char dir[PATH_MAX], out[PATH_MAX + 32];
	tu_tempdir(dir, sizeof(dir));
	size_t next = 0, done = 0;
	int running = 0;
	while (done < n) {
		while (running < jobs && next < n) {
			snprintf(out, sizeof(out), "%s/%zu.out", dir, next);
			entries[next].worker = worker_start(&entries[next], out);
			entries[next].started = tu_now_ms();
			next++;
			running++;
		}
		usleep(2000);
		for (size_t i = 0; i < next; i++) {
			struct entry *e = &entries[i];
			int status;
			if (e->worker <= 0)
				continue;
			if (waitpid(e->worker, &status, WNOHANG) != e->worker) {
				if (tu_now_ms() - e->started < WORKER_MAX_MS)
					continue;
				kill(e->worker, SIGKILL);
				waitpid(e->worker, &status, 0);
			}
			snprintf(out, sizeof(out), "%s/%zu.out", dir, i);
			worker_done(e, status, out);
			running--;
			done++;
		}
	}
	tu_rmtree(dir);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	store_process_init();
	signal(SIGPIPE, SIG_IGN);
	/* The case files: the arguments, else every *.case of the folder. */
	char **paths = NULL;
	size_t npaths = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			paths = realloc(paths, (npaths + 1) * sizeof(*paths));
			paths[npaths++] = strdup(argv[i]);
		}
	} else {
		const char *dir = getenv("SSE_TEST_CASES") ? getenv("SSE_TEST_CASES")
		                                           : "tests/cases";
		DIR *d = opendir(dir);
		if (d == NULL) {
			fprintf(stderr, "test_cases: %s: %s (run from the top folder, or set"
			        " SSE_TEST_CASES)\n", dir, strerror(errno));
			return 1;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			if (len <= 5 || strcmp(de->d_name + len - 5, ".case") != 0)
				continue;
			paths = realloc(paths, (npaths + 1) * sizeof(*paths));
			size_t plen = strlen(dir) + len + 2;
			paths[npaths] = malloc(plen);
			snprintf(paths[npaths++], plen, "%s/%s", dir, de->d_name);
		}
		closedir(d);
		qsort(paths, npaths, sizeof(*paths), by_name);
	}
	if (npaths == 0) {
		fprintf(stderr, "test_cases: no cases\n");
		return 1;
	}
	unsigned modes = (1u << MODE_COUNT) - 1;
	if (getenv("SSE_TEST_MODES") != NULL) {
		modes = 0;
		const char *p = getenv("SSE_TEST_MODES");
		p += strspn(p, " ");
		while (*p) {
			char *w = next_word(&p);
			for (int m = 0; m < MODE_COUNT; m++)
				if (strcmp(w, mode_names[m]) == 0)
					modes |= 1u << m;
			free(w);
		}
	}
	const char *want_engine = getenv("SSE_TEST_ENGINE");
	if (want_engine != NULL && strcmp(want_engine, "redis") == 0)
		engine = ENGINE_REDIS;
	else if (want_engine != NULL && strcmp(want_engine, "sqlite") != 0) {
		fprintf(stderr, "test_cases: SSE_TEST_ENGINE is sqlite or redis\n");
		return 1;
	}
	if (engine == ENGINE_REDIS)
		tu_redis_start(&redis, false);
	struct case_file *cases = calloc(npaths, sizeof(*cases));
	struct entry *entries = calloc(npaths * MODE_COUNT, sizeof(*entries));
	struct CMUnitTest *tests = calloc(npaths * MODE_COUNT, sizeof(*tests));
	size_t ntests = 0;
	for (size_t i = 0; i < npaths; i++) {
		snprintf(cases[i].path, sizeof(cases[i].path), "%s", paths[i]);
		case_load(&cases[i]);
		for (int m = 0; m < MODE_COUNT; m++) {
			if (!(modes & cases[i].modes & (1u << m)) ||
			    !(cases[i].engines & (1u << engine)))
				continue;
			struct entry *e = &entries[ntests];
			e->index = (int)ntests;
			e->cf = &cases[i];
			e->mode = (enum mode)m;
			snprintf(e->name, sizeof(e->name), "%s [%s%s]", cases[i].name,
			         mode_names[m], engine == ENGINE_REDIS ? ", redis" : "");
			tests[ntests] = (struct CMUnitTest){
				.name = e->name, .test_func = test_case,
				.teardown_func = teardown, .initial_state = &entries[ntests],
			};
			ntests++;
		}
	}
	int jobs = getenv("SSE_TEST_JOBS") ? atoi(getenv("SSE_TEST_JOBS")) : 3;
	if (jobs > 1)
		run_workers(entries, ntests, jobs);
	int rc = _cmocka_run_group_tests("protocol cases x modes", tests, ntests,
	                                 NULL, NULL);
	if (engine == ENGINE_REDIS)
		tu_redis_finish(&redis);
	for (size_t i = 0; i < npaths; i++) {
		case_free(&cases[i]);
		free(paths[i]);
	}
	free(paths);
	free(cases);
	for (size_t i = 0; i < ntests; i++)
		free(entries[i].output);
	sb_free(&scratch_buf);
	free(entries);
	free(tests);
	return rc;
}
