/*
 * hub/accept: taking connections, up to the open-file limit and one past
 * it.  Past max_open, or when the kernel has no descriptor left, the
 * reserve descriptor is given up so that one more connection can be taken
 * and answered one-shot (the machine's at-file-limit answer) instead of
 * waiting unseen in the backlog; accepting pauses until that one has gone
 * (conn_close takes the reserve back and resumes it).
 */
#include "hub_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

static void on_listen(struct loop_watch *w, uint32_t events);

void hub_accepting(struct hub *h, bool on)
{
	if (on == h->accepting)
		return;
	if (on)
		on = loop_add(h->loop, &h->listen, h->listen.fd >= 0 ? h->listen.fd : -1,
		                  EPOLLIN, on_listen);
	else
		loop_remove(h->loop, &h->listen);
	h->accepting = on;
}

/*
 * Takes one waiting connection, or -1.  Past max_open, or when the kernel
 * has no descriptor left (the reserve's is given up for it), a connection
 * is still taken, one at a time, marked overflow: it is answered one-shot,
 * and taking more waits until it has gone.
 */
static int take_one(struct hub *h, int listen_fd, bool *overflow)
{
	*overflow = h->open >= h->max_open;
	if (*overflow && h->overflowing)
		return -1;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && !h->overflowing &&
	    h->reserve_fd >= 0) {
		close(h->reserve_fd);
		h->reserve_fd = -1;
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		*overflow = true;
		if (fd < 0)
			h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	return fd;
}

/* Takes every waiting connection there is room for. */
static void on_listen(struct loop_watch *w, uint32_t events)
{
	(void)events;
	struct hub *h = (struct hub *)((char *)w - offsetof(struct hub, listen));
	int listen_fd = w->fd;
	h->now = clock_now_ms();
	for (;;) {
		bool overflow;
		int fd = take_one(h, listen_fd, &overflow);
		if (fd < 0) {
			if (h->overflowing || errno == EMFILE || errno == ENFILE) {
				hub_accepting(h, false);   /* until the overflow one goes */
				h->listen.fd = listen_fd;
			}
			return;
		}
		if (!hub_conn_new(h, fd, overflow))
			close(fd);
	}
}
