/*
 * ask: what a stream request asks, read from its CGI parameters the same
 * way for both drivers: the per-process one reads them from libfcgi or the
 * CGI environment, the hub from its own FastCGI records.  The method, the
 * query and Last-Event-ID (parse_events_request, request.h), what may
 * carry a token, and the endpoint's own state (a broken configuration, the
 * token keys).  What only the driver knows (the room it has, the feed's
 * answer, the cap) it adds itself.
 */
#ifndef SSE_ASK_H
#define SSE_ASK_H

#include "endpoint.h"
#include "machine.h"
#include "request.h"

/* A request's CGI parameters, by name (NULL: absent). */
struct stream_params {
	const char *(*get)(void *ctx, const char *name);
	void *ctx;
};

/*
 * 0 with *sr filled (its strings point into *er and the parameters, which
 * must outlive it), or the status to refuse the request with (400, 405)
 * and *why.  sr->feed is STORE_OK and sr->room STREAM_ROOM until the
 * driver says otherwise.
 */
int stream_ask(const struct stream_params *p, struct endpoint *ep,
               struct events_request *er, struct stream_request *sr,
               const char **why);

#endif
