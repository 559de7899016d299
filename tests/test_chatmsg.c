/* POST bodies: type and body in, a stored message or a 400 reason out. */
#include "testutil.h"

#include "chatmsg.h"
#include "json.h"

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
	{ JSON, "{\"user\":\"a\",\"text\":\"x\",\"m\":{\"k\":1,\"k\":2}}", 0, 400, E("given twice") },
	{ JSON, "{\"user\":\"a\",\"text\":\"x\",\"m\":{\"k\":[1,{}]},\"n\":-1.5e3}", 0, 0, "chat", "a", "x" },
	{ JSON, "{\"user\":\"a\",\"text\":\"x\",\"n\":1e400}", 0, 400, E("out of range") },
	{ JSON, "{}", 0, 400, E("user is required") },
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

/*
 * json_read_strings on its own (src/wire/json.c), so that what chatmsg_parse
 * refuses before it (bytes that are not UTF-8) reaches it too.  A body is
 * body, then open repeated times times, then close repeated times times,
 * then tail; error NULL means it is read, with user and text as given
 * (NULL: absent; the text of a body with repeats is not compared).
 */
struct json_case {
	const char *body;
	size_t len;            /* 0: strlen; only for bodies without repeats */
	const char *open, *close;
	size_t times;
	const char *tail;
	const char *error;     /* a substring of the reason */
	const char *user, *text;
};

#define OK(user, text) NULL, user, text
#define BAD(reason) reason, NULL, NULL
#define ONLY(body) body, 0, "", "", 0, ""
#define ONLY_N(body, len) body, len, "", "", 0, ""

static const struct json_case json_cases[] = {
	/* read */
	{ ONLY("{\"channel\":\"chat\",\"user\":\"alice\",\"text\":\"hello there\"}"), OK("alice", "hello there") },
	{ ONLY("{}"), OK(NULL, NULL) },
	{ ONLY(" \t\r\n{ \"user\" : \"a\" }\n"), OK("a", NULL) },
	{ ONLY("{\"user\":\"\"}"), OK("", NULL) },
	{ ONLY("{\"text\":\"a\\tb\\n\\u001f\"}"), OK(NULL, "a\tb\n\x1f") },      /* chatmsg judges controls */
	{ ONLY("{\"text\":\"\\\\u0000\"}"), OK(NULL, "\\u0000") },                 /* a backslash, then text */
	{ ONLY("{\"text\":\"\\ud83d\\ude00 \xc3\xa9\"}"), OK(NULL, "\xf0\x9f\x98\x80 \xc3\xa9") },
	{ ONLY("{\"User\":5,\"user \":[],\"text\":\"x\"}"), OK(NULL, "x") },           /* names are exact */
	{ ONLY("{\"user\":\"a\",\"m\":{\"k\":[1,{\"z\":null}],\"t\":true}}"), OK("a", NULL) },
	{ ONLY("{\"user\":\"a\",\"n\":123456789012345678901234567890}"), OK("a", NULL) },
	{ ONLY("{\"user\":\"a\",\"n\":1e-400}"), OK("a", NULL) },
	/* a member given twice, anywhere */
	{ ONLY("{\"user\":\"a\",\"user\":\"a\"}"), BAD("a field is given twice") },
	{ ONLY("{\"user\":\"a\",\"x\":1,\"x\":2}"), BAD("a field is given twice") },
	{ ONLY("{\"user\":\"a\",\"m\":[{\"k\":1,\"k\":1}]}"), BAD("a field is given twice") },
	/* named members must be strings; others may be anything */
	{ ONLY("{\"user\":{\"a\":\"b\"}}"), BAD("fields must be JSON strings") },
	{ ONLY("{\"text\":[\"a\"]}"), BAD("fields must be JSON strings") },
	{ ONLY("{\"user\":5}"), BAD("fields must be JSON strings") },
	{ ONLY("{\"user\":null}"), BAD("fields must be JSON strings") },
	{ ONLY("{\"user\":false}"), BAD("fields must be JSON strings") },
	/* NUL: escaped or raw, in a value, a name or outside */
	{ ONLY("{\"text\":\"a\\u0000b\"}"), BAD("control characters (\\u0000)") },
	{ ONLY("{\"x\":[\"\\u0000\"],\"text\":\"a\"}"), BAD("control characters (\\u0000)") },
	{ ONLY("{\"a\\u0000\":1}"), BAD("control characters (\\u0000)") },
	{ ONLY_N("{\"text\":\"a\0b\"}", 13), BAD("body is not valid JSON") },
	{ ONLY_N("{\"text\":\"a\"}\0", 13), BAD("body is not valid JSON") },
	{ ONLY_N("\0", 1), BAD("body is not valid JSON") },
	/* not UTF-8 (chatmsg_parse refuses these first), in a value or a name */
	{ ONLY("{\"text\":\"\xc3\"}"), BAD("body is not valid UTF-8") },
	{ ONLY("{\"text\":\"\xff\"}"), BAD("body is not valid UTF-8") },
	{ ONLY("{\"text\":\"\xc0\xaf\"}"), BAD("body is not valid UTF-8") },         /* overlong */
	{ ONLY("{\"text\":\"\xed\xa0\x80\"}"), BAD("body is not valid UTF-8") },     /* a surrogate */
	{ ONLY("{\"text\":\"\xf4\x90\x80\x80\"}"), BAD("body is not valid UTF-8") }, /* above U+10FFFF */
	{ ONLY("{\"\xe9\":1}"), BAD("body is not valid UTF-8") },
	{ ONLY("{\"text\":\"\\ud800\"}"), BAD("fields are not valid UTF-8 (a lone surrogate") },
	{ ONLY("{\"text\":\"\\udc00\\ud800\"}"), BAD("fields are not valid UTF-8 (a lone surrogate") },
	{ ONLY("{\"text\":\"\\ud800x\"}"), BAD("fields are not valid UTF-8 (a lone surrogate") },
	/* not an object */
	{ ONLY("[\"user\",\"text\"]"), BAD("body must be a JSON object") },
	{ ONLY("\"text\""), BAD("body must be a JSON object") },
	{ ONLY("5"), BAD("body must be a JSON object") },
	{ ONLY("null"), BAD("body must be a JSON object") },
	{ ONLY("[]"), BAD("body must be a JSON object") },
	/* not JSON */
	{ ONLY(""), BAD("body is not valid JSON") },
	{ ONLY("  "), BAD("body is not valid JSON") },
	{ ONLY("{"), BAD("body is not valid JSON") },
	{ ONLY("{}{}"), BAD("body is not valid JSON") },
	{ ONLY("{} x"), BAD("body is not valid JSON") },
	{ ONLY("{\"user\":\"a\",}"), BAD("body is not valid JSON") },
	{ ONLY("{user:\"a\"}"), BAD("body is not valid JSON") },
	{ ONLY("{'user':'a'}"), BAD("body is not valid JSON") },
	{ ONLY("{\"user\":\"a\"/* c */}"), BAD("body is not valid JSON") },
	{ ONLY("{\"text\":\"a\tb\"}"), BAD("body is not valid JSON") },              /* a raw tab */
	{ ONLY("{\"text\":\"\\x41\"}"), BAD("body is not valid JSON") },
	{ ONLY("{\"text\":\"\\u12G4\"}"), BAD("body is not valid JSON") },
	{ ONLY("{\"n\":01}"), BAD("body is not valid JSON") },
	{ ONLY("{\"n\":NaN}"), BAD("body is not valid JSON") },
	{ ONLY("\xef\xbb\xbf{}"), BAD("body is not valid JSON") },                       /* a BOM */
	/* the limits: depth (Jansson's 2048), numbers, memory */
	{ "{\"x\":", 0, "[", "]", 2047, "}", OK(NULL, NULL) },
	{ "{\"x\":", 0, "[", "]", 2048, "}", BAD("nested too deeply") },
	{ "", 0, "[", "", 10000, "", BAD("nested too deeply") },
	{ "{\"x\":", 0, "{\"y\":", "}", 5000, "}", BAD("nested too deeply") },
	{ ONLY("{\"user\":\"a\",\"n\":-1e400}"), BAD("a number in the body is out of range") },
	{ "{\"user\":\"a\",\"x\":[", 0, "{},", "", 2700, "{}]}", OK("a", NULL) },      /* 8 KiB */
	{ "{\"user\":\"a\",\"x\":[", 0, "{},", "", 349000, "{}]}", BAD("too much memory") }, /* 1 MiB */
	{ "{\"text\":\"", 0, "abcdefgh", "", 131000, "\"}", OK(NULL, "") },             /* 1 MiB string */
};

/* The body of a json_case, built in out. */
static void json_case_body(const struct json_case *c, struct strbuf *out)
{
	sb_reset(out);
	sb_append(out, c->body, c->len ? c->len : strlen(c->body));
	for (size_t i = 0; i < c->times; i++)
		sb_puts(out, c->open);
	for (size_t i = 0; i < c->times; i++)
		sb_puts(out, c->close);
	sb_puts(out, c->tail);
	assert_false(sb_failed(out));
}

static void test_json_read_strings(void **state)
{
	(void)state;
	struct strbuf body = STRBUF_INIT, user = STRBUF_INIT, text = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_LEN(json_cases); i++) {
		const struct json_case *c = &json_cases[i];
		json_case_body(c, &body);
		sb_reset(&user);
		sb_reset(&text);
		struct json_member members[] = {
			{ "user", &user, true },    /* true: must be reset */
			{ "text", &text, true },
		};
		const char *error = json_read_strings(body.data, body.len, members, 2);
		if (c->error != NULL) {
			if (error == NULL || strstr(error, c->error) == NULL)
				fail_msg("json case %zu '%.60s': got '%s', want '%s'", i,
				         body.data, error ? error : "(read)", c->error);
			continue;
		}
		if (error != NULL)
			fail_msg("json case %zu '%.60s': refused: %s", i, body.data, error);
		if (members[0].present != (c->user != NULL) ||
		    members[1].present != (c->text != NULL))
			fail_msg("json case %zu '%.60s': present %d/%d", i, body.data,
			         members[0].present, members[1].present);
		if ((c->user != NULL && strcmp(sb_str(&user), c->user) != 0) ||
		    (c->text != NULL && c->times == 0 && strcmp(sb_str(&text), c->text) != 0))
			fail_msg("json case %zu '%.60s': got [%s] [%s]", i, body.data,
			         sb_str(&user), sb_str(&text));
	}
	sb_free(&body);
	sb_free(&user);
	sb_free(&text);
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
		cmocka_unit_test(test_json_read_strings),
	};
	return cmocka_run_group_tests_name("chat message bodies", tests, NULL, NULL);
}
