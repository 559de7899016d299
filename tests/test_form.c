/* Form decoding: encoded string and name in, result and value out. */
#include "testutil.h"

#include "form.h"

struct form_case {
	const char *input;
	const char *name;
	enum form_result result;
	const char *value;   /* when FOUND */
};

static const struct form_case cases[] = {
	{ "user=alice&text=hi", "user", FORM_FOUND, "alice" },
	{ "user=alice&text=hi", "text", FORM_FOUND, "hi" },
	{ "user=alice", "text", FORM_ABSENT, NULL },
	{ "", "user", FORM_ABSENT, NULL },
	{ "text=a+b", "text", FORM_FOUND, "a b" },
	{ "text=a%2Bb", "text", FORM_FOUND, "a+b" },
	{ "text=%41%62%63", "text", FORM_FOUND, "Abc" },
	{ "text=%e2%82%ac", "text", FORM_FOUND, "\xe2\x82\xac" },
	{ "text=a%0D%0Ab", "text", FORM_FOUND, "a\r\nb" },
	{ "text=%26%3D", "text", FORM_FOUND, "&=" },
	{ "te%78t=x", "text", FORM_FOUND, "x" },
	{ "text=", "text", FORM_FOUND, "" },
	{ "text", "text", FORM_FOUND, "" },
	{ "a=1&&text=2&", "text", FORM_FOUND, "2" },
	{ "text=1=2", "text", FORM_FOUND, "1=2" },
	{ "text=1&text=2", "text", FORM_DUPLICATE, NULL },
	{ "text=1&te%78t=2", "text", FORM_DUPLICATE, NULL },
	{ "text=%zz", "text", FORM_MALFORMED, NULL },
	{ "text=%4", "text", FORM_MALFORMED, NULL },
	{ "text=%", "text", FORM_MALFORMED, NULL },
	{ "text=a%", "text", FORM_MALFORMED, NULL },
	{ "%zz=1&text=2", "text", FORM_MALFORMED, NULL },
	{ "Text=x", "text", FORM_ABSENT, NULL },
	{ "xtext=1&textx=2", "text", FORM_ABSENT, NULL },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct form_case *c = &cases[i];
		struct strbuf value = STRBUF_INIT;
		enum form_result r = form_get(c->input, strlen(c->input), c->name, &value);
		if (r != c->result)
			fail_msg("'%s' [%s]: result %d, want %d", c->input, c->name, r, c->result);
		if (r == FORM_FOUND && strcmp(sb_str(&value), c->value) != 0)
			fail_msg("'%s' [%s]: value '%s', want '%s'", c->input, c->name,
			         sb_str(&value), c->value);
		sb_free(&value);
	}
}

static void test_decoded_nul_kept(void **state)
{
	(void)state;
	struct strbuf value = STRBUF_INIT;
	assert_int_equal(form_get("t=a%00b", 7, "t", &value), FORM_FOUND);
	assert_int_equal(value.len, 3);
	assert_memory_equal(value.data, "a\0b", 3);
	sb_free(&value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_decoded_nul_kept),
	};
	return cmocka_run_group_tests_name("form decoding", tests, NULL, NULL);
}
