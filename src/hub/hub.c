/* hub: see hub.h for how one process serves many streams. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi_wire.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "request.h"
#include "ring.h"
#include "sse.h"
#include "stream.h"
#include "watch.h"

enum conn_state {
	CONN_ASKING,   /* reading the request's records */
	CONN_LIVE,     /* a stream, subscribed to its channel */
	CONN_ENDING,   /* its end is written, not all of it has left yet */
	CONN_CLOSING,  /* all has left and our side is shut: the web server
	                * may still be sending the request's last records
	                * (Apache sends the empty STDIN apart, and a close
	                * before it arrives makes Apache answer 503), so the
	                * connection closes when it closes, or at a deadline */
};

struct channel;

/* One FastCGI connection: one request at a time, mostly one stream. */
struct conn {
	int fd;
	enum conn_state state;
	bool overflow;             /* taken on the reserve descriptor */
	bool writable_wait;        /* EPOLLOUT asked for */
	uint16_t id;               /* the FastCGI request id */
	struct fcgi_parser parser;
	struct channel *channel;   /* the list it is on (hub.asking if asking) */
	struct conn *prev, *next;
	long long after;           /* the last id it has (or passed over) */
	long long deadline;        /* ms: the end of its lifetime, or asking */
	long long last_write;      /* ms */
	struct strbuf backlog;     /* bytes its socket has not taken yet */
	size_t backlog_off;
	size_t backlog_bound;      /* in backlog: whole records from here on
	                            * (before it, the rest of one begun) */
};

/* The streams of one channel. */
struct channel {
	char name[SSE_NAME_MAX + 1];
	struct conn *first;
	struct channel *next;
};

struct hub {
	struct endpoint *ep;
	const struct config *cfg;
	int epfd, listen_fd, reserve_fd;
	bool accepting;            /* the listening socket is watched */
	unsigned long generation;  /* the endpoint's store the ring belongs to */
	struct watch watch;
	struct ring ring;
	union ring_copy *copy;
	long long after;           /* the last id handed to the streams */
	long long version;         /* data_version at the last SQLite look */
	long long next_look;       /* ms: the fallback look at SQLite */
	long long next_tick;       /* ms: keepalives, lifetimes */
	struct channel asking;     /* connections that have not asked yet */
	struct channel ending;     /* ended, their last bytes still leaving */
	struct channel *channels;
	long live, max_live;
	long open, max_open;       /* connections not closed yet, and room */
	bool overflowing;          /* an overflow connection is being answered */
	struct conn *dead;         /* closed this round, freed after it */
	struct strbuf frame, records;  /* scratch: one event, its records */
	char readbuf[HUB_READ_CHUNK];
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- lists ------------------------------------------------------------ */

static void list_add(struct channel *ch, struct conn *c)
{
	c->channel = ch;
	c->prev = NULL;
	c->next = ch->first;
	if (ch->first != NULL)
		ch->first->prev = c;
	ch->first = c;
}

static void list_remove(struct conn *c)
{
	if (c->channel == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->channel->first = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->channel = NULL;
	c->prev = c->next = NULL;
}

/* The streams of a channel, or NULL when nobody follows it. */
static struct channel *channel_find(struct hub *h, const char *name)
{
	for (struct channel *ch = h->channels; ch != NULL; ch = ch->next)
		if (strcmp(ch->name, name) == 0)
			return ch;
	return NULL;
}

/* The channel's list, created when the first stream of it arrives. */
static struct channel *channel_get(struct hub *h, const char *name)
{
	struct channel *ch = channel_find(h, name);
	if (ch != NULL)
		return ch;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->next = h->channels;
	h->channels = ch;
	return ch;
}

/* Frees the lists of channels nobody follows any more. */
static void channels_prune(struct hub *h)
{
	struct channel **link = &h->channels;
	while (*link != NULL) {
		struct channel *ch = *link;
		if (ch->first == NULL) {
			*link = ch->next;
			free(ch);
		} else {
			link = &ch->next;
		}
	}
}

/* ---- connections ------------------------------------------------------ */

static void watch_events(struct hub *h, struct conn *c, bool writable)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	if (writable)
		ev.events |= EPOLLOUT;
	if (writable != c->writable_wait)
		epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->writable_wait = writable;
}

static void accepting(struct hub *h, bool on)
{
	if (on == h->accepting || h->listen_fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &h->listen_fd };
	epoll_ctl(h->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, h->listen_fd, &ev);
	h->accepting = on;
}

/* Closes at once; the memory goes at the end of the round. */
static void conn_close(struct hub *h, struct conn *c)
{
	if (c->fd < 0)
		return;
	if (c->state == CONN_LIVE)
		h->live--;
	list_remove(c);
	close(c->fd);   /* also leaves the epoll set */
	c->fd = -1;
	h->open--;
	if (c->overflow) {
		h->overflowing = false;
		if (h->reserve_fd < 0)
			h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		accepting(h, true);
	}
	c->next = h->dead;
	h->dead = c;
}

static void free_dead(struct hub *h)
{
	while (h->dead != NULL) {
		struct conn *c = h->dead;
		h->dead = c->next;
		fcgi_parser_free(&c->parser);
		sb_free(&c->backlog);
		free(c);
	}
}

/* Writes what waits; closes an ending connection once all of it left. */
static void conn_flush(struct hub *h, struct conn *c)
{
	while (c->backlog_off < c->backlog.len) {
		ssize_t n = write(c->fd, c->backlog.data + c->backlog_off,
		                  c->backlog.len - c->backlog_off);
		if (n > 0) {
			c->backlog_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch_events(h, c, true);
			return;
		}
		conn_close(h, c);   /* the web server went away */
		return;
	}
	sb_reset(&c->backlog);
	c->backlog_off = 0;
	watch_events(h, c, false);
	if (c->state == CONN_ENDING) {
		shutdown(c->fd, SHUT_WR);   /* the web server reads our end */
		c->state = CONN_CLOSING;
	}
}

static void conn_end_behind(struct hub *h, struct conn *c);

/* The first record boundary at or after `at` in data, walking whole
 * records from `from`, a boundary. */
static size_t record_boundary(const void *data, size_t from, size_t at)
{
	size_t pos = from;
	while (pos < at)
		pos += fcgi_record_size((const uint8_t *)data + pos);
	return pos;
}

/*
 * Sends bytes, whole FastCGI records: straight to the socket when nothing
 * waits, else behind what waits.  A stream that owes more than
 * HUB_BACKLOG_MAX is ended (conn_end_behind): its client is not reading,
 * and it will resume by Last-Event-ID when it does.
 */
static void conn_send(struct hub *h, struct conn *c, const void *data,
                      size_t len)
{
	if (c->fd < 0 || len == 0)
		return;
	c->last_write = now_ms();
	size_t sent = 0;
	if (c->backlog.len == c->backlog_off) {
		ssize_t n;
		do
			n = write(c->fd, data, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_close(h, c);
			return;
		}
		sent = n > 0 ? (size_t)n : 0;
		if (sent == len)
			return;
	}
	if (c->backlog.len - c->backlog_off + (len - sent) > HUB_BACKLOG_MAX) {
		log_msg("events", "a stream's client stopped reading: %d KiB waiting;"
		        " ending it", HUB_BACKLOG_MAX / 1024);
		if (c->state == CONN_LIVE && sent == 0)
			conn_end_behind(h, c);
		else
			conn_close(h, c);   /* its end is queued already, or half sent */
		return;
	}
	if (c->backlog.len == 0)   /* it may begin with the rest of a record */
		c->backlog_bound = record_boundary(data, 0, sent) - sent;
	sb_append(&c->backlog, (const char *)data + sent, len - sent);
	if (sb_failed(&c->backlog)) {
		conn_close(h, c);
		return;
	}
	watch_events(h, c, true);
}

/* Sends SSE bytes as this request's STDOUT records. */
static void conn_send_stdout(struct hub *h, struct conn *c, const void *data,
                             size_t len)
{
	struct strbuf rec = STRBUF_INIT;
	fcgi_write_stdout(&rec, c->id, data, len);
	if (!sb_failed(&rec))
		conn_send(h, c, rec.data, rec.len);
	sb_free(&rec);
}

/* Ends the request: its end records, then the close once they left. */
static void conn_end(struct hub *h, struct conn *c)
{
	if (c->fd < 0 || c->state == CONN_ENDING || c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_LIVE)
		h->live--;
	list_remove(c);
	list_add(&h->ending, c);
	c->state = CONN_ENDING;
	c->deadline = now_ms() + HUB_LINGER_MS;
	struct strbuf rec = STRBUF_INIT;
	fcgi_write_end_request(&rec, c->id, 0);
	conn_send(h, c, rec.data, rec.len);
	sb_free(&rec);
	if (c->fd >= 0)
		conn_flush(h, c);
}

/* A stream's end with a reason: retry and a comment, then the end. */
static void conn_end_saying(struct hub *h, struct conn *c, const char *why)
{
	struct strbuf out = STRBUF_INIT;
	stream_put_hello(&out, h->cfg->retry_ms, why);
	conn_send_stdout(h, c, out.data, out.len);
	sb_free(&out);
	conn_end(h, c);
}

/*
 * A live stream whose client stopped reading: past HUB_BACKLOG_MAX.  A close
 * would cut the FastCGI stream short, maybe inside a record: the web server
 * reports its upstream as failed and the browser sees a broken response.
 * So what waits is dropped after the record being written (half a record
 * would break the FastCGI stream), and a proper end follows it: retry, the
 * reason, END_REQUEST.  The connection stays until that has left (when the
 * client reads again) or the web server gives up on its client (nginx's
 * send_timeout, 60 s by default), at most HUB_BEHIND_LINGER_MS; it holds at
 * most one record meanwhile.  The browser resumes by Last-Event-ID: nothing
 * is lost.
 */
static void conn_end_behind(struct hub *h, struct conn *c)
{
	sb_truncate(&c->backlog, record_boundary(c->backlog.data, c->backlog_bound,
	                                         c->backlog_off));
	if (c->backlog_off == c->backlog.len) {
		sb_reset(&c->backlog);
		c->backlog_off = 0;
	}
	conn_end_saying(h, c, "this stream fell behind");
	c->deadline = now_ms() + HUB_BEHIND_LINGER_MS;
}

/* Ends every live stream (database replaced or failing, or shutdown). */
static void end_all(struct hub *h, const char *why)
{
	for (struct channel *ch = h->channels; ch != NULL; ch = ch->next)
		while (ch->first != NULL)
			conn_end_saying(h, ch->first, why);
}

/* ---- the database, the ring and the wake ------------------------------ */

/*
 * The open database for a new stream.  When the endpoint opened another
 * file than the one the ring and the watch belong to (the first stream, or
 * the file was replaced), the live streams of the old one end (they
 * reconnect to the new one) and the ring and watch follow the new file.
 */
static enum store_status hub_store(struct hub *h)
{
	enum store_status s = endpoint_store(h->ep, false);
	if (s != STORE_OK || h->ep->generation == h->generation)
		return s;
	end_all(h, "database was replaced");
	if (h->watch.fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->watch.fd, NULL);
	watch_close(&h->watch);
	ring_close(&h->ring);
	struct store *st = h->ep->store;
	watch_open(&h->watch, store_path(st));
	ring_open(&h->ring, store_path(st), store_identity(st));
	if (h->watch.fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &h->watch };
		epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->watch.fd, &ev);
	}
	store_data_version(st, &h->version);
	h->generation = h->ep->generation;
	return STORE_OK;
}

/* Frames one event once and sends it to each stream of ch without it. */
static void fan_out(struct hub *h, struct channel *ch, long long id,
                    const char *event, const char *data, size_t len)
{
	sb_reset(&h->frame);
	sb_reset(&h->records);
	sse_event(&h->frame, id, event, data, len);
	fcgi_write_stdout(&h->records, 1, h->frame.data, h->frame.len);
	if (sb_failed(&h->frame) || sb_failed(&h->records))
		return;   /* out of memory: the streams catch up at the next look */
	for (struct conn *c = ch->first, *next; c != NULL; c = next) {
		next = c->next;   /* c may end below */
		if (c->after >= id)
			continue;
		c->after = id;
		if (c->id == 1)   /* nginx, lighttpd and Apache all use id 1 */
			conn_send(h, c, h->records.data, h->records.len);
		else
			conn_send_stdout(h, c, h->frame.data, h->frame.len);
	}
}

/* Row callback of read_store: one message to its channel's streams. */
struct store_walk {
	struct hub *h;
	struct channel *ch;
};

static bool fan_out_row(void *ctx, long long id, const char *event,
                        const char *data, size_t len)
{
	struct store_walk *w = ctx;
	fan_out(w->h, w->ch, id, event, data, len);
	return true;
}

/*
 * What the ring could not answer, from SQLite: every followed channel's
 * messages after h->after, batch by batch.  A channel whose messages after
 * that point were pruned before they could be sent gets what a resuming
 * stream would: its streams end and reconnect, and the reset comes then.
 * So the read asks for no history (0): in a gap store_read would hand over
 * the newest rows, and a stream given those would resume past the gap
 * without ever hearing of it.
 */
static void read_store(struct hub *h)
{
	long long until = h->after;
	for (struct channel *ch = h->channels; ch != NULL; ch = ch->next) {
		if (ch->first == NULL)
			continue;
		struct store_walk w = { h, ch };
		struct store_read_result res;
		long long from = h->after;
		do {
			enum store_status s = store_read(h->ep->store, ch->name, from, 0,
			                                 fan_out_row, &w, &res);
			if (s != STORE_OK) {
				log_msg("events", "%s: %s", h->cfg->database,
				        store_error(h->ep->store));
				end_all(h, store_status_text(s));
				return;
			}
			if (res.resume != RESUME_OK) {
				while (ch->first != NULL)
					conn_end_saying(h, ch->first, "messages were pruned");
				break;
			}
			from = res.next_after;
		} while (res.more);
		if (from > until)
			until = from;
	}
	h->after = until;
}

/*
 * Hands every new message to the streams: from the ring while it knows,
 * from SQLite when it cannot say for sure or when asked to (a writer that
 * did not copy into the ring, seen through data_version).
 */
static void dispatch(struct hub *h, bool ask_store)
{
	if (h->live == 0 || h->ep->store == NULL)
		return;
	/* Started before the first post, the hub found no ring yet. */
	ring_open_again(&h->ring, store_path(h->ep->store));
	for (;;) {
		enum ring_result r = h->ring.map != NULL && h->copy != NULL
		                   ? ring_get(&h->ring, h->after + 1, h->copy)
		                   : RING_ASK_STORE;
		if (r == RING_OK) {
			const struct ring_slot *m = &h->copy->slot;
			struct channel *ch = channel_find(h, m->channel);
			if (ch != NULL)
				fan_out(h, ch, m->id, m->event, m->data, m->len);
			h->after = m->id;
			ask_store = false;   /* the ring had news: no need */
			continue;
		}
		if (r == RING_REPLACED) {
			end_all(h, "database was replaced");
			return;
		}
		if (r == RING_ASK_STORE || ask_store)
			read_store(h);
		return;
	}
}

/* Woken, or the fallback look: is there anything SQLite knows? */
static void look(struct hub *h, bool woken)
{
	long long before = h->after, v;
	if (woken)
		dispatch(h, false);
	if (h->ep->store == NULL || h->live == 0)
		return;
	if (store_data_version(h->ep->store, &v) != STORE_OK)
		return;
	bool changed = v != h->version;
	h->version = v;
	/* Woken with nothing new in the ring, or someone else wrote: read. */
	if (changed && h->after == before)
		dispatch(h, true);
	if (!changed && !store_same_file(h->ep->store))
		end_all(h, "database was replaced");
}

/* ---- requests --------------------------------------------------------- */

/* A whole answer that is not a live stream: bytes, then the end. */
static void answer_once(struct hub *h, struct conn *c, const struct strbuf *out)
{
	conn_send_stdout(h, c, out->data, out->len);
	conn_end(h, c);
}

/*
 * The stream's first bytes: headers, the first frame, the history or what
 * follows its resume point.  false (and the answer ended) when the
 * database failed.
 */
static bool put_start(struct hub *h, const struct events_request *er,
                      long retry, const char *hello, long long *after,
                      struct strbuf *out)
{
	sb_puts(out, stream_headers);
	stream_put_hello(out, retry, hello);
	bool more;
	do {
		enum store_status s = stream_put_news(h->ep->store, er->q.channel,
		                                      h->cfg->history, after, out,
		                                      &more);
		if (s != STORE_OK) {
			log_msg("events", "%s: %s", h->cfg->database,
			        store_error(h->ep->store));
			sse_comment(out, store_status_text(s));
			return false;
		}
	} while (more);
	return true;
}

/* Makes c a live stream of its channel, after its first bytes. */
static void go_live(struct hub *h, struct conn *c, const char *channel,
                    long long after, const struct strbuf *start)
{
	struct channel *ch = channel_get(h, channel);
	if (ch == NULL) {
		answer_once(h, c, start);
		return;
	}
	if (h->live == 0)
		h->after = after;   /* nobody was following: start from here */
	list_remove(c);
	list_add(ch, c);
	c->state = CONN_LIVE;
	c->after = after;
	c->deadline = now_ms() + stream_lifetime_ms(h->cfg->lifetime_s,
	                                            stream_random_word());
	h->live++;
	conn_send_stdout(h, c, start->data, start->len);
}

/* The request's parameters are in: answer it as events.fcgi would. */
static void start_request(struct hub *h, struct conn *c)
{
	struct events_request er;
	const char *why;
	int status = parse_events_request(fcgi_param(&c->parser, "REQUEST_METHOD"),
	                                  fcgi_param(&c->parser, "QUERY_STRING"),
	                                  fcgi_param(&c->parser, "HTTP_LAST_EVENT_ID"),
	                                  &er, &why);
	fcgi_parser_release_params(&c->parser);
	struct strbuf out = STRBUF_INIT;
	if (status != 0) {
		http_put_error(&out, status,
		               status == 405 ? "Allow: " EVENTS_ALLOW "\r\n" : "", why,
		               er.head);
		answer_once(h, c, &out);
		sb_free(&out);
		return;
	}
	const char *problem = NULL;
	if (h->ep->config_error[0] != '\0')
		problem = ENDPOINT_CONFIG_PROBLEM;
	else if (!er.head) {
		enum store_status s = hub_store(h);
		if (s != STORE_OK)
			problem = store_status_text(s);
	}
	bool one_shot = h->cfg->lifetime_s == 0 || c->overflow ||
	                h->live >= h->max_live;
	long retry = h->cfg->retry_ms;
	char hello[128];
	if (er.head || problem != NULL) {
		sb_puts(&out, stream_headers);
		if (!er.head)
			stream_put_hello(&out, retry, problem);
		answer_once(h, c, &out);
	} else if (one_shot) {
		enum stream_one_shot kind = h->cfg->lifetime_s == 0 ? STREAM_POLLING
		                          : c->overflow ? STREAM_AT_FILE_LIMIT
		                          : STREAM_CAPPED;
		retry = stream_one_shot_hello(kind, h->max_live, retry, hello, sizeof(hello));
		long long after = er.resume;
		put_start(h, &er, retry, hello, &after, &out);
		answer_once(h, c, &out);
	} else {
		long long after = er.resume;
		if (put_start(h, &er, retry, "live", &after, &out))
			go_live(h, c, er.q.channel, after, &out);
		else
			answer_once(h, c, &out);
	}
	sb_free(&out);
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
			conn_end(h, c);   /* the web server's client went away */
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
	if (out.len > 0 && c->fd >= 0)
		conn_send(h, c, out.data, out.len);
	sb_free(&out);
	if (c->fd >= 0 && c->state == CONN_ENDING)
		conn_flush(h, c);
}

/* Reads what the web server sent; its close is the client's going. */
static void on_readable(struct hub *h, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, h->readbuf, sizeof(h->readbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(h, c);
			return;
		}
		if (c->state == CONN_CLOSING)
			continue;   /* what is left of a request already answered */
		size_t off = 0;
		while (off < (size_t)n && c->fd >= 0 && c->state != CONN_CLOSING) {
			struct fcgi_event ev;
			size_t used = fcgi_parse(&c->parser, h->readbuf + off,
			                         (size_t)n - off, &ev);
			off += used;
			if (ev.type != FCGI_EV_NONE)
				on_record(h, c, &ev);
			if (used == 0 && ev.type == FCGI_EV_NONE)
				break;
		}
		if (c->fd < 0)
			return;
	}
}

/*
 * Takes one waiting connection, or -1.  Past max_open, or when the kernel
 * has no descriptor left (the reserve's is given up for it), a connection
 * is still taken, one at a time, marked overflow: it is answered one-shot,
 * and taking more waits until it has gone.
 */
static int take_one(struct hub *h, bool *overflow)
{
	*overflow = h->open >= h->max_open;
	if (*overflow && h->overflowing)
		return -1;
	int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && !h->overflowing &&
	    h->reserve_fd >= 0) {
		close(h->reserve_fd);
		h->reserve_fd = -1;
		fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		*overflow = true;
		if (fd < 0)
			h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	return fd;
}

/* Takes every waiting connection there is room for. */
static void accept_all(struct hub *h)
{
	for (;;) {
		bool overflow;
		int fd = take_one(h, &overflow);
		if (fd < 0) {
			if (h->overflowing || errno == EMFILE || errno == ENFILE)
				accepting(h, false);   /* until the overflow one goes */
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		if (c == NULL || epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		h->open++;
		c->overflow = overflow;
		h->overflowing = h->overflowing || overflow;
		c->last_write = now_ms();
		c->deadline = c->last_write + HUB_REQUEST_WAIT_MS;
		fcgi_parser_init(&c->parser);
		list_add(&h->asking, c);
	}
}

static void on_conn_event(struct hub *h, struct conn *c, uint32_t events);

/*
 * Keepalives, lifetimes, connections that never asked, and ended ones
 * whose web server neither read their end nor closed in time.
 */
static void tick(struct hub *h, long long now)
{
	long long keepalive_ms = (long long)h->cfg->keepalive_s * 1000;
	for (struct channel *ch = h->channels; ch != NULL; ch = ch->next) {
		for (struct conn *c = ch->first, *next; c != NULL; c = next) {
			next = c->next;
			if (now >= c->deadline)
				conn_end(h, c);   /* the browser reconnects */
			else if (now - c->last_write >= keepalive_ms)
				conn_send_stdout(h, c, STREAM_KEEPALIVE,
				                 sizeof(STREAM_KEEPALIVE) - 1);
		}
	}
	struct channel *waiting[] = { &h->asking, &h->ending };
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++) {
		for (struct conn *c = waiting[i]->first, *next; c != NULL; c = next) {
			next = c->next;
			if (now >= c->deadline)
				conn_close(h, c);
		}
	}
	channels_prune(h);
}

/*
 * SIGTERM: every stream gets its end, and up to HUB_DRAIN_MS for the ends
 * still waiting in buffers to leave; connections that never asked go.
 */
static void drain(struct hub *h)
{
	accepting(h, false);
	while (h->asking.first != NULL)
		conn_close(h, h->asking.first);
	end_all(h, "the server is restarting");
	long long until = now_ms() + HUB_DRAIN_MS;
	struct epoll_event evs[HUB_EVENTS];
	while (h->open > 0 && now_ms() < until) {
		int n = epoll_wait(h->epfd, evs, HUB_EVENTS, 50);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p != &h->listen_fd && p != &h->watch)
				on_conn_event(h, p, evs[i].events);
		}
		free_dead(h);
	}
}

/* Everything the loop owns, once: epoll, the reserve, the limits. */
static bool hub_open(struct hub *h, struct endpoint *ep, int listen_fd)
{
	h->ep = ep;
	h->cfg = &ep->cfg;
	h->listen_fd = listen_fd;
	h->watch.fd = -1;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h->copy = malloc(sizeof(*h->copy));
	if (h->epfd < 0 || h->reserve_fd < 0) {
		log_msg("events", "cannot start serving: %s", strerror(errno));
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
	if (h->ep->config_error[0] == '\0')
		hub_store(h);
	accepting(h, true);
	return true;
}

static void hub_close(struct hub *h)
{
	for (struct channel *ch = h->channels; ch != NULL; ch = ch->next)
		while (ch->first != NULL)
			conn_close(h, ch->first);
	while (h->asking.first != NULL)
		conn_close(h, h->asking.first);
	while (h->ending.first != NULL)
		conn_close(h, h->ending.first);
	free_dead(h);
	channels_prune(h);
	ring_close(&h->ring);
	watch_close(&h->watch);
	free(h->copy);
	sb_free(&h->frame);
	sb_free(&h->records);
	if (h->reserve_fd >= 0)
		close(h->reserve_fd);
	if (h->epfd >= 0)
		close(h->epfd);
}

/* One epoll event for a connection. */
static void on_conn_event(struct hub *h, struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;   /* closed earlier this round */
	if (events & EPOLLOUT)
		conn_flush(h, c);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		on_readable(h, c);
}

static int wait_ms(const struct hub *h, long long now)
{
	long long next = h->next_tick < h->next_look ? h->next_tick : h->next_look;
	return next <= now ? 0 : (int)(next - now);
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
	struct epoll_event evs[HUB_EVENTS];
	int rc = 0;
	while (!transport_stopping()) {
		int n = epoll_wait(h->epfd, evs, HUB_EVENTS, wait_ms(h, now_ms()));
		if (n < 0 && errno != EINTR) {
			log_msg("events", "epoll_wait: %s", strerror(errno));
			rc = 1;
			break;
		}
		bool woken = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &h->listen_fd) {
				accept_all(h);
			} else if (p == &h->watch) {
				watch_drain(&h->watch);
				woken = true;
			} else {
				on_conn_event(h, p, evs[i].events);
			}
		}
		long long now = now_ms();
		if (woken || now >= h->next_look) {
			look(h, woken);
			h->next_look = now + (h->watch.fd >= 0 ? WATCH_FALLBACK_MS
			                                       : h->cfg->poll_interval_ms);
		}
		if (now >= h->next_tick) {
			tick(h, now);
			h->next_tick = now + HUB_TICK_MS;
		}
		free_dead(h);
	}
	drain(h);
	hub_close(h);
	free(h);
	return rc;
}
