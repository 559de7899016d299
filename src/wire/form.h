/*
 * form: application/x-www-form-urlencoded decoding, for POST bodies and query
 * strings (WHATWG URL, "application/x-www-form-urlencoded parsing").
 *
 * Lookups are by name and strict: a name given twice is reported rather than
 * silently resolved one way or the other (a proxy and we might disagree about
 * which copy counts), and a malformed percent escape is an error rather than
 * being passed through.  Decoded values are raw bytes: UTF-8 validity is
 * checked by the caller, which knows what the field is for.
 */
#ifndef SSE_FORM_H
#define SSE_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum form_result {
	FORM_ABSENT,     /* no pair with this name */
	FORM_FOUND,      /* exactly one; its decoded value is in out */
	FORM_DUPLICATE,  /* the name appears more than once */
	FORM_MALFORMED,  /* a bad percent escape in the name or the value */
};

/* Decodes '+' to space and %XX escapes; false on a malformed escape. */
bool form_decode(const char *s, size_t len, struct strbuf *out);

/* Looks up `name` in the encoded string s[0..len). */
enum form_result form_get(const char *s, size_t len, const char *name,
                          struct strbuf *out);

#endif
