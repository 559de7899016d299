/*
 * sse: encoding of the text/event-stream wire format (WHATWG HTML, "Server-sent
 * events", section "Parsing an event stream").
 *
 * The one rule that matters for safety: a payload is split into lines on every
 * line ending the browser's parser recognises (CRLF, LF and a lone CR), and
 * each line goes out behind its own "data: " prefix.  Since no line of output
 * can then start with anything we did not write, no payload can inject an
 * `id:`, `event:` or `retry:` field, nor end the frame early with a blank line.
 * The browser joins the data lines with LF, so the client receives the payload
 * with its line endings normalised to LF and otherwise byte for byte.
 *
 * Event names and ids never come from payloads: names are checked with
 * sse_valid_name() by whoever accepts them, ids are integers we print.
 */
#ifndef SSE_SSE_H
#define SSE_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/*
 * The one rule for channel and event names, used by every module that
 * accepts or stores one (queries, posts, ssectl, the ring's slots):
 * 1-SSE_NAME_MAX characters of [A-Za-z0-9_.-], short enough for a log line
 * and a URL, and never anything that needs escaping in a frame.
 */
#define SSE_NAME_MAX 64
#define SSE_NAME_STR_(n) #n
#define SSE_NAME_STR(n) SSE_NAME_STR_(n)
/* The rule in words, for error messages: "channel must be " SSE_NAME_RULE. */
#define SSE_NAME_RULE "1-" SSE_NAME_STR(SSE_NAME_MAX) \
                      " characters of A-Z a-z 0-9 _ . -"

bool sse_valid_name(const char *s, size_t len);

/*
 * One event: "id: ID", "event: NAME" unless name is NULL or "message",
 * one "data: " line per payload line, then the blank line that ends it.
 */
void sse_event(struct strbuf *out, long long id, const char *name,
               const char *data, size_t len);

/* A comment (": text"), one line per line of text; never dispatches. */
void sse_comment(struct strbuf *out, const char *text);

/* "retry: MS": the browser's reconnection delay. */
void sse_retry(struct strbuf *out, long ms);

/* The blank line that ends a frame of fields without data (retry, comment). */
void sse_end_frame(struct strbuf *out);

#endif
