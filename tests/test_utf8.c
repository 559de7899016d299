/* UTF-8 validation: bytes in, verdict out (RFC 3629's edge cases). */
#include "testutil.h"

#include "utf8.h"

struct utf8_case {
	const char *what;
	const char *bytes;
	size_t len;          /* 0: strlen */
	bool valid;
	size_t chars;        /* code points when valid */
};

static const struct utf8_case cases[] = {
	{ "empty", "", 0, true, 0 },
	{ "ascii", "hello", 0, true, 5 },
	{ "NUL is valid UTF-8", "a\0b", 3, true, 3 },
	{ "2-byte", "\xc3\xa9", 0, true, 1 },
	{ "3-byte", "\xe2\x82\xac", 0, true, 1 },
	{ "4-byte", "\xf0\x9f\x98\x80", 0, true, 1 },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", 0, true, 1 },
	{ "U+FFFF", "\xef\xbf\xbf", 0, true, 1 },
	{ "U+E000 after surrogates", "\xee\x80\x80", 0, true, 1 },
	{ "overlong NUL", "\xc0\x80", 0, false, 0 },
	{ "overlong slash", "\xc1\xaf", 0, false, 0 },
	{ "overlong 3-byte", "\xe0\x80\xaf", 0, false, 0 },
	{ "overlong 4-byte", "\xf0\x80\x80\xaf", 0, false, 0 },
	{ "high surrogate", "\xed\xa0\x80", 0, false, 0 },
	{ "low surrogate", "\xed\xbf\xbf", 0, false, 0 },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 0, false, 0 },
	{ "F5 lead", "\xf5\x80\x80\x80", 0, false, 0 },
	{ "FF byte", "\xff", 0, false, 0 },
	{ "lone continuation", "\x80", 0, false, 0 },
	{ "truncated 2-byte", "\xc3", 0, false, 0 },
	{ "truncated 3-byte", "\xe2\x82", 0, false, 0 },
	{ "truncated 4-byte", "\xf0\x9f\x98", 0, false, 0 },
	{ "bad continuation", "\xe2\x28\xa1", 0, false, 0 },
	{ "ascii after truncation", "\xc3" "a", 0, false, 0 },
	{ "mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 0, true, 5 },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct utf8_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->bytes);
		if (utf8_valid(c->bytes, len) != c->valid)
			fail_msg("case '%s' should be %s", c->what,
			         c->valid ? "valid" : "invalid");
		if (c->valid && utf8_count(c->bytes, len) != c->chars)
			fail_msg("case '%s': wrong count", c->what);
	}
}

/* Every 1- and 2-byte sequence agrees with a reference decoder's rule. */
static void test_exhaustive_two_bytes(void **state)
{
	(void)state;
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char s[2] = { (char)a, (char)b };
			bool want = (a < 0x80 && b < 0x80) ||
			            (a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF);
			if (utf8_valid(s, 2) != want)
				fail_msg("bytes %02x %02x", a, b);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_exhaustive_two_bytes),
	};
	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
