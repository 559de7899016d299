/*
 * The page for visitors without script (src/wire/html.c): the one escaping
 * function as a table of input -> exact output, and a message row each way
 * it can be drawn (docs/PROTOCOL.md, "A page for visitors without script").
 * The whole page in every stream mode is pinned by tests/cases/html-*.case.
 */
#include "testutil.h"

#include "html.h"

struct escape_case {
	const char *what;
	const char *in;
	size_t len;          /* 0: strlen(in) */
	const char *out;
	size_t out_len;      /* 0: strlen(out) */
};

static const struct escape_case escapes[] = {
	{ "empty", "", 0, "", 0 },
	{ "plain text", "hello, world", 0, "hello, world", 0 },
	{ "ampersand", "a & b", 0, "a &amp; b", 0 },
	{ "an entity stays text", "&amp; &#39; &lt;", 0, "&amp;amp; &amp;#39; &amp;lt;", 0 },
	{ "a tag", "<script>alert(1)</script>", 0, "&lt;script&gt;alert(1)&lt;/script&gt;", 0 },
	{ "double quotes", "\"x\"", 0, "&quot;x&quot;", 0 },
	{ "single quotes", "it's", 0, "it&#39;s", 0 },
	{ "attribute break-out", "\" onmouseover=\"x", 0, "&quot; onmouseover=&quot;x", 0 },
	{ "all five at once", "<&>\"'", 0, "&lt;&amp;&gt;&quot;&#39;", 0 },
	{ "only specials", "<<", 0, "&lt;&lt;", 0 },
	{ "special last", "a<", 0, "a&lt;", 0 },
	{ "special first", ">a", 0, "&gt;a", 0 },
	{ "newlines and tabs kept", "a\nb\r\n\tc", 0, "a\nb\r\n\tc", 0 },
	{ "UTF-8 untouched", "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80", 0,
	  "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80", 0 },
	{ "a NUL byte is copied", "a\0<", 3, "a\0&lt;", 6 },
	{ "len, not the terminator", "ab<cd", 2, "ab", 0 },
};

static void test_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(escapes); i++) {
		const struct escape_case *c = &escapes[i];
		size_t len = c->len ? c->len : strlen(c->in);
		size_t want_len = c->out_len ? c->out_len : strlen(c->out);
		struct strbuf out = STRBUF_INIT;
		sb_puts(&out, "[");
		html_escape(&out, c->in, len);
		if (out.len != 1 + want_len || memcmp(out.data + 1, c->out, want_len) != 0)
			fail_msg("case '%s': got [%s]", c->what, sb_str(&out) + 1);
		sb_free(&out);
	}
}

struct row_case {
	const char *what;
	const char *data;
	const char *row;
};

static const struct row_case rows[] = {
	{ "a chat message",
	  "{\"id\":1,\"channel\":\"chat\",\"user\":\"al<i>ce\",\"text\":\"hi & bye\\n'x'\","
	  "\"time\":\"2026-11-22T10:00:00Z\"}",
	  "<li><p class=\"meta\"><strong class=\"user\">al&lt;i&gt;ce</strong>"
	  " <time datetime=\"2026-11-22T10:00:00Z\">2026-11-22 10:00 UTC</time></p>"
	  "<p class=\"text\">hi &amp; bye\n&#39;x&#39;</p></li>\n" },
	{ "no time",
	  "{\"user\":\"a\",\"text\":\"b\"}",
	  "<li><p class=\"meta\"><strong class=\"user\">a</strong></p>"
	  "<p class=\"text\">b</p></li>\n" },
	{ "a time of another shape is shown as it is, escaped",
	  "{\"user\":\"a\",\"text\":\"b\",\"time\":\"\\\"><script>\"}",
	  "<li><p class=\"meta\"><strong class=\"user\">a</strong>"
	  " <time datetime=\"&quot;&gt;&lt;script&gt;\">&quot;&gt;&lt;script&gt;</time></p>"
	  "<p class=\"text\">b</p></li>\n" },
	{ "published text", "deploy <done>\nall \"green\"",
	  "<li class=\"sys\"><p>deploy &lt;done&gt;\nall &quot;green&quot;</p></li>\n" },
	{ "JSON without text is a plain line", "{\"user\":\"<a>\"}",
	  "<li class=\"sys\"><p>{&quot;user&quot;:&quot;&lt;a&gt;&quot;}</p></li>\n" },
	{ "user not a string", "{\"user\":1,\"text\":\"t\"}",
	  "<li class=\"sys\"><p>{&quot;user&quot;:1,&quot;text&quot;:&quot;t&quot;}</p></li>\n" },
	{ "empty data", "", "<li class=\"sys\"><p></p></li>\n" },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		const struct row_case *c = &rows[i];
		struct message m = { 7, "chat", "message", c->data, strlen(c->data) };
		struct strbuf out = STRBUF_INIT;
		html_page_message(&out, &m);
		if (strcmp(sb_str(&out), c->row) != 0)
			fail_msg("case '%s': got [%s]", c->what, sb_str(&out));
		sb_free(&out);
	}
}

static void test_refresh(void **state)
{
	(void)state;
	static const long cases[][2] = {
		{ 100, 5 }, { 2000, 5 }, { 5000, 5 }, { 5001, 6 }, { 7500, 8 },
		{ 600000, 600 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (html_refresh_s(cases[i][0]) != cases[i][1])
			fail_msg("retry_ms %ld: refresh %ld, want %ld", cases[i][0],
			         html_refresh_s(cases[i][0]), cases[i][1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_refresh),
	};
	return cmocka_run_group_tests_name("html page", tests, NULL, NULL);
}
