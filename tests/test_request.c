/* Request parsing: header and query values in, decisions out. */
#include "testutil.h"

#include "request.h"

struct id_case {
	const char *input;
	enum id_parse result;
	long long value;
};

static const struct id_case ids[] = {
	{ NULL, ID_ABSENT, 0 }, { "", ID_ABSENT, 0 }, { "0", ID_VALID, 0 },
	{ "42", ID_VALID, 42 }, { "007", ID_VALID, 7 },
	{ "999999999999999999", ID_VALID, 999999999999999999LL },
	{ "1000000000000000000", ID_INVALID, 0 }, { "-1", ID_INVALID, 0 },
	{ "+1", ID_INVALID, 0 }, { " 1", ID_INVALID, 0 }, { "1 ", ID_INVALID, 0 },
	{ "0x10", ID_INVALID, 0 }, { "abc", ID_INVALID, 0 }, { "1e3", ID_INVALID, 0 },
};

static void test_event_ids(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
		long long v = -5;
		enum id_parse r = parse_event_id(ids[i].input, &v);
		if (r != ids[i].result || (r == ID_VALID && v != ids[i].value))
			fail_msg("id '%s': got %d/%lld", ids[i].input ? ids[i].input : "(null)", r, v);
	}
}

struct query_case {
	const char *query;
	int status;
	const char *channel;
	enum id_parse since;
	long long since_id;
};

static const struct query_case queries[] = {
	{ NULL, 0, "chat", ID_ABSENT, 0 },
	{ "", 0, "chat", ID_ABSENT, 0 },
	{ "channel=room-1", 0, "room-1", ID_ABSENT, 0 },
	{ "channel=a.b_C", 0, "a.b_C", ID_ABSENT, 0 },
	{ "since=17", 0, "chat", ID_VALID, 17 },
	{ "channel=x&since=0", 0, "x", ID_VALID, 0 },
	{ "channel=%72oom", 0, "room", ID_ABSENT, 0 },
	{ "other=1&channel=x", 0, "x", ID_ABSENT, 0 },
	{ "channel=", 400, NULL, ID_ABSENT, 0 },
	{ "channel=a%20b", 400, NULL, ID_ABSENT, 0 },
	{ "channel=a+b", 400, NULL, ID_ABSENT, 0 },
	{ "channel=%2e%2e%2fetc", 400, NULL, ID_ABSENT, 0 },
	{ "channel=caf%C3%A9", 400, NULL, ID_ABSENT, 0 },
	{ "channel=a&channel=b", 400, NULL, ID_ABSENT, 0 },
	{ "channel=user-42&token=eyJ.eyJ.sig", 400, NULL, ID_ABSENT, 0 },
	{ "token=", 400, NULL, ID_ABSENT, 0 },
	{ "tok%65n=x", 400, NULL, ID_ABSENT, 0 },
	{ "tokens=x&my_token=y", 0, "chat", ID_ABSENT, 0 },
	{ "channel=%zz", 400, NULL, ID_ABSENT, 0 },
	{ "channel=01234567890123456789012345678901234567890123456789012345678901234", 400, NULL, ID_ABSENT, 0 },
	{ "since=abc", 400, NULL, ID_ABSENT, 0 },
	{ "since=-1", 400, NULL, ID_ABSENT, 0 },
	{ "since=", 400, NULL, ID_ABSENT, 0 },
	{ "since=1&since=2", 400, NULL, ID_ABSENT, 0 },
};

static void test_stream_queries(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(queries); i++) {
		const struct query_case *c = &queries[i];
		struct stream_query q;
		int status = parse_stream_query(c->query, &q);
		if (status != c->status)
			fail_msg("query '%s': status %d, want %d", c->query ? c->query : "(null)",
			         status, c->status);
		if (status != 0) {
			assert_non_null(q.error);
			continue;
		}
		if (strcmp(q.channel, c->channel) != 0 || q.since != c->since ||
		    (q.since == ID_VALID && q.since_id != c->since_id))
			fail_msg("query '%s': channel '%s' since %d/%lld", c->query,
			         q.channel, q.since, q.since_id);
	}
}

/* poll=1, hello=1, format=html (PROTOCOL.md, Request): one value each. */
struct flag_case {
	const char *query;
	int status;
	bool poll, hello, html;
};

static const struct flag_case flag_cases[] = {
	{ "channel=x", 0, false, false, false },
	{ "channel=x&poll=1", 0, true, false, false },
	{ "hello=1", 0, false, true, false },
	{ "format=html&channel=x", 0, false, false, true },
	{ "poll=1&hello=1&format=html&since=3", 0, true, true, true },
	{ "format=%68tml", 0, false, false, true },
	{ "poll=0", 400, false, false, false },
	{ "poll=", 400, false, false, false },
	{ "poll=1&poll=1", 400, false, false, false },
	{ "poll=1%00", 400, false, false, false },
	{ "poll=11", 400, false, false, false },
	{ "hello=yes", 400, false, false, false },
	{ "format=HTML", 400, false, false, false },
	{ "format=html%00x", 400, false, false, false },
	{ "format=json", 400, false, false, false },
	{ "format=%zz", 400, false, false, false },
};

static void test_stream_flags(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(flag_cases); i++) {
		const struct flag_case *c = &flag_cases[i];
		struct stream_query q;
		int status = parse_stream_query(c->query, &q);
		if (status != c->status)
			fail_msg("query '%s': status %d, want %d", c->query, status, c->status);
		if (status != 0) {
			assert_non_null(q.error);
			continue;
		}
		if (q.poll != c->poll || q.hello != c->hello || q.html != c->html)
			fail_msg("query '%s': poll %d hello %d html %d", c->query, q.poll,
			         q.hello, q.html);
	}
}

struct type_case {
	const char *header;
	enum body_type type;
};

static const struct type_case types[] = {
	{ NULL, BODY_OTHER },
	{ "application/x-www-form-urlencoded", BODY_FORM },
	{ "application/x-www-form-urlencoded; charset=UTF-8", BODY_FORM },
	{ "Application/JSON", BODY_JSON },
	{ "application/json;charset=utf-8", BODY_JSON },
	{ "application/json; charset=\"utf-8\"", BODY_JSON },
	{ "application/json; charset=iso-8859-1", BODY_OTHER },
	{ "application/json; charset=utf-16", BODY_OTHER },
	{ "text/plain", BODY_OTHER },
	{ "multipart/form-data; boundary=x", BODY_OTHER },
	{ "application/jsonx", BODY_OTHER },
	{ "", BODY_OTHER },
};

static void test_content_types(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(types); i++)
		if (parse_content_type(types[i].header) != types[i].type)
			fail_msg("content type '%s'", types[i].header ? types[i].header : "(null)");
}

static void test_misc(void **state)
{
	(void)state;
	long long n;
	assert_true(parse_content_length("8192", &n));
	assert_int_equal(n, 8192);
	assert_false(parse_content_length(NULL, &n));
	assert_false(parse_content_length("-1", &n));
	assert_false(parse_content_length("12abc", &n));
	assert_true(wants_html("text/html,application/xhtml+xml,*/*;q=0.8"));
	assert_false(wants_html("application/json"));
	assert_false(wants_html("*/*"));
	assert_false(wants_html(NULL));
}

/* Method, query and Last-Event-ID together: what the stream will follow. */
struct events_case {
	const char *method, *query, *last_event_id;
	int status;             /* 0, 400 or 405 */
	bool head;
	const char *channel;
	long long resume;
};

static const struct events_case events_cases[] = {
	{ "GET", NULL, NULL, 0, false, "chat", STREAM_NO_RESUME },
	{ "HEAD", "channel=x", NULL, 0, true, "x", STREAM_NO_RESUME },
	{ "GET", "since=5", NULL, 0, false, "chat", 5 },
	{ "GET", "since=5", "9", 0, false, "chat", 9 },      /* the header wins */
	{ "GET", "since=5", "", 0, false, "chat", 5 },       /* empty: absent */
	{ "GET", NULL, "abc", 0, false, "chat", LLONG_MAX }, /* unreadable: reset */
	{ "GET", NULL, "1000000000000000000", 0, false, "chat", LLONG_MAX },
	{ "POST", NULL, NULL, 405, false, NULL, 0 },
	{ "get", NULL, NULL, 405, false, NULL, 0 },
	{ NULL, NULL, NULL, 405, false, NULL, 0 },
	{ "GET", "channel=a%20b", NULL, 400, false, NULL, 0 },
	{ "GET", "since=x", "7", 400, false, NULL, 0 },      /* bad since stays bad */
	{ "DELETE", "channel=a%20b", NULL, 405, false, NULL, 0 }, /* method first */
};

static void test_events_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(events_cases); i++) {
		const struct events_case *c = &events_cases[i];
		struct events_request er;
		const char *why = NULL;
		int status = parse_events_request(c->method, c->query, c->last_event_id,
		                                  &er, &why);
		if (status != c->status)
			fail_msg("case %zu: status %d (%s), want %d", i, status,
			         why ? why : "-", c->status);
		if (status != 0) {
			assert_non_null(why);
			continue;
		}
		if (er.head != c->head || strcmp(er.q.channel, c->channel) != 0 ||
		    er.resume != c->resume)
			fail_msg("case %zu: head %d channel %s resume %lld", i, er.head,
			         er.q.channel, er.resume);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_ids),
		cmocka_unit_test(test_stream_queries),
		cmocka_unit_test(test_stream_flags),
		cmocka_unit_test(test_events_requests),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_misc),
	};
	return cmocka_run_group_tests_name("request parsing", tests, NULL, NULL);
}
