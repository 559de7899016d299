/*
 * hub: one process serving many streams (events.fcgi --listen ADDR).
 *
 * Under CGI and mod_fcgid every listener is a process, which is what a
 * shared host allows and what the rest of events.fcgi is built for.  Behind
 * nginx, lighttpd or Apache's mod_proxy_fcgi on a VPS, each stream is one
 * FastCGI connection instead, so one process can hold thousands of them in
 * one epoll loop, and the cost per listener drops from a process to a few
 * hundred bytes and a socket.
 *
 * How a message travels: the feed (feed.h) wakes the process once, not
 * per stream; the hub pulls each new message once for all the channels it
 * serves; frames it once, as FastCGI STDOUT records; and writes those
 * bytes to every stream of its channel that the stream machine says has
 * not had that id yet (stream_take).  Every rule of a stream is the
 * machine's (stream/machine.h), the same that runs one stream per process:
 * the hub only turns epoll events and timers into the machine's events.
 *
 * Files: hub.c answers requests, fans messages out, runs the timers and
 * the drain; conn.c is a connection's life (its queue, its end, its
 * close); channels.c is who follows which channel (a hash table of
 * follower lists); accept.c takes connections, with the reserve
 * descriptor; loop.c is the epoll loop and timers; queue.c a connection's
 * bounded write queue; metrics.c answers GET /metrics on metrics_listen.
 * hub_private.h has the connection and the hub.
 *
 * A slow client never delays the others: writes never block, and what a
 * socket does not take waits in that stream's own queue.  Past
 * STREAM_BACKLOG_MAX bytes the stream is ended: what waits is dropped, its
 * end is queued instead, and the browser reconnects and resumes by
 * Last-Event-ID, losing nothing.  A gone client shows as the
 * web server closing the FastCGI connection: nginx at once; lighttpd at
 * the stream's next write (a keepalive at the latest); mod_proxy_fcgi only
 * at the second write after the client's close, so within two keepalives.
 *
 * The FastCGI records are our own (fcgi_wire.h): libfcgi's streams block
 * and cannot share a loop.  libfcgi still serves CGI, mod_fcgid and a
 * spawn-fcgi process started without --listen.
 *
 * Limits: the streams one process serves at once are listen_max_streams,
 * and at most what RLIMIT_NOFILE allows (raised to its hard limit at
 * start); past that a new stream gets the one-shot answer.  One descriptor
 * is kept in reserve so that even at the limit a connection can be taken
 * and answered rather than left waiting.  SIGTERM ends every stream with
 * its end record, so browsers reconnect to the next process at once.
 */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include "endpoint.h"

#define HUB_READ_CHUNK 16384         /* one read from a connection */
#define HUB_TICK_MS 250              /* keepalives and lifetimes checked */
#define HUB_REQUEST_WAIT_MS 10000    /* a connection must ask within this */
#define HUB_DRAIN_MS 2000            /* SIGTERM: time for the ends to leave */
#define HUB_LINGER_MS 5000           /* an ended request's web server closes */
#define HUB_BEHIND_LINGER_MS 120000  /* the end of a stalled stream waits for
                                      * its client to read again (nginx's
                                      * send_timeout is 60 s): conn_end_behind */
#define HUB_SPARE_FDS 32             /* descriptors kept for everything else */
#define HUB_TALLY_MS 1000            /* the streams' counts go to the file */
#define HUB_SCRAPES_MAX 4            /* metrics requests answered at once */
#define HUB_SCRAPE_MS 5000           /* one asks and reads its answer within */

/* A stalled stream may owe STREAM_BACKLOG_MAX bytes (machine.h). */

/* Serves streams on listen_fd until SIGTERM; returns the exit status. */
int hub_run(struct endpoint *ep, int listen_fd);

#endif
