/*
 * fuzz_scrape: scrape_parse() (src/wire/scrape.c), the head of a request
 * to the hub's metrics socket, on arbitrary bytes.
 *
 * The verdict must be the one of a reference written here independently
 * (the head's end found with memmem, the request line split at its
 * spaces): 0 exactly while the head has not ended and is shorter than
 * SCRAPE_HEAD_MAX, 431 when it is not, else 400, 405, 404 or 200 from the
 * request line alone, with a reason for each refusal.  Bytes after the
 * head never change the verdict, and the head cut one byte short waits.
 * scrape_answer() with the input as the body must say its length in
 * Content-Length and end with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ref.h"
#include "scrape.h"

/* Where the head ends (after its blank line), or 0: the earliest of
 * "\n\n" and "\n\r\n". */
static size_t ref_head_end(const char *s, size_t n)
{
	const char *a = memmem(s, n, "\n\n", 2);
	const char *b = memmem(s, n, "\n\r\n", 3);
	size_t ea = a ? (size_t)(a - s) + 2 : 0, eb = b ? (size_t)(b - s) + 3 : 0;
	if (ea == 0 || (eb != 0 && eb < ea))
		return eb;
	return ea;
}

static bool all_of(const char *s, size_t n, const char *set, bool visible)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = visible ? c > 0x20 && c < 0x7f : c != 0 && strchr(set, c) != NULL;
		if (!ok)
			return false;
	}
	return true;
}

#define TCHAR "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* METHOD SP TARGET SP HTTP/1.d, split at its first two spaces. */
static int ref_line(const char *line, size_t n)
{
	const char *sp1 = memchr(line, ' ', n);
	if (sp1 == NULL)
		return 400;
	size_t m = (size_t)(sp1 - line);
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', n - m - 1);
	if (sp2 == NULL)
		return 400;
	size_t t = (size_t)(sp2 - target);
	const char *version = sp2 + 1;
	size_t v = n - m - 1 - t - 1;
	if (m == 0 || !all_of(line, m, TCHAR, false) || t == 0 || target[0] != '/' ||
	    !all_of(target, t, NULL, true) || v != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
	    version[7] < '0' || version[7] > '9')
		return 400;
	if (m != 3 || memcmp(line, "GET", 3) != 0)
		return 405;
	if ((t == 8 && memcmp(target, "/metrics", 8) == 0) ||
	    (t > 8 && memcmp(target, "/metrics?", 9) == 0))
		return 200;
	return 404;
}

static int ref_verdict(const char *s, size_t n)
{
	size_t end = ref_head_end(s, n);
	if (end == 0)
		return n < SCRAPE_HEAD_MAX ? 0 : 431;
	size_t line = (size_t)((const char *)memchr(s, '\n', end) - s);
	if (line > 0 && s[line - 1] == '\r')
		line--;
	return ref_line(s, line);
}

static void check_answer(const char *body, size_t n)
{
	struct strbuf out = STRBUF_INIT;
	scrape_answer(&out, 200, body, n);
	char want[64];
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", n);
	FUZZ_ASSERT(out.len > n && memmem(out.data, out.len - n, want, strlen(want)) != NULL);
	FUZZ_ASSERT(memcmp(out.data + out.len - n, body, n) == 0);
	sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *why = NULL;
	int got = scrape_parse(s, size, &why);
	FUZZ_ASSERT(got == ref_verdict(s, size));
	FUZZ_ASSERT(got == 0 || got == 200 || why != NULL);
	size_t end = ref_head_end(s, size);
	if (end > 0) {
		FUZZ_ASSERT(scrape_parse(s, end, &why) == got);   /* what follows: nothing */
		int before = scrape_parse(s, end - 1, &why);
		FUZZ_ASSERT(before == (end - 1 < SCRAPE_HEAD_MAX ? 0 : 431));
	}
	check_answer(s, size);
	return 0;
}
