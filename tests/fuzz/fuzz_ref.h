/*
 * fuzz_ref: what the fuzz targets share: an assertion that stops the fuzzer
 * with a message, and a reference UTF-8 decoder written independently of
 * src/utf8.c (it computes each code point and then rejects overlong forms,
 * surrogates and values above U+10FFFF, where utf8.c checks byte ranges), so
 * the two can be compared and the chat checks can be verified by code point.
 *
 * Header-only (static inline functions): each target is one self-contained program.
 */
#ifndef SSE_FUZZ_REF_H
#define SSE_FUZZ_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Reports a broken invariant and aborts: libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",      \
			        __FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

/*
 * Decodes one code point at s[*i], advancing *i.  Returns the code point, or
 * -1 for an ill-formed sequence (RFC 3629 / Unicode table 3-7).
 */
static inline long ref_utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char b = s[*i];
	size_t n;
	long cp, min;
	if ((b & 0x80) == 0) {
		*i += 1;
		return b;
	} else if ((b & 0xE0) == 0xC0) {
		n = 1, cp = b & 0x1F, min = 0x80;
	} else if ((b & 0xF0) == 0xE0) {
		n = 2, cp = b & 0x0F, min = 0x800;
	} else if ((b & 0xF8) == 0xF0) {
		n = 3, cp = b & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (*i + n + 1 > len)  /* truncated */
		return -1;
	for (size_t k = 1; k <= n; k++) {
		unsigned char c = s[*i + k];
		if ((c & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (c & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*i += n + 1;
	return cp;
}

/* Whether s[0..len) is well-formed UTF-8; *count gets the code points. */
static inline bool ref_utf8_valid(const void *str, size_t len, size_t *count)
{
	const unsigned char *s = str;
	size_t i = 0, n = 0;
	while (i < len) {
		if (ref_utf8_next(s, len, &i) < 0)
			return false;
		n++;
	}
	if (count != NULL)
		*count = n;
	return true;
}

/* Encodes cp as UTF-8 into out (4 bytes of room); returns the length. */
static inline size_t ref_utf8_encode(long cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

#endif
