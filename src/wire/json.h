/*
 * json: reading the string members of a JSON object (a POST body).
 *
 * Jansson (libjansson; Debian's libjansson-dev, Alpine's jansson-dev,
 * Fedora's jansson-devel) parses the body: a small C library, maintained
 * since 2009, that does only JSON, ships a static archive for make static,
 * and gives each error a code (json_error_code, Jansson 2.11 or later;
 * Debian 12 has 2.14).  SQLite's JSON functions used to read the body, on
 * a private in-memory database opened for every post, with eight
 * statements prepared per body (60-90 us); Jansson takes about a
 * microsecond (bench/README.md, "JSON post parse"), and SQLite is left to
 * the store.  There is still no hand-written JSON parser here to get wrong,
 * and a body is judged (and refused with 400) without the database, so also
 * while it is locked, missing or read-only.
 *
 * What is refused, and why (docs/PROTOCOL.md, "POST", has the rules):
 *   - anything that is not RFC 8259 JSON: "body is not valid JSON".  A raw
 *     NUL byte is checked first, before Jansson: JSON never allows one.
 *   - JSON that is not an object: "body must be a JSON object".
 *   - the escape \u0000 anywhere, in a value or a name (Jansson refuses it
 *     unless told otherwise): the values go on as C strings, where a NUL
 *     would hide the rest of a field: "fields must not contain control
 *     characters (\u0000)".
 *   - a name given twice in any object of the body, not only the members
 *     asked for (JSON_REJECT_DUPLICATES): refused rather than resolved,
 *     like a form field given twice: "a field is given twice".
 *   - a named member that is not a string (null, a number, an object...):
 *     "fields must be JSON strings".  Other members are ignored, whatever
 *     they hold (once the body as a whole is valid).
 *   - bytes that are not UTF-8 (Jansson checks every byte): "body is not
 *     valid UTF-8".  chatmsg_parse checks the whole body before, so a post
 *     meets this only there.  An escape naming half a surrogate pair (a
 *     lone \ud800) has no UTF-8 form either: "fields are not valid UTF-8
 *     (a lone surrogate escape)".
 *   - what goes past the limits RFC 8259 lets a parser set, each with a
 *     reason of its own: nesting deeper than Jansson's built-in
 *     JSON_PARSER_MAX_DEPTH (2048 arrays or objects; it stops there, so
 *     10,000 '[' cost no deep recursion); a number beyond a double's range
 *     (numbers are read as doubles, JSON_DECODE_INT_AS_REAL, so a long
 *     integer is no error; 1e400 is); a body whose tree would take more
 *     than 16 MiB (json.c: only a body far above the default max_body of
 *     8 KiB can get there; post.fcgi refuses a body above max_body before
 *     reading it).
 *
 * libjansson.a defines json_*, jsonp_*, hashtable_*, strbuffer_*, utf8_encode,
 * utf8_iterate and utf8_check_*: none of our functions may take such a name
 * (make static fails on the clash; the dynamic build would quietly use ours).
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
