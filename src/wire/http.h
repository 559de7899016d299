/*
 * http: writing CGI responses (a "Status:" header, the other headers, a blank
 * line, the body), shared by both endpoints.  Error bodies are always the JSON
 * object {"error":"..."} of docs/PROTOCOL.md, so a page can show the reason.
 */
#ifndef SSE_HTTP_H
#define SSE_HTTP_H

#include <stdbool.h>

#include "strbuf.h"
#include "transport.h"

const char *http_reason(int status);

/* Appends s as a JSON string literal (quotes included).  Not json_string:
 * Jansson (json.h) exports that name. */
void http_json_string(struct strbuf *out, const char *s);

/*
 * A complete response.  extra_headers is "" or CRLF-terminated header lines;
 * body may be NULL.  Adds Content-Length and Cache-Control: no-store.
 */
void http_respond(struct request *req, int status, const char *extra_headers,
                  const char *content_type, const char *body);

/*
 * A refused body is still read and thrown away, up to this much: a process
 * that exits with unread input on a socket (mod_cgid's stdin is one) makes
 * the kernel reset the connection, and the server may lose our answer.
 */
#define HTTP_DISCARD_MAX (1024 * 1024)

/* The bytes of http_respond's answer, appended to out (no body for HEAD). */
void http_put_response(struct strbuf *out, int status, const char *extra_headers,
                       const char *content_type, const char *body, bool head);

/* The bytes of http_error's answer: {"error": message}. */
void http_put_error(struct strbuf *out, int status, const char *extra_headers,
                    const char *message, bool head);

/* Reads and drops what is left of the declared body; never parsed. */
void http_discard_body(struct request *req);

/* {"error": message} with the given status, after discarding the body. */
void http_error(struct request *req, int status, const char *extra_headers,
                const char *message);

#endif
