/*
 * chatmsg: turning a POST body into a valid chat message, or a reason why not.
 *
 * Form bodies are decoded by form.c; JSON bodies are read with SQLite's own
 * JSON functions (json_valid, json_type, json_extract) on the connection the
 * caller already has, so there is no hand-written JSON parser to get wrong.
 * Then the same rules apply to both (SPEC.md, "POST"): UTF-8, trimming,
 * lengths in characters, no control characters but newlines in the text.
 */
#ifndef SSE_CHATMSG_H
#define SSE_CHATMSG_H

#include <sqlite3.h>

#include "request.h"
#include "strbuf.h"

#define CHAT_USER_MAX 32      /* characters, after trimming */
#define CHAT_TEXT_MAX 2000    /* characters, after trimming */

struct chatmsg {
	struct strbuf channel;
	struct strbuf user;
	struct strbuf text;
};

#define CHATMSG_INIT { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT }

void chatmsg_free(struct chatmsg *m);

/*
 * Parses and validates a body of the given type.  Returns 0 when the message
 * is valid, else the HTTP status (400) with the reason in *error.  db is any
 * open connection, used only for its JSON functions.
 */
int chatmsg_parse(sqlite3 *db, enum body_type type, const char *body,
                  size_t len, struct chatmsg *out, const char **error);

/* Trimming and checks for one field, exposed for the tests. */
const char *chatmsg_check_user(struct strbuf *user);
const char *chatmsg_check_text(struct strbuf *text);

#endif
