/* digits: see digits.h. */
#include "digits.h"

#include <string.h>

bool parse_digits(const char *s, long long *out)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > DIGITS_MAX)
		return false;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}
