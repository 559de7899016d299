/*
 * request: reading what a client sent, for both endpoints.  Pure functions of
 * strings, so every rule is pinned by a table in tests/test_request.c.
 */
#ifndef SSE_REQUEST_H
#define SSE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "digits.h"
#include "sse.h"

#define DEFAULT_CHANNEL "chat"
enum id_parse { ID_ABSENT, ID_VALID, ID_INVALID };

/* An event id: 1-18 ASCII digits, nothing else.  "" is absent. */
enum id_parse parse_event_id(const char *s, long long *out);

/* What GET /events.fcgi asked for; status 0 when valid, else 400. */
struct stream_query {
	char channel[SSE_NAME_MAX + 1];
	enum id_parse since;       /* the since= parameter */
	long long since_id;
	bool poll;                 /* poll=1: a one-shot answer, whatever the config */
	bool hello;                /* hello=1: the first frame also fires `hello` */
	bool html;                 /* format=html: a page of the recent messages */
	const char *error;         /* why, when status is 400 */
};
int parse_stream_query(const char *query, struct stream_query *out);

/*
 * A token= parameter in a query string, whatever its value: refused with
 * a 400 (QUERY_TOKEN_REFUSED) by both endpoints, since a URL lands in
 * access logs, Referer headers and history (gate.h says where a token
 * goes instead).
 */
#define QUERY_TOKEN_REFUSED "tokens are never read from the URL (it ends up" \
	" in logs): send the token as a cookie or in Authorization: Bearer"
bool query_has_token(const char *query);

#define STREAM_NO_RESUME (-1LL)   /* a newcomer: gets the history */
#define EVENTS_ALLOW "GET, HEAD"  /* the methods of the stream endpoint */

/* A whole stream request: method, query and Last-Event-ID together. */
struct events_request {
	struct stream_query q;     /* the channel (q.channel) and since= */
	bool head;                 /* HEAD: the headers only */
	long long resume;          /* STREAM_NO_RESUME, or the id to follow */
};

/*
 * Reads a stream request from its CGI/FastCGI parameters: 0 when it can be
 * served, else 405 (method; Allow: EVENTS_ALLOW) or 400 (query) with the
 * reason in *why.  Last-Event-ID wins over since=; an unreadable one counts
 * as an id above every id (answered with a reset), since the browser would
 * send it again on every retry and a 400 would end its EventSource.
 */
int parse_events_request(const char *method, const char *query,
                         const char *last_event_id, struct events_request *out,
                         const char **why);

enum body_type { BODY_FORM, BODY_JSON, BODY_OTHER };

/* The media type of a Content-Type header (charset must be UTF-8 if given). */
enum body_type parse_content_type(const char *content_type);

/* CONTENT_LENGTH: false when absent, not a number, or negative. */
bool parse_content_length(const char *s, long long *out);

/* True when an Accept header prefers an HTML page (a plain form post). */
bool wants_html(const char *accept);

#endif
