/*
 * digits: the one number grammar of everything we read as a number (event
 * ids, Content-Length, config values): 1 to DIGITS_MAX ASCII digits and
 * nothing else.  No sign, space, hex or trailing junk, so "12x", "+5" and
 * " 5" are refused everywhere alike, and DIGITS_MAX keeps every value
 * inside a long long without an overflow check.
 */
#ifndef SSE_DIGITS_H
#define SSE_DIGITS_H

#include <stdbool.h>

#define DIGITS_MAX 18   /* fits a long long, always */

/* The value of s when it is 1-DIGITS_MAX digits; false otherwise. */
bool parse_digits(const char *s, long long *out);

#endif
