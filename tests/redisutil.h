/*
 * redisutil: a real redis-server for a test, started in a temporary folder
 * on a unix socket (nothing on a network port), stopped by its pid.
 *
 * A missing redis-server fails the test with what to install: a Redis
 * test never passes, or skips, without Redis.  Header-only, like
 * testutil.h.
 */
#ifndef SSE_REDISUTIL_H
#define SSE_REDISUTIL_H

#include <hiredis/hiredis.h>

#include "sidecar.h"
#include "testutil.h"

#define TU_REDIS_START_MS 5000   /* a server answers PING by then */
#define TU_REDIS_DATABASES "1000"  /* one per test of a run (test_cases) */

struct tu_redis {
	pid_t pid;
	bool appendonly;
	char dir[PATH_MAX];
	char sock[PATH_MAX + 16];
	char url[PATH_MAX + 64];     /* redis+unix://SOCK */
};

/* A command on a fresh connection; NULL when the server is not there. */
static inline redisReply *tu_redis_command(const struct tu_redis *r,
                                           const char *cmd)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
	redisReply *reply = NULL;
	if (c != NULL && !c->err)
		reply = redisCommand(c, cmd);
	if (c != NULL)
		redisFree(c);
	return reply;
}

/* Starts the server in r->dir (its data stays there across restarts). */
static inline void tu_redis_run(struct tu_redis *r)
{
	char logfile[PATH_MAX + 16];
	snprintf(logfile, sizeof(logfile), "%s/redis.log", r->dir);
	pid_t parent = getpid();
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		tu_die_with_parent(parent);
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", r->sock, "--unixsocketperm", "700",
		       "--dir", r->dir, "--save", "", "--databases", TU_REDIS_DATABASES,
		       "--appendonly", r->appendonly ? "yes" : "no",
		       "--appendfsync", "always", "--logfile", logfile,
		       "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	long long until = tu_now_ms() + TU_REDIS_START_MS;
	for (;;) {
		int status;
		if (waitpid(r->pid, &status, WNOHANG) == r->pid)
			fail_msg("redis-server did not start (exit %d): is it installed?"
			         " (scripts/deps.sh build installs it)",
			         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		redisReply *reply = tu_redis_command(r, "PING");
		if (reply != NULL) {
			freeReplyObject(reply);
			return;
		}
		if (tu_now_ms() > until)
			fail_msg("redis-server did not answer PING on %s", r->sock);
		usleep(20 * 1000);
	}
}

static inline void tu_redis_start(struct tu_redis *r, bool appendonly)
{
	memset(r, 0, sizeof(*r));
	r->appendonly = appendonly;
	tu_tempdir(r->dir, sizeof(r->dir));
	snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
	snprintf(r->url, sizeof(r->url), "redis+unix://%s", r->sock);
	tu_redis_run(r);
}

/* Stops it by its pid (SIGTERM: it saves the append-only file; SIGKILL:
 * it does not) and waits for it. */
static inline void tu_redis_stop(struct tu_redis *r, int sig)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	int status;
	waitpid(r->pid, &status, 0);
	r->pid = 0;
}

/* This machine's files of a Redis database URL (the stream slots and the
 * metrics, sidecar.h), which live in /tmp: removed, so tests leave none. */
static inline void tu_redis_remove_sidecars(const char *url)
{
	static const char *const suffixes[] = { SIDECAR_STREAMS, SIDECAR_METRICS };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char path[PATH_MAX];
		if (sidecar_path(path, sizeof(path), url, suffixes[i]))
			unlink(path);
	}
}

/* Stops it and removes its folder and the files of its URL. */
static inline void tu_redis_finish(struct tu_redis *r)
{
	tu_redis_stop(r, SIGTERM);
	tu_rmtree(r->dir);
	tu_redis_remove_sidecars(r->url);
}

#endif
