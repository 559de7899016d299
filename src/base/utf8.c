/* utf8: see utf8.h. A table-free validator; the ranges are RFC 3629's. */
#include "utf8.h"

bool utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;              /* continuation bytes that follow */
		unsigned char lo = 0x80, hi = 0xBF; /* range of the 2nd byte */
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c == 0xE0) {
			n = 2, lo = 0xA0;          /* no overlong 3-byte form */
		} else if (c == 0xED) {
			n = 2, hi = 0x9F;          /* no surrogates */
		} else if (c >= 0xE1 && c <= 0xEF) {
			n = 2;
		} else if (c == 0xF0) {
			n = 3, lo = 0x90;          /* no overlong 4-byte form */
		} else if (c >= 0xF1 && c <= 0xF3) {
			n = 3;
		} else if (c == 0xF4) {
			n = 3, hi = 0x8F;          /* nothing above U+10FFFF */
		} else {
			return false;  /* 0x80..0xC1 lead, or 0xF5..0xFF */
		}
		if (len - i <= n)
			return false;  /* truncated */
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += n + 1;
	}
	return true;
}

size_t utf8_count(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			count++;
	return count;
}
