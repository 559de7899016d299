/*
 * endpoint: what events.fcgi and post.fcgi share from start to end.
 *
 * Both read the configuration once per process (from beside the binary,
 * config.h) with the token secrets it names (secret.h), serve requests until told to stop (transport.h: one under
 * CGI, many under FastCGI), and keep one feed (feed.h: the database and
 * its wake) across requests, reopened only when the file was replaced or
 * the last open failed.  Each main supplies only its request handler.
 *
 * A broken configuration does not end the process: it is logged once at
 * start, and every request is then answered the endpoint's own way (a
 * stream: retry and CONFIG_PROBLEM; a post: 500), because a CGI that exits
 * without an answer leaves the client a bare 500 with no reason.
 *
 * Opaque: callers ask through the functions below; a reopen is reported by
 * endpoint_ready, never by a field they compare.
 */
#ifndef SSE_ENDPOINT_H
#define SSE_ENDPOINT_H

#include <stdbool.h>

#include "config.h"
#include "feed.h"
#include "store.h"
#include "token.h"
#include "transport.h"

struct endpoint;

/* Process start: SQLite's process settings, then the configuration.
 * NULL (logged) only when memory ran out. */
struct endpoint *endpoint_start(const char *name, const char *argv0);

/* Process end: closes the database, frees. */
void endpoint_finish(struct endpoint *ep);

/*
 * The whole life of an endpoint process: endpoint_start, then
 * handler(req, the endpoint) for each request until the server stops it.
 * Returns the exit status.
 */
int endpoint_main(const char *name, const char *argv0, request_handler handler);

/* The configuration as loaded (defaults where it did not load). */
const struct config *endpoint_config(const struct endpoint *ep);

/* The token secrets (secret.h); none (n == 0) when none is configured. */
const struct token_keys *endpoint_keys(const struct endpoint *ep);

/* True when the configuration, or a token secret, did not load (the log
 * said why). */
bool endpoint_config_broken(const struct endpoint *ep);

/* The feed of the configured database (not opened until endpoint_ready). */
struct feed *endpoint_feed(struct endpoint *ep);

/*
 * The database open, opened or reopened when needed (feed_ready);
 * *reopened when another file than before is now open.  A failure is
 * logged; the status says what to tell the client.
 */
enum store_status endpoint_ready(struct endpoint *ep, bool *reopened);

/*
 * The feed ready for a writer (feed_ready_for, FEED_FOR_WRITING): a
 * SQLite file that cannot be written is refused before it is opened.
 */
enum store_status endpoint_ready_for_writing(struct endpoint *ep);

#endif
