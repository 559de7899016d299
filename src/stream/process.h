/*
 * process: the per-process driver of the stream machine (machine.h): one
 * stream, blocking, in a process of its own (CGI, mod_fcgid, spawn-fcgi
 * without --listen), and ssectl tail.
 *
 * It sleeps in one poll() on the connection (so a gone client or a stop
 * signal wakes it at once) and on the feed's wake; woken, or at the
 * feed's fallback look, it pulls the news for its one channel.  Between
 * looks it sleeps until the machine's next tick (a keepalive or the end
 * of the lifetime) at the latest.  Live streams are capped across
 * processes by slots.h.
 */
#ifndef SSE_PROCESS_H
#define SSE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "feed.h"
#include "machine.h"
#include "transport.h"

/* How the driver reaches its client: writes and a wait. */
struct stream_io {
	bool (*write)(void *ctx, const char *data, size_t len);
	/* Sleeps up to timeout_ms on the client and wake_fd (-1: none). */
	enum wait_result (*wait)(void *ctx, int timeout_ms, int wake_fd);
	void *ctx;
};

/*
 * Serves one stream from its request to its end.  req->room is measured
 * here (slots.h) when cfg->max_streams is set.  With counted, what the
 * machine counts goes to DATABASE.metrics (tally.h) as the stream runs;
 * the file stays mapped for the stream's life, so each count is an atomic
 * addition and no system call.
 */
void stream_process_run(const struct stream_io *io, const struct config *cfg,
                        struct feed *feed, struct stream_request req,
                        bool counted);

/* The io of a CGI/FastCGI request (transport.h). */
struct stream_io stream_io_of_request(struct request *req);

#endif
