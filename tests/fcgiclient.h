/*
 * fcgiclient: the binaries as FastCGI servers, for the tests.  A server is
 * started the way mod_fcgid and spawn-fcgi start one (fd 0 a listening
 * socket) and spoken to with a minimal FastCGI client written from the
 * protocol specification: one connection per request, reads poll-driven
 * with deadlines so a test never hangs.
 */
#ifndef SSE_FCGICLIENT_H
#define SSE_FCGICLIENT_H

#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

enum { FCGI_BEGIN = 1, FCGI_END = 3, FCGI_PARAMS = 4, FCGI_STDIN = 5,
       FCGI_STDOUT = 6, FCGI_STDERR = 7 };

struct server {
	char dir[PATH_MAX];
	char sock[PATH_MAX + 32];
	char db[PATH_MAX + 32];
	char ssectl[PATH_MAX + 32];
	pid_t pid;
};

static inline void put_record(struct strbuf *out, int type, const void *data,
                              size_t len)
{
	unsigned char h[8] = { 1, (unsigned char)type, 0, 1,
	                       (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };
	sb_append(out, h, 8);
	sb_append(out, data, len);
}

/* A FastCGI length: one byte below 128, else four with the top bit set
 * (a 5 KiB Cookie header needs those). */
static inline void put_length(struct strbuf *params, size_t n)
{
	assert_true(n < 0x7fffffff);
	if (n < 128) {
		sb_putc(params, (char)n);
		return;
	}
	unsigned char b[4] = { (unsigned char)(0x80 | (n >> 24)),
	                       (unsigned char)(n >> 16), (unsigned char)(n >> 8),
	                       (unsigned char)n };
	sb_append(params, b, 4);
}

static inline void put_pair(struct strbuf *params, const char *name,
                            const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	put_length(params, n);
	put_length(params, v);
	sb_append(params, name, n);
	sb_append(params, value, v);
}

/*
 * Starts cgi-bin/NAME with a listening socket on fd 0, and with `arg` (and
 * `arg2`) as its arguments when not NULL.
 */
static inline void server_start_with(struct server *s, const char *name,
                                     const char *conf, const char *arg,
                                     const char *arg2)
{
	tu_tempdir(s->dir, sizeof(s->dir));
	tu_make_site(s->dir, conf);
	snprintf(s->sock, sizeof(s->sock), "%s/fcgi.sock", s->dir);
	snprintf(s->db, sizeof(s->db), "%s/data/sse.db", s->dir);
	snprintf(s->ssectl, sizeof(s->ssectl), "%s/ssectl", s->dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(s->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, s->sock, strlen(s->sock) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	char bin[PATH_MAX + 64];
	snprintf(bin, sizeof(bin), "%s/cgi-bin/%s", s->dir, name);
	pid_t parent = getpid();
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		tu_die_with_parent(parent);
		dup2(fd, 0);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(bin, bin, arg, arg2, (char *)NULL);
		_exit(127);
	}
	close(fd);
}

/* Starts cgi-bin/NAME as mod_fcgid and spawn-fcgi do. */
static inline void server_start(struct server *s, const char *name,
                                const char *conf)
{
	server_start_with(s, name, conf, NULL, NULL);
}

static inline void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	long long deadline = tu_now_ms() + 3000;
	int status;
	while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
		if (tu_now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			fail_msg("the FastCGI process ignored SIGTERM for 3 s");
		}
		usleep(10000);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_rmtree(s->dir);
}

/* Sends one request; returns the connection to read the answer from. */
static inline int send_request(const struct server *s, const char *method,
                               const char *query, const char *type, const char *body)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(s->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, s->sock, strlen(s->sock) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct strbuf req = STRBUF_INIT, params = STRBUF_INIT;
	unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };  /* responder */
	put_record(&req, FCGI_BEGIN, begin, 8);
	char len[24];
	snprintf(len, sizeof(len), "%zu", body ? strlen(body) : 0);
	put_pair(&params, "REQUEST_METHOD", method);
	put_pair(&params, "QUERY_STRING", query ? query : "");
	put_pair(&params, "HTTP_HOST", "localhost");
	put_pair(&params, "REMOTE_ADDR", "127.0.0.1");
	if (type != NULL)
		put_pair(&params, "CONTENT_TYPE", type);
	if (body != NULL)
		put_pair(&params, "CONTENT_LENGTH", len);
	put_record(&req, FCGI_PARAMS, params.data, params.len);
	put_record(&req, FCGI_PARAMS, "", 0);
	if (body != NULL && *body)
		put_record(&req, FCGI_STDIN, body, strlen(body));
	put_record(&req, FCGI_STDIN, "", 0);
	assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
	sb_free(&req);
	sb_free(&params);
	return fd;
}

/*
 * Reads records into out (STDOUT content only) until END_REQUEST, until
 * `until` appears, or the timeout; true on END_REQUEST or `until`.
 */
static inline bool read_answer(int fd, struct strbuf *out, const char *until,
                               int timeout_ms)
{
	struct strbuf raw = STRBUF_INIT;
	long long deadline = tu_now_ms() + timeout_ms;
	size_t pos = 0;
	bool done = false;
	while (!done && tu_now_ms() < deadline) {
		if (until != NULL && strstr(sb_str(out), until) != NULL)
			break;
		while (raw.len - pos >= 8) {
			const unsigned char *h = (const unsigned char *)raw.data + pos;
			size_t clen = (size_t)h[4] << 8 | h[5], total = 8 + clen + h[6];
			if (raw.len - pos < total)
				break;
			if (h[1] == FCGI_STDOUT)
				sb_append(out, h + 8, clen);
			if (h[1] == FCGI_END)
				done = true;
			pos += total;
		}
		if (done || (until != NULL && strstr(sb_str(out), until) != NULL))
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		sb_append(&raw, buf, (size_t)n);
	}
	sb_free(&raw);
	return done || (until != NULL && strstr(sb_str(out), until) != NULL);
}

#endif
