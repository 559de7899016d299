/*
 * json: reading the string members of a JSON object (a POST body).
 *
 * SQLite already parses JSON (json_valid, json_type, json_extract,
 * json_each), and we link it anyway, so there is no hand-written JSON
 * parser here to get wrong.  The functions run on a private in-memory
 * connection opened for the call, never on the message database: a body
 * can be judged (and refused with 400) while the database is locked,
 * missing or read-only, and the checks do not depend on the store.
 *
 * What SQLite's reading would get wrong is refused up front: a raw NUL
 * (bound text is read as a C string, hiding the rest of the body) and an
 * escaped \u0000 (its JSON functions end a string there, which would keep
 * half a field).  A member given twice is refused rather than resolved,
 * like a form field given twice.
 */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* A member to read: its name (letters only), where its string goes. */
struct json_member {
	const char *name;
	struct strbuf *value;
	bool present;          /* set by json_read_strings */
};

/*
 * Reads the named members of the JSON object in body.  NULL when the body
 * is an object whose named members, where present, are strings given once;
 * else the reason, for a 400.  Other members are ignored.
 */
const char *json_read_strings(const char *body, size_t len,
                              struct json_member *members, size_t n);

#endif
