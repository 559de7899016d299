/*
 * chatmsg: turning a POST body into a valid chat message, or a reason why not.
 *
 * Form bodies are decoded by form.c; JSON bodies are read by json.c (SQLite's
 * own JSON functions on a private in-memory connection), so there is no
 * hand-written JSON parser to get wrong and no database is needed: a bad
 * body is a 400 even while the database is down.  Then the same rules apply
 * to both (docs/PROTOCOL.md, "POST /cgi-bin/post.fcgi"): UTF-8, trimming,
 * lengths in characters, no control characters but newlines in the text.
 */
#ifndef SSE_CHATMSG_H
#define SSE_CHATMSG_H

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
 * is valid, else the HTTP status (400) with the reason in *error.
 */
int chatmsg_parse(enum body_type type, const char *body, size_t len,
                  struct chatmsg *out, const char **error);

/*
 * The same for a post signed by a token (gate.h): name, not the body's
 * user field (present or not), is the user, under the same rules.
 */
int chatmsg_parse_signed(enum body_type type, const char *body, size_t len,
                         const char *name, struct chatmsg *out,
                         const char **error);

#endif
