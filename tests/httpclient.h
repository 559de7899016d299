/*
 * httpclient: just enough HTTP/1.0 over loopback for the integration tests.
 *
 * HTTP/1.0 on purpose: the server then sends the body as it is (no chunked
 * encoding) and closes the connection at its end, so a stream's bytes can be
 * compared directly.  One connection is one request; reads are poll-driven
 * with deadlines so a test never hangs.
 */
#ifndef SSE_HTTPCLIENT_H
#define SSE_HTTPCLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>

#include "testutil.h"

struct http {
	int fd;
	struct strbuf in;      /* everything received */
	bool eof;
	long long sent_ms;     /* when the request went out */
	long long first_byte_ms;
};

/* Binds a loopback port (0: any) and returns the one bound, -1 if none. */
static inline int http_bind_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/*
 * A loopback port that was free a moment ago: any, or one of
 * SSE_TEST_PORTS=FIRST-LAST when set, for a machine whose runs must keep to
 * a range of their own.  The range is tried from a point that moves on
 * with each call, so that the fronts of one test get distinct ports.
 */
static inline int http_free_port(void)
{
	const char *range = getenv("SSE_TEST_PORTS");
	int first, last;
	if (range == NULL)
		return http_bind_port(0);
	if (sscanf(range, "%d-%d", &first, &last) != 2 || first < 1 || last > 65535 ||
	    first > last) {
		fprintf(stderr, "httpclient: SSE_TEST_PORTS=%s is not FIRST-LAST\n", range);
		return -1;
	}
	static int next;
	int span = last - first + 1;
	for (int i = 0; i < span; i++) {
		int port = first + (next + i) % span;
		if (http_bind_port(port) == port) {
			next = (next + i + 1) % span;
			return port;
		}
	}
	fprintf(stderr, "httpclient: no free port in SSE_TEST_PORTS=%s\n", range);
	return -1;
}

static inline void http_send(struct http *h, int port, const char *method,
                             const char *path, const char *headers,
                             const char *body)
{
	memset(h, 0, sizeof(*h));
	h->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h->fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct strbuf req = STRBUF_INIT;
	sb_printf(&req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n%s", method, path,
	          port, headers ? headers : "");
	if (body != NULL)
		sb_printf(&req, "Content-Length: %zu\r\n", strlen(body));
	sb_puts(&req, "\r\n");
	if (body != NULL)
		sb_puts(&req, body);
	h->sent_ms = tu_now_ms();
	assert_int_equal(write(h->fd, req.data, req.len), (ssize_t)req.len);
	sb_free(&req);
}

/* Reads what is there (waiting up to wait_ms); false at EOF. */
static inline bool http_pump(struct http *h, int wait_ms)
{
	if (h->eof)
		return false;
	struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
	if (poll(&pfd, 1, wait_ms) <= 0)
		return true;
	char buf[16384];
	ssize_t n = read(h->fd, buf, sizeof(buf));
	if (n <= 0) {
		h->eof = true;
		return false;
	}
	if (h->in.len == 0)
		h->first_byte_ms = tu_now_ms();
	sb_append(&h->in, buf, (size_t)n);
	return true;
}

/* Reads until needle appears (true), EOF or the timeout (false). */
static inline bool http_wait_for(struct http *h, const char *needle, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	while (strstr(sb_str(&h->in), needle) == NULL) {
		long long left = deadline - tu_now_ms();
		if (left <= 0 || !http_pump(h, (int)(left < 100 ? left : 100)))
			return strstr(sb_str(&h->in), needle) != NULL;
	}
	return true;
}

/* A stream's first frame has arrived whole (": live", its padding line,
 * the blank line), each part within timeout_ms. */
static inline bool http_wait_live(struct http *h, int timeout_ms)
{
	return http_wait_for(h, ": live\n", timeout_ms) &&
	       http_wait_for(h, " \n\n", timeout_ms);
}

/* Reads to EOF; false when the timeout came first. */
static inline bool http_finish(struct http *h, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	while (!h->eof && tu_now_ms() < deadline)
		http_pump(h, 100);
	return h->eof;
}

static inline void http_close(struct http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	sb_free(&h->in);
}

static inline int http_status(const struct http *h)
{
	int status = 0;
	if (sscanf(sb_str(&h->in), "HTTP/1.%*d %d", &status) != 1)
		return 0;
	return status;
}

/* The value of a response header (copied into out), or NULL. */
static inline const char *http_header(const struct http *h, const char *name,
                                      char *out, size_t outlen)
{
	const char *s = sb_str(&h->in);
	const char *end = strstr(s, "\r\n\r\n");
	size_t n = strlen(name);
	for (const char *line = strstr(s, "\r\n"); line && (!end || line < end);
	     line = strstr(line + 2, "\r\n")) {
		const char *l = line + 2;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			l += n + 1;
			while (*l == ' ')
				l++;
			const char *e = strstr(l, "\r\n");
			snprintf(out, outlen, "%.*s", (int)(e ? e - l : (long)strlen(l)), l);
			return out;
		}
	}
	return NULL;
}

static inline const char *http_body(const struct http *h)
{
	const char *s = strstr(sb_str(&h->in), "\r\n\r\n");
	return s ? s + 4 : "";
}

/* One whole request; the status, with the response left in h. */
static inline int http_request(struct http *h, int port, const char *method,
                               const char *path, const char *headers,
                               const char *body)
{
	http_send(h, port, method, path, headers, body);
	if (!http_finish(h, 15000))
		fail_msg("%s %s: no complete answer in 15 s", method, path);
	return http_status(h);
}

/*
 * What a browser sends when the chat page, loaded from http://127.0.0.1:PORT,
 * posts (the client's Host header names PORT; whether the server sees that
 * port in HTTP_HOST depends on the front: Debian's nginx passes $host,
 * without it).  A case's Origin (and Referer) is http://HOST:PORT with the
 * page's port or another port of the host, or a fixed one.
 */
enum origin_port { ORIGIN_PAGE, ORIGIN_OTHER, ORIGIN_NONE };

struct origin_post {
	const char *what;
	enum origin_port port;      /* which port the Origin/Referer names */
	const char *origin_host;    /* the Origin's host, with ORIGIN_PAGE/OTHER */
	const char *origin;         /* a fixed Origin, with ORIGIN_NONE */
	bool form;                  /* a plain HTML form (Accept: text/html) */
	int status;
	const char *location;       /* the 303's, or NULL */
};

#define HTTP_PAGE_PATH "/chat/?room=origin"

static const struct origin_post http_origin_posts[] = {
	{ "fetch() from the page", ORIGIN_PAGE, "127.0.0.1", NULL, false, 201, NULL },
	{ "plain form from the page", ORIGIN_PAGE, "127.0.0.1", NULL, true, 303, HTTP_PAGE_PATH },
	{ "another port of the host", ORIGIN_OTHER, "127.0.0.1", NULL, false, 403, NULL },
	{ "another name of the host", ORIGIN_PAGE, "localhost", NULL, false, 403, NULL },
	{ "another site's form", ORIGIN_NONE, NULL, "https://evil.example", true, 403, NULL },
	{ "a sandboxed frame", ORIGIN_NONE, NULL, "null", false, 403, NULL },
};

/* The headers of one case: a browser's Origin, Referer, Sec-Fetch-Site. */
static inline void http_origin_headers(struct strbuf *out, const struct origin_post *c,
                                       int port, int other_port)
{
	char origin[128];
	if (c->port == ORIGIN_NONE)
		snprintf(origin, sizeof(origin), "%s", c->origin);
	else
		snprintf(origin, sizeof(origin), "http://%s:%d", c->origin_host,
		         c->port == ORIGIN_PAGE ? port : other_port);
	bool same = c->port == ORIGIN_PAGE && strcmp(c->origin_host, "127.0.0.1") == 0;
	sb_printf(out, "Origin: %s\r\nSec-Fetch-Site: %s\r\n", origin,
	          same ? "same-origin" : c->port == ORIGIN_NONE ? "cross-site" : "same-site");
	if (strcmp(origin, "null") != 0)
		sb_printf(out, "Referer: %s" HTTP_PAGE_PATH "\r\n", origin);
	if (c->form)
		sb_puts(out, "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
		             "Content-Type: application/x-www-form-urlencoded\r\n");
	else
		sb_puts(out, "Accept: */*\r\nContent-Type: application/json\r\n");
}

/*
 * Every case of http_origin_posts through the front on port (post_path
 * being its post.fcgi), other_port being another port of 127.0.0.1: the
 * page's own posts are answered 201 and 303 (back to the page), every
 * other origin 403.  `front` names it in a failure.
 */
static inline void http_check_origin_posts(const char *front, int port,
                                           const char *post_path, int other_port)
{
	for (size_t i = 0; i < sizeof(http_origin_posts) / sizeof(http_origin_posts[0]); i++) {
		const struct origin_post *c = &http_origin_posts[i];
		struct strbuf headers = STRBUF_INIT;
		http_origin_headers(&headers, c, port, other_port);
		struct http h;
		int status = http_request(&h, port, "POST", post_path, sb_str(&headers),
		                          c->form ? "user=origin&text=posted"
		                                  : "{\"user\":\"origin\",\"text\":\"posted\"}");
		char location[256];
		const char *got = http_header(&h, "Location", location, sizeof(location));
		if (status != c->status)
			fail_msg("%s: %s (port %d): %d, not %d: %.200s", front, c->what, port,
			         status, c->status, http_body(&h));
		if (c->location != NULL && (got == NULL || strcmp(got, c->location) != 0))
			fail_msg("%s: %s: Location %s, not %s", front, c->what,
			         got ? got : "(none)", c->location);
		if (status == 403 && strstr(http_body(&h), "cross-origin") == NULL)
			fail_msg("%s: %s: 403 without the reason: %s", front, c->what, http_body(&h));
		http_close(&h);
		sb_free(&headers);
	}
}

#endif
