/*
 * FastCGI records: bytes in (whole, one byte at a time, split at every
 * offset), events out as a transcript; the writers' output read back by a
 * small independent reader written here from the specification.
 */
#include "testutil.h"

#include "fcgi_wire.h"

/* --- input: records as tables ---------------------------------------------- */

/*
 * One record of input: content (always given; "" for an empty record), then
 * `fill` bytes of 'v', then `padding` bytes.
 */
struct rec {
	uint8_t type;
	uint16_t id;
	const char *content;
	size_t len;
	size_t fill;
	uint8_t padding;
	bool set_version;  /* else version 1 */
	uint8_t version;
};

#define REC(t, i, s) { .type = (t), .id = (i), .content = (s), .len = sizeof(s) - 1 }
#define REC_PAD(t, i, s, pad) \
	{ .type = (t), .id = (i), .content = (s), .len = sizeof(s) - 1, .padding = (pad) }
#define REC_FILL(t, i, s, n) \
	{ .type = (t), .id = (i), .content = (s), .len = sizeof(s) - 1, .fill = (n) }
#define REC_VERSION(v, t, i, s) \
	{ .type = (t), .id = (i), .content = (s), .len = sizeof(s) - 1, \
	  .set_version = true, .version = (v) }

enum { BEGIN = FCGI_TYPE_BEGIN_REQUEST, ABORT = FCGI_TYPE_ABORT_REQUEST,
       PARAMS = FCGI_TYPE_PARAMS, STDIN = FCGI_TYPE_STDIN,
       GET_VALUES = FCGI_TYPE_GET_VALUES };

/* BEGIN_REQUEST bodies: role (2 bytes), flags, 5 reserved. */
#define RESPONDER_KEEP "\x00\x01\x01\x00\x00\x00\x00\x00"
#define RESPONDER      "\x00\x01\x00\x00\x00\x00\x00\x00"
#define AUTHORIZER     "\x00\x02\x00\x00\x00\x00\x00\x00"

/* A name-value pair with 1-byte lengths (hex escapes end each literal). */
#define QS_A1 "\x0c\x03" "QUERY_STRING" "a=1"
#define METHOD_POST "\x0e\x04" "REQUEST_METHOD" "POST"
#define ALL_THREE "\x0e\x00" "FCGI_MAX_CONNS" "\x0d\x00" "FCGI_MAX_REQS" \
                  "\x0f\x00" "FCGI_MPXS_CONNS"

#define RECS_MAX 8

struct parse_case {
	const char *what;
	struct rec recs[RECS_MAX];
	const char *lookups;   /* names looked up at PARAMS, space-separated */
	const char *want;      /* the transcript of events */
};

static const struct parse_case cases[] = {
	/* requests */
	{ "a whole request",
	  { REC(BEGIN, 1, RESPONDER_KEEP), REC(PARAMS, 1, QS_A1 METHOD_POST),
	    REC(PARAMS, 1, ""), REC(STDIN, 1, "hello"), REC(STDIN, 1, "") },
	  "QUERY_STRING REQUEST_METHOD HTTP_ORIGIN",
	  "BEGIN 1 role=1 keep=1\n"
	  "PARAMS 1 QUERY_STRING=a=1 REQUEST_METHOD=POST HTTP_ORIGIN=(absent)\n"
	  "STDIN 1 'hello'\nSTDIN_END 1\n" },
	{ "no KEEP_CONN, another role (the caller judges roles), id 65535",
	  { REC(BEGIN, 65535, AUTHORIZER), REC(PARAMS, 65535, ""),
	    REC(STDIN, 65535, "") },
	  "", "BEGIN 65535 role=2 keep=0\nPARAMS 65535\nSTDIN_END 65535\n" },
	{ "a pair split across two PARAMS records",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x0c\x03" "QUERY_"),
	    REC(PARAMS, 1, "STRING" "a=1"), REC(PARAMS, 1, "") },
	  "QUERY_STRING", "BEGIN 1 role=1 keep=0\nPARAMS 1 QUERY_STRING=a=1\n" },
	{ "a name length in 4 bytes",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x80\x00\x00\x0c\x01" "QUERY_STRING" "x"),
	    REC(PARAMS, 1, "") },
	  "QUERY_STRING", "BEGIN 1 role=1 keep=0\nPARAMS 1 QUERY_STRING=x\n" },
	{ "a 200-byte value, its length in 4 bytes",
	  { REC(BEGIN, 1, RESPONDER), REC_FILL(PARAMS, 1, "\x05\x80\x00\x00\xc8" "VALUE", 200),
	    REC(PARAMS, 1, "") },
	  "VALUE", "BEGIN 1 role=1 keep=0\nPARAMS 1 VALUE=<200 bytes of v>\n" },
	{ "both lengths in 4 bytes",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x80\x00\x00\x01\x80\x00\x00\x02" "Xyz"),
	    REC(PARAMS, 1, "") },
	  "X", "BEGIN 1 role=1 keep=0\nPARAMS 1 X=yz\n" },
	{ "empty PARAMS",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "") },
	  "QUERY_STRING", "BEGIN 1 role=1 keep=0\nPARAMS 1 QUERY_STRING=(absent)\n" },
	{ "an empty name and an empty value",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x00\x00" "\x04\x00" "HTTP"),
	    REC(PARAMS, 1, "") },
	  "HTTP", "BEGIN 1 role=1 keep=0\nPARAMS 1 HTTP=\n" },
	{ "a name given twice: the first counts, as in libfcgi",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x01\x01" "A1" "\x01\x01" "A2"),
	    REC(PARAMS, 1, "") },
	  "A", "BEGIN 1 role=1 keep=0\nPARAMS 1 A=1\n" },
	{ "padding on every record, up to 255 bytes",
	  { REC_PAD(BEGIN, 1, RESPONDER, 255), REC_PAD(PARAMS, 1, QS_A1, 3),
	    REC_PAD(PARAMS, 1, "", 7), REC_PAD(STDIN, 1, "hi", 6), REC_PAD(STDIN, 1, "", 1) },
	  "QUERY_STRING",
	  "BEGIN 1 role=1 keep=0\nPARAMS 1 QUERY_STRING=a=1\nSTDIN 1 'hi'\nSTDIN_END 1\n" },
	{ "STDIN in several records",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, ""), REC(STDIN, 1, "hel"),
	    REC(STDIN, 1, "lo "), REC_FILL(STDIN, 1, "", 3), REC(STDIN, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nPARAMS 1\nSTDIN 1 'hello vvv'\nSTDIN_END 1\n" },
	{ "ABORT of the active request",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, ""), REC(STDIN, 1, "x"),
	    REC(ABORT, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nPARAMS 1\nSTDIN 1 'x'\nABORT 1\n" },
	{ "ABORT of another id is skipped",
	  { REC(BEGIN, 1, RESPONDER), REC(ABORT, 2, ""), REC(PARAMS, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nPARAMS 1\n" },
	{ "a second request while one is active: CANT_MPX, its records skipped",
	  { REC(BEGIN, 1, RESPONDER), REC(BEGIN, 2, RESPONDER_KEEP),
	    REC(PARAMS, 2, "\x01\x01" "A2"), REC(PARAMS, 2, ""),
	    REC(PARAMS, 1, "\x01\x01" "A1"), REC(PARAMS, 1, "") },
	  "A", "BEGIN 1 role=1 keep=0\nCANT_MPX 2 role=1 keep=1\nPARAMS 1 A=1\n" },
	{ "a connection carries one request: after it, another is CANT_MPX",
	  { REC(BEGIN, 1, AUTHORIZER), REC(PARAMS, 1, ""), REC(STDIN, 1, ""),
	    REC(BEGIN, 2, RESPONDER_KEEP), REC(PARAMS, 2, QS_A1), REC(PARAMS, 2, ""),
	    REC(STDIN, 2, "") },
	  "", "BEGIN 1 role=2 keep=0\nPARAMS 1\nSTDIN_END 1\nCANT_MPX 2 role=1 keep=1\n" },
	{ "records for an id never begun are skipped",
	  { REC(PARAMS, 7, QS_A1), REC(STDIN, 7, ""), REC(ABORT, 7, ""),
	    REC(BEGIN, 1, RESPONDER) },
	  "", "BEGIN 1 role=1 keep=0\n" },

	/* management records */
	{ "GET_VALUES with the three names",
	  { REC(GET_VALUES, 0, ALL_THREE) }, "", "GET_VALUES asked=7\n" },
	{ "GET_VALUES: a name we do not know is left out",
	  { REC(GET_VALUES, 0, "\x0a\x00" "FCGI_OTHER" "\x0d\x00" "FCGI_MAX_REQS") },
	  "", "GET_VALUES asked=2\n" },
	{ "GET_VALUES: near misses match nothing",
	  { REC(GET_VALUES, 0, "\x0d\x00" "FCGI_MAX_CONN" "\x0f\x00" "FCGI_MAX_CONNSX"
	                       "\x0e\x00" "fcgi_max_conns" "\x00\x00") },
	  "", "GET_VALUES asked=0\n" },
	{ "GET_VALUES empty", { REC(GET_VALUES, 0, "") }, "", "GET_VALUES asked=0\n" },
	{ "GET_VALUES in the middle of a request",
	  { REC(BEGIN, 1, RESPONDER), REC_PAD(GET_VALUES, 0, "\x0f\x00" "FCGI_MPXS_CONNS", 1),
	    REC(PARAMS, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nGET_VALUES asked=4\nPARAMS 1\n" },
	{ "unknown types, management or not, are answered and skipped",
	  { REC(12, 0, "abc"), REC(BEGIN, 0, RESPONDER), REC(0, 1, ""),
	    REC(200, 3, "xyz"), REC(BEGIN, 1, RESPONDER) },
	  "", "UNKNOWN_TYPE 12\nUNKNOWN_TYPE 1\nUNKNOWN_TYPE 0\nUNKNOWN_TYPE 200\n"
	      "BEGIN 1 role=1 keep=0\n" },

	/* limits */
	{ "PARAMS of exactly FCGI_PARAMS_MAX bytes",
	  { REC(BEGIN, 1, RESPONDER), REC_FILL(PARAMS, 1, "\x01\x80\x00\xfd\xe8" "A", 65000),
	    REC_FILL(PARAMS, 1, "\x01\x80\x00\x02\x0c" "B", 524), REC(PARAMS, 1, "") },
	  "A B", "BEGIN 1 role=1 keep=0\nPARAMS 1 A=<65000 bytes of v> B=<524 bytes of v>\n" },
	{ "PARAMS one byte over FCGI_PARAMS_MAX",
	  { REC(BEGIN, 1, RESPONDER), REC_FILL(PARAMS, 1, "\x01\x80\x00\xfd\xe8" "A", 65000),
	    REC_FILL(PARAMS, 1, "\x01\x80\x00\x02\x0d" "B", 525), REC(PARAMS, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nERROR PARAMS for request 1 over FCGI_PARAMS_MAX "
	      "(65536 bytes): 65006 received, 531 more announced\n" },
	{ "a 70000-byte value",
	  { REC(BEGIN, 1, RESPONDER),
	    REC_FILL(PARAMS, 1, "\x0b\x80\x01\x11\x70" "HTTP_COOKIE", 65000),
	    REC_FILL(PARAMS, 1, "", 5000), REC(PARAMS, 1, "") },
	  "", "BEGIN 1 role=1 keep=0\nERROR PARAMS: a pair of a 11-byte name and a "
	      "70000-byte value is over FCGI_PARAMS_MAX (65536 bytes)\n" },

	/* protocol errors */
	{ "version 0", { REC_VERSION(0, BEGIN, 1, RESPONDER) }, "",
	  "ERROR record of FastCGI version 0; only version 1 exists\n" },
	{ "version 2 after a good record",
	  { REC(BEGIN, 1, RESPONDER), REC_VERSION(2, PARAMS, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR record of FastCGI version 2; only version 1 exists\n" },
	{ "a BEGIN_REQUEST body of 7 bytes",
	  { REC(BEGIN, 1, "\x00\x01\x00\x00\x00\x00\x00") }, "",
	  "ERROR BEGIN_REQUEST for request 1 has 7 content bytes, not 8\n" },
	{ "a BEGIN_REQUEST body of 9 bytes",
	  { REC(BEGIN, 1, RESPONDER "x") }, "",
	  "ERROR BEGIN_REQUEST for request 1 has 9 content bytes, not 8\n" },
	{ "BEGIN_REQUEST again for the active id",
	  { REC(BEGIN, 1, RESPONDER), REC(BEGIN, 1, RESPONDER) }, "",
	  "BEGIN 1 role=1 keep=0\nERROR BEGIN_REQUEST for request 1, which is already active\n" },
	{ "PARAMS ending inside a name length",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x80\x00"), REC(PARAMS, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS ended inside a name-value pair's name length\n" },
	{ "PARAMS ending inside a value length",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x04\x80\x00\x00"), REC(PARAMS, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS ended inside a name-value pair's value length\n" },
	{ "PARAMS ending inside a name",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x04\x02" "AB"), REC(PARAMS, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS ended inside a name-value pair's name\n" },
	{ "PARAMS ending inside a value",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x01\x04" "Axy"), REC(PARAMS, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS ended inside a name-value pair's value\n" },
	{ "a NUL in a name",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x03\x01" "A\0B" "x") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS: a name contains a NUL byte\n" },
	{ "a NUL in a value",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, "\x01\x03" "A" "x\0y") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR PARAMS: a value contains a NUL byte\n" },
	{ "PARAMS after PARAMS ended",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, ""), REC(PARAMS, 1, QS_A1) }, "",
	  "BEGIN 1 role=1 keep=0\nPARAMS 1\n"
	  "ERROR PARAMS record for request 1 after its PARAMS ended\n" },
	{ "STDIN before PARAMS ended",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, QS_A1), REC(STDIN, 1, "x") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR STDIN record for request 1 before its PARAMS ended\n" },
	{ "STDIN after STDIN ended",
	  { REC(BEGIN, 1, RESPONDER), REC(PARAMS, 1, ""), REC(STDIN, 1, ""),
	    REC(STDIN, 1, "x") }, "",
	  "BEGIN 1 role=1 keep=0\nPARAMS 1\nSTDIN_END 1\n"
	  "ERROR STDIN record for request 1 after its STDIN ended\n" },
	{ "STDOUT from the web server",
	  { REC(BEGIN, 1, RESPONDER), REC(FCGI_TYPE_STDOUT, 1, "x") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR STDOUT record for request 1: that type goes "
	  "from the application to the web server\n" },
	{ "END_REQUEST from the web server",
	  { REC(BEGIN, 1, RESPONDER), REC(FCGI_TYPE_END_REQUEST, 1, "\0\0\0\0\0\0\0\0") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR END_REQUEST record for request 1: that type goes "
	  "from the application to the web server\n" },
	{ "DATA (the FILTER role)",
	  { REC(BEGIN, 1, RESPONDER), REC(FCGI_TYPE_DATA, 1, "x") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR DATA record for request 1: FILTER is not a role "
	  "we serve\n" },
	{ "GET_VALUES on a request id",
	  { REC(BEGIN, 1, RESPONDER), REC(GET_VALUES, 1, "") }, "",
	  "BEGIN 1 role=1 keep=0\nERROR GET_VALUES record for request 1: management "
	  "records use request id 0\n" },
	{ "GET_VALUES ending inside a name",
	  { REC(GET_VALUES, 0, "\x0e\x00" "FCGI_MAX") }, "",
	  "ERROR GET_VALUES ended inside a name-value pair's name\n" },
};

/* --- running the parser ------------------------------------------------------ */

/* The input bytes; where records start. */
struct input {
	struct strbuf bytes;
	size_t starts[RECS_MAX];
	size_t n_starts;
};

static bool is_rec(const struct rec *r)
{
	return r->content != NULL;
}

static void build(const struct parse_case *c, struct input *in)
{
	memset(in, 0, sizeof(*in));
	for (size_t i = 0; i < RECS_MAX && is_rec(&c->recs[i]); i++) {
		const struct rec *r = &c->recs[i];
		size_t len = r->len + r->fill;
		assert_true(len <= FCGI_CONTENT_MAX);
		uint8_t h[8] = { r->set_version ? r->version : 1, r->type,
		                 (uint8_t)(r->id >> 8), (uint8_t)r->id,
		                 (uint8_t)(len >> 8), (uint8_t)len, r->padding, 0 };
		in->starts[in->n_starts++] = in->bytes.len;
		sb_append(&in->bytes, h, sizeof(h));
		sb_append(&in->bytes, r->content, r->len);
		for (size_t k = 0; k < r->fill; k++)
			sb_putc(&in->bytes, 'v');
		for (size_t k = 0; k < r->padding; k++)
			sb_putc(&in->bytes, (char)0xEE);  /* padding need not be zero */
	}
	assert_false(sb_failed(&in->bytes));
}

struct transcript {
	struct strbuf text;
	struct strbuf stdin_data;  /* consecutive STDIN chunks, joined */
	uint16_t stdin_id;
	const char *lookups;
	bool dead;
};

static void flush_stdin(struct transcript *t)
{
	if (t->stdin_data.len == 0)
		return;
	sb_printf(&t->text, "STDIN %u '%s'\n", t->stdin_id, sb_str(&t->stdin_data));
	sb_reset(&t->stdin_data);
}

static void print_params(struct transcript *t, const struct fcgi_parser *p)
{
	const char *s = t->lookups;
	while (*s) {
		size_t n = strcspn(s, " ");
		char name[64];
		assert_true(n < sizeof(name));
		memcpy(name, s, n);
		name[n] = '\0';
		const char *v = fcgi_param(p, name);
		if (v == NULL)
			sb_printf(&t->text, " %s=(absent)", name);
		else if (strlen(v) > 40)
			sb_printf(&t->text, " %s=<%zu bytes of %c>", name, strlen(v), v[0]);
		else
			sb_printf(&t->text, " %s=%s", name, v);
		s += n + (s[n] == ' ');
	}
}

static void note(struct transcript *t, const struct fcgi_parser *p,
                 const struct fcgi_event *ev)
{
	if (ev->type == FCGI_EV_NONE)
		return;
	if (ev->type == FCGI_EV_STDIN) {
		assert_true(ev->len > 0);
		sb_append(&t->stdin_data, ev->data, ev->len);
		t->stdin_id = ev->request_id;
		return;
	}
	flush_stdin(t);
	struct strbuf *o = &t->text;
	switch (ev->type) {
	case FCGI_EV_NONE:
	case FCGI_EV_STDIN:
		break;
	case FCGI_EV_BEGIN:
	case FCGI_EV_CANT_MPX:
		sb_printf(o, "%s %u role=%u keep=%d\n",
		          ev->type == FCGI_EV_BEGIN ? "BEGIN" : "CANT_MPX",
		          ev->request_id, ev->role, ev->keep_conn);
		break;
	case FCGI_EV_PARAMS:
		sb_printf(o, "PARAMS %u", ev->request_id);
		print_params(t, p);
		sb_putc(o, '\n');
		break;
	case FCGI_EV_STDIN_END:
		sb_printf(o, "STDIN_END %u\n", ev->request_id);
		break;
	case FCGI_EV_ABORT:
		sb_printf(o, "ABORT %u\n", ev->request_id);
		break;
	case FCGI_EV_GET_VALUES:
		sb_printf(o, "GET_VALUES asked=%u\n", ev->asked);
		break;
	case FCGI_EV_UNKNOWN_TYPE:
		sb_printf(o, "UNKNOWN_TYPE %u\n", ev->record_type);
		break;
	case FCGI_EV_ERROR:
		sb_printf(o, "ERROR %s\n", ev->error);
		t->dead = true;
		break;
	}
}

/* Feeds one chunk the way the server loop will: parse, handle, repeat. */
static void feed(struct fcgi_parser *p, struct transcript *t,
                 const char *chunk, size_t len)
{
	const char *s = chunk;
	size_t left = len;
	while (left > 0 && !t->dead) {
		struct fcgi_event ev;
		size_t n = fcgi_parse(p, s, left, &ev);
		assert_true(n <= left);
		if (n == 0 && ev.type != FCGI_EV_ERROR)
			fail_msg("no progress and no event");
		if (ev.type == FCGI_EV_NONE && n != left)
			fail_msg("stopped at %zu of %zu bytes without an event", n, left);
		if (ev.type == FCGI_EV_STDIN &&
		    (ev.data < chunk || ev.data + ev.len > chunk + len))
			fail_msg("STDIN data is not inside the caller's buffer");
		s += n;
		left -= n;
		note(t, p, &ev);
	}
	if (t->dead) {  /* stays dead */
		struct fcgi_event ev;
		assert_int_equal(fcgi_parse(p, "x", 1, &ev), 0);
		assert_int_equal(ev.type, FCGI_EV_ERROR);
	}
}

/* How a segment of input is cut into chunks. */
enum cut { CUT_WHOLE, CUT_BYTES, CUT_AT };

static void feed_segment(struct fcgi_parser *p, struct transcript *t,
                         const char *bytes, size_t from, size_t to,
                         enum cut cut, size_t at)
{
	if (cut == CUT_BYTES) {
		for (size_t i = from; i < to && !t->dead; i++)
			feed(p, t, bytes + i, 1);
		return;
	}
	size_t mid = cut == CUT_AT && at > from && at < to ? at : to;
	feed(p, t, bytes + from, mid - from);
	feed(p, t, bytes + mid, to - mid);
}

/* The transcript of one case fed with one way of cutting; caller frees. */
static void run(const struct parse_case *c, const struct input *in,
                enum cut cut, size_t at, struct strbuf *out)
{
	struct fcgi_parser p;
	fcgi_parser_init(&p);
	struct transcript t = { STRBUF_INIT, STRBUF_INIT, 0, c->lookups, false };
	feed_segment(&p, &t, in->bytes.data, 0, in->bytes.len, cut, at);
	flush_stdin(&t);
	fcgi_parser_free(&p);
	sb_free(&t.stdin_data);
	*out = t.text;
}

static void check(const struct parse_case *c, const struct input *in,
                  enum cut cut, size_t at)
{
	static const char *const cut_names[] = { "whole", "byte by byte", "split" };
	struct strbuf got;
	run(c, in, cut, at, &got);
	if (strcmp(sb_str(&got), c->want) != 0)
		fail_msg("%s (%s %zu):\ngot:\n%swant:\n%s", c->what, cut_names[cut], at,
		         sb_str(&got), c->want);
	sb_free(&got);
}

/* Split offsets: all of them for small inputs; near every record start and
 * a stride through the rest for the large ones (all would be quadratic). */
static bool worth_splitting(const struct input *in, size_t at)
{
	if (in->bytes.len <= 4096 || at % 1009 == 0)
		return true;
	for (size_t i = 0; i < in->n_starts; i++)
		if (at + 12 >= in->starts[i] && at <= in->starts[i] + 12)
			return true;
	return false;
}

static void test_parse_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct input in;
		build(&cases[i], &in);
		check(&cases[i], &in, CUT_WHOLE, 0);
		check(&cases[i], &in, CUT_BYTES, 0);
		for (size_t at = 1; at < in.bytes.len; at++)
			if (worth_splitting(&in, at))
				check(&cases[i], &in, CUT_AT, at);
		sb_free(&in.bytes);
	}
}

/* Parses a whole input; returns its last event (the parser stays). */
static struct fcgi_event parse_all(struct fcgi_parser *p, const struct strbuf *in)
{
	struct fcgi_event last = { .type = FCGI_EV_NONE }, ev;
	size_t at = 0;
	while (at < in->len) {
		at += fcgi_parse(p, in->data + at, in->len - at, &ev);
		assert_int_not_equal(ev.type, FCGI_EV_ERROR);
		if (ev.type != FCGI_EV_NONE)
			last = ev;
	}
	return last;
}

static void add_record(struct strbuf *in, uint8_t type, uint16_t id,
                       const char *content, size_t len)
{
	uint8_t h[8] = { 1, type, (uint8_t)(id >> 8), (uint8_t)id,
	                 (uint8_t)(len >> 8), (uint8_t)len, 0, 0 };
	sb_append(in, h, sizeof(h));
	sb_append(in, content, len);
}

/* What the caller can rely on: when params answer, and that release frees. */
static void test_params_lifetime(void **state)
{
	(void)state;
	struct fcgi_parser p;
	fcgi_parser_init(&p);
	struct strbuf in = STRBUF_INIT;
	add_record(&in, BEGIN, 1, RESPONDER_KEEP, 8);
	add_record(&in, PARAMS, 1, QS_A1, sizeof(QS_A1) - 1);
	assert_int_equal(parse_all(&p, &in).type, FCGI_EV_BEGIN);
	assert_null(fcgi_param(&p, "QUERY_STRING"));   /* not complete yet */
	sb_reset(&in);
	add_record(&in, PARAMS, 1, "", 0);
	assert_int_equal(parse_all(&p, &in).type, FCGI_EV_PARAMS);
	assert_string_equal(fcgi_param(&p, "QUERY_STRING"), "a=1");
	fcgi_parser_release_params(&p);
	assert_null(p.params.data);
	assert_null(fcgi_param(&p, "QUERY_STRING"));
	sb_reset(&in);
	add_record(&in, STDIN, 1, "", 0);              /* the request goes on */
	assert_int_equal(parse_all(&p, &in).type, FCGI_EV_STDIN_END);
	fcgi_parser_free(&p);
	sb_free(&in);
}

/*
 * The memory promises: the parser is small, and the parameters of a request
 * as nginx sends them (its fastcgi_params plus browser headers: 35 pairs,
 * 1158 bytes encoded) take one allocation no larger than the next power of
 * two (2 KiB here).
 */
static void test_memory(void **state)
{
	(void)state;
	assert_true(sizeof(struct fcgi_parser) <= 96);
	static const char *const nginx[][2] = {
		{ "QUERY_STRING", "channel=chat&since=1234" }, { "REQUEST_METHOD", "GET" },
		{ "CONTENT_TYPE", "" }, { "CONTENT_LENGTH", "" },
		{ "SCRIPT_NAME", "/cgi-bin/events.fcgi" },
		{ "REQUEST_URI", "/cgi-bin/events.fcgi?channel=chat&since=1234" },
		{ "DOCUMENT_URI", "/cgi-bin/events.fcgi" }, { "DOCUMENT_ROOT", "/var/www/html" },
		{ "SERVER_PROTOCOL", "HTTP/1.1" }, { "REQUEST_SCHEME", "https" },
		{ "HTTPS", "on" }, { "GATEWAY_INTERFACE", "CGI/1.1" },
		{ "SERVER_SOFTWARE", "nginx/1.24.0" }, { "REMOTE_ADDR", "203.0.113.45" },
		{ "REMOTE_PORT", "51234" }, { "REMOTE_USER", "" },
		{ "SERVER_ADDR", "198.51.100.7" }, { "SERVER_PORT", "443" },
		{ "SERVER_NAME", "chat.example.org" }, { "REDIRECT_STATUS", "200" },
		{ "SCRIPT_FILENAME", "/var/www/html/cgi-bin/events.fcgi" },
		{ "HTTP_HOST", "chat.example.org" },
		{ "HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
		                     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" },
		{ "HTTP_ACCEPT", "text/event-stream" }, { "HTTP_CACHE_CONTROL", "no-cache" },
		{ "HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.9,fr;q=0.8" },
		{ "HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd" },
		{ "HTTP_REFERER", "https://chat.example.org/" },
		{ "HTTP_ORIGIN", "https://chat.example.org" },
		{ "HTTP_COOKIE", "session=0123456789abcdef0123456789abcdef; theme=dark; "
		                 "consent=yes; _ga=GA1.2.1234567890.1700000000" },
		{ "HTTP_SEC_FETCH_SITE", "same-origin" }, { "HTTP_SEC_FETCH_MODE", "cors" },
		{ "HTTP_SEC_FETCH_DEST", "empty" }, { "HTTP_LAST_EVENT_ID", "1234" },
		{ "HTTP_CONNECTION", "keep-alive" },
	};
	struct strbuf pairs = STRBUF_INIT, in = STRBUF_INIT;
	size_t decoded = 0;
	for (size_t i = 0; i < ARRAY_LEN(nginx); i++) {
		size_t n = strlen(nginx[i][0]), v = strlen(nginx[i][1]);
		assert_true(n < 128 && v < 128);
		sb_putc(&pairs, (char)n);
		sb_putc(&pairs, (char)v);
		sb_puts(&pairs, nginx[i][0]);
		sb_puts(&pairs, nginx[i][1]);
		decoded += n + v + 2;
	}
	add_record(&in, BEGIN, 1, RESPONDER_KEEP, 8);
	add_record(&in, PARAMS, 1, pairs.data, pairs.len);
	add_record(&in, PARAMS, 1, "", 0);
	struct fcgi_parser p;
	fcgi_parser_init(&p);
	assert_int_equal(parse_all(&p, &in).type, FCGI_EV_PARAMS);
	assert_int_equal(p.params.len, decoded);
	assert_true(decoded <= pairs.len);
	size_t pow2 = 256;
	while (pow2 <= decoded)
		pow2 *= 2;
	assert_true(p.params.cap <= pow2);
	for (size_t i = 0; i < ARRAY_LEN(nginx); i++)
		assert_string_equal(fcgi_param(&p, nginx[i][0]), nginx[i][1]);
	fcgi_parser_free(&p);
	sb_free(&pairs);
	sb_free(&in);
}

/* --- the writers, read back ---------------------------------------------------- */

struct record {
	uint8_t type;
	uint16_t id;
	size_t len;
	const uint8_t *content;
};

#define READ_MAX 16

/*
 * An independent reader: splits buf into records and fails the test on
 * anything the specification or our padding rule forbids (version, reserved
 * byte, padding that is not zeros up to the next multiple of 8, bytes left).
 */
static size_t read_records(const struct strbuf *buf, struct record *out)
{
	const uint8_t *s = (const uint8_t *)buf->data;
	size_t at = 0, n = 0;
	assert_false(sb_failed(buf));
	while (at < buf->len) {
		assert_true(n < READ_MAX);
		assert_true(buf->len - at >= 8);
		const uint8_t *h = s + at;
		assert_int_equal(h[0], 1);
		assert_int_equal(h[7], 0);
		struct record *r = &out[n++];
		r->type = h[1];
		r->id = (uint16_t)(h[2] * 256 + h[3]);
		r->len = (size_t)h[4] * 256 + h[5];
		size_t pad = h[6];
		assert_int_equal((r->len + pad) % 8, 0);
		assert_true(pad < 8);
		assert_true(buf->len - at - 8 >= r->len + pad);
		r->content = h + 8;
		for (size_t i = 0; i < pad; i++)
			assert_int_equal(r->content[r->len + i], 0);
		assert_int_equal(fcgi_record_size(h), 8 + r->len + pad);
		at += 8 + r->len + pad;
	}
	return n;
}

/* The pairs of a GET_VALUES_RESULT as "name=value;" (1- or 4-byte lengths). */
static void read_pairs(const struct record *r, struct strbuf *out)
{
	const uint8_t *s = r->content, *end = s + r->len;
	while (s < end) {
		size_t len[2];
		for (int k = 0; k < 2; k++) {
			assert_true(s < end);
			if (*s >> 7) {
				assert_true(end - s >= 4);
				len[k] = ((size_t)(s[0] & 0x7f) << 24) | ((size_t)s[1] << 16) |
				         ((size_t)s[2] << 8) | s[3];
				s += 4;
			} else {
				len[k] = *s++;
			}
		}
		assert_true((size_t)(end - s) >= len[0] + len[1]);
		sb_append(out, s, len[0]);
		sb_putc(out, '=');
		sb_append(out, s + len[0], len[1]);
		sb_putc(out, ';');
		s += len[0] + len[1];
	}
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 % 251);
}

struct stdout_case {
	size_t len;
	size_t records[READ_MAX];   /* their lengths, 0-terminated */
};

static const struct stdout_case stdouts[] = {
	{ 0, { 0 } },
	{ 1, { 1 } }, { 7, { 7 } }, { 8, { 8 } }, { 9, { 9 } },
	{ 65534, { 65534 } }, { 65535, { 65535 } }, { 65536, { 65535, 1 } },
	{ 131070, { 65535, 65535 } }, { 131071, { 65535, 65535, 1 } },
	{ 200 * 1024, { 65535, 65535, 65535, 8195 } },
};

static void test_write_stdout(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(stdouts); i++) {
		const struct stdout_case *c = &stdouts[i];
		uint8_t *data = malloc(c->len + 1);
		assert_non_null(data);
		for (size_t k = 0; k < c->len; k++)
			data[k] = pattern(k);
		struct strbuf out = STRBUF_INIT;
		fcgi_write_stdout(&out, 258, data, c->len);
		struct record r[READ_MAX];
		size_t n = read_records(&out, r), at = 0;
		for (size_t k = 0; k < n; k++) {
			if (r[k].type != FCGI_TYPE_STDOUT || r[k].id != 258 ||
			    r[k].len != c->records[k])
				fail_msg("%zu bytes: record %zu is type %u id %u len %zu", c->len,
				         k, r[k].type, r[k].id, r[k].len);
			assert_memory_equal(r[k].content, data + at, r[k].len);
			at += r[k].len;
		}
		if (c->records[n] != 0 || at != c->len)
			fail_msg("%zu bytes: %zu records, %zu bytes", c->len, n, at);
		free(data);
		sb_free(&out);
	}
}

struct header_case {
	uint16_t id;
	size_t len;
	uint8_t header[8];   /* of the first record */
	size_t size;         /* the first record's, padding included */
};

static const struct header_case headers[] = {
	{ 1, 1, { 1, 6, 0, 1, 0, 1, 7, 0 }, 16 },
	{ 2, 5, { 1, 6, 0, 2, 0, 5, 3, 0 }, 16 },
	{ 0x1234, 8, { 1, 6, 0x12, 0x34, 0, 8, 0, 0 }, 16 },
	{ 1, 300, { 1, 6, 0, 1, 1, 44, 4, 0 }, 312 },
	{ 65535, 65535, { 1, 6, 255, 255, 255, 255, 1, 0 }, 65544 },
	{ 1, 65536, { 1, 6, 0, 1, 255, 255, 1, 0 }, 65544 },
};

/* The STDOUT header's bytes exactly, and the size fcgi_record_size reads
 * from them (the hub walks its output with it). */
static void test_stdout_header(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(headers); i++) {
		const struct header_case *c = &headers[i];
		char *payload = calloc(1, c->len);
		assert_non_null(payload);
		struct strbuf written = STRBUF_INIT;
		fcgi_write_stdout(&written, c->id, payload, c->len);
		assert_true(written.len >= c->size);
		assert_memory_equal(written.data, c->header, 8);
		assert_int_equal(fcgi_record_size((const uint8_t *)written.data), c->size);
		free(payload);
		sb_free(&written);
	}
}

struct end_case {
	uint16_t id;
	uint32_t app_status;
	int refusal;            /* -1: fcgi_write_end_request, else the status */
	size_t records;
	uint8_t body[8];        /* END_REQUEST's */
};

static const struct end_case ends[] = {
	{ 1, 0, -1, 2, { 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ 7, 0x01020304, -1, 2, { 1, 2, 3, 4, 0, 0, 0, 0 } },
	{ 2, 0, FCGI_STATUS_CANT_MPX_CONN, 1, { 0, 0, 0, 0, 1, 0, 0, 0 } },
	{ 3, 0, FCGI_STATUS_OVERLOADED, 1, { 0, 0, 0, 0, 2, 0, 0, 0 } },
	{ 1, 0, FCGI_STATUS_UNKNOWN_ROLE, 1, { 0, 0, 0, 0, 3, 0, 0, 0 } },
};

static void test_end_request(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ends); i++) {
		const struct end_case *c = &ends[i];
		struct strbuf out = STRBUF_INIT;
		if (c->refusal < 0)
			fcgi_write_end_request(&out, c->id, c->app_status);
		else
			fcgi_write_refusal(&out, c->id, (enum fcgi_status)c->refusal);
		struct record r[READ_MAX];
		assert_int_equal(read_records(&out, r), c->records);
		const struct record *end = &r[c->records - 1];
		if (c->records == 2) {   /* the empty STDOUT that ends the stream */
			assert_int_equal(r[0].type, FCGI_TYPE_STDOUT);
			assert_int_equal(r[0].id, c->id);
			assert_int_equal(r[0].len, 0);
		}
		assert_int_equal(end->type, FCGI_TYPE_END_REQUEST);
		assert_int_equal(end->id, c->id);
		assert_int_equal(end->len, 8);
		assert_memory_equal(end->content, c->body, 8);
		sb_free(&out);
	}
}

struct values_case {
	unsigned asked;
	const char *pairs;
};

static const struct values_case values[] = {
	{ 0, "" },
	{ FCGI_ASK_MAX_CONNS, "FCGI_MAX_CONNS=10000;" },
	{ FCGI_ASK_MAX_REQS, "FCGI_MAX_REQS=500;" },
	{ FCGI_ASK_MPXS_CONNS, "FCGI_MPXS_CONNS=0;" },
	{ 7, "FCGI_MAX_CONNS=10000;FCGI_MAX_REQS=500;FCGI_MPXS_CONNS=0;" },
};

static void test_get_values_result(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(values); i++) {
		struct strbuf out = STRBUF_INIT, pairs = STRBUF_INIT;
		fcgi_write_get_values_result(&out, values[i].asked, 10000, 500);
		struct record r[READ_MAX];
		assert_int_equal(read_records(&out, r), 1);
		assert_int_equal(r[0].type, FCGI_TYPE_GET_VALUES_RESULT);
		assert_int_equal(r[0].id, 0);
		read_pairs(&r[0], &pairs);
		assert_string_equal(sb_str(&pairs), values[i].pairs);
		sb_free(&out);
		sb_free(&pairs);
	}
}

/* A web server's query, parsed, answered, and the answer read back. */
static void test_get_values_answered(void **state)
{
	(void)state;
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, pairs = STRBUF_INIT;
	static const char query[] = "\x0f\x00" "FCGI_MPXS_CONNS" "\x0a\x00" "FCGI_OTHER"
	                            "\x0e\x00" "FCGI_MAX_CONNS";
	add_record(&in, GET_VALUES, 0, query, sizeof(query) - 1);
	struct fcgi_parser p;
	fcgi_parser_init(&p);
	struct fcgi_event ev = parse_all(&p, &in);
	assert_int_equal(ev.type, FCGI_EV_GET_VALUES);
	fcgi_write_get_values_result(&out, ev.asked, 1000, 1000);
	struct record r[READ_MAX];
	assert_int_equal(read_records(&out, r), 1);
	read_pairs(&r[0], &pairs);
	assert_string_equal(sb_str(&pairs), "FCGI_MAX_CONNS=1000;FCGI_MPXS_CONNS=0;");
	fcgi_parser_free(&p);
	sb_free(&in);
	sb_free(&out);
	sb_free(&pairs);
}

static void test_unknown_type(void **state)
{
	(void)state;
	static const uint8_t types[] = { 0, 12, 255 };
	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		struct strbuf out = STRBUF_INIT;
		fcgi_write_unknown_type(&out, types[i]);
		struct record r[READ_MAX];
		assert_int_equal(read_records(&out, r), 1);
		assert_int_equal(r[0].type, FCGI_TYPE_UNKNOWN_TYPE);
		assert_int_equal(r[0].id, 0);
		assert_int_equal(r[0].len, 8);
		uint8_t want[8] = { types[i] };
		assert_memory_equal(r[0].content, want, 8);
		sb_free(&out);
	}
}

/* A 200 KiB response and its end, read back into the same bytes. */
static void test_round_trip(void **state)
{
	(void)state;
	enum { LEN = 200 * 1024 };
	uint8_t *data = malloc(LEN);
	assert_non_null(data);
	for (size_t k = 0; k < LEN; k++)
		data[k] = pattern(k);
	struct strbuf out = STRBUF_INIT, back = STRBUF_INIT;
	fcgi_write_stdout(&out, 9, data, LEN / 2);
	fcgi_write_stdout(&out, 9, data + LEN / 2, LEN - LEN / 2);
	fcgi_write_end_request(&out, 9, 0);
	struct record r[READ_MAX];
	size_t n = read_records(&out, r);
	bool ended = false;
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(r[k].id, 9);
		assert_false(ended);
		if (r[k].type == FCGI_TYPE_STDOUT && r[k].len > 0)
			sb_append(&back, r[k].content, r[k].len);
		else if (r[k].type == FCGI_TYPE_STDOUT)
			assert_int_equal(r[k + 1].type, FCGI_TYPE_END_REQUEST);
		else
			ended = r[k].type == FCGI_TYPE_END_REQUEST;
	}
	assert_true(ended);
	assert_int_equal(back.len, LEN);
	assert_memory_equal(back.data, data, LEN);
	free(data);
	sb_free(&out);
	sb_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cases),
		cmocka_unit_test(test_params_lifetime),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_write_stdout),
		cmocka_unit_test(test_stdout_header),
		cmocka_unit_test(test_end_request),
		cmocka_unit_test(test_get_values_result),
		cmocka_unit_test(test_get_values_answered),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests_name("FastCGI records", tests, NULL, NULL);
}
