/*
 * fcgi_wire: FastCGI 1.0 records (the FastCGI specification, doc/fcgi-spec
 * in FastCGI-Archives/fcgi2), parsed and written without any I/O.
 *
 * Why our own record layer: a one-process server keeps thousands of streams
 * in one epoll loop, and libfcgi cannot be driven non-blocking (its reads and
 * writes take EAGAIN for a fatal error, and its close may block for seconds).
 * The loop reads whatever bytes a socket has and hands them to fcgi_parse();
 * what to write it builds with the writers below.  Neither side touches a
 * file descriptor, so every case is tested with plain byte strings.
 *
 * The parser is a pull parser: it consumes bytes until it has one event, and
 * returns how many it took, so the caller loops and never needs a callback
 * or a queue.  Its state is a few counters (sizeof is about 80 bytes) and the
 * chunks may be of any size, one byte at a time included, because nothing is
 * reassembled except what must outlive a chunk:
 *   - STDIN data is not copied: the event points into the caller's buffer.
 *   - PARAMS pairs are decoded as they arrive into one growable buffer,
 *     "name\0value\0..." (smaller than the encoding), capped at
 *     FCGI_PARAMS_MAX bytes of encoded stream.  The caller looks up what it
 *     needs and frees it with fcgi_parser_release_params(), so a stream that
 *     lives for hours holds no parameters at all.  A NUL byte in a name or a
 *     value is refused: the specification says values contain none (6.1),
 *     and one would cut the lookup short.
 *   - GET_VALUES names are matched byte by byte against the three names we
 *     answer; nothing is stored.
 *
 * One request per connection (FCGI_MPXS_CONNS is "0"): once a request has
 * begun it stays the connection's request, because the caller (hub.c)
 * closes the connection when it has answered it, so the parser never has
 * to go back to "no request".  A BEGIN_REQUEST for another id is handed
 * over as FCGI_EV_CANT_MPX for the caller to refuse.  Records for an id
 * that is not active are skipped, as the specification asks (3.3, "Managing
 * Request IDs"): after a refusal the web server may still have that
 * request's records in flight, and they must not cost the connection.  The
 * trade-off is that a stray record for an id never begun is skipped too
 * rather than reported.
 *
 * Everything the web server can get wrong on the wire is a protocol error:
 * the event says what was wrong, the parser stops for good, and the caller
 * closes the connection.  Unknown record types are not errors: the event asks
 * the caller to answer UNKNOWN_TYPE (4.2), and the record is skipped.
 *
 * The writers append to a strbuf and pad every record to a multiple of 8
 * bytes, as the specification recommends.
 */
#ifndef SSE_FCGI_WIRE_H
#define SSE_FCGI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * Our names carry TYPE_/ROLE_/STATUS_ so this header can sit beside
 * libfcgi's <fastcgi.h>, whose macros take the bare FCGI_ names.
 */
#define FCGI_HEADER_SIZE 8          /* every record starts with one */
#define FCGI_CONTENT_MAX 65535      /* contentLength is 16 bits */
#define FCGI_ALIGN 8                /* records are padded to a multiple */
#define FCGI_PARAMS_MAX (64 * 1024) /* encoded PARAMS bytes per request */
#define FCGI_ERROR_MAX 128          /* a protocol error's text */

enum fcgi_record_type {
	FCGI_TYPE_BEGIN_REQUEST = 1,
	FCGI_TYPE_ABORT_REQUEST = 2,
	FCGI_TYPE_END_REQUEST = 3,
	FCGI_TYPE_PARAMS = 4,
	FCGI_TYPE_STDIN = 5,
	FCGI_TYPE_STDOUT = 6,
	FCGI_TYPE_STDERR = 7,
	FCGI_TYPE_DATA = 8,
	FCGI_TYPE_GET_VALUES = 9,
	FCGI_TYPE_GET_VALUES_RESULT = 10,
	FCGI_TYPE_UNKNOWN_TYPE = 11,
};

enum fcgi_role {
	FCGI_ROLE_RESPONDER = 1,
	FCGI_ROLE_AUTHORIZER = 2,
	FCGI_ROLE_FILTER = 3,
};

/* END_REQUEST's protocolStatus. */
enum fcgi_status {
	FCGI_STATUS_REQUEST_COMPLETE = 0,
	FCGI_STATUS_CANT_MPX_CONN = 1,
	FCGI_STATUS_OVERLOADED = 2,
	FCGI_STATUS_UNKNOWN_ROLE = 3,
};

/* The GET_VALUES names we answer, as bits of fcgi_event.asked. */
#define FCGI_ASK_MAX_CONNS 1u   /* "FCGI_MAX_CONNS" */
#define FCGI_ASK_MAX_REQS 2u    /* "FCGI_MAX_REQS" */
#define FCGI_ASK_MPXS_CONNS 4u  /* "FCGI_MPXS_CONNS" */

enum fcgi_event_type {
	FCGI_EV_NONE,        /* every byte given was consumed: read more */
	FCGI_EV_BEGIN,       /* a request began: request_id, role, keep_conn */
	FCGI_EV_CANT_MPX,    /* a BEGIN while another request is active */
	FCGI_EV_PARAMS,      /* PARAMS ended: fcgi_param() answers now */
	FCGI_EV_STDIN,       /* data, len: the next bytes of the body */
	FCGI_EV_STDIN_END,   /* the body is complete */
	FCGI_EV_ABORT,       /* the web server aborts the active request */
	FCGI_EV_GET_VALUES,  /* answer with fcgi_write_get_values_result */
	FCGI_EV_UNKNOWN_TYPE,/* answer with fcgi_write_unknown_type */
	FCGI_EV_ERROR,       /* error says what; close the connection */
};

struct fcgi_event {
	enum fcgi_event_type type;
	uint16_t request_id;    /* BEGIN, CANT_MPX, PARAMS, STDIN*, ABORT */
	uint16_t role;          /* BEGIN, CANT_MPX: as sent (enum fcgi_role) */
	bool keep_conn;         /* BEGIN, CANT_MPX: FCGI_KEEP_CONN was set */
	unsigned asked;         /* GET_VALUES: FCGI_ASK_* of the names asked */
	uint8_t record_type;    /* UNKNOWN_TYPE: the type to name back */
	const char *data;       /* STDIN: inside the buffer given to fcgi_parse */
	size_t len;             /* STDIN: bytes at data, never 0 */
	char error[FCGI_ERROR_MAX];  /* ERROR */
};

/* Opaque in spirit: the fields are here only so it can live inline. */
struct fcgi_parser {
	struct strbuf params;   /* decoded "name\0value\0"..., until released */
	uint32_t params_in;     /* encoded PARAMS bytes of the active request */
	uint32_t nv_len[2];     /* the pair being decoded: name, value length */
	uint32_t nv_left;       /* length bytes, or name/value bytes, to come */
	uint16_t active_id;     /* 0: no request is active */
	uint16_t id;            /* the record being read */
	uint16_t content_left;
	uint8_t padding_left;
	uint8_t head[FCGI_HEADER_SIZE];  /* a header, then a BEGIN body */
	uint8_t head_len;
	uint8_t type;           /* the record being read */
	uint8_t stage;          /* where in the record (fcgi_wire.c) */
	uint8_t sink;           /* what the content goes to */
	uint8_t end_event;      /* the event its end raises, if any */
	uint8_t nv_stage;       /* where in a name-value pair */
	uint8_t candidates;     /* GET_VALUES: names the current one may be */
	uint8_t asked;          /* GET_VALUES: names matched */
	bool params_done;
	bool stdin_done;
};

void fcgi_parser_init(struct fcgi_parser *p);
void fcgi_parser_free(struct fcgi_parser *p);

/*
 * Consumes bytes from buf[0..len) up to and including the next event, which
 * goes to *ev (FCGI_EV_NONE when all len bytes were taken without one), and
 * returns how many it consumed.  Call again with the rest.  After an
 * FCGI_EV_ERROR every call returns 0 and an FCGI_EV_ERROR saying that the
 * connection already had one (the first error's words are not kept).
 */
size_t fcgi_parse(struct fcgi_parser *p, const void *buf, size_t len,
                  struct fcgi_event *ev);

/*
 * The value of the first parameter called `name` (libfcgi's FCGX_GetParam
 * also takes the first), or NULL: absent, PARAMS not complete yet, or
 * released.
 */
const char *fcgi_param(const struct fcgi_parser *p, const char *name);

/* Frees the parameters once the caller has what it needs from them. */
void fcgi_parser_release_params(struct fcgi_parser *p);

/* --- writers: application to web server ----------------------------------- */

/*
 * The whole size of a record that the writers below built, whose header is
 * at hdr: the header, its content and its padding, a multiple of
 * FCGI_ALIGN.  For walking our own output by record (hub.c); not for
 * records received, which only fcgi_parse reads.
 */
size_t fcgi_record_size(const uint8_t hdr[FCGI_HEADER_SIZE]);

/* STDOUT records of at most FCGI_CONTENT_MAX bytes; nothing when len is 0
 * (an empty record would end the stream). */
void fcgi_write_stdout(struct strbuf *out, uint16_t id, const void *data,
                       size_t len);

/* The end of a request the application served, or that the web server
 * aborted: the empty STDOUT record, then END_REQUEST REQUEST_COMPLETE. */
void fcgi_write_end_request(struct strbuf *out, uint16_t id,
                            uint32_t app_status);

/* A request refused (CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE): END_REQUEST
 * alone, as no STDOUT stream was begun. */
void fcgi_write_refusal(struct strbuf *out, uint16_t id,
                        enum fcgi_status status);

/* GET_VALUES_RESULT with the names asked (FCGI_ASK_* bits) and only them;
 * FCGI_MPXS_CONNS is always "0". */
void fcgi_write_get_values_result(struct strbuf *out, unsigned asked,
                                  unsigned max_conns, unsigned max_reqs);

/* UNKNOWN_TYPE naming the record type we did not understand. */
void fcgi_write_unknown_type(struct strbuf *out, uint8_t type);

#endif
