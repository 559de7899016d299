/* sse: see sse.h for the framing rules and why they are safe. */
#include "sse.h"

#include <string.h>

bool sse_valid_name(const char *s, size_t len)
{
	if (len == 0 || len > SSE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		          c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Writes `prefix` before every line of text[0..len), splitting on CRLF, LF and
 * lone CR.  An empty text is one empty line, and a text that ends with a line
 * ending has an empty last line: that is what keeps the trailing newline of a
 * payload after the browser has joined the lines.
 */
static void put_prefixed_lines(struct strbuf *out, const char *prefix,
                               const char *text, size_t len)
{
	size_t start = 0;
	for (;;) {
		size_t end = start;
		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		sb_puts(out, prefix);
		sb_append(out, text + start, end - start);
		sb_putc(out, '\n');
		if (end == len)
			return;
		if (text[end] == '\r' && end + 1 < len && text[end + 1] == '\n')
			end++;
		start = end + 1;
	}
}

void sse_event(struct strbuf *out, long long id, const char *name,
               const char *data, size_t len)
{
	sb_printf(out, "id: %lld\n", id);
	if (name != NULL && strcmp(name, "message") != 0)
		sb_printf(out, "event: %s\n", name);
	put_prefixed_lines(out, "data: ", data, len);
	sb_putc(out, '\n');
}

void sse_comment(struct strbuf *out, const char *text)
{
	put_prefixed_lines(out, ": ", text, strlen(text));
}

void sse_retry(struct strbuf *out, long ms)
{
	sb_printf(out, "retry: %ld\n", ms);
}

void sse_end_frame(struct strbuf *out)
{
	sb_putc(out, '\n');
}
