/* form: see form.h. */
#include "form.h"

#include <string.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool form_decode(const char *s, size_t len, struct strbuf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			sb_putc(out, ' ');
		} else if (c == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
			if (lo < 0)
				return false;
			sb_putc(out, (char)(hi * 16 + lo));
			i += 2;
		} else {
			sb_putc(out, c);
		}
	}
	return true;
}

enum form_result form_get(const char *s, size_t len, const char *name,
                          struct strbuf *out)
{
	enum form_result result = FORM_ABSENT;
	struct strbuf key = STRBUF_INIT;
	size_t pos = 0;
	while (pos < len) {
		const char *pair = s + pos;
		const char *amp = memchr(pair, '&', len - pos);
		size_t pair_len = amp ? (size_t)(amp - pair) : len - pos;
		pos += pair_len + 1;
		if (pair_len == 0)
			continue;  /* "a=1&&b=2": empty pairs are skipped */
		const char *eq = memchr(pair, '=', pair_len);
		size_t key_len = eq ? (size_t)(eq - pair) : pair_len;
		sb_reset(&key);
		if (!form_decode(pair, key_len, &key)) {
			result = FORM_MALFORMED;
			break;
		}
		if (key.len != strlen(name) || memcmp(sb_str(&key), name, key.len) != 0)
			continue;
		if (result == FORM_FOUND) {
			result = FORM_DUPLICATE;
			break;
		}
		const char *value = eq ? eq + 1 : pair + pair_len;
		size_t value_len = pair_len - key_len - (eq ? 1 : 0);
		sb_reset(out);
		if (!form_decode(value, value_len, out)) {
			result = FORM_MALFORMED;
			break;
		}
		result = FORM_FOUND;
	}
	sb_free(&key);
	return result;
}
