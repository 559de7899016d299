/*
 * fuzz_utf8: utf8_valid() and utf8_count() (src/utf8.c) against the
 * reference decoder in fuzz_ref.h, which works the other way round
 * (decode the code point, then reject overlong / surrogate / > U+10FFFF).
 *
 *   - utf8_valid() and the reference agree on every input, and on every
 *     prefix that ends on a code point boundary or one byte after it;
 *   - on valid input utf8_count() is the reference's number of code points,
 *     re-encoding the decoded code points gives the input back, and the
 *     count of any split at a code point boundary adds up.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_ref.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t count = 0;
	bool ref = ref_utf8_valid(data, size, &count);
	FUZZ_ASSERT(utf8_valid(s, size) == ref);

	/* Prefixes: valid up to each boundary, and truncated just after it. */
	size_t i = 0, seen = 0;
	while (i < size) {
		size_t at = i;
		long cp = ref_utf8_next(data, size, &i);
		if (cp < 0)
			break;
		seen++;
		FUZZ_ASSERT(utf8_valid(s, at));
		FUZZ_ASSERT(utf8_count(s, at) == seen - 1);
		bool one_more = ref_utf8_valid(data, at + 1, NULL);
		FUZZ_ASSERT(utf8_valid(s, at + 1) == one_more);
		FUZZ_ASSERT(one_more == (i == at + 1));

		/* Re-encoding gives the same bytes. */
		unsigned char enc[4];
		size_t n = ref_utf8_encode(cp, enc);
		FUZZ_ASSERT(n == i - at && memcmp(enc, data + at, n) == 0);
		/* The code point alone is valid and counts one. */
		FUZZ_ASSERT(utf8_valid(s + at, n) && utf8_count(s + at, n) == 1);
	}

	if (ref) {
		FUZZ_ASSERT(seen == count);
		FUZZ_ASSERT(utf8_count(s, size) == count);
		FUZZ_ASSERT(count <= size);
	} else {
		FUZZ_ASSERT(i < size);  /* the reference stopped on a bad sequence */
		/* Everything before the first bad sequence is still valid. */
		FUZZ_ASSERT(utf8_valid(s, i));
	}
	return 0;
}
