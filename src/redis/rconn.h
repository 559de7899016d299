/*
 * rconn: one connection to a Redis server, through hiredis.
 *
 * hiredis (Debian's libhiredis-dev, which ships libhiredis.a for make
 * static) speaks RESP and nothing else: no threads, no event library.  A
 * connection is opened blocking, with a bound on the connect and on each
 * command (RCONN_*_MS), authenticated from redis_password_file and moved
 * to its database; the engine's command connection stays so.  The wake
 * connection is then turned non-blocking (rconn_unblock): one command
 * waits on it (XREAD BLOCK), its socket sits in the caller's poll or
 * epoll, and its reply is read piece by piece as it arrives.
 *
 * Any failure of the connection itself (refused, reset, timed out, a
 * protocol error) closes it: a hiredis context that failed once is not
 * used again, so the next use reconnects.  The reason stays in
 * rc->error for the engine to log once; it never contains the password.
 */
#ifndef SSE_RCONN_H
#define SSE_RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "dburl.h"
#include "store.h"

#define RCONN_CONNECT_MS 1000     /* a connect waits this long at most */
#define RCONN_COMMAND_MS 2000     /* a command's answer, this long */
#define RCONN_PASSWORD_MAX 512    /* redis_password_file's first line */

struct rconn {
	redisContext *c;              /* NULL: closed */
	char error[STORE_ERROR_MAX];  /* why the last failure, "" if none */
};

/*
 * Connects, authenticates (password_file "" or NULL: no AUTH) and selects
 * the database.  STORE_OK, or the status for the client with rc->error.
 */
enum store_status rconn_open(struct rconn *rc, const struct dburl *url,
                             const char *password_file);
void rconn_close(struct rconn *rc);
bool rconn_is_open(const struct rconn *rc);

/*
 * True when an idle connection (no command waiting for its answer) has
 * something to read: the server closed it (its `timeout`, a restart, CLIENT
 * KILL) or sent what nobody asked for.  Either way it is of no more use;
 * seeing it before a command spares that command a failure.
 */
bool rconn_closed_by_server(const struct rconn *rc);

/* The socket (-1 when closed). */
int rconn_fd(const struct rconn *rc);

/*
 * One command, waiting for its answer.  NULL when the connection failed
 * (now closed; rc->error says why).  An error reply is handed back as
 * it is: rconn_reply_status tells what it means for a client.
 */
redisReply *rconn_call(struct rconn *rc, int argc, const char **argv,
                       const size_t *lens);

/* What an error reply means for a client, its text kept in rc->error. */
enum store_status rconn_reply_status(struct rconn *rc, const redisReply *r,
                                     const char *what);

/* From now on reads and writes do not wait (the wake connection). */
bool rconn_unblock(struct rconn *rc);

/* Sends one command without waiting for the answer; false: closed. */
bool rconn_send(struct rconn *rc, int argc, const char **argv,
                const size_t *lens);

/* Reads what has arrived (the socket was readable); false: closed. */
bool rconn_read(struct rconn *rc);

/* A whole answer read so far (*out), or *out NULL; false: closed. */
bool rconn_take(struct rconn *rc, redisReply **out);

#endif
