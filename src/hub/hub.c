/* hub: see hub.h for how one process serves many streams. */
#include "hub.h"
#include "hub_private.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channels.h"
#include "ask.h"
#include "clock.h"
#include "fcgi_wire.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "machine.h"
#include "queue.h"
#include "request.h"
#include "sse.h"

/* Ends every live stream, each with the machine's words. */
static void end_all(struct hub *h, enum stream_end why)
{
	for (struct channel *ch = h->channels.first; ch != NULL; ch = ch->next)
		while (ch->first != NULL) {
			struct conn *c = conn_of(ch->first);
			stream_end(&c->stream, why, feed_failure(h->feed));
			conn_settle(h, c);
			if (c->link.channel == ch)   /* still here: the end was refused */
				conn_close(h, c);
		}
}

/* ---- the feed ----------------------------------------------------------- */

static void on_wake(struct loop_watch *w, uint32_t events);

/*
 * The feed's wake descriptor is watched; it changes when the database is
 * reopened (another file: the streams of the old one end).
 */
static void follow_wake(struct hub *h)
{
	int fd = feed_wake_fd(h->feed);
	unsigned epoch = feed_wake_epoch(h->feed);
	if (fd == h->wake.fd && epoch == h->wake_epoch)
		return;
	/*
	 * Another epoch: the feed closed the descriptor it had, and epoll
	 * forgot it with its close; the new one may even have its number.
	 */
	if (epoch != h->wake_epoch)
		h->wake.fd = -1;
	h->wake_epoch = epoch;
	loop_remove(h->loop, &h->wake);
	if (fd >= 0)
		loop_add(h->loop, &h->wake, fd, EPOLLIN, on_wake);
}

/* The feed ready for a new stream; a reopen ends the old file's streams. */
static enum store_status hub_ready(struct hub *h)
{
	bool reopened;
	enum store_status s = endpoint_ready(h->ep, &reopened);
	if (reopened)
		end_all(h, STREAM_END_REPLACED);
	follow_wake(h);
	return s;
}

/* The sink: channels are the hub's own registry. */
static struct feed_channel *sink_find(void *ctx, const char *name)
{
	struct hub *h = ctx;
	struct channel *ch = channels_find(&h->channels, name);
	return ch != NULL && ch->first != NULL ? &ch->fc : NULL;
}

static void sink_each(void *ctx, void (*fn)(void *, struct feed_channel *),
                      void *arg)
{
	struct hub *h = ctx;
	for (struct channel *ch = h->channels.first; ch != NULL; ch = ch->next)
		if (ch->first != NULL)
			fn(arg, &ch->fc);
}

/* Frames one message once and sends it to each stream the machine says
 * has not had it. */
static void sink_deliver(void *ctx, struct feed_channel *fc,
                         const struct message *m)
{
	struct hub *h = ctx;
	sb_reset(&h->frame);
	sb_reset(&h->records);
	sse_event(&h->frame, m->id, m->event, m->data, m->len);
	fcgi_write_stdout(&h->records, 1, h->frame.data, h->frame.len);
	if (sb_failed(&h->frame) || sb_failed(&h->records))
		return;   /* out of memory: the streams catch up at the next look */
	for (struct follower *f = channel_of(fc)->first, *next; f != NULL; f = next) {
		next = f->next;   /* c may end below */
		struct conn *c = conn_of(f);
		if (!stream_take(&c->stream, m->id, h->now))
			continue;
		if (c->id == 1)   /* nginx, lighttpd and Apache all use id 1 */
			conn_send(h, c, h->records.data, h->records.len);
		else
			conn_output(c, h->frame.data, h->frame.len);
	}
}

/* Messages of the channel were pruned unsent: each stream resumes. */
static void sink_lost(void *ctx, struct feed_channel *fc)
{
	struct hub *h = ctx;
	for (struct follower *f = channel_of(fc)->first, *next; f != NULL; f = next) {
		next = f->next;
		struct conn *c = conn_of(f);
		stream_on_lost(&c->stream, h->feed, h->now);
		conn_settle(h, c);
	}
}

static struct feed_sink hub_sink(struct hub *h)
{
	return (struct feed_sink){ h, sink_find, sink_each, sink_deliver,
	                           sink_lost };
}

/* Woken, or the fallback look: everything new, to every stream. */
static void look(struct hub *h, bool woken)
{
	if (h->live == 0)
		return;
	const struct feed_sink sink = hub_sink(h);
	enum stream_end why;
	if (stream_end_of_pull(feed_pull(h->feed, woken, &sink), &why))
		end_all(h, why);
	follow_wake(h);   /* Redis's wake connection comes and goes */
}

static void on_wake(struct loop_watch *w, uint32_t events)
{
	(void)events;
	struct hub *h = (struct hub *)((char *)w - offsetof(struct hub, wake));
	feed_wake_drain(h->feed);
	h->now = clock_now_ms();
	look(h, true);
	h->next_look = h->now + feed_look_ms(h->feed, h->cfg->poll_interval_ms);
}

/* ---- requests --------------------------------------------------------- */

/* A whole answer that is not a stream: bytes, then the end. */
static void answer_once(struct hub *h, struct conn *c, const struct strbuf *out)
{
	conn_output(c, out->data, out->len);
	conn_end(h, c);
}

/* Makes c a live stream of its channel: the machine said it is live. */
static void go_live(struct hub *h, struct conn *c)
{
	struct channel *ch = channels_get(&h->channels, c->stream.channel,
	                                  c->stream.after);
	if (ch == NULL) {
		stream_on_gone(&c->stream);
		conn_end(h, c);
		return;
	}
	bool followed = ch->first != NULL;
	if (!followed)   /* new, or left by all until the tick frees it */
		ch->fc.after = c->stream.after;
	if (h->live == 0)   /* nobody was following: the feed starts here */
		feed_follow_first(h->feed, c->stream.after);
	channel_add(ch, &c->link);
	c->state = CONN_LIVE;
	h->live++;
	if (!followed) {   /* an engine that waits per channel waits on it too */
		const struct feed_sink sink = hub_sink(h);
		feed_followed(h->feed, &sink);
		follow_wake(h);
	}
}

static const char *param_of(void *parser, const char *name)
{
	return fcgi_param(parser, name);
}

/* The request's parameters are in: answer it as events.fcgi would. */
static void start_request(struct hub *h, struct conn *c)
{
	struct events_request er;
	struct stream_request sr;
	const char *why;
	const struct stream_params params = { param_of, &c->parser };
	int status = stream_ask(&params, h->ep, &er, &sr, &why);
	if (status != 0) {
		fcgi_parser_release_params(&c->parser);
		struct strbuf out = STRBUF_INIT;
		http_put_error(&out, status,
		               status == 405 ? "Allow: " EVENTS_ALLOW "\r\n" : "", why,
		               er.head);
		answer_once(h, c, &out);
		sb_free(&out);
		return;
	}
	sr.cap = h->max_live;
	if (c->overflow)
		sr.room = STREAM_AT_FILE_LIMIT;
	else if (stream_may_live(&sr, h->cfg) && h->live >= h->max_live)
		sr.room = STREAM_CAPPED;
	if (!sr.config_broken && !sr.head)
		sr.feed = hub_ready(h);
	bool live = stream_start(&c->stream, &sr, h->feed, h->now,
	                         clock_random_word());
	fcgi_parser_release_params(&c->parser);   /* sr's strings were in them */
	if (live)
		go_live(h, c);
	else if (c->watch.fd >= 0)
		conn_end(h, c);
}

/* Answers what a parsed record asks of the connection. */
static void on_record(struct hub *h, struct conn *c, const struct fcgi_event *ev)
{
	struct strbuf out = STRBUF_INIT;
	switch (ev->type) {
	case FCGI_EV_BEGIN:
		c->id = ev->request_id;
		if (ev->role != FCGI_ROLE_RESPONDER) {
			fcgi_write_refusal(&out, ev->request_id, FCGI_STATUS_UNKNOWN_ROLE);
			c->state = CONN_ENDING;
		}
		break;
	case FCGI_EV_CANT_MPX:
		fcgi_write_refusal(&out, ev->request_id, FCGI_STATUS_CANT_MPX_CONN);
		break;
	case FCGI_EV_PARAMS:
		if (c->state == CONN_ASKING)
			start_request(h, c);
		break;
	case FCGI_EV_GET_VALUES:
		fcgi_write_get_values_result(&out, ev->asked, (unsigned)h->max_live,
		                             (unsigned)h->max_live);
		break;
	case FCGI_EV_UNKNOWN_TYPE:
		fcgi_write_unknown_type(&out, ev->record_type);
		break;
	case FCGI_EV_ABORT:
		if (c->state == CONN_LIVE) {
			stream_on_gone(&c->stream);   /* the web server's client left */
			conn_end(h, c);
			break;
		}
		fcgi_write_end_request(&out, ev->request_id, 0);
		c->state = CONN_ENDING;
		break;
	case FCGI_EV_ERROR:
		log_msg("events", "FastCGI: %s", ev->error);
		conn_close(h, c);
		break;
	case FCGI_EV_NONE:
	case FCGI_EV_STDIN:
	case FCGI_EV_STDIN_END:
		break;   /* a GET's body is nothing to us */
	}
	if (out.len > 0 && c->watch.fd >= 0)
		conn_send(h, c, out.data, out.len);
	sb_free(&out);
	if (c->watch.fd >= 0 && c->state == CONN_ENDING)
		conn_flush(h, c);
}

/* Parses one read's bytes, record by record. */
static void parse_input(struct hub *h, struct conn *c, size_t n)
{
	size_t off = 0;
	while (off < n && c->watch.fd >= 0 && c->state != CONN_CLOSING) {
		struct fcgi_event ev;
		size_t used = fcgi_parse(&c->parser, h->readbuf + off, n - off, &ev);
		assert(used <= n - off);
		off += used;
		if (ev.type != FCGI_EV_NONE)
			on_record(h, c, &ev);
		if (used == 0 && ev.type == FCGI_EV_NONE)
			break;
	}
}

/* Reads what the web server sent; its close is the client's going. */
static void on_readable(struct hub *h, struct conn *c)
{
	while (c->watch.fd >= 0) {
		ssize_t n = read(c->watch.fd, h->readbuf, sizeof(h->readbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			stream_on_gone(&c->stream);
			conn_close(h, c);
			return;
		}
		if (c->state != CONN_CLOSING)   /* else: the rest of an answered one */
			parse_input(h, c, (size_t)n);
	}
}

/* One epoll event for a connection. */
static void on_conn_event(struct loop_watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	struct hub *h = c->hub;
	h->now = clock_now_ms();
	if (events & EPOLLOUT)
		conn_flush(h, c);
	if (c->watch.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		on_readable(h, c);
}

/* A new connection, asking, watched. */
bool hub_conn_new(struct hub *h, int fd, bool overflow)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL || !loop_add(h->loop, &c->watch, fd, HUB_READABLE, on_conn_event)) {
		free(c);
		return false;
	}
	c->hub = h;
	h->open++;
	c->overflow = overflow;
	h->overflowing = h->overflowing || overflow;
	c->deadline = h->now + HUB_REQUEST_WAIT_MS;
	fcgi_parser_init(&c->parser);
	queue_init(&c->queue, fd);
	/* A broken configuration has no database to count in. */
	stream_init(&c->stream, h->cfg, endpoint_config_broken(h->ep) ? NULL : &h->counts,
	            conn_output, c);
	channel_add(&h->asking, &c->link);
	return true;
}

/* ---- timers, drain, the whole run ----------------------------------------- */

/*
 * The streams add to h->counts in memory (a fan-out to thousands of
 * streams must not cost an atomic each); the sum goes to the file now and
 * then.  The file is mapped anew each time, so a deleted one is followed.
 */
void hub_hand_on_counts(struct hub *h)
{
	static const struct tally_streams none;
	if (memcmp(&h->counts, &none, sizeof(none)) == 0)
		return;
	struct tally_file *f = tally_attach(h->cfg->database);
	tally_add_streams(f, &h->counts);   /* zeroed even when not attached */
	tally_detach(f);
}

/*
 * Keepalives and lifetimes (the machine's), connections that never asked,
 * and ended ones whose web server neither read their end nor closed.
 */
static long long tick(void *ctx, long long now)
{
	struct hub *h = ctx;
	h->now = now;
	for (struct channel *ch = h->channels.first; ch != NULL; ch = ch->next) {
		for (struct follower *f = ch->first, *next; f != NULL; f = next) {
			next = f->next;
			struct conn *c = conn_of(f);
			stream_on_tick(&c->stream, now);
			conn_settle(h, c);
		}
	}
	struct channel *waiting[] = { &h->asking, &h->ending };
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++) {
		for (struct follower *f = waiting[i]->first, *next; f != NULL; f = next) {
			next = f->next;
			struct conn *c = conn_of(f);
			if (now >= c->deadline)
				conn_close(h, c);
		}
	}
	channels_prune(&h->channels);
	hub_metrics_tick(h);
	if (now >= h->next_tally) {
		hub_hand_on_counts(h);
		h->next_tally = now + HUB_TALLY_MS;
	}
	return now + HUB_TICK_MS;
}

/* The fallback look, for writers that did not wake the feed. */
static long long fallback_look(void *ctx, long long now)
{
	struct hub *h = ctx;
	if (now >= h->next_look) {
		h->now = now;
		look(h, false);
		h->next_look = now + feed_look_ms(h->feed, h->cfg->poll_interval_ms);
	}
	return h->next_look;
}

/*
 * SIGTERM: every stream gets its end, and up to HUB_DRAIN_MS for the ends
 * still waiting in queues to leave; connections that never asked go.
 */
static void drain(struct hub *h)
{
	h->now = clock_now_ms();
	hub_accepting(h, false);
	hub_metrics_close(h);
	loop_remove(h->loop, &h->wake);
	while (h->asking.first != NULL)
		conn_close(h, conn_of(h->asking.first));
	end_all(h, STREAM_END_SHUTDOWN);
	conn_free_dead(h);
	long long until = clock_now_ms() + HUB_DRAIN_MS;
	while (h->open > 0 && clock_now_ms() < until) {
		if (!loop_run_once(h->loop, 50))
			break;
		conn_free_dead(h);
	}
	hub_hand_on_counts(h);
}

/* Everything the loop owns, once: the loop, the reserve, the limits. */
static bool hub_open(struct hub *h, struct endpoint *ep, int listen_fd)
{
	h->ep = ep;
	h->cfg = endpoint_config(ep);
	h->feed = endpoint_feed(ep);
	hub_metrics_init(h);
	h->listen.fd = listen_fd;
	h->wake.fd = -1;
	h->now = clock_now_ms();
	h->loop = loop_new();
	h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (h->loop == NULL || h->reserve_fd < 0) {
		if (h->reserve_fd < 0)
			log_msg("events", "cannot start serving: /dev/null: %s",
			        strerror(errno));
		return false;
	}
	long before, nofile = listen_raise_nofile(&before);
	h->max_open = nofile > 2 * HUB_SPARE_FDS ? nofile - HUB_SPARE_FDS
	                                         : HUB_SPARE_FDS;
	h->max_live = h->cfg->listen_max_streams < h->max_open
	            ? h->cfg->listen_max_streams : h->max_open;
	log_msg("events", "serving up to %ld streams in this process"
	        " (open files: %ld, was %ld)", h->max_live, nofile, before);
	/* The database's descriptors first, before connections take them all. */
	feed_listen(h->feed);
	if (!endpoint_config_broken(ep))
		hub_ready(h);
	h->next_look = h->now + feed_look_ms(h->feed, h->cfg->poll_interval_ms);
	if (!hub_metrics_open(h))
		return false;
	hub_accepting(h, true);
	return loop_timer(h->loop, h->now + HUB_TICK_MS, tick, h) &&
	       loop_timer(h->loop, h->next_look, fallback_look, h) && h->accepting;
}

static void hub_close(struct hub *h)
{
	for (struct channel *ch = h->channels.first; ch != NULL; ch = ch->next)
		while (ch->first != NULL)
			conn_close(h, conn_of(ch->first));
	struct channel *waiting[] = { &h->asking, &h->ending };
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++)
		while (waiting[i]->first != NULL)
			conn_close(h, conn_of(waiting[i]->first));
	conn_free_dead(h);
	hub_hand_on_counts(h);   /* the ends hub_close just counted */
	channels_free(&h->channels);
	sb_free(&h->frame);
	sb_free(&h->records);
	hub_metrics_close(h);
	if (h->reserve_fd >= 0)
		close(h->reserve_fd);
	loop_free(h->loop);
}

int hub_run(struct endpoint *ep, int listen_fd)
{
	transport_install_signals();
	struct hub *h = calloc(1, sizeof(*h));
	if (h == NULL || !hub_open(h, ep, listen_fd)) {
		if (h != NULL)
			hub_close(h);
		free(h);
		return 1;
	}
	int rc = 0;
	while (!transport_stopping()) {
		if (!loop_run_once(h->loop, -1)) {
			rc = 1;
			break;
		}
		conn_free_dead(h);
	}
	drain(h);
	hub_close(h);
	free(h);
	return rc;
}
