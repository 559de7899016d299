/*
 * json: see json.h for why Jansson reads the body and what is refused.
 *
 * One json_loadb per body builds the tree of the whole object (a few
 * hundred bytes for a chat post); the named members are then looked up in
 * it and copied out, and the tree is freed.  Jansson's error codes
 * (json_error_code) give each refusal its own reason.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * The flags: JSON_DECODE_ANY so that a string or an array at the top is
 * read and then refused as "not an object" (without it Jansson calls it a
 * syntax error); JSON_REJECT_DUPLICATES; JSON_DECODE_INT_AS_REAL so that
 * an integer beyond 64 bits, valid JSON, is no error (numbers are ignored
 * anyway).  Not JSON_ALLOW_NUL: \u0000 stays an error.
 */
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

/* Jansson's text for an escape of half a surrogate pair ("invalid Unicode
 * '\uD800'"); a bad escape like \u12G4 is "invalid Unicode escape ...". */
#define LONE_SURROGATE_TEXT "invalid Unicode '"

/*
 * What Jansson may allocate while it reads one body (bytes asked for, frees
 * not subtracted, so the peak is below it).  Jansson's tree costs up to ~75
 * bytes per byte of body ([{},{},...]): under 1 MiB for any body of the
 * default max_body (8 KiB), so this only bites where max_body was raised
 * (at most 1 MiB, which could otherwise take ~90 MB).  A 1 MiB string needs
 * ~3 MiB.  Set through json_set_alloc_funcs, which is process-wide: our
 * programs use Jansson nowhere else, and post.fcgi has one thread.
 */
#define ALLOC_MAX ((size_t)16 << 20)
#define ALLOC_MAX_TEXT "16 MiB"

static bool alloc_limited;     /* inside json_loadb */
static size_t alloc_left;
static bool alloc_refused;     /* the limit, not malloc, said no */

static void *limited_malloc(size_t size)
{
	if (alloc_limited) {
		if (size > alloc_left) {
			alloc_refused = true;
			return NULL;
		}
		alloc_left -= size;
	}
	return malloc(size);
}

static json_t *load(const char *body, size_t len, json_error_t *error)
{
	static bool hooked;
	if (!hooked) {
		json_set_alloc_funcs(limited_malloc, free);
		hooked = true;
	}
	alloc_limited = true;
	alloc_left = ALLOC_MAX;
	alloc_refused = false;
	json_t *root = json_loadb(body, len, LOAD_FLAGS, error);
	alloc_limited = false;
	return root;
}

/* The reason for a body Jansson refused. */
static const char *load_error(const json_error_t *error)
{
	if (alloc_refused)
		return "JSON body needs too much memory to read (over " ALLOC_MAX_TEXT ")";
	switch (json_error_code(error)) {
	case json_error_duplicate_key:
		return "a field is given twice";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "fields must not contain control characters (\\u0000)";
	case json_error_invalid_utf8:
		return "body is not valid UTF-8";
	case json_error_stack_overflow:
		return "JSON is nested too deeply (more than "
		       STR(JSON_PARSER_MAX_DEPTH) " levels)";
	case json_error_numeric_overflow:
		return "a number in the body is out of range";
	case json_error_out_of_memory:
		return "cannot read JSON now";
	default:
		break;
	}
	if (strncmp(error->text, LONE_SURROGATE_TEXT, strlen(LONE_SURROGATE_TEXT)) == 0)
		return "fields are not valid UTF-8 (a lone surrogate escape)";
	return "body is not valid JSON";
}

const char *json_read_strings(const char *body, size_t len,
                              struct json_member *members, size_t n)
{
	for (size_t i = 0; i < n; i++)
		members[i].present = false;
	/* JSON never allows a raw NUL.  Jansson refuses it too; checking here
	 * states the rule without depending on its lexer. */
	if (len > 0 && memchr(body, '\0', len) != NULL)
		return "body is not valid JSON";
	json_error_t error;
	json_t *root = load(body, len, &error);
	if (root == NULL)
		return load_error(&error);
	const char *err = NULL;
	if (!json_is_object(root))
		err = "body must be a JSON object";
	for (size_t i = 0; err == NULL && i < n; i++) {
		json_t *value = json_object_get(root, members[i].name);
		if (value == NULL)
			continue;
		members[i].present = true;
		if (!json_is_string(value))
			err = "fields must be JSON strings";
		else
			sb_append(members[i].value, json_string_value(value),
			          json_string_length(value));
	}
	json_decref(root);
	return err;
}
