/* fcgi_wire: see fcgi_wire.h for the design. */
#include "fcgi_wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FCGI_VERSION 1
#define FCGI_KEEP_CONN_FLAG 1
#define BEGIN_BODY_SIZE 8
#define END_BODY_SIZE 8
#define UNKNOWN_TYPE_BODY_SIZE 8
#define NV_LONG_BIT 0x80u  /* a length's first byte: four bytes follow */

enum stage { STAGE_HEADER, STAGE_CONTENT, STAGE_PADDING, STAGE_DEAD };

/* Where a record's content goes. */
enum sink { SINK_SKIP, SINK_BEGIN, SINK_PARAMS, SINK_STDIN, SINK_GET_VALUES };

enum nv_stage { NV_NAME_LEN, NV_VALUE_LEN, NV_NAME, NV_VALUE };

static const char *const known_values[] = {
	"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
};
#define KNOWN_VALUES (sizeof(known_values) / sizeof(known_values[0]))
#define ALL_CANDIDATES ((1u << KNOWN_VALUES) - 1)

static const uint8_t zeros[FCGI_ALIGN];   /* padding */

static const char *type_name(uint8_t type)
{
	static const char *const names[] = {
		NULL, "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS",
		"STDIN", "STDOUT", "STDERR", "DATA", "GET_VALUES",
		"GET_VALUES_RESULT", "UNKNOWN_TYPE",
	};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

static void fail(struct fcgi_parser *p, struct fcgi_event *ev,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct fcgi_parser *p, struct fcgi_event *ev,
                 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ev->error, sizeof(ev->error), fmt, ap);
	va_end(ap);
	ev->type = FCGI_EV_ERROR;
	p->stage = STAGE_DEAD;
}

static void nv_reset(struct fcgi_parser *p)
{
	p->nv_stage = NV_NAME_LEN;
	p->nv_left = 0;
	p->nv_len[0] = p->nv_len[1] = 0;
	p->candidates = 0;
}

void fcgi_parser_init(struct fcgi_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->params = (struct strbuf)STRBUF_INIT;
	p->stage = STAGE_HEADER;
	nv_reset(p);
}

void fcgi_parser_free(struct fcgi_parser *p)
{
	sb_free(&p->params);
}

void fcgi_parser_release_params(struct fcgi_parser *p)
{
	sb_free(&p->params);
}

const char *fcgi_param(const struct fcgi_parser *p, const char *name)
{
	if (!p->params_done || p->params.data == NULL)
		return NULL;
	const char *s = p->params.data, *end = s + p->params.len;
	while (s < end) {
		const char *value = s + strlen(s) + 1;
		/* PARAMS ends only between pairs: every name has its value. */
		assert(value < end && end[-1] == '\0');
		if (strcmp(s, name) == 0)
			return value;
		s = value + strlen(value) + 1;
	}
	return NULL;
}

/* --- name-value pairs (PARAMS stored, GET_VALUES matched) ------------------ */

static const char *nv_stage_name(uint8_t stage)
{
	static const char *const names[] = {
		"name length", "value length", "name", "value",
	};
	assert(stage < sizeof(names) / sizeof(names[0]));
	return names[stage];
}

static void nv_lengths_done(struct fcgi_parser *p, struct fcgi_event *ev,
                            bool store);
static void nv_part_done(struct fcgi_parser *p, bool store);

/* One byte of a name or value length: one byte under 128, or four bytes,
 * big-endian, with the first one's high bit set (spec 3.4). */
static void nv_length_byte(struct fcgi_parser *p, struct fcgi_event *ev,
                           uint8_t b, bool store)
{
	uint32_t *len = &p->nv_len[p->nv_stage == NV_NAME_LEN ? 0 : 1];
	if (p->nv_left == 0) {
		*len = b & ~NV_LONG_BIT;
		if (b & NV_LONG_BIT) {
			p->nv_left = 3;
			return;
		}
	} else {
		assert(p->nv_left <= 3);   /* the rest of a 4-byte length */
		*len = *len << 8 | b;
		if (--p->nv_left > 0)
			return;
	}
	if (p->nv_stage == NV_NAME_LEN)
		p->nv_stage = NV_VALUE_LEN;
	else
		nv_lengths_done(p, ev, store);
}

/* The pair being decoded has both lengths: check them, start its name. */
static void nv_lengths_done(struct fcgi_parser *p, struct fcgi_event *ev,
                            bool store)
{
	uint64_t pair = (uint64_t)p->nv_len[0] + p->nv_len[1];
	if (store && pair > FCGI_PARAMS_MAX) {
		fail(p, ev, "PARAMS: a pair of a %u-byte name and a %u-byte value "
		     "is over FCGI_PARAMS_MAX (%d bytes)", (unsigned)p->nv_len[0],
		     (unsigned)p->nv_len[1], FCGI_PARAMS_MAX);
		return;
	}
	p->nv_stage = NV_NAME;
	p->nv_left = p->nv_len[0];
	p->candidates = ALL_CANDIDATES;
	if (p->nv_left == 0)
		nv_part_done(p, store);
}

/* A name or a value is complete (a value may follow, empty or not). */
static void nv_part_done(struct fcgi_parser *p, bool store)
{
	if (store)
		sb_putc(&p->params, '\0');
	if (p->nv_stage == NV_NAME) {
		for (unsigned i = 0; i < KNOWN_VALUES && !store; i++)
			if (strlen(known_values[i]) != p->nv_len[0])
				p->candidates &= (uint8_t)~(1u << i);
		p->nv_stage = NV_VALUE;
		p->nv_left = p->nv_len[1];
		if (p->nv_left == 0)
			nv_part_done(p, store);
		return;
	}
	if (!store)
		p->asked |= p->candidates;
	nv_reset(p);
}

/* GET_VALUES: drops the known names that these name bytes rule out. */
static void nv_match(struct fcgi_parser *p, const uint8_t *in, size_t n)
{
	size_t at = p->nv_len[0] - p->nv_left;
	for (unsigned i = 0; i < KNOWN_VALUES; i++) {
		size_t known = strlen(known_values[i]);
		if (at + n > known || memcmp(known_values[i] + at, in, n) != 0)
			p->candidates &= (uint8_t)~(1u << i);
	}
}

/* Name or value bytes; returns how many it took. */
static size_t nv_bytes(struct fcgi_parser *p, struct fcgi_event *ev,
                       const uint8_t *in, size_t n, bool store)
{
	assert(p->nv_stage == NV_NAME || p->nv_stage == NV_VALUE);
	assert(p->nv_left > 0 && p->nv_left <= p->nv_len[p->nv_stage == NV_VALUE]);
	size_t k = n < p->nv_left ? n : p->nv_left;
	if (store) {
		if (memchr(in, '\0', k) != NULL) {
			fail(p, ev, "PARAMS: a %s contains a NUL byte",
			     nv_stage_name(p->nv_stage));
			return k;
		}
		sb_append(&p->params, in, k);
	} else if (p->nv_stage == NV_NAME) {
		nv_match(p, in, k);
	}
	p->nv_left -= (uint32_t)k;
	if (p->nv_left == 0)
		nv_part_done(p, store);
	return k;
}

/* Feeds content bytes to the pair decoder (store: PARAMS, else GET_VALUES). */
static void nv_feed(struct fcgi_parser *p, struct fcgi_event *ev,
                    const uint8_t *in, size_t n, bool store)
{
	size_t i = 0;
	while (i < n && ev->type != FCGI_EV_ERROR) {
		if (p->nv_stage == NV_NAME_LEN || p->nv_stage == NV_VALUE_LEN)
			nv_length_byte(p, ev, in[i++], store);
		else
			i += nv_bytes(p, ev, in + i, n - i, store);
	}
	if (store && ev->type != FCGI_EV_ERROR && sb_failed(&p->params))
		fail(p, ev, "PARAMS: out of memory after %zu decoded bytes",
		     p->params.len);
	/* Decoded, a pair ("name\0value\0") is never longer than encoded
	 * (two length bytes at least, then name and value), and params_in
	 * counts the encoded bytes of every record begun. */
	assert(!store || sb_failed(&p->params) || p->params.len <= p->params_in);
}

/* False (and the error) when the pairs stop inside a pair. */
static bool nv_complete(struct fcgi_parser *p, struct fcgi_event *ev,
                        const char *what)
{
	if (p->nv_stage == NV_NAME_LEN && p->nv_left == 0)
		return true;
	fail(p, ev, "%s ended inside a name-value pair's %s", what,
	     nv_stage_name(p->nv_stage));
	return false;
}

/* --- records --------------------------------------------------------------- */

/* Sets what the content goes to and which event its end raises. */
static void route(struct fcgi_parser *p, enum sink sink,
                  enum fcgi_event_type end_event)
{
	p->sink = (uint8_t)sink;
	p->end_event = (uint8_t)end_event;
}

/* A management record (request id 0): GET_VALUES, or answered UNKNOWN_TYPE. */
static void route_management(struct fcgi_parser *p)
{
	if (p->type != FCGI_TYPE_GET_VALUES) {
		route(p, SINK_SKIP, FCGI_EV_UNKNOWN_TYPE);
		return;
	}
	nv_reset(p);
	p->asked = 0;
	route(p, SINK_GET_VALUES, FCGI_EV_GET_VALUES);
}

static void route_begin(struct fcgi_parser *p, struct fcgi_event *ev)
{
	if (p->content_left != BEGIN_BODY_SIZE)
		fail(p, ev, "BEGIN_REQUEST for request %u has %u content bytes, "
		     "not %d", p->id, p->content_left, BEGIN_BODY_SIZE);
	else if (p->active_id == p->id)
		fail(p, ev, "BEGIN_REQUEST for request %u, which is already active",
		     p->id);
	else
		route(p, SINK_BEGIN, FCGI_EV_BEGIN);
}

static void route_params(struct fcgi_parser *p, struct fcgi_event *ev)
{
	if (p->params_done) {
		fail(p, ev, "PARAMS record for request %u after its PARAMS ended",
		     p->id);
	} else if (p->content_left == 0) {
		route(p, SINK_SKIP, FCGI_EV_PARAMS);
	} else if ((uint32_t)p->content_left > FCGI_PARAMS_MAX - p->params_in) {
		fail(p, ev, "PARAMS for request %u over FCGI_PARAMS_MAX (%d bytes): "
		     "%u received, %u more announced", p->id, FCGI_PARAMS_MAX,
		     (unsigned)p->params_in, p->content_left);
	} else {
		p->params_in += p->content_left;
		assert(p->params_in <= FCGI_PARAMS_MAX);
		route(p, SINK_PARAMS, FCGI_EV_NONE);
	}
}

static void route_stdin(struct fcgi_parser *p, struct fcgi_event *ev)
{
	if (!p->params_done)
		fail(p, ev, "STDIN record for request %u before its PARAMS ended",
		     p->id);
	else if (p->stdin_done)
		fail(p, ev, "STDIN record for request %u after its STDIN ended",
		     p->id);
	else if (p->content_left == 0)
		route(p, SINK_SKIP, FCGI_EV_STDIN_END);
	else
		route(p, SINK_STDIN, FCGI_EV_NONE);
}

/* A known type that has no business on an active request from the server. */
static void refuse_type(struct fcgi_parser *p, struct fcgi_event *ev)
{
	if (p->type == FCGI_TYPE_GET_VALUES)
		fail(p, ev, "GET_VALUES record for request %u: management records "
		     "use request id 0", p->id);
	else if (p->type == FCGI_TYPE_DATA)
		fail(p, ev, "DATA record for request %u: FILTER is not a role we "
		     "serve", p->id);
	else
		fail(p, ev, "%s record for request %u: that type goes from the "
		     "application to the web server", type_name(p->type), p->id);
}

/* An application record (request id not 0). */
static void route_application(struct fcgi_parser *p, struct fcgi_event *ev)
{
	if (p->type == FCGI_TYPE_BEGIN_REQUEST)
		route_begin(p, ev);
	else if (type_name(p->type) == NULL)
		route(p, SINK_SKIP, FCGI_EV_UNKNOWN_TYPE);
	else if (p->id != p->active_id)
		route(p, SINK_SKIP, FCGI_EV_NONE);  /* inactive: spec 3.3 */
	else if (p->type == FCGI_TYPE_PARAMS)
		route_params(p, ev);
	else if (p->type == FCGI_TYPE_STDIN)
		route_stdin(p, ev);
	else if (p->type == FCGI_TYPE_ABORT_REQUEST)
		route(p, SINK_SKIP, FCGI_EV_ABORT);
	else
		refuse_type(p, ev);
}

static void end_begin(struct fcgi_parser *p, struct fcgi_event *ev)
{
	ev->role = (uint16_t)(p->head[0] << 8 | p->head[1]);
	ev->keep_conn = (p->head[2] & FCGI_KEEP_CONN_FLAG) != 0;
	if (p->active_id != 0) {
		ev->type = FCGI_EV_CANT_MPX;
		return;
	}
	/* The connection's first request (fcgi_wire.h): nothing of another is
	 * left, no parameters and no pair half decoded. */
	assert(p->params.data == NULL && p->params_in == 0);
	assert(!p->params_done && !p->stdin_done);
	assert(p->nv_stage == NV_NAME_LEN && p->nv_left == 0);
	ev->type = FCGI_EV_BEGIN;
	p->active_id = p->id;
}

/* The record's content is complete: raise its event, go on to padding. */
static void end_content(struct fcgi_parser *p, struct fcgi_event *ev)
{
	switch ((enum fcgi_event_type)p->end_event) {
	case FCGI_EV_BEGIN:
		end_begin(p, ev);
		break;
	case FCGI_EV_PARAMS:
		if (!nv_complete(p, ev, "PARAMS"))
			return;
		p->params_done = true;
		ev->type = FCGI_EV_PARAMS;
		break;
	case FCGI_EV_STDIN_END:
		p->stdin_done = true;
		ev->type = FCGI_EV_STDIN_END;
		break;
	case FCGI_EV_GET_VALUES:
		if (!nv_complete(p, ev, "GET_VALUES"))
			return;
		ev->asked = p->asked;
		ev->type = FCGI_EV_GET_VALUES;
		break;
	case FCGI_EV_UNKNOWN_TYPE:
		ev->record_type = p->type;
		ev->type = FCGI_EV_UNKNOWN_TYPE;
		break;
	default:
		ev->type = (enum fcgi_event_type)p->end_event;  /* ABORT or NONE */
		break;
	}
	if (ev->type != FCGI_EV_NONE)
		ev->request_id = p->id;
	p->stage = p->padding_left > 0 ? STAGE_PADDING : STAGE_HEADER;
}

static void start_record(struct fcgi_parser *p, struct fcgi_event *ev)
{
	const uint8_t *h = p->head;
	p->head_len = 0;
	if (h[0] != FCGI_VERSION) {
		fail(p, ev, "record of FastCGI version %u; only version %d exists",
		     h[0], FCGI_VERSION);
		return;
	}
	p->type = h[1];
	p->id = (uint16_t)(h[2] << 8 | h[3]);
	p->content_left = (uint16_t)(h[4] << 8 | h[5]);
	p->padding_left = h[6];
	if (p->id == 0)
		route_management(p);
	else
		route_application(p, ev);
	if (ev->type == FCGI_EV_ERROR)
		return;
	if (p->content_left == 0)
		end_content(p, ev);
	else
		p->stage = STAGE_CONTENT;
}

static size_t take_header(struct fcgi_parser *p, struct fcgi_event *ev,
                          const uint8_t *in, size_t len)
{
	assert(p->head_len < FCGI_HEADER_SIZE);
	size_t n = FCGI_HEADER_SIZE - p->head_len;
	if (n > len)
		n = len;
	memcpy(p->head + p->head_len, in, n);
	p->head_len += (uint8_t)n;
	if (p->head_len == FCGI_HEADER_SIZE)
		start_record(p, ev);
	return n;
}

static size_t take_content(struct fcgi_parser *p, struct fcgi_event *ev,
                           const uint8_t *in, size_t len)
{
	assert(p->content_left > 0);   /* else the stage would have moved on */
	size_t n = p->content_left < len ? p->content_left : len;
	switch ((enum sink)p->sink) {
	case SINK_BEGIN:
		/* route_begin took only a body of exactly BEGIN_BODY_SIZE */
		assert(p->head_len + n <= BEGIN_BODY_SIZE);
		memcpy(p->head + p->head_len, in, n);
		p->head_len += (uint8_t)n;
		break;
	case SINK_PARAMS:
		nv_feed(p, ev, in, n, true);
		break;
	case SINK_GET_VALUES:
		nv_feed(p, ev, in, n, false);
		break;
	case SINK_STDIN:
		ev->type = FCGI_EV_STDIN;
		ev->request_id = p->id;
		ev->data = (const char *)in;
		ev->len = n;
		break;
	case SINK_SKIP:
		break;
	}
	if (ev->type == FCGI_EV_ERROR)
		return n;
	p->content_left -= (uint16_t)n;
	if (p->content_left > 0)
		return n;
	if (p->sink == SINK_BEGIN)
		p->head_len = 0;
	if (ev->type == FCGI_EV_NONE)
		end_content(p, ev);
	else
		p->stage = p->padding_left > 0 ? STAGE_PADDING : STAGE_HEADER;
	return n;
}

static size_t take_padding(struct fcgi_parser *p, size_t len)
{
	assert(p->padding_left > 0);
	size_t n = p->padding_left < len ? p->padding_left : len;
	p->padding_left -= (uint8_t)n;
	if (p->padding_left == 0)
		p->stage = STAGE_HEADER;
	return n;
}

size_t fcgi_parse(struct fcgi_parser *p, const void *buf, size_t len,
                  struct fcgi_event *ev)
{
	const uint8_t *in = buf;
	size_t used = 0;
	memset(ev, 0, sizeof(*ev));
	if (p->stage == STAGE_DEAD) {
		fail(p, ev, "the connection already had a protocol error");
		return 0;
	}
	while (used < len && ev->type == FCGI_EV_NONE) {
		if (p->stage == STAGE_HEADER)
			used += take_header(p, ev, in + used, len - used);
		else if (p->stage == STAGE_CONTENT)
			used += take_content(p, ev, in + used, len - used);
		else
			used += take_padding(p, len - used);
	}
	assert(used <= len);
	return used;
}

/* --- writers ---------------------------------------------------------------- */

static size_t padding_for(size_t len)
{
	return (FCGI_ALIGN - len % FCGI_ALIGN) % FCGI_ALIGN;
}

static void header(uint8_t out[FCGI_HEADER_SIZE], uint8_t type, uint16_t id,
                   size_t len)
{
	assert(len <= FCGI_CONTENT_MAX);
	out[0] = FCGI_VERSION;
	out[1] = type;
	out[2] = (uint8_t)(id >> 8);
	out[3] = (uint8_t)id;
	out[4] = (uint8_t)(len >> 8);
	out[5] = (uint8_t)len;
	out[6] = (uint8_t)padding_for(len);
	out[7] = 0;
}

/* One record; len is at most FCGI_CONTENT_MAX. */
static void put_record(struct strbuf *out, uint8_t type, uint16_t id,
                       const void *data, size_t len)
{
	uint8_t h[FCGI_HEADER_SIZE];
	header(h, type, id, len);
	sb_append(out, h, sizeof(h));
	sb_append(out, data, len);
	sb_append(out, zeros, padding_for(len));
}

void fcgi_write_stdout(struct strbuf *out, uint16_t id, const void *data,
                       size_t len)
{
	const char *s = data;
	while (len > 0) {
		size_t n = len < FCGI_CONTENT_MAX ? len : FCGI_CONTENT_MAX;
		put_record(out, FCGI_TYPE_STDOUT, id, s, n);
		s += n;
		len -= n;
	}
}

static void put_end_request(struct strbuf *out, uint16_t id,
                            uint32_t app_status, enum fcgi_status status)
{
	uint8_t body[END_BODY_SIZE] = {
		(uint8_t)(app_status >> 24), (uint8_t)(app_status >> 16),
		(uint8_t)(app_status >> 8), (uint8_t)app_status, (uint8_t)status,
	};
	put_record(out, FCGI_TYPE_END_REQUEST, id, body, sizeof(body));
}

size_t fcgi_record_size(const uint8_t hdr[FCGI_HEADER_SIZE])
{
	size_t size = FCGI_HEADER_SIZE + ((size_t)hdr[4] << 8 | hdr[5]) + hdr[6];
	/* One of ours (header()): a walk that lands anywhere but on a record
	 * boundary reads payload as a header, and shows here. */
	assert(hdr[0] == FCGI_VERSION && hdr[7] == 0 && hdr[6] < FCGI_ALIGN);
	assert(size % FCGI_ALIGN == 0);
	return size;
}

void fcgi_write_end_request(struct strbuf *out, uint16_t id,
                            uint32_t app_status)
{
	put_record(out, FCGI_TYPE_STDOUT, id, NULL, 0);
	put_end_request(out, id, app_status, FCGI_STATUS_REQUEST_COMPLETE);
}

void fcgi_write_refusal(struct strbuf *out, uint16_t id,
                        enum fcgi_status status)
{
	put_end_request(out, id, 0, status);
}

/* A pair whose name and value are both under 128 bytes (1-byte lengths). */
static void put_short_pair(struct strbuf *out, const char *name,
                           const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	assert(n < 128 && v < 128);
	sb_putc(out, (char)n);
	sb_putc(out, (char)v);
	sb_append(out, name, n);
	sb_append(out, value, v);
}

void fcgi_write_get_values_result(struct strbuf *out, unsigned asked,
                                  unsigned max_conns, unsigned max_reqs)
{
	char conns[16], reqs[16];
	snprintf(conns, sizeof(conns), "%u", max_conns);
	snprintf(reqs, sizeof(reqs), "%u", max_reqs);
	const char *values[KNOWN_VALUES] = { conns, reqs, "0" };
	size_t len = 0;
	for (unsigned i = 0; i < KNOWN_VALUES; i++)
		if (asked & (1u << i))
			len += 2 + strlen(known_values[i]) + strlen(values[i]);
	uint8_t h[FCGI_HEADER_SIZE];
	header(h, FCGI_TYPE_GET_VALUES_RESULT, 0, len);
	sb_append(out, h, sizeof(h));
	for (unsigned i = 0; i < KNOWN_VALUES; i++)
		if (asked & (1u << i))
			put_short_pair(out, known_values[i], values[i]);
	sb_append(out, zeros, padding_for(len));
}

void fcgi_write_unknown_type(struct strbuf *out, uint8_t type)
{
	uint8_t body[UNKNOWN_TYPE_BODY_SIZE] = { type };
	put_record(out, FCGI_TYPE_UNKNOWN_TYPE, 0, body, sizeof(body));
}
