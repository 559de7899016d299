/* rconn: see rconn.h. */
#include "rconn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

static struct timeval ms_to_tv(long ms)
{
	return (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
}

/* Closes after a failure, keeping the reason (what: the step). */
static enum store_status broke(struct rconn *rc, const char *what)
{
	snprintf(rc->error, sizeof(rc->error), "%s: %s", what,
	         rc->c != NULL && rc->c->errstr[0] ? rc->c->errstr
	                                           : "connection failed");
	rconn_close(rc);
	return STORE_UNAVAILABLE;
}

void rconn_close(struct rconn *rc)
{
	if (rc->c != NULL)
		redisFree(rc->c);
	rc->c = NULL;
}

bool rconn_is_open(const struct rconn *rc)
{
	return rc->c != NULL;
}

bool rconn_closed_by_server(const struct rconn *rc)
{
	if (rc->c == NULL)
		return false;
	struct pollfd p = { rc->c->fd, POLLIN, 0 };
	if (poll(&p, 1, 0) <= 0)
		return false;   /* nothing to read: as it should be */
	char byte;
	ssize_t n = recv(rc->c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int rconn_fd(const struct rconn *rc)
{
	return rc->c != NULL ? rc->c->fd : -1;
}

/*
 * The first line of an owner-only regular file: a password readable by
 * others is refused, so that a mistake shows at once rather than after
 * the file was copied around.
 */
static bool read_password(const char *path, char *out, size_t len,
                          char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(why, whylen, "redis_password_file %s: %s", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	ssize_t n = -1;
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0)
		snprintf(why, whylen, "redis_password_file %s: must be a file only"
		         " its owner can read (chmod 600)", path);
	else if ((n = read(fd, out, len - 1)) < 0)
		snprintf(why, whylen, "redis_password_file %s: %s", path,
		         strerror(errno));
	close(fd);
	if (n < 0)
		return false;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		snprintf(why, whylen, "redis_password_file %s: empty", path);
		return false;
	}
	return true;
}

/* One setup command whose answer must be OK (AUTH, SELECT). */
static enum store_status setup(struct rconn *rc, const char *what, int argc,
                               const char **argv)
{
	redisReply *r = redisCommandArgv(rc->c, argc, argv, NULL);
	if (r == NULL)
		return broke(rc, what);
	enum store_status s = STORE_OK;
	if (r->type == REDIS_REPLY_ERROR) {
		/* The server's words (WRONGPASS, NOAUTH, ...) never echo the
		 * password. */
		snprintf(rc->error, sizeof(rc->error), "%s: %s", what, r->str);
		s = STORE_UNAVAILABLE;
	}
	freeReplyObject(r);
	if (s != STORE_OK)
		rconn_close(rc);
	return s;
}

static enum store_status authenticate(struct rconn *rc, const char *file)
{
	char password[RCONN_PASSWORD_MAX];
	if (!read_password(file, password, sizeof(password), rc->error,
	                   sizeof(rc->error))) {
		rconn_close(rc);
		return STORE_UNAVAILABLE;
	}
	const char *argv[] = { "AUTH", password };
	enum store_status s = setup(rc, "AUTH", 2, argv);
	explicit_bzero(password, sizeof(password));
	return s;
}

enum store_status rconn_open(struct rconn *rc, const struct dburl *url,
                             const char *password_file)
{
	rconn_close(rc);
	rc->error[0] = '\0';
	struct timeval tv = ms_to_tv(RCONN_CONNECT_MS);
	rc->c = url->unix_socket ? redisConnectUnixWithTimeout(url->path, tv)
	                         : redisConnectWithTimeout(url->host, url->port, tv);
	if (rc->c == NULL || rc->c->err)
		return broke(rc, "connecting");
	if (redisSetTimeout(rc->c, ms_to_tv(RCONN_COMMAND_MS)) != REDIS_OK)
		return broke(rc, "setting the command timeout");
	if (!url->unix_socket)
		redisEnableKeepAlive(rc->c);   /* a peer gone without a word */
	enum store_status s = STORE_OK;
	if (password_file != NULL && password_file[0] != '\0')
		s = authenticate(rc, password_file);
	if (s == STORE_OK && url->db != 0) {
		char db[16];
		snprintf(db, sizeof(db), "%d", url->db);
		const char *argv[] = { "SELECT", db };
		s = setup(rc, "SELECT", 2, argv);
	}
	return s;
}

redisReply *rconn_call(struct rconn *rc, int argc, const char **argv,
                       const size_t *lens)
{
	if (rc->c == NULL) {
		snprintf(rc->error, sizeof(rc->error), "not connected");
		return NULL;
	}
	redisReply *r = redisCommandArgv(rc->c, argc, argv, lens);
	if (r == NULL)
		broke(rc, argv[0]);
	return r;
}

enum store_status rconn_reply_status(struct rconn *rc, const redisReply *r,
                                     const char *what)
{
	if (r->type != REDIS_REPLY_ERROR)
		return STORE_OK;
	snprintf(rc->error, sizeof(rc->error), "%s: %s", what, r->str);
	static const struct { const char *prefix; enum store_status s; } kinds[] = {
		{ "OOM", STORE_FULL },             /* maxmemory reached */
		{ "READONLY", STORE_READONLY },    /* a replica */
		{ "BUSY", STORE_BUSY },            /* a long script runs */
		{ "LOADING", STORE_UNAVAILABLE },  /* loading its data after a start */
		{ "NOAUTH", STORE_UNAVAILABLE },
		{ "MISCONF", STORE_FULL },         /* cannot persist (disk) */
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(r->str, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
			return kinds[i].s;
	return STORE_ERROR;
}

bool rconn_unblock(struct rconn *rc)
{
	int flags = fcntl(rc->c->fd, F_GETFL);
	if (flags < 0 || fcntl(rc->c->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		snprintf(rc->error, sizeof(rc->error), "fcntl O_NONBLOCK: %s",
		         strerror(errno));
		rconn_close(rc);
		return false;
	}
	/* What redisConnectNonBlock sets: a read that would wait returns. */
	rc->c->flags &= ~REDIS_BLOCK;
	return true;
}

bool rconn_send(struct rconn *rc, int argc, const char **argv,
                const size_t *lens)
{
	if (rc->c == NULL || redisAppendCommandArgv(rc->c, argc, argv, lens) !=
	    REDIS_OK)
		return broke(rc, argv[0]), false;
	/* A command longer than the socket's buffer: wait for room, within
	 * the command bound (Redis reads as fast as it can). */
	long long until = clock_now_ms() + RCONN_COMMAND_MS;
	int done = 0;
	while (!done) {
		if (redisBufferWrite(rc->c, &done) != REDIS_OK)
			return broke(rc, argv[0]), false;
		long long left = until - clock_now_ms();
		struct pollfd p = { rc->c->fd, POLLOUT, 0 };
		if (!done && (left <= 0 || poll(&p, 1, (int)left) <= 0)) {
			snprintf(rc->c->errstr, sizeof(rc->c->errstr), "write timed out");
			return broke(rc, argv[0]), false;
		}
	}
	return true;
}

bool rconn_read(struct rconn *rc)
{
	if (rc->c == NULL)
		return false;
	if (redisBufferRead(rc->c) != REDIS_OK)
		return broke(rc, "reading"), false;
	return true;
}

bool rconn_take(struct rconn *rc, redisReply **out)
{
	*out = NULL;
	if (rc->c == NULL)
		return false;
	void *reply = NULL;
	if (redisGetReplyFromReader(rc->c, &reply) != REDIS_OK)
		return broke(rc, "reading"), false;
	*out = reply;
	return true;
}
