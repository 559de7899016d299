/*
 * scrape: the one HTTP request the hub's metrics socket answers (config
 * key metrics_listen): GET /metrics, as Prometheus sends it, and the
 * HTTP/1.0 answer, after which the connection closes.
 *
 * Pure, like every parser of outside input here (README, "One way of
 * reporting errors"): bytes in, a status and its reason out, nothing
 * logged.  The caller reads into a buffer of SCRAPE_HEAD_MAX bytes and
 * asks again after each read.  The verdict waits for the whole head (up
 * to its blank line) even when the request line already settles it: a
 * socket closed with unread bytes in it is reset by the kernel, and the
 * scraper could lose the answer.  Header fields are read past, not
 * checked: nothing in them changes the answer.
 */
#ifndef SSE_SCRAPE_H
#define SSE_SCRAPE_H

#include <stddef.h>

#include "strbuf.h"

#define SCRAPE_HEAD_MAX 4096     /* a scraper's head is a few hundred bytes */
#define SCRAPE_PATH "/metrics"

/*
 * The verdict on the head of a request in buf[0..len): 0 while it is not
 * all there (no blank line yet, fewer than SCRAPE_HEAD_MAX bytes), else
 * the status to answer: 200 for GET /metrics (a query string is allowed
 * and ignored), 404 for another path, 405 for another method, 400 for a
 * request line that is not METHOD SP /TARGET SP HTTP/1.x, 431 for a head
 * of SCRAPE_HEAD_MAX bytes with no end.  *why names a refusal's reason.
 */
int scrape_parse(const char *buf, size_t len, const char **why);

/*
 * The whole answer: "HTTP/1.0 status", Content-Type (Prometheus's for
 * 200, plain text else), Content-Length, Connection: close, Allow for a
 * 405, then body (body_len bytes).
 */
void scrape_answer(struct strbuf *out, int status, const char *body,
                   size_t body_len);

#endif
