/*
 * hub/metrics: GET /metrics on the socket of metrics_listen (config.h),
 * answered from the hub's own loop.
 *
 * A scrape must never hold up the streams: the socket and each scrape's
 * connection are non-blocking and watched by the same epoll loop; a head
 * is read into a buffer of SCRAPE_HEAD_MAX bytes (scrape.h says when it
 * is complete), the answer is built at once and written as the socket
 * takes it; a scrape that has not asked and read its answer within
 * HUB_SCRAPE_MS is closed at the next tick.  At most HUB_SCRAPES_MAX are
 * served at once (Prometheus sends one at a time); past that the socket
 * is not watched and the kernel's backlog holds the rest.
 *
 * The counters are DATABASE.metrics (tally.h), after the hub has handed
 * its streams' counts on, so a scrape sees them current; the open streams
 * are the hub's live count, never a sum of additions.
 */
#include "hub_private.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "listen.h"
#include "log.h"
#include "prom.h"
#include "sidecar.h"

static void on_metrics_listen(struct loop_watch *w, uint32_t events);

/* The listening socket watched while a place is free (on), else not. */
static void metrics_accepting(struct hub *h, bool on)
{
	if (h->metrics_fd < 0 || on == (h->metrics.fd >= 0))
		return;
	if (on)
		loop_add(h->loop, &h->metrics, h->metrics_fd, EPOLLIN, on_metrics_listen);
	else
		loop_remove(h->loop, &h->metrics);
}

static void scrape_close(struct hub *h, struct scrape_conn *sc)
{
	if (sc->watch.fd < 0)
		return;
	int fd = sc->watch.fd;
	loop_remove(h->loop, &sc->watch);
	close(fd);
	sb_free(&sc->answer);
	metrics_accepting(h, true);
}

/* The exposition, or a 500 naming why the counters cannot be read. */
static int put_metrics(struct hub *h, struct strbuf *body)
{
	hub_hand_on_counts(h);
	struct tally t;
	if (!tally_read(h->cfg->database, &t)) {
		int saved = errno;
		log_msg("events", "metrics: %s%s: %s", h->cfg->database, SIDECAR_METRICS,
		        strerror(saved));
		sb_printf(body, "the counters cannot be read: %s\n", strerror(saved));
		return 500;
	}
	tally_put_prometheus(body, &t, h->live, "listen");
	return 200;
}

/* Writes what the socket takes; closes once all of it has gone. */
static void scrape_write(struct hub *h, struct scrape_conn *sc)
{
	while (sc->sent < sc->answer.len) {
		ssize_t n = write(sc->watch.fd, sc->answer.data + sc->sent,
		                  sc->answer.len - sc->sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_change(h->loop, &sc->watch, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;   /* the scraper went: nothing to tell anyone */
		sc->sent += (size_t)n;
	}
	scrape_close(h, sc);
}

/* The head is in (status != 0): the answer, then its writing. */
static void scrape_answer_with(struct hub *h, struct scrape_conn *sc, int status,
                               const char *why)
{
	struct strbuf body = STRBUF_INIT;
	if (status == 200)
		status = put_metrics(h, &body);
	else
		sb_printf(&body, "%s\n", why);
	scrape_answer(&sc->answer, status, body.data != NULL ? body.data : "", body.len);
	bool failed = sb_failed(&body) || sb_failed(&sc->answer);
	sb_free(&body);
	if (failed) {
		log_msg("events", "metrics: out of memory for an answer");
		scrape_close(h, sc);
		return;
	}
	scrape_write(h, sc);
}

/* Reads the head until scrape_parse has a verdict. */
static void scrape_read(struct hub *h, struct scrape_conn *sc)
{
	while (sc->watch.fd >= 0 && sc->answer.len == 0) {
		assert(sc->got < sizeof(sc->head));   /* a full head has a verdict */
		ssize_t n = read(sc->watch.fd, sc->head + sc->got, sizeof(sc->head) - sc->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			scrape_close(h, sc);   /* gone before it asked */
			return;
		}
		sc->got += (size_t)n;
		const char *why = NULL;
		int status = scrape_parse(sc->head, sc->got, &why);
		if (status != 0)
			scrape_answer_with(h, sc, status, why);
	}
}

static void on_scrape_event(struct loop_watch *w, uint32_t events)
{
	struct scrape_conn *sc = (struct scrape_conn *)w;
	struct hub *h = sc->hub;
	if (sc->answer.len > 0)
		scrape_write(h, sc);
	else if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		scrape_read(h, sc);
}

static struct scrape_conn *free_place(struct hub *h)
{
	for (size_t i = 0; i < HUB_SCRAPES_MAX; i++)
		if (h->scrapes[i].watch.fd < 0)
			return &h->scrapes[i];
	return NULL;
}

/* Takes scrapes while there is a place for them. */
static void on_metrics_listen(struct loop_watch *w, uint32_t events)
{
	(void)events;
	struct hub *h = (struct hub *)((char *)w - offsetof(struct hub, metrics));
	h->now = clock_now_ms();
	for (struct scrape_conn *sc; (sc = free_place(h)) != NULL;) {
		int fd = accept4(h->metrics_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_msg("events", "metrics: accept: %s", strerror(errno));
			return;
		}
		*sc = (struct scrape_conn){ .hub = h, .deadline = h->now + HUB_SCRAPE_MS };
		sc->watch.fd = -1;
		if (!loop_add(h->loop, &sc->watch, fd, EPOLLIN | EPOLLRDHUP, on_scrape_event))
			close(fd);
	}
	metrics_accepting(h, false);   /* every place taken */
}

void hub_metrics_init(struct hub *h)
{
	h->metrics.fd = -1;
	h->metrics_fd = -1;
	for (size_t i = 0; i < HUB_SCRAPES_MAX; i++)
		h->scrapes[i].watch.fd = -1;
}

bool hub_metrics_open(struct hub *h)
{
	const char *addr = h->cfg->metrics_listen;
	if (addr[0] == '\0' || endpoint_config_broken(h->ep))
		return true;   /* off */
	char err[256];
	h->metrics_fd = listen_open(addr, err, sizeof(err));
	if (h->metrics_fd < 0) {
		log_msg("events", "metrics_listen %s", err);
		return false;
	}
	metrics_accepting(h, true);
	if (h->metrics.fd < 0)
		return false;   /* loop_add logged why */
	log_msg("events", "metrics on %s (GET %s)", addr, SCRAPE_PATH);
	return true;
}

void hub_metrics_tick(struct hub *h)
{
	for (size_t i = 0; i < HUB_SCRAPES_MAX; i++)
		if (h->scrapes[i].watch.fd >= 0 && h->now >= h->scrapes[i].deadline)
			scrape_close(h, &h->scrapes[i]);
}

void hub_metrics_close(struct hub *h)
{
	int fd = h->metrics_fd;
	h->metrics_fd = -1;   /* no resuming while the scrapes close */
	loop_remove(h->loop, &h->metrics);
	for (size_t i = 0; i < HUB_SCRAPES_MAX; i++)
		scrape_close(h, &h->scrapes[i]);
	if (fd >= 0)
		close(fd);
}
