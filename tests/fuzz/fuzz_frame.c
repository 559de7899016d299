/*
 * fuzz_frame: the SSE framing of src/wire/sse.c, read back by an independent
 * parser that follows WHATWG HTML, "Server-sent events", section 9.2.6
 * "Parsing an event stream" / 9.2.7 "Interpreting an event stream":
 *
 *   - a leading BOM is skipped; lines end in CRLF, LF or lone CR; a line
 *     left without an ending when the stream ends is discarded;
 *   - a blank line dispatches; a line starting with ':' is a comment; else
 *     the field name is everything before the first ':' (the whole line when
 *     there is none) and the value what follows, one leading space removed;
 *   - data: value + LF appended to the data buffer; event: the type buffer;
 *     id: the last-event-id buffer unless the value contains NUL; retry:
 *     the reconnection time when the value is all ASCII digits; any other
 *     field is ignored;
 *   - dispatch: the last event id is set; an empty data buffer dispatches
 *     nothing; else one trailing LF is removed and an event of the buffered
 *     type (or "message") is fired.
 *
 * The parser works on bytes, not on decoded UTF-8: the WHATWG UTF-8 decoder
 * never folds an ASCII byte into a replacement character, so line endings,
 * colons and spaces are found at the same places either way.
 *
 * Input: 8 bytes of id (any long long), 1 selector byte (no name, "message",
 * or a valid name built from the next bytes), then the payload, NULs and all.
 *
 * Checks on sse_event(): exactly one event, dispatched by the stream's last
 * line; its data is the payload with CRLF and lone CR made LF; its id is the
 * decimal id; its type the name (or "message"); exactly one id field, one
 * data field per payload line, an event field only for a name other than
 * "message", and nothing else (no retry, no comment, no unknown field).
 * Checks on sse_retry() + sse_comment() + sse_end_frame(): no event, the
 * retry value read back, only comment lines, whose text is the comment's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ref.h"
#include "sse.h"
#include "strbuf.h"

struct parsed {
	/* the parser's state (WHATWG names) */
	struct strbuf data_buf, type_buf, last_id_buf, last_event_id;
	/* what it saw */
	int events, empty_dispatches, lines_after_event;
	int id_fields, event_fields, data_fields, retry_fields, other_fields;
	int comments;
	bool retry_set, pending;
	long long retry;
	struct strbuf ev_data, ev_type, ev_id;  /* the first event */
	struct strbuf comment_text;  /* comment lines, ": " stripped, LF-joined */
};

static void parsed_free(struct parsed *p)
{
	struct strbuf *all[] = { &p->data_buf, &p->type_buf, &p->last_id_buf,
	                         &p->last_event_id, &p->ev_data, &p->ev_type,
	                         &p->ev_id, &p->comment_text };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		sb_free(all[k]);
}

static bool field_is(const unsigned char *f, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(f, name, n) == 0;
}

static void copy_sb(struct strbuf *to, const struct strbuf *from)
{
	sb_reset(to);
	sb_append(to, from->data, from->len);
	if (to->data == NULL)
		sb_puts(to, "");
}

static void dispatch(struct parsed *p)
{
	copy_sb(&p->last_event_id, &p->last_id_buf);
	if (p->data_buf.len == 0) {
		sb_reset(&p->type_buf);
		p->empty_dispatches++;
		return;
	}
	if (p->data_buf.data[p->data_buf.len - 1] == '\n')
		p->data_buf.data[--p->data_buf.len] = '\0';
	if (p->events++ == 0) {
		copy_sb(&p->ev_data, &p->data_buf);
		if (p->type_buf.len == 0)
			sb_puts(&p->ev_type, "message");
		else
			copy_sb(&p->ev_type, &p->type_buf);
		copy_sb(&p->ev_id, &p->last_event_id);
	}
	sb_reset(&p->data_buf);
	sb_reset(&p->type_buf);
}

static void process_line(struct parsed *p, const unsigned char *line, size_t n)
{
	if (p->events > 0)
		p->lines_after_event++;
	if (n == 0) {
		dispatch(p);
		return;
	}
	const unsigned char *field = line, *value;
	size_t field_len, value_len;
	const unsigned char *colon = memchr(line, ':', n);
	if (colon != NULL) {
		field_len = (size_t)(colon - line);
		value = colon + 1;
		value_len = n - field_len - 1;
		if (value_len > 0 && value[0] == ' ')
			value++, value_len--;
	} else {
		field_len = n;
		value = line + n;
		value_len = 0;
	}
	if (field_len == 0) {  /* a comment */
		if (p->comments++ > 0)
			sb_putc(&p->comment_text, '\n');
		sb_append(&p->comment_text, value, value_len);
		return;
	}
	if (field_is(field, field_len, "event")) {
		p->event_fields++;
		sb_reset(&p->type_buf);
		sb_append(&p->type_buf, value, value_len);
	} else if (field_is(field, field_len, "data")) {
		p->data_fields++;
		sb_append(&p->data_buf, value, value_len);
		sb_putc(&p->data_buf, '\n');
	} else if (field_is(field, field_len, "id")) {
		p->id_fields++;
		if (memchr(value, '\0', value_len) == NULL) {
			sb_reset(&p->last_id_buf);
			sb_append(&p->last_id_buf, value, value_len);
		}
	} else if (field_is(field, field_len, "retry")) {
		p->retry_fields++;
		bool digits = value_len > 0 && value_len <= 18;
		long long v = 0;
		for (size_t i = 0; digits && i < value_len; i++) {
			digits = value[i] >= '0' && value[i] <= '9';
			v = v * 10 + (value[i] - '0');
		}
		if (digits)
			p->retry_set = true, p->retry = v;
	} else {
		p->other_fields++;
	}
}

static void parse_stream(struct parsed *p, const unsigned char *s, size_t len)
{
	size_t pos = 0;
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		size_t end = pos;
		while (end < len && s[end] != '\r' && s[end] != '\n')
			end++;
		if (end == len) {
			p->pending = true;  /* no line ending: never processed */
			return;
		}
		process_line(p, s + pos, end - pos);
		if (s[end] == '\r' && end + 1 < len && s[end + 1] == '\n')
			end++;
		pos = end + 1;
	}
}

/* The payload as the browser must see it: CRLF and lone CR made LF. */
static void normalise(struct strbuf *out, const unsigned char *s, size_t len,
                      int *lines)
{
	*lines = 1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			sb_putc(out, '\n');
			++*lines;
		} else {
			sb_putc(out, (char)s[i]);
		}
	}
	if (out->data == NULL)
		sb_puts(out, "");
}

static bool sb_equal(const struct strbuf *a, const struct strbuf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_event(long long id, const char *name,
                        const unsigned char *payload, size_t len)
{
	struct strbuf out = STRBUF_INIT;
	sse_event(&out, id, name, (const char *)payload, len);
	FUZZ_ASSERT(!sb_failed(&out));

	struct parsed p = { 0 };
	parse_stream(&p, (const unsigned char *)out.data, out.len);
	FUZZ_ASSERT(p.events == 1);
	FUZZ_ASSERT(p.lines_after_event == 0 && !p.pending);
	FUZZ_ASSERT(p.data_buf.len == 0 && p.type_buf.len == 0);
	FUZZ_ASSERT(p.empty_dispatches == 0);
	FUZZ_ASSERT(p.comments == 0 && p.retry_fields == 0 && p.other_fields == 0);
	FUZZ_ASSERT(p.id_fields == 1);
	bool named = name != NULL && strcmp(name, "message") != 0;
	FUZZ_ASSERT(p.event_fields == (named ? 1 : 0));

	struct strbuf want = STRBUF_INIT;
	int lines;
	normalise(&want, payload, len, &lines);
	FUZZ_ASSERT(sb_equal(&p.ev_data, &want));
	FUZZ_ASSERT(p.data_fields == lines);

	sb_reset(&want);
	sb_printf(&want, "%lld", id);
	FUZZ_ASSERT(sb_equal(&p.ev_id, &want));
	FUZZ_ASSERT(strcmp(sb_str(&p.ev_type), named ? name : "message") == 0);
	FUZZ_ASSERT(p.ev_type.len == strlen(sb_str(&p.ev_type)));

	sb_free(&want);
	parsed_free(&p);
	sb_free(&out);
}

static void check_comment(long ms, const unsigned char *text, size_t len)
{
	char *c = malloc(len + 1);  /* a comment is a C string */
	FUZZ_ASSERT(c != NULL);
	memcpy(c, text, len);
	c[len] = '\0';

	struct strbuf out = STRBUF_INIT;
	sse_retry(&out, ms);
	sse_comment(&out, c);
	sse_end_frame(&out);
	FUZZ_ASSERT(!sb_failed(&out));

	struct parsed p = { 0 };
	parse_stream(&p, (const unsigned char *)out.data, out.len);
	FUZZ_ASSERT(p.events == 0 && !p.pending);
	FUZZ_ASSERT(p.empty_dispatches == 1);
	FUZZ_ASSERT(p.id_fields == 0 && p.event_fields == 0 && p.data_fields == 0);
	FUZZ_ASSERT(p.other_fields == 0 && p.retry_fields == 1);
	FUZZ_ASSERT(p.retry_set && p.retry == ms);
	FUZZ_ASSERT(p.last_event_id.len == 0);

	struct strbuf want = STRBUF_INIT;
	int lines;
	normalise(&want, (const unsigned char *)c, strlen(c), &lines);
	FUZZ_ASSERT(p.comments == lines);
	FUZZ_ASSERT(sb_equal(&p.comment_text, &want));

	sb_free(&want);
	parsed_free(&p);
	sb_free(&out);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
	unsigned char head[9] = { 0 };
	size_t used = size < sizeof(head) ? size : sizeof(head);
	memcpy(head, data, used);

	uint64_t raw;
	memcpy(&raw, head, sizeof(raw));
	long long id = (long long)raw;  /* any value, negative ones too */

	char name[SSE_NAME_MAX + 1];
	const char *ev_name = NULL;
	switch (head[8] % 3) {
	case 0:
		break;
	case 1:
		ev_name = "message";
		break;
	case 2: {
		size_t n = (size_t)(head[8] / 3) % SSE_NAME_MAX + 1;
		for (size_t k = 0; k < n; k++) {
			unsigned char b = used + k < size ? data[used + k] : 0;
			name[k] = alphabet[b % (sizeof(alphabet) - 1)];
		}
		name[n] = '\0';
		used = used + n < size ? used + n : size;
		FUZZ_ASSERT(sse_valid_name(name, n));
		ev_name = name;
		break;
	}
	}

	check_event(id, ev_name, data + used, size - used);
	check_comment((long)(raw % 600001), data + used, size - used);
	return 0;
}
