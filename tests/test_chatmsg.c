/* POST bodies: type and body in, a stored message or a 400 reason out. */
#include "testutil.h"

#include "chatmsg.h"

struct body_case {
	enum body_type type;
	const char *body;
	size_t len;            /* 0: strlen */
	int status;
	const char *channel;   /* expected fields when 0, else an error substring */
	const char *user;
	const char *text;
};

#define FORM BODY_FORM
#define JSON BODY_JSON
#define E(msg) msg, NULL, NULL     /* an error case: channel = message */

static const struct body_case cases[] = {
	{ FORM, "user=alice&text=hi", 0, 0, "chat", "alice", "hi" },
	{ FORM, "channel=room&user=alice&text=hi", 0, 0, "room", "alice", "hi" },
	{ FORM, "user=+al+&text=+hi+there+", 0, 0, "chat", "al", "hi there" },
	{ FORM, "user=a&text=l1%0D%0Al2%0Dl3%0Al4", 0, 0, "chat", "a", "l1\nl2\nl3\nl4" },
	{ FORM, "user=a&text=%0A%0Ahi%0A%0A", 0, 0, "chat", "a", "hi" },
	{ FORM, "user=%C3%A9%E2%82%AC&text=%F0%9F%98%80", 0, 0, "chat", "\xc3\xa9\xe2\x82\xac", "\xf0\x9f\x98\x80" },
	{ FORM, "user=a&text=<script>alert(1)</script>", 0, 0, "chat", "a", "<script>alert(1)</script>" },
	{ FORM, "user=a&text=%E2%80%A8", 0, 0, "chat", "a", "\xe2\x80\xa8" },
	{ FORM, "user=a&text=x&extra=ignored", 0, 0, "chat", "a", "x" },
	{ FORM, "text=hi", 0, 400, E("user is required") },
	{ FORM, "user=a", 0, 400, E("text is required") },
	{ FORM, "user=+++&text=hi", 0, 400, E("user is required") },
	{ FORM, "user=a&text=%0A+%0D", 0, 400, E("text is required") },
	{ FORM, "user=a&text=a%09b", 0, 400, E("control characters") },
	{ FORM, "user=a&text=a%00b", 0, 400, E("control characters") },
	{ FORM, "user=a&text=a%7Fb", 0, 400, E("control characters") },
	{ FORM, "user=a&text=a%C2%85b", 0, 400, E("control characters") },
	{ FORM, "user=a%0Ab&text=x", 0, 400, E("user must not contain control") },
	{ FORM, "user=a&text=%C3", 0, 400, E("text is not valid UTF-8") },
	{ FORM, "user=%C0%AF&text=x", 0, 400, E("user is not valid UTF-8") },
	{ FORM, "user=a&text=%ED%A0%80", 0, 400, E("not valid UTF-8") },
	{ FORM, "user=a&text=\xff", 0, 400, E("body is not valid UTF-8") },
	{ FORM, "user=a&text=%zz", 0, 400, E("malformed percent escape") },
	{ FORM, "user=a&user=b&text=x", 0, 400, E("given twice") },
	{ FORM, "channel=a/b&user=a&text=x", 0, 400, E("channel must be") },
	{ FORM, "channel=&user=a&text=x", 0, 400, E("channel must be") },
	{ FORM, "user=123456789012345678901234567890123&text=x", 0, 400, E("at most 32") },
	{ FORM, "user=12345678901234567890123456789012&text=x", 0, 0, "chat", "12345678901234567890123456789012", "x" },
	{ JSON, "{\"user\":\"bob\",\"text\":\"hi\"}", 0, 0, "chat", "bob", "hi" },
	{ JSON, "{\"channel\":\"r\",\"user\":\"bob\",\"text\":\"a\\nb\"}", 0, 0, "r", "bob", "a\nb" },
	{ JSON, "{\"user\":\"b\",\"text\":\"a\\r\\nb\"}", 0, 0, "chat", "b", "a\nb" },
	{ JSON, "{\"user\":\"b\",\"text\":\"\\u00e9\\ud83d\\ude00\"}", 0, 0, "chat", "b", "\xc3\xa9\xf0\x9f\x98\x80" },
	{ JSON, "{\"user\":\"b\",\"text\":\"\\\"q\\\" \\\\ </script>\"}", 0, 0, "chat", "b", "\"q\" \\ </script>" },
	{ JSON, "  {\"user\":\"b\",\"text\":\"x\",\"more\":[1,2]}  ", 0, 0, "chat", "b", "x" },
	{ JSON, "{\"user\":\"b\",\"text\":\"a\\u0000b\"}", 0, 400, E("control characters") },
	{ JSON, "{\"user\":\"b\",\"text\":\"\\ud800\"}", 0, 400, E("not valid UTF-8") },
	{ JSON, "{\"user\":\"b\",\"text\":\"a\\tb\"}", 0, 400, E("control characters") },
	{ JSON, "{\"user\":\"b\",\"text\":5}", 0, 400, E("must be JSON strings") },
	{ JSON, "{\"user\":null,\"text\":\"x\"}", 0, 400, E("must be JSON strings") },
	{ JSON, "{\"user\":\"b\"}", 0, 400, E("text is required") },
	{ JSON, "[\"user\",\"text\"]", 0, 400, E("must be a JSON object") },
	{ JSON, "\"text\"", 0, 400, E("must be a JSON object") },
	{ JSON, "{\"user\":\"b\",\"text\":\"x\"", 0, 400, E("not valid JSON") },
	{ JSON, "{user:\"b\",text:\"x\"}", 0, 400, E("not valid JSON") },
	{ JSON, "", 0, 400, E("not valid JSON") },
	{ JSON, "{\"user\":\"b\",\"text\":\"\xc3\"}", 0, 400, E("body is not valid UTF-8") },
	{ JSON, "{\"channel\":\"no spaces\",\"user\":\"b\",\"text\":\"x\"}", 0, 400, E("channel must be") },
	{ JSON, "{\"user\":\"a\",\"text\":\"x\"}\0x", 25, 400, E("not valid JSON") },
	{ JSON, "{\"user\":\"a\",\"text\":\"x\",\"user\":\"b\"}", 0, 400, E("given twice") },
};

static void test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct body_case *c = &cases[i];
		struct chatmsg m = CHATMSG_INIT;
		const char *error = NULL;
		size_t len = c->len ? c->len : strlen(c->body);
		int status = chatmsg_parse(c->type, c->body, len, &m, &error);
		if (status != c->status)
			fail_msg("case %zu '%s': status %d (%s), want %d", i, c->body, status,
			         error ? error : "-", c->status);
		if (status == 0) {
			if (strcmp(sb_str(&m.channel), c->channel) != 0 ||
			    strcmp(sb_str(&m.user), c->user) != 0 ||
			    strcmp(sb_str(&m.text), c->text) != 0)
				fail_msg("case %zu '%s': got %s/%s/%s", i, c->body,
				         sb_str(&m.channel), sb_str(&m.user), sb_str(&m.text));
		} else if (strstr(error, c->channel) == NULL) {
			fail_msg("case %zu '%s': error '%s' lacks '%s'", i, c->body, error,
			         c->channel);
		}
		chatmsg_free(&m);
	}
}

/* 2000 characters pass and 2001 fail, counted in characters, not bytes. */
static void test_text_length(void **state)
{
	(void)state;
	struct strbuf body = STRBUF_INIT;
	for (int n = 2000; n <= 2001; n++) {
		sb_reset(&body);
		sb_puts(&body, "user=a&text=");
		for (int i = 0; i < n; i++)
			sb_puts(&body, "%C3%A9");   /* 2 bytes, 1 character */
		struct chatmsg m = CHATMSG_INIT;
		const char *error = NULL;
		int status = chatmsg_parse(BODY_FORM, body.data, body.len, &m, &error);
		assert_int_equal(status, n == 2000 ? 0 : 400);
		if (n == 2000)
			assert_int_equal(m.text.len, 4000);
		chatmsg_free(&m);
	}
	sb_free(&body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_text_length),
	};
	return cmocka_run_group_tests_name("chat message bodies", tests, NULL, NULL);
}
