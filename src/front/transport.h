/*
 * transport: one request, whether it came as plain CGI or over FastCGI.
 *
 * libfcgi decides at run time (FCGX_IsCGI: fd 0 is a listening socket under a
 * FastCGI server, a pipe or a connected socket under CGI).  Under CGI the
 * request is the environment, stdin and stdout, and the process serves one
 * request; under FastCGI, serve() loops over FCGX_Accept_r and the handler
 * keeps its state (database connection, prepared statements) across requests.
 *
 * Writes report a gone client as false instead of killing the process:
 * SIGPIPE is ignored, and under CGI stdout is non-blocking with a deadline so
 * a client that stops reading cannot hold the process forever.
 *
 * The only global state is the stop flag, set from the SIGTERM/SIGUSR1/SIGINT
 * handler (how mod_fcgid and Apache ask a process to go): a signal handler can
 * reach nothing else.
 */
#ifndef SSE_TRANSPORT_H
#define SSE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A write that cannot make progress for this long drops the client. */
#define TRANSPORT_WRITE_TIMEOUT_MS 30000
/* A request body that stalls this long is abandoned (slowloris). */
#define TRANSPORT_READ_TIMEOUT_MS 10000

/* Opaque: libfcgi's types stay inside transport.c. */
struct request;

/* Handles one request; returns nothing: errors are answered or logged. */
typedef void (*request_handler)(struct request *req, void *ctx);

/* Runs handler once (CGI) or for each request until told to stop (FastCGI). */
int transport_serve(request_handler handler, void *ctx);

/*
 * SIGTERM/SIGUSR1/SIGINT set the stop flag (no SA_RESTART: a blocked call
 * returns EINTR at once); SIGPIPE is ignored.  transport_serve calls it;
 * a server with its own loop (hub.c) calls it first.
 */
void transport_install_signals(void);

/* True once SIGTERM/SIGUSR1/SIGINT arrived. */
bool transport_stopping(void);

const char *req_param(const struct request *req, const char *name);
/* Reads up to len bytes of the body; 0 at its end, -1 on error or stall. */
ssize_t req_read(struct request *req, char *buf, size_t len);
/* True under FastCGI (libfcgi), false under CGI. */
bool req_is_fastcgi(const struct request *req);
/*
 * Reads and drops what is left of the declared body, up to max bytes
 * (more is left alone); never parsed.
 */
void req_discard_body(struct request *req, long long max);
/* Writes and flushes; false when the client is gone. */
bool req_write(struct request *req, const void *data, size_t len);

enum wait_result {
	WAIT_TIMEOUT,   /* the time passed quietly */
	WAIT_WOKEN,     /* wake_fd became readable */
	WAIT_GONE,      /* the client or server went away, or a stop signal */
};

/*
 * Sleeps up to timeout_ms on the connection and, when wake_fd >= 0, on
 * wake_fd too.  A gone client shows on the connection without any write:
 * under CGI as an error on stdout, under FastCGI as input (an abort or the
 * end of the connection: the server sends nothing else mid-response).
 */
enum wait_result req_wait(struct request *req, int timeout_ms, int wake_fd);

#endif
