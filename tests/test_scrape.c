/*
 * The request the hub's metrics socket answers (src/wire/scrape.h): heads
 * in, the status (0: not all there yet) and the reason out; then each
 * head again cut at every byte before its end, which must wait (0); and
 * the answer's bytes.
 */
#include "testutil.h"

#include "scrape.h"

struct head_case {
	const char *head;
	int status;
	const char *why_has;     /* a substring of the reason of a refusal */
};

static const struct head_case heads[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAccept: text/plain\r\n\r\n", 200, NULL },
	{ "GET /metrics HTTP/1.0\r\n\r\n", 200, NULL },
	{ "GET /metrics HTTP/1.1\n\n", 200, NULL },                  /* bare LF lines */
	{ "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, NULL },     /* a query is ignored */
	{ "GET / HTTP/1.1\r\n\r\n", 404, "the metrics are at /metrics" },
	{ "GET /metricsx HTTP/1.1\r\n\r\n", 404, "/metrics" },
	{ "GET /metrics/ HTTP/1.1\r\n\r\n", 404, "/metrics" },
	{ "GET /METRICS HTTP/1.1\r\n\r\n", 404, "/metrics" },
	{ "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "only GET" },
	{ "HEAD /metrics HTTP/1.1\r\n\r\n", 405, "only GET" },
	{ "get /metrics HTTP/1.1\r\n\r\n", 405, "only GET" },        /* methods are case-sensitive */
	{ "GET /metrics\r\n\r\n", 400, "not METHOD /TARGET HTTP/1.x" }, /* HTTP/0.9 */
	{ "GET /metrics HTTP/2.0\r\n\r\n", 400, "HTTP/1.x" },
	{ "GET /metrics HTTP/1.1 \r\n\r\n", 400, "HTTP/1.x" },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", 400, "HTTP/1.x" },
	{ "GET metrics HTTP/1.1\r\n\r\n", 400, "HTTP/1.x" },
	{ "GET /met\x01rics HTTP/1.1\r\n\r\n", 400, "HTTP/1.x" },
	{ "GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n", 400, "HTTP/1.x" },
	{ " GET /metrics HTTP/1.1\r\n\r\n", 400, "not METHOD TARGET" },
	{ "G(T /metrics HTTP/1.1\r\n\r\n", 400, "not METHOD TARGET" },
	{ "\r\n\r\n", 400, "not METHOD TARGET" },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, NULL },          /* no blank line yet */
	{ "", 0, NULL },
};

static void test_heads(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(heads); i++) {
		const struct head_case *c = &heads[i];
		size_t len = strlen(c->head);
		const char *why = NULL;
		int status = scrape_parse(c->head, len, &why);
		if (status != c->status)
			fail_msg("[%s]: %d, want %d", c->head, status, c->status);
		if (c->why_has != NULL && (why == NULL || strstr(why, c->why_has) == NULL))
			fail_msg("[%s]: reason [%s] lacks [%s]", c->head, why ? why : "",
			         c->why_has);
		for (size_t cut = 0; c->status != 0 && cut + 1 < len; cut++)
			if (scrape_parse(c->head, cut, &why) != 0)
				fail_msg("[%s] cut at %zu: a verdict before the head ended",
				         c->head, cut);
	}
}

/* A head that never ends is refused at SCRAPE_HEAD_MAX bytes, not before. */
static void test_head_limit(void **state)
{
	(void)state;
	static char buf[SCRAPE_HEAD_MAX];
	memcpy(buf, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(buf + 26, 'a', sizeof(buf) - 26);
	const char *why;
	assert_int_equal(scrape_parse(buf, sizeof(buf) - 1, &why), 0);
	assert_int_equal(scrape_parse(buf, sizeof(buf), &why), 431);
	assert_non_null(strstr(why, "too long"));
}

struct answer_case {
	int status;
	const char *body;
	const char *want;
};

static const struct answer_case answers[] = {
	{ 200, "a_total 1\n",
	  "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	  "Content-Length: 10\r\nConnection: close\r\n\r\na_total 1\n" },
	{ 404, "not found\n",
	  "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Length: 10\r\nConnection: close\r\n\r\nnot found\n" },
	{ 405, "",
	  "HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Length: 0\r\nConnection: close\r\nAllow: GET\r\n\r\n" },
};

static void test_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(answers); i++) {
		struct strbuf out = STRBUF_INIT;
		scrape_answer(&out, answers[i].status, answers[i].body, strlen(answers[i].body));
		if (strcmp(sb_str(&out), answers[i].want) != 0)
			fail_msg("%d: got [%s]", answers[i].status, sb_str(&out));
		sb_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests_name("scrape", tests, NULL, NULL);
}
