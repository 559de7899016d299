/*
 * fuzz_fcgi: the hub's FastCGI record parser, fcgi_parse() (src/wire/
 * fcgi_wire.c), on arbitrary bytes from the web server's side.
 *
 * The parser promises that chunks "may be of any size, one byte at a time
 * included" (fcgi_wire.h).  So the input is parsed twice, whole and cut
 * into chunks whose sizes come from the input itself, and the two must
 * tell the same story: the same events with the same fields, the same
 * parameters looked up after PARAMS, the same body bytes (a STDIN event
 * may be split by a chunk's end, so bodies are compared as the bytes
 * between other events), and the same error text.  Each call must also
 * keep the contract: it consumes no more than it was given, FCGI_EV_NONE
 * means it took every byte, a STDIN event points inside the given bytes
 * and is never empty, and after an error every call returns 0 and an
 * error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_wire.h"
#include "fuzz_ref.h"

/* The parameters the hub looks up. */
static const char *const names[] = { "REQUEST_METHOD", "QUERY_STRING",
                                     "HTTP_LAST_EVENT_ID", "" };

struct story {
	struct strbuf text;
	bool in_body;   /* the last event was STDIN */
};

static void tell_event(struct story *st, struct fcgi_parser *p,
                       const struct fcgi_event *ev)
{
	if (ev->type == FCGI_EV_STDIN) {
		if (!st->in_body)
			sb_puts(&st->text, "\nbody:");
		sb_append(&st->text, ev->data, ev->len);
		st->in_body = true;
		return;
	}
	st->in_body = false;
	sb_printf(&st->text, "\nevent %d id %u role %u keep %d asked %u type %u",
	          (int)ev->type, ev->request_id, ev->role, ev->keep_conn,
	          ev->asked, ev->record_type);
	if (ev->type == FCGI_EV_ERROR)
		sb_printf(&st->text, " error %s", ev->error);
	if (ev->type == FCGI_EV_PARAMS) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char *v = fcgi_param(p, names[i]);
			sb_printf(&st->text, " %s=%s", names[i], v != NULL ? v : "(none)");
		}
		fcgi_parser_release_params(p);   /* as the hub does */
		FUZZ_ASSERT(fcgi_param(p, "REQUEST_METHOD") == NULL);
	}
}

/* Feeds buf[0..len) as one chunk; false once the parser has failed. */
static bool feed(struct story *st, struct fcgi_parser *p, const uint8_t *buf,
                 size_t len)
{
	size_t off = 0;
	/* Each call takes a byte or raises an event; an event per byte at most,
	 * and one more at a chunk's end. */
	for (size_t calls = 0; calls <= 2 * len + 2; calls++) {
		struct fcgi_event ev;
		size_t used = fcgi_parse(p, buf + off, len - off, &ev);
		FUZZ_ASSERT(used <= len - off);
		if (ev.type == FCGI_EV_STDIN) {
			FUZZ_ASSERT(ev.len > 0);
			FUZZ_ASSERT((const uint8_t *)ev.data >= buf + off &&
			            (const uint8_t *)ev.data + ev.len <= buf + off + used);
		}
		off += used;
		if (ev.type == FCGI_EV_NONE) {
			FUZZ_ASSERT(off == len);
			return true;
		}
		tell_event(st, p, &ev);
		if (ev.type == FCGI_EV_ERROR) {
			struct fcgi_event again;
			FUZZ_ASSERT(fcgi_parse(p, buf, len, &again) == 0);
			FUZZ_ASSERT(again.type == FCGI_EV_ERROR);
			return false;
		}
	}
	FUZZ_ASSERT(!"fcgi_parse made no progress");
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct story whole = { STRBUF_INIT, false }, cut = { STRBUF_INIT, false };
	struct fcgi_parser p;

	fcgi_parser_init(&p);
	feed(&whole, &p, data, size);
	fcgi_parser_free(&p);

	fcgi_parser_init(&p);
	for (size_t off = 0, k = 0; off < size; k++) {
		size_t n = 1 + data[k % size] % 13;   /* 1 to 13 bytes */
		if (n > size - off)
			n = size - off;
		if (!feed(&cut, &p, data + off, n))
			break;
		off += n;
	}
	fcgi_parser_free(&p);

	FUZZ_ASSERT(!sb_failed(&whole.text) && !sb_failed(&cut.text));
	FUZZ_ASSERT(whole.text.len == cut.text.len);
	FUZZ_ASSERT(whole.text.len == 0 ||
	            memcmp(whole.text.data, cut.text.data, whole.text.len) == 0);
	sb_free(&whole.text);
	sb_free(&cut.text);
	return 0;
}
