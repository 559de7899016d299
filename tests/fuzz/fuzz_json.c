/*
 * fuzz_json: json_read_strings() (src/wire/json.c, Jansson underneath) on
 * its own, so that bytes chatmsg_parse refuses before it (not UTF-8) reach
 * it too.  The first input byte picks the mode; the rest is the payload.
 *
 * Even: the payload is the body, members "user" and "text".  Either a
 * non-empty reason, or it was read, and then: the body has no NUL byte and
 * is valid UTF-8 (Jansson checks every byte; a NUL is never JSON), and each
 * member present is valid UTF-8 without a NUL (a C string that hides
 * nothing), NUL-terminated at its length; an absent one stays empty.
 *
 * Odd: a round trip.  The payload is a value; it is written as the JSON
 * string of {"user":...,"text":"x"} by the encoder below (written apart
 * from Jansson: ASCII as is, but " \ and controls escaped; other code
 * points raw or as \u escapes, surrogate pairs above U+FFFF, bit 1 of the
 * first byte chooses; bytes that are not UTF-8 copied as they are).  Then:
 *   - payload valid UTF-8 without U+0000: read, and user is exactly it;
 *   - payload valid UTF-8 with U+0000: the \u0000 reason;
 *   - payload not UTF-8: "body is not valid UTF-8".
 * Either way nothing leaks (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ref.h"
#include "json.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_member(const struct json_member *m)
{
	const struct strbuf *v = m->value;
	FUZZ_ASSERT(!sb_failed(v));
	if (!m->present) {
		FUZZ_ASSERT(v->len == 0);
		return;
	}
	if (v->len == 0)
		return;
	FUZZ_ASSERT(v->data[v->len] == '\0');
	FUZZ_ASSERT(memchr(v->data, '\0', v->len) == NULL);
	FUZZ_ASSERT(ref_utf8_valid(v->data, v->len, NULL));
}

static void put_u_escape(struct strbuf *out, long unit)
{
	sb_printf(out, "\\u%04lx", unit);
}

/* The payload as the inside of a JSON string (see the top). */
static void encode(struct strbuf *out, const unsigned char *s, size_t len,
                   bool escape_non_ascii)
{
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		long cp = ref_utf8_next(s, len, &i);
		if (cp < 0) {                     /* not UTF-8: the byte as is */
			sb_putc(out, (char)s[start]);
			i = start + 1;
		} else if (cp == '"' || cp == '\\') {
			sb_putc(out, '\\');
			sb_putc(out, (char)cp);
		} else if (cp < 0x20) {
			put_u_escape(out, cp);
		} else if (cp < 0x80 || !escape_non_ascii) {
			sb_append(out, (const char *)s + start, i - start);
		} else if (cp < 0x10000) {
			put_u_escape(out, cp);
		} else {
			put_u_escape(out, 0xD800 + ((cp - 0x10000) >> 10));
			put_u_escape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const unsigned char *payload = data + 1;
	size_t len = size - 1;
	struct strbuf body = STRBUF_INIT, user = STRBUF_INIT, text = STRBUF_INIT;
	if (data[0] & 1) {
		sb_puts(&body, "{\"user\":\"");
		encode(&body, payload, len, (data[0] & 2) != 0);
		sb_puts(&body, "\",\"text\":\"x\"}");
	} else {
		sb_append(&body, (const char *)payload, len);
	}
	FUZZ_ASSERT(!sb_failed(&body));
	/* An exact-size copy, so ASan sees any read past the body. */
	char *copy = malloc(body.len ? body.len : 1);
	FUZZ_ASSERT(copy != NULL);
	if (body.len > 0)
		memcpy(copy, body.data, body.len);

	struct json_member members[] = {
		{ "user", &user, true },
		{ "text", &text, true },
	};
	const char *error = json_read_strings(copy, body.len, members, 2);
	FUZZ_ASSERT(error == NULL || *error != '\0');
	if (error == NULL) {
		FUZZ_ASSERT(memchr(copy, '\0', body.len) == NULL);
		FUZZ_ASSERT(ref_utf8_valid(copy, body.len, NULL));
		check_member(&members[0]);
		check_member(&members[1]);
	}
	if (data[0] & 1) {
		if (!ref_utf8_valid(payload, len, NULL)) {
			FUZZ_ASSERT(error != NULL && strstr(error, "not valid UTF-8") != NULL);
		} else if (memchr(payload, '\0', len) != NULL) {
			FUZZ_ASSERT(error != NULL && strstr(error, "\\u0000") != NULL);
		} else {
			FUZZ_ASSERT(error == NULL);
			FUZZ_ASSERT(members[0].present && members[1].present);
			FUZZ_ASSERT(user.len == len && memcmp(sb_str(&user), payload, len) == 0);
			FUZZ_ASSERT(strcmp(sb_str(&text), "x") == 0);
		}
	}
	free(copy);
	sb_free(&body);
	sb_free(&user);
	sb_free(&text);
	return 0;
}
