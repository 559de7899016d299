/*
 * fuzz_query: the request parsers of src/wire/request.c on arbitrary strings.
 *
 * The input, NUL-terminated, is a QUERY_STRING for parse_stream_query() and a
 * Last-Event-ID for parse_event_id().  Invariants:
 *   - status is 0 or 400; 400 comes with a reason, 0 without;
 *   - status 0: channel is a valid name (sse_valid_name) and equals the
 *     decoded channel= value, or "chat" when there is none; since is ABSENT
 *     or VALID, and VALID means since_id >= 0 and since= was given;
 *   - parse_event_id: "" is ABSENT; VALID exactly for 1-18 ASCII digits,
 *     with the value strtoll gives, never negative.
 * The same bytes also go, as header values, through the other parsers that
 * see client input (Content-Type, Content-Length, Origin, Accept), which
 * must not crash and must answer within their ranges; the 303 target taken
 * from a Referer is "/" or a path of it with no byte that could end a header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz_ref.h"
#include "origin.h"
#include "request.h"
#include "sse.h"

static void check_event_id(const char *s)
{
	long long id = -12345;
	enum id_parse r = parse_event_id(s, &id);
	size_t n = strlen(s);
	bool digits = n >= 1 && n <= DIGITS_MAX &&
	              strspn(s, "0123456789") == n;
	switch (r) {
	case ID_ABSENT:
		FUZZ_ASSERT(n == 0);
		FUZZ_ASSERT(id == -12345);
		break;
	case ID_VALID:
		FUZZ_ASSERT(digits);
		FUZZ_ASSERT(id >= 0);
		FUZZ_ASSERT(id == strtoll(s, NULL, 10));
		break;
	case ID_INVALID:
		FUZZ_ASSERT(n > 0 && !digits);
		break;
	default:
		FUZZ_ASSERT(!"parse_event_id returned an unknown result");
	}

	long long cl = -1;
	if (parse_content_length(s, &cl))
		FUZZ_ASSERT(digits && cl >= 0);
	else
		FUZZ_ASSERT(!digits);
}

static void check_stream_query(const char *query)
{
	struct stream_query q;
	memset(&q, 0xA5, sizeof(q));  /* everything must be set by the parser */
	int status = parse_stream_query(query, &q);
	FUZZ_ASSERT(status == 0 || status == 400);
	FUZZ_ASSERT(memchr(q.channel, '\0', sizeof(q.channel)) != NULL);
	if (status != 0) {
		FUZZ_ASSERT(q.error != NULL && *q.error != '\0');
		return;
	}
	FUZZ_ASSERT(q.error == NULL);
	FUZZ_ASSERT(sse_valid_name(q.channel, strlen(q.channel)));
	FUZZ_ASSERT(q.since == ID_ABSENT || q.since == ID_VALID);
	if (q.since == ID_VALID)
		FUZZ_ASSERT(q.since_id >= 0);

	/* Cross-check with form_get: what the query says is what we use. */
	struct strbuf v = STRBUF_INIT;
	size_t len = strlen(query);
	enum form_result r = form_get(query, len, "channel", &v);
	FUZZ_ASSERT(r == FORM_ABSENT || r == FORM_FOUND);
	FUZZ_ASSERT(strcmp(q.channel, r == FORM_FOUND ? sb_str(&v) : DEFAULT_CHANNEL) == 0);
	sb_reset(&v);
	r = form_get(query, len, "since", &v);
	FUZZ_ASSERT(r == FORM_ABSENT || r == FORM_FOUND);
	FUZZ_ASSERT((r == FORM_FOUND) == (q.since == ID_VALID));
	if (r == FORM_FOUND) {
		long long id;
		FUZZ_ASSERT(parse_event_id(sb_str(&v), &id) == ID_VALID);
		FUZZ_ASSERT(id == q.since_id);
	}
	sb_free(&v);
}

/* The other header parsers: no crash, answers in range. */
static void check_headers(const char *s, const char *const field[4])
{
	enum body_type t = parse_content_type(s);
	FUZZ_ASSERT(t == BODY_FORM || t == BODY_JSON || t == BODY_OTHER);
	(void)wants_html(s);
	/* Origin, Sec-Fetch-Site, Host, allowed_origins from the NUL-split input;
	 * the second field also stands for SERVER_PORT, HTTPS and the scheme. */
	struct site_vars site = { field[2], field[1], field[1], field[1] };
	bool allowed = origin_allowed(field[0], field[1], &site, field[3]);
	if (allowed && field[0] != NULL)
		FUZZ_ASSERT(strcmp(field[0], "null") != 0 && field[0][0] != '\0');
	(void)origin_allowed(NULL, field[0], &site, field[3]);
	struct site_vars nothing = { NULL, NULL, NULL, NULL };
	FUZZ_ASSERT(!origin_allowed(field[0] != NULL ? field[0] : "", NULL, &nothing, NULL));
	/* The 303 target: "/" or the Referer from its path on, header-safe. */
	const char *path = referer_path(field[0], &site);
	FUZZ_ASSERT(path[0] == '/');
	FUZZ_ASSERT(strcmp(path, "/") == 0 ||
	            (field[0] != NULL && path > field[0] && path < field[0] + strlen(field[0])));
	for (const char *p = path; *p; p++)
		FUZZ_ASSERT((unsigned char)*p > ' ' && (unsigned char)*p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	FUZZ_ASSERT(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';

	check_stream_query(s);
	check_event_id(s);

	/* Up to four NUL-separated fields; a missing one is NULL. */
	const char *field[4] = { NULL, NULL, NULL, NULL };
	size_t pos = 0;
	for (int k = 0; k < 4 && pos <= size; k++) {
		field[k] = s + pos;
		pos += strlen(s + pos) + 1;
	}
	check_headers(s, field);

	free(s);
	return 0;
}
