/*
 * fuzz_chatmsg: chatmsg_parse() (src/wire/chatmsg.c), the POST body parser, on
 * arbitrary bodies.  The first input byte picks the body type (even: form,
 * odd: JSON); the rest is the body.  SQLite's JSON functions run on the
 * private in-memory connection json.c opens for each JSON body.
 *
 * On success (0) the message must obey docs/PROTOCOL.md, "POST", checked here code
 * point by code point with the reference decoder of fuzz_ref.h:
 *   - channel: a valid name (sse_valid_name);
 *   - user: 1-32 code points of valid UTF-8, no control character (C0, DEL,
 *     C1), no white space at either end;
 *   - text: 1-2000 code points of valid UTF-8, no control character but LF,
 *     so no CR, no white space at either end;
 *   - a JSON body has no NUL byte: RFC 8259 allows none, raw, anywhere, so
 *     such a body is "bad JSON" (400), not a message.  (SQLite's JSON
 *     functions read text as a C string and would see only what comes
 *     before the NUL.)
 * Otherwise the answer is 400 with a reason.  Either way nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatmsg.h"
#include "fuzz_ref.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks one field; returns its length in code points. */
static size_t check_field(const struct strbuf *f, bool allow_lf)
{
	FUZZ_ASSERT(!sb_failed(f));
	FUZZ_ASSERT(f->len > 0 && f->data != NULL && f->data[f->len] == '\0');
	const unsigned char *s = (const unsigned char *)f->data;
	FUZZ_ASSERT(!is_space(s[0]) && !is_space(s[f->len - 1]));
	size_t i = 0, n = 0;
	while (i < f->len) {
		long cp = ref_utf8_next(s, f->len, &i);
		FUZZ_ASSERT(cp >= 0);  /* valid UTF-8 */
		n++;
		if (cp == '\n' && allow_lf)
			continue;
		FUZZ_ASSERT(cp >= 0x20 && !(cp >= 0x7F && cp <= 0x9F));
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum body_type type = data[0] & 1 ? BODY_JSON : BODY_FORM;
	/* An exact-size copy, so ASan sees any read past the body. */
	size_t len = size - 1;
	char *body = malloc(len ? len : 1);
	FUZZ_ASSERT(body != NULL);
	memcpy(body, data + 1, len);

	struct chatmsg m = CHATMSG_INIT;
	const char *error = NULL;
	int status = chatmsg_parse(type, body, len, &m, &error);
	FUZZ_ASSERT(status == 0 || status == 400);
	if (status == 0) {
		FUZZ_ASSERT(error == NULL);
		FUZZ_ASSERT(sse_valid_name(sb_str(&m.channel), m.channel.len));
		FUZZ_ASSERT(strlen(sb_str(&m.channel)) == m.channel.len);
		size_t user = check_field(&m.user, false);
		FUZZ_ASSERT(user >= 1 && user <= CHAT_USER_MAX);
		size_t text = check_field(&m.text, true);
		FUZZ_ASSERT(text >= 1 && text <= CHAT_TEXT_MAX);
		FUZZ_ASSERT(memchr(m.text.data, '\r', m.text.len) == NULL);
		if (type == BODY_JSON)
			FUZZ_ASSERT(memchr(body, '\0', len) == NULL);
	} else {
		FUZZ_ASSERT(error != NULL && *error != '\0');
	}
	chatmsg_free(&m);
	free(body);
	return 0;
}
