/*
 * fuzz_form: form_get() and form_decode() (src/wire/form.c) on arbitrary bytes.
 *
 * Checked against a reference written here, independently of form.c:
 *   - form_decode() succeeds exactly when every '%' is followed by two hex
 *     digits, and then yields the reference decoding ('+' is a space);
 *     decoding a percent-encoding of the input gives the input back.
 *   - form_get(): when every key decodes and every value of a matching pair
 *     decodes, the answer is ABSENT / FOUND (with the decoded value) /
 *     DUPLICATE for zero / one / more matching pairs; otherwise any answer
 *     other than MALFORMED must still be consistent with the pairs.
 * Names tried: the ones the program looks up, "", and the decoded key of the
 * input's first pair (so FOUND and DUPLICATE are reached often).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz_ref.h"

static int ref_hex(unsigned char c)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char lower = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
	const char *p = lower ? strchr(digits, lower) : NULL;
	return p ? (int)(p - digits) : -1;
}

/* Reference decoding into out (room for len bytes); false when malformed. */
static bool ref_decode(const unsigned char *s, size_t len, unsigned char *out,
                       size_t *outlen)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0)
				return false;
			out[w++] = (unsigned char)(ref_hex(s[i + 1]) << 4 | ref_hex(s[i + 2]));
			i += 2;
		} else {
			out[w++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	*outlen = w;
	return true;
}

struct pair {
	const unsigned char *key, *value;
	size_t key_len, value_len;
};

static void check_get(const unsigned char *data, size_t size,
                      const struct pair *pairs, size_t npairs, const char *name,
                      unsigned char *scratch)
{
	size_t name_len = strlen(name);
	bool keys_ok = true, values_ok = true;
	size_t matches = 0, match = 0;
	for (size_t k = 0; k < npairs; k++) {
		size_t n;
		if (!ref_decode(pairs[k].key, pairs[k].key_len, scratch, &n)) {
			keys_ok = false;
			continue;
		}
		if (n != name_len || memcmp(scratch, name, n) != 0)
			continue;
		if (matches++ == 0)
			match = k;
		if (!ref_decode(pairs[k].value, pairs[k].value_len, scratch, &n))
			values_ok = false;
	}

	struct strbuf out = STRBUF_INIT;
	sb_puts(&out, "stale");  /* a FOUND must replace what was there */
	enum form_result r = form_get((const char *)data, size, name, &out);
	FUZZ_ASSERT(!sb_failed(&out));
	switch (r) {
	case FORM_ABSENT:
		FUZZ_ASSERT(keys_ok && matches == 0);
		break;
	case FORM_FOUND: {
		FUZZ_ASSERT(keys_ok && matches == 1 && values_ok);
		size_t n;
		FUZZ_ASSERT(ref_decode(pairs[match].value, pairs[match].value_len,
		                       scratch, &n));
		FUZZ_ASSERT(out.len == n);
		FUZZ_ASSERT(n == 0 || memcmp(out.data, scratch, n) == 0);
		FUZZ_ASSERT(out.data[out.len] == '\0');
		break;
	}
	case FORM_DUPLICATE:
		FUZZ_ASSERT(matches >= 2);
		break;
	case FORM_MALFORMED:
		FUZZ_ASSERT(!keys_ok || !values_ok);
		break;
	default:
		FUZZ_ASSERT(!"form_get returned an unknown result");
	}
	if (keys_ok && values_ok)
		FUZZ_ASSERT(r == (matches == 0 ? FORM_ABSENT :
		                  matches == 1 ? FORM_FOUND : FORM_DUPLICATE));
	sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *scratch = malloc(size * 3 + 1);
	FUZZ_ASSERT(scratch != NULL);

	/* form_decode against the reference. */
	struct strbuf out = STRBUF_INIT;
	size_t n = 0;
	bool ok = form_decode((const char *)data, size, &out);
	bool ref_ok = ref_decode(data, size, scratch, &n);
	FUZZ_ASSERT(ok == ref_ok);
	FUZZ_ASSERT(!sb_failed(&out));
	if (ok) {
		FUZZ_ASSERT(out.len == n);
		FUZZ_ASSERT(n == 0 || memcmp(out.data, scratch, n) == 0);
	}

	/* Round trip: a percent-encoding of any bytes decodes to those bytes. */
	size_t w = 0;
	for (size_t i = 0; i < size; i++) {
		unsigned char c = data[i];
		if (c == ' ') {
			scratch[w++] = '+';
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		           c == '-' || c == '_' || c == '.' || c == '*') {
			scratch[w++] = c;
		} else {
			static const char hex[] = "0123456789ABCDEF";
			scratch[w++] = '%';
			scratch[w++] = (unsigned char)hex[c >> 4];
			scratch[w++] = (unsigned char)(i & 1 ? hex[c & 15] | 0x20 : hex[c & 15]);
		}
	}
	sb_reset(&out);
	FUZZ_ASSERT(form_decode((const char *)scratch, w, &out));
	FUZZ_ASSERT(out.len == size);
	FUZZ_ASSERT(size == 0 || memcmp(out.data, data, size) == 0);
	sb_free(&out);

	/* The pairs, split here the WHATWG way: on '&', then the first '='. */
	size_t npairs = 0;
	struct pair *pairs = malloc((size + 1) * sizeof(*pairs));
	FUZZ_ASSERT(pairs != NULL);
	for (size_t start = 0; start < size;) {
		size_t end = start;
		while (end < size && data[end] != '&')
			end++;
		if (end > start) {
			size_t eq = start;
			while (eq < end && data[eq] != '=')
				eq++;
			struct pair *p = &pairs[npairs++];
			p->key = data + start;
			p->key_len = eq - start;
			p->value = eq < end ? data + eq + 1 : data + end;
			p->value_len = eq < end ? end - eq - 1 : 0;
		}
		start = end + 1;
	}

	static const char *const names[] = { "channel", "user", "text", "since",
	                                     "a", "" };
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		check_get(data, size, pairs, npairs, names[k], scratch);

	/* The first pair's own key, as a C string. */
	if (npairs > 0 && ref_decode(pairs[0].key, pairs[0].key_len, scratch, &n)) {
		char *name = malloc(n + 1);
		FUZZ_ASSERT(name != NULL);
		memcpy(name, scratch, n);
		name[n] = '\0';
		check_get(data, size, pairs, npairs, name, scratch);
		free(name);
	}
	free(pairs);
	free(scratch);
	return 0;
}
