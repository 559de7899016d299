/* loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct timer {
	long long at;
	loop_timer_fn fn;
	void *ctx;
};

struct loop {
	int epfd;
	struct timer timers[LOOP_TIMERS];
	int ntimers;
	struct epoll_event events[LOOP_EVENTS];
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		log_msg("events", "event loop: out of memory");
		return NULL;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		log_msg("events", "epoll_create1: %s", strerror(errno));
		free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l);
}

static bool control(struct loop *l, int op, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(l->epfd, op, w->fd, &ev) == 0)
		return true;
	log_msg("events", "epoll_ctl(%s, fd %d): %s",
	        op == EPOLL_CTL_ADD ? "add" : op == EPOLL_CTL_MOD ? "mod" : "del",
	        w->fd, strerror(errno));
	return false;
}

bool loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events,
              loop_handler handler)
{
	w->fd = fd;
	w->events = events;
	w->handler = handler;
	if (control(l, EPOLL_CTL_ADD, w, events))
		return true;
	w->fd = -1;
	return false;
}

void loop_change(struct loop *l, struct loop_watch *w, uint32_t events)
{
	if (w->fd < 0 || events == w->events)
		return;
	if (control(l, EPOLL_CTL_MOD, w, events))
		w->events = events;
}

void loop_remove(struct loop *l, struct loop_watch *w)
{
	if (w->fd >= 0)
		control(l, EPOLL_CTL_DEL, w, 0);
	w->fd = -1;
}

bool loop_timer(struct loop *l, long long at, loop_timer_fn fn, void *ctx)
{
	if (l->ntimers == LOOP_TIMERS)
		return false;
	l->timers[l->ntimers++] = (struct timer){ at, fn, ctx };
	return true;
}

static int wait_ms(const struct loop *l, long long now, int max_wait_ms)
{
	long long wait = max_wait_ms;
	for (int i = 0; i < l->ntimers; i++) {
		long long until = l->timers[i].at - now;
		if (wait < 0 || until < wait)
			wait = until;
	}
	return wait < 0 ? (max_wait_ms < 0 && l->ntimers == 0 ? -1 : 0)
	                : (int)wait;
}

bool loop_run_once(struct loop *l, int max_wait_ms)
{
	int n = epoll_wait(l->epfd, l->events, LOOP_EVENTS,
	                   wait_ms(l, clock_now_ms(), max_wait_ms));
	if (n < 0 && errno != EINTR) {
		log_msg("events", "epoll_wait: %s", strerror(errno));
		return false;
	}
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = l->events[i].data.ptr;
		if (w->fd >= 0)   /* removed by an earlier handler this round */
			w->handler(w, l->events[i].events);
	}
	long long now = clock_now_ms();
	for (int i = 0; i < l->ntimers; i++)
		if (now >= l->timers[i].at)
			l->timers[i].at = l->timers[i].fn(l->timers[i].ctx, now);
	return true;
}
