/*
 * utf8: strict UTF-8 validation (RFC 3629).
 *
 * Everything we store must be valid UTF-8: SQLite does not check, JSON output
 * built from invalid bytes would be invalid, and a browser would show U+FFFD.
 * Strict means: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF, no truncated sequence.  NUL is valid UTF-8; whether it is an
 * acceptable character is the caller's decision (see chatmsg.c).
 */
#ifndef SSE_UTF8_H
#define SSE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *s, size_t len);

/* Number of code points in valid UTF-8 (continuation bytes not counted). */
size_t utf8_count(const char *s, size_t len);

#endif
