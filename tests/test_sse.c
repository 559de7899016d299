/* Frame encoding: payload in, exact bytes out (docs/PROTOCOL.md, "Frames"). */
#include "testutil.h"

#include "sse.h"

struct frame_case {
	const char *what;
	long long id;
	const char *event;
	const char *data;
	size_t len;          /* 0: strlen(data) */
	const char *frame;
};

static const struct frame_case frames[] = {
	{ "plain", 1, "message", "hi", 0, "id: 1\ndata: hi\n\n" },
	{ "NULL name is message", 2, NULL, "hi", 0, "id: 2\ndata: hi\n\n" },
	{ "other name gets event:", 3, "news", "x", 0, "id: 3\nevent: news\ndata: x\n\n" },
	{ "empty payload", 4, "message", "", 0, "id: 4\ndata: \n\n" },
	{ "LF", 5, NULL, "a\nb", 0, "id: 5\ndata: a\ndata: b\n\n" },
	{ "CRLF", 6, NULL, "a\r\nb", 0, "id: 6\ndata: a\ndata: b\n\n" },
	{ "lone CR", 7, NULL, "a\rb", 0, "id: 7\ndata: a\ndata: b\n\n" },
	{ "LF CR is two endings", 8, NULL, "a\n\rb", 0, "id: 8\ndata: a\ndata: \ndata: b\n\n" },
	{ "CR CR LF", 9, NULL, "a\r\r\nb", 0, "id: 9\ndata: a\ndata: \ndata: b\n\n" },
	{ "trailing LF kept", 10, NULL, "a\n", 0, "id: 10\ndata: a\ndata: \n\n" },
	{ "leading LF kept", 11, NULL, "\na", 0, "id: 11\ndata: \ndata: a\n\n" },
	{ "only line endings", 12, NULL, "\r\n\n\r", 0, "id: 12\ndata: \ndata: \ndata: \ndata: \n\n" },
	{ "blank line cannot end the frame", 13, NULL, "a\n\nid: 99\nevent: evil\ndata: x", 0,
	  "id: 13\ndata: a\ndata: \ndata: id: 99\ndata: event: evil\ndata: data: x\n\n" },
	{ "retry injection", 14, NULL, "\rretry: 1", 0, "id: 14\ndata: \ndata: retry: 1\n\n" },
	{ "colon and spaces kept", 15, NULL, " : x ", 0, "id: 15\ndata:  : x \n\n" },
	{ "UTF-8 untouched", 16, NULL, "h\xc3\xa9\xe2\x80\xa8", 0, "id: 16\ndata: h\xc3\xa9\xe2\x80\xa8\n\n" },
	{ "large id", 123456789012345678LL, NULL, "x", 0, "id: 123456789012345678\ndata: x\n\n" },
};

static void test_frames(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(frames); i++) {
		const struct frame_case *c = &frames[i];
		struct strbuf out = STRBUF_INIT;
		size_t len = c->len ? c->len : strlen(c->data);
		sse_event(&out, c->id, c->event, c->data, len);
		if (strcmp(sb_str(&out), c->frame) != 0)
			fail_msg("case '%s': got [%s]", c->what, sb_str(&out));
		sb_free(&out);
	}
}

/* A NUL byte is not a line ending: it passes through inside its line. */
static void test_nul_byte(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	sse_event(&out, 17, NULL, "a\0b", 3);
	assert_int_equal(out.len, 18);
	assert_memory_equal(out.data, "id: 17\ndata: a\0b\n\n", 18);
	sb_free(&out);
}

static void test_long_line(void **state)
{
	(void)state;
	size_t n = 100000;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	struct strbuf out = STRBUF_INIT;
	sse_event(&out, 1, NULL, big, n);
	assert_int_equal(out.len, strlen("id: 1\ndata: \n\n") + n);
	assert_memory_equal(out.data + 12, big, n);
	sb_free(&out);
	free(big);
}

static void test_comment_retry(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	sse_retry(&out, 2000);
	sse_comment(&out, "two\nlines");
	sse_end_frame(&out);
	assert_string_equal(sb_str(&out), "retry: 2000\n: two\n: lines\n\n");
	sb_free(&out);
}

struct name_case {
	const char *name;
	bool valid;
};

static const struct name_case names[] = {
	{ "chat", true }, { "a", true }, { "Room_1.x-y", true },
	{ "0123456789012345678901234567890123456789012345678901234567890123", true },
	{ "01234567890123456789012345678901234567890123456789012345678901234", false },
	{ "", false }, { "a b", false }, { "a\nb", false }, { "a/b", false },
	{ "caf\xc3\xa9", false }, { "a:b", false }, { "%41", false },
};

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (sse_valid_name(names[i].name, strlen(names[i].name)) != names[i].valid)
			fail_msg("name '%s' should be %s", names[i].name,
			         names[i].valid ? "valid" : "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_comment_retry),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("sse framing", tests, NULL, NULL);
}
