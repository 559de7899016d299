/* transport: see transport.h. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "log.h"
#include "request.h"

struct request {
	bool fastcgi;
	FCGX_Request *fcgx;   /* FastCGI only */
	char **envp;          /* the CGI environment or the FastCGI params */
	bool failed;          /* a write failed: the client is gone */
	bool input_done;      /* the body ended, failed or stalled */
	long long input_read; /* body bytes read so far */
};

extern char **environ;

/* Set by the signal handler; the one piece of global state (see header). */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

bool transport_stopping(void)
{
	return stop_requested != 0;
}

/*
 * Installed before FCGX_Init, so libfcgi keeps ours (it only installs its own
 * over SIG_DFL).  No SA_RESTART: a blocked accept or poll returns at once.
 */
void transport_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

const char *req_param(const struct request *req, const char *name)
{
	if (req->fastcgi)
		return FCGX_GetParam(name, req->envp);
	return getenv(name);
}

/* One read of the body, from libfcgi or from stdin with a stall limit. */
static ssize_t read_body_once(struct request *req, char *buf, size_t len)
{
	if (req->fastcgi) {
		int n = FCGX_GetStr(buf, (int)len, req->fcgx->in);
		return FCGX_GetError(req->fcgx->in) != 0 ? -1 : n;
	}
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = poll(&pfd, 1, TRANSPORT_READ_TIMEOUT_MS);
		if (r == 0)
			return -1;   /* stalled: the client sends too slowly */
		if (r < 0 && errno == EINTR && !stop_requested)
			continue;
		ssize_t n = read(STDIN_FILENO, buf, len);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/*
 * Remembers how the body went, so a later discard neither waits for a
 * stalled client a second time nor reads past what was already read.
 */
ssize_t req_read(struct request *req, char *buf, size_t len)
{
	if (req->input_done)
		return 0;
	ssize_t n = read_body_once(req, buf, len);
	if (n > 0)
		req->input_read += n;
	else
		req->input_done = true;
	return n;
}

bool req_is_fastcgi(const struct request *req)
{
	return req->fastcgi;
}

void req_discard_body(struct request *req, long long max)
{
	long long length;
	if (req->input_done ||
	    !parse_content_length(req_param(req, "CONTENT_LENGTH"), &length) ||
	    length > max)
		return;
	length -= req->input_read;
	char sink[4096];
	while (length > 0) {
		size_t want = length < (long long)sizeof(sink) ? (size_t)length : sizeof(sink);
		ssize_t n = req_read(req, sink, want);
		if (n <= 0)
			return;   /* the end (already read), or a stalled client */
		length -= n;
	}
}

/*
 * libfcgi reads and writes its socket blocking; kernel timeouts make a stall
 * an error it reports, instead of a process stuck forever.
 */
static void set_socket_timeouts(int fd)
{
	struct timeval rcv = { TRANSPORT_READ_TIMEOUT_MS / 1000, 0 };
	struct timeval snd = { TRANSPORT_WRITE_TIMEOUT_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
}

/* Writes all of data to a non-blocking fd, giving up after the deadline. */
static bool write_fd(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int r = poll(&pfd, 1, TRANSPORT_WRITE_TIMEOUT_MS);
			if (r > 0 && !(pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
				continue;
			if (r < 0 && errno == EINTR && !stop_requested)
				continue;
		}
		return false;
	}
	return true;
}

bool req_write(struct request *req, const void *data, size_t len)
{
	if (req->failed)
		return false;
	bool ok;
	if (req->fastcgi) {
		ok = FCGX_PutStr(data, (int)len, req->fcgx->out) == (int)len &&
		     FCGX_FFlush(req->fcgx->out) == 0;
	} else {
		ok = write_fd(STDOUT_FILENO, data, len);
	}
	if (!ok)
		req->failed = true;
	return ok;
}

enum wait_result req_wait(struct request *req, int timeout_ms, int wake_fd)
{
	if (stop_requested || req->failed)
		return WAIT_GONE;
	struct pollfd pfd[2];
	if (req->fastcgi) {
		pfd[0].fd = req->fcgx->ipcFd;
		pfd[0].events = POLLIN;
	} else {
		pfd[0].fd = STDOUT_FILENO;
		pfd[0].events = 0;   /* POLLERR/POLLHUP come unasked */
	}
	pfd[1].fd = wake_fd;
	pfd[1].events = POLLIN;
	int r = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms);
	if (stop_requested)
		return WAIT_GONE;
	if (r > 0 && pfd[0].revents != 0) {
		req->failed = true;
		return WAIT_GONE;
	}
	if (r > 0 && wake_fd >= 0 && pfd[1].revents != 0)
		return WAIT_WOKEN;
	return WAIT_TIMEOUT;
}

static int serve_cgi(request_handler handler, void *ctx)
{
	/* Blocking, a client that stops reading would hold us forever. */
	int flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (flags < 0 || fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) != 0)
		log_msg("transport", "stdout: cannot make it non-blocking: %s;"
		        " a stalled client may hold this process", strerror(errno));
	struct request req = { .fastcgi = false, .fcgx = NULL, .envp = environ };
	handler(&req, ctx);
	return 0;
}

static int serve_fastcgi(request_handler handler, void *ctx)
{
	if (FCGX_Init() != 0) {
		log_msg("transport", "FCGX_Init failed");
		return 1;
	}
	FCGX_Request fcgx;
	FCGX_InitRequest(&fcgx, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	while (!stop_requested && FCGX_Accept_r(&fcgx) == 0) {
		set_socket_timeouts(fcgx.ipcFd);
		struct request req = { .fastcgi = true, .fcgx = &fcgx,
		                       .envp = fcgx.envp };
		handler(&req, ctx);
		FCGX_Finish_r(&fcgx);
	}
	FCGX_Free(&fcgx, 1);
	return 0;
}

int transport_serve(request_handler handler, void *ctx)
{
	transport_install_signals();
	if (FCGX_IsCGI())
		return serve_cgi(handler, ctx);
	return serve_fastcgi(handler, ctx);
}
