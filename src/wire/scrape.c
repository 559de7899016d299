/* scrape: see scrape.h. */
#include "scrape.h"

#include <stdbool.h>
#include <string.h>

#include "http.h"
#include "prom.h"

/* Where the head ends: after its blank line (CRLF or bare LF lines); 0
 * when it has not ended in buf[0..len). */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* RFC 9110's tchar: what a method is made of. */
static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* A target is visible ASCII (no space or control), starting with '/'. */
static bool target_char(char c)
{
	return c > ' ' && c < 0x7f;
}

/* The length of the run of s[0..len) whose chars pass ok. */
static size_t span(const char *s, size_t len, bool (*ok)(char))
{
	size_t n = 0;
	while (n < len && ok(s[n]))
		n++;
	return n;
}

/* METHOD SP TARGET SP HTTP/1.x in line[0..len) (its CR removed). */
static int request_line(const char *line, size_t len, const char **why)
{
	size_t m = span(line, len, token_char);
	if (m == 0 || m >= len || line[m] != ' ') {
		*why = "the request line is not METHOD TARGET HTTP/1.x";
		return 400;
	}
	const char *target = line + m + 1;
	size_t rest = len - m - 1;
	size_t t = span(target, rest, target_char);
	const char *version = target + t;
	size_t vlen = rest - t;
	if (t == 0 || target[0] != '/' || vlen != 9 || version[0] != ' ' ||
	    memcmp(version + 1, "HTTP/1.", 7) != 0 || version[8] < '0' ||
	    version[8] > '9') {
		*why = "the request line is not METHOD /TARGET HTTP/1.x";
		return 400;
	}
	if (m != 3 || memcmp(line, "GET", 3) != 0) {
		*why = "only GET is answered";
		return 405;
	}
	size_t path = strlen(SCRAPE_PATH);
	if (t < path || memcmp(target, SCRAPE_PATH, path) != 0 ||
	    (t > path && target[path] != '?')) {
		*why = "the metrics are at " SCRAPE_PATH;
		return 404;
	}
	*why = NULL;
	return 200;
}

int scrape_parse(const char *buf, size_t len, const char **why)
{
	size_t end = head_end(buf, len);
	if (end == 0) {
		if (len < SCRAPE_HEAD_MAX)
			return 0;
		*why = "the request's head is too long";
		return 431;
	}
	const char *nl = memchr(buf, '\n', end);
	size_t line = (size_t)(nl - buf);   /* the head ends in a '\n' */
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	return request_line(buf, line, why);
}

void scrape_answer(struct strbuf *out, int status, const char *body,
                   size_t body_len)
{
	sb_printf(out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
	          "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
	          status, http_reason(status),
	          status == 200 ? PROM_CONTENT_TYPE : "text/plain; charset=utf-8",
	          body_len, status == 405 ? "Allow: GET\r\n" : "");
	sb_append(out, body, body_len);
}
