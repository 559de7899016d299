/*
 * loop: the hub's event loop, in the manner of Redis's ae.c but smaller:
 * descriptors with a handler each (epoll, level-triggered), and timers
 * that run when their time comes.  Nothing about streams or FastCGI.
 *
 * Design: a watched descriptor is a struct loop_watch that its owner
 * embeds (a connection, the listening socket, the feed's wake), so epoll's
 * data pointer leads straight to the owner and the loop allocates nothing
 * per descriptor.  Timers are few and fixed (the hub has two), so they are
 * a short array scanned each round rather than a heap.
 *
 * Every failed epoll call is logged with what failed and why.
 */
#ifndef SSE_LOOP_H
#define SSE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define LOOP_EVENTS 256        /* epoll events taken per wait */
#define LOOP_TIMERS 4          /* timers one loop can hold */

struct loop;
struct loop_watch;

/* Called with the epoll events of w's descriptor. */
typedef void (*loop_handler)(struct loop_watch *w, uint32_t events);
/* Called when a timer is due; returns the next time it is due (ms). */
typedef long long (*loop_timer_fn)(void *ctx, long long now);

struct loop_watch {
	int fd;                 /* -1: not watched */
	uint32_t events;        /* what is asked now */
	loop_handler handler;
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Starts watching w->fd for events (EPOLLIN, EPOLLOUT, ...). */
bool loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events,
              loop_handler handler);
/* Asks for other events; nothing is called when they are the same. */
void loop_change(struct loop *l, struct loop_watch *w, uint32_t events);
/* Stops watching (before the descriptor is closed, or instead). */
void loop_remove(struct loop *l, struct loop_watch *w);

/* A timer first due at `at` (ms, clock_now_ms). */
bool loop_timer(struct loop *l, long long at, loop_timer_fn fn, void *ctx);

/*
 * Waits for events until the first timer is due (at most max_wait_ms when
 * >= 0), calls their handlers, then the due timers.  False when the wait
 * failed for another reason than a signal (logged).
 */
bool loop_run_once(struct loop *l, int max_wait_ms);

#endif
