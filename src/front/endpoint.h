/*
 * endpoint: what events.fcgi and post.fcgi share from start to end.
 *
 * Both read the configuration once per process (from beside the binary,
 * config.h), serve requests until told to stop (transport.h: one under
 * CGI, many under FastCGI), and keep one database connection across
 * requests, reopened only when the file was replaced or the last open
 * failed.  Each main supplies only its request handler.
 *
 * A broken configuration does not end the process: it is logged once at
 * start, and every request is then answered the endpoint's own way (a
 * stream: retry and a comment; a post: 500), because a CGI that exits
 * without an answer leaves the client a bare 500 with no reason.
 */
#ifndef SSE_ENDPOINT_H
#define SSE_ENDPOINT_H

#include <stdbool.h>

#include "config.h"
#include "store.h"
#include "transport.h"

/* What a request hears when config_error is set; the log has the detail. */
#define ENDPOINT_CONFIG_PROBLEM "server configuration error (see the error log)"

struct endpoint {
	const char *name;                     /* "events", "post": log component */
	struct config cfg;
	char config_error[CONFIG_ERROR_MAX];  /* "" when the config loaded */
	struct store *store;                  /* NULL until opened */
	unsigned long generation;             /* successful opens so far: a
	                                       * reopened store is told apart */
};

/* Process start: SQLite's process settings, then the configuration. */
void endpoint_start(struct endpoint *ep, const char *name, const char *argv0);

/* Process end: closes the database. */
void endpoint_finish(struct endpoint *ep);

/*
 * The whole life of an endpoint process: SQLite's process settings, the
 * configuration, then handler(req, the endpoint) for each request until
 * the server stops it.  Returns the exit status.
 */
int endpoint_main(const char *name, const char *argv0, request_handler handler);

/*
 * The open database, opened or reopened when needed.  for_writing refuses
 * a read-only file before opening it (STORE_READONLY): SQLite would create
 * -wal and -shm with the file's read-only mode, and they would stay so
 * after the owner fixed the file.  A failure is logged; the status says
 * what to tell the client.
 */
enum store_status endpoint_store(struct endpoint *ep, bool for_writing);

#endif
