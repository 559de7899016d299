/*
 * events.fcgi --listen: one process serving many streams (src/hub/hub.h),
 * spoken to directly over FastCGI (tests/fcgiclient.h), as nginx would.
 * Each test pins one promise of the protocol that must hold per stream in
 * this mode too, or one of the hub's own: one process, one wake for all,
 * a stalled client never holding up the others, every stream ended on
 * SIGTERM.
 */
#include "fcgiclient.h"

#include <sys/resource.h>

#include "platform.h"
#include "ring.h"

#define WAIT_MS 5000   /* a generous bound for anything to arrive */
#define PROMTOOL "/usr/bin/promtool"

/* The server of the running test, stopped by teardown if a check failed. */
static struct server *running;

static void hub_start(struct server *s, const char *conf)
{
	server_start_with(s, "events.fcgi", conf, "--listen", "fd:0");
	running = s;
}

static void hub_stop(struct server *s)
{
	running = NULL;
	server_stop(s);
}

static int teardown(void **state)
{
	(void)state;
	if (running != NULL && tu_pid_alive(running->pid)) {
		kill(running->pid, SIGKILL);
		waitpid(running->pid, NULL, 0);
		tu_rmtree(running->dir);
	}
	running = NULL;
	return 0;
}

/*
 * A stream request with an optional Last-Event-ID; the connection.  With
 * stdin_apart, the empty STDIN record is not sent (the caller sends it
 * later, as Apache's mod_proxy_fcgi does in a write of its own).
 */
static int hub_request_with(const struct server *s, const char *method,
                            const char *query, const char *last_event_id,
                            bool stdin_apart)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, s->sock, strlen(s->sock) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct strbuf req = STRBUF_INIT, params = STRBUF_INIT;
	unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };  /* responder */
	put_record(&req, FCGI_BEGIN, begin, 8);
	put_pair(&params, "REQUEST_METHOD", method);
	put_pair(&params, "QUERY_STRING", query ? query : "");
	if (last_event_id != NULL)
		put_pair(&params, "HTTP_LAST_EVENT_ID", last_event_id);
	put_record(&req, FCGI_PARAMS, params.data, params.len);
	put_record(&req, FCGI_PARAMS, "", 0);
	if (!stdin_apart)
		put_record(&req, FCGI_STDIN, "", 0);
	assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
	sb_free(&req);
	sb_free(&params);
	return fd;
}

static int hub_request(const struct server *s, const char *method,
                       const char *query, const char *last_event_id)
{
	return hub_request_with(s, method, query, last_event_id, false);
}

static void publish(const struct server *s, const char *channel, const char *text)
{
	assert_int_equal(tu_sh("'%s' --db '%s' publish --channel %s '%s' >/dev/null",
	                       s->ssectl, s->db, channel, text), 0);
}

/* Threads of the server process: one, the loop. */
static int threads_of(pid_t pid)
{
	char file[64];
	snprintf(file, sizeof(file), "/proc/%d/status", (int)pid);
	return (int)tu_sh_number("grep '^Threads:' %s | tr -dc 0-9", file);
}

static void test_many_streams_one_process(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 30\n");
	enum { CHAT = 40, OTHER = 10 };
	int chat[CHAT], other[OTHER];
	struct strbuf out = STRBUF_INIT;
	for (int i = 0; i < CHAT + OTHER; i++) {
		int fd = hub_request(&s, "GET", i < CHAT ? "channel=chat" : "channel=other", NULL);
		sb_reset(&out);
		assert_true(read_answer(fd, &out, ": live\n", WAIT_MS));
		assert_non_null(strstr(sb_str(&out), "Content-Type: text/event-stream"));
		if (i < CHAT)
			chat[i] = fd;
		else
			other[i - CHAT] = fd;
	}
	publish(&s, "chat", "to all forty");
	for (int i = 0; i < CHAT; i++) {
		sb_reset(&out);
		if (!read_answer(chat[i], &out, "data: to all forty\n\n", WAIT_MS))
			fail_msg("stream %d of chat: got [%s]", i, sb_str(&out));
		assert_non_null(strstr(sb_str(&out), "id: 1\n"));
	}
	publish(&s, "other", "to the ten");
	for (int i = 0; i < OTHER; i++) {
		sb_reset(&out);
		assert_true(read_answer(other[i], &out, "data: to the ten\n\n", WAIT_MS));
		assert_null(strstr(sb_str(&out), "to all forty"));  /* not its channel */
	}
	assert_int_equal(threads_of(s.pid), 1);
	assert_int_equal(tu_sh_number("ls /proc/%d/task | wc -l", (int)s.pid), 1);
	for (int i = 0; i < CHAT; i++)
		close(chat[i]);
	for (int i = 0; i < OTHER; i++)
		close(other[i]);
	sb_free(&out);
	hub_stop(&s);
}

/*
 * The notify file is created empty when the hub starts and becomes a ring
 * at the first post: from then on the hub takes news from the ring, not
 * from SQLite.  Told apart by text: the ring is given a copy of id 1 that
 * differs from the row, before the row is committed.  A hub that never
 * mapped the late ring answers the wake from SQLite (nothing there yet)
 * and sends the row's text only at a later look, if at all.
 */
static void test_ring_made_after_start(void **state)
{
	(void)state;
	if (!SSE_HAVE_STATX)
		skip();   /* no birth times, no identity, no ring: test_portability */
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 30\n");
	struct strbuf out = STRBUF_INIT;
	int fd = hub_request(&s, "GET", "channel=chat", NULL);
	assert_true(read_answer(fd, &out, ": live\n", WAIT_MS));
	struct store *st = tu_store_open(s.db, false);
	assert_true(store_identity(st) != 0);   /* this filesystem keeps birth times */
	ring_publish(s.db, store_identity(st), 1, "chat", "message", "from the ring", 13);
	long long id = 0;
	assert_int_equal(store_publish(st, "chat", "message", "from SQLite", 11, 100, &id),
	                 STORE_OK);
	assert_int_equal(id, 1);
	sb_reset(&out);
	if (!read_answer(fd, &out, "id: 1\ndata: from the ring\n\n", WAIT_MS))
		fail_msg("got [%s]", sb_str(&out));
	/* The row's commit is seen (data_version) but never sent again. */
	publish(&s, "chat", "two");
	assert_true(read_answer(fd, &out, "id: 2\ndata: two\n\n", WAIT_MS));
	assert_null(strstr(sb_str(&out), "from SQLite"));
	close(fd);
	store_close(st);
	sb_free(&out);
	hub_stop(&s);
}

/* History, resume by Last-Event-ID, and the reset for an unknown id. */
static void test_resume_and_reset(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nhistory = 2\n");
	publish(&s, "chat", "one");
	publish(&s, "chat", "two");
	publish(&s, "chat", "three");
	struct strbuf out = STRBUF_INIT;
	static const struct {
		const char *last_event_id, *query, *want, *not_want;
	} cases[] = {
		{ NULL, NULL, "id: 2\ndata: two\n\nid: 3\ndata: three\n\n", "data: one" },
		{ "1", NULL, "id: 2\ndata: two\n\nid: 3\ndata: three\n\n", "data: one" },
		{ NULL, "since=2", "id: 3\ndata: three\n\n", "data: two" },
		{ "3", "since=1", ": live", "data:" },
		{ "99", NULL, "event: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":1}\n\n"
		  "id: 2\ndata: two\n\nid: 3\ndata: three\n\n", "data: one" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int fd = hub_request(&s, "GET", cases[i].query, cases[i].last_event_id);
		sb_reset(&out);
		if (!read_answer(fd, &out, cases[i].want, WAIT_MS))
			fail_msg("case %zu: got [%s]", i, sb_str(&out));
		assert_null(strstr(sb_str(&out), cases[i].not_want));
		close(fd);
	}
	/* A live stream resumed at 3 gets 4, once. */
	int fd = hub_request(&s, "GET", NULL, "3");
	sb_reset(&out);
	assert_true(read_answer(fd, &out, ": live\n", WAIT_MS));
	publish(&s, "chat", "four");
	assert_true(read_answer(fd, &out, "id: 4\ndata: four\n\n", WAIT_MS));
	assert_null(strstr(sb_str(&out), "data: three"));
	close(fd);
	sb_free(&out);
	hub_stop(&s);
}

/* What is not a live stream is answered as events.fcgi answers it. */
static void test_other_answers(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\n");
	static const struct {
		const char *method, *query, *want[3];
	} cases[] = {
		{ "HEAD", NULL, { "Status: 200 OK\r\n", "text/event-stream", NULL } },
		{ "POST", NULL, { "Status: 405", "Allow: GET, HEAD\r\n", "only GET and HEAD" } },
		{ "GET", "channel=a%20b", { "Status: 400", "channel must be 1-64", NULL } },
		{ "GET", "since=x", { "Status: 400", "since must be", NULL } },
	};
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int fd = hub_request(&s, cases[i].method, cases[i].query, NULL);
		sb_reset(&out);
		if (!read_answer(fd, &out, NULL, WAIT_MS))   /* ends with END_REQUEST */
			fail_msg("case %zu: no end; got [%s]", i, sb_str(&out));
		for (size_t k = 0; k < 3 && cases[i].want[k]; k++)
			if (strstr(sb_str(&out), cases[i].want[k]) == NULL)
				fail_msg("case %zu: [%s] lacks [%s]", i, sb_str(&out),
				         cases[i].want[k]);
		if (strcmp(cases[i].method, "HEAD") == 0)
			assert_string_equal(tu_body(&out), "");
		close(fd);
	}
	/*
	 * Answered before the request's last record came: the connection
	 * must still take it.  Apache sends the empty STDIN apart, and when
	 * that write fails (the application had closed) it answers 503.
	 */
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int fd = hub_request_with(&s, cases[i].method, cases[i].query, NULL, true);
		sb_reset(&out);
		assert_true(read_answer(fd, &out, NULL, WAIT_MS));
		usleep(50 * 1000);
		static const unsigned char empty_stdin[8] = { 1, FCGI_STDIN, 0, 1, 0, 0, 0, 0 };
		if (send(fd, empty_stdin, sizeof(empty_stdin), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(empty_stdin))
			fail_msg("case %zu: the late STDIN record was refused: %s", i,
			         strerror(errno));
		close(fd);
	}
	sb_free(&out);
	hub_stop(&s);
}

/* Lifetime and keepalives per stream; a closed client frees its place. */
static void test_lifetime_keepalive_and_cap(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 2\nkeepalive_s = 1\nlisten_max_streams = 2\n");
	struct strbuf out = STRBUF_INIT;
	int a = hub_request(&s, "GET", NULL, NULL);
	assert_true(read_answer(a, &out, ": live\n", WAIT_MS));
	assert_true(read_answer(a, &out, ": keepalive\n", WAIT_MS));
	assert_true(read_answer(a, &out, NULL, WAIT_MS));   /* its end, in 1.6-2 s */
	close(a);

	a = hub_request(&s, "GET", NULL, NULL);
	int b = hub_request(&s, "GET", NULL, NULL);
	sb_reset(&out);
	assert_true(read_answer(a, &out, ": live\n", WAIT_MS));
	sb_reset(&out);
	assert_true(read_answer(b, &out, ": live\n", WAIT_MS));
	int c = hub_request(&s, "GET", NULL, NULL);   /* over the cap */
	sb_reset(&out);
	assert_true(read_answer(c, &out, NULL, WAIT_MS));
	assert_non_null(strstr(sb_str(&out), "retry: 8000\n"));
	assert_non_null(strstr(sb_str(&out), "all 2 live streams are in use"));
	close(c);
	close(b);   /* the client goes: its place is free again */
	long long deadline = tu_now_ms() + WAIT_MS;
	bool live = false;
	while (!live && tu_now_ms() < deadline) {
		c = hub_request(&s, "GET", NULL, NULL);
		sb_reset(&out);
		read_answer(c, &out, ": ", WAIT_MS);
		live = strstr(sb_str(&out), ": live\n") != NULL;
		close(c);
	}
	assert_true(live);
	close(a);
	sb_free(&out);
	hub_stop(&s);
}

/*
 * One client that never reads among others: its stream ends once it owes
 * more than the hub keeps for it, and the others get every message.
 * Slow (600 ssectl runs): make test only, see main.
 */
static void test_stalled_client_does_not_hold_up_others(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 120\nkeepalive_s = 30\nretention = 100000\n");
	int stalled = hub_request(&s, "GET", NULL, NULL);
	int small = 4096;
	setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	int reader = hub_request(&s, "GET", NULL, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(reader, &out, ": live\n", WAIT_MS));
	/* 600 messages of 3000 bytes: 1.8 MB, far past what waits for one,
	 * published in the background while this test reads the other. */
	assert_int_equal(tu_sh("(for i in $(seq 1 600); do printf 'm%%04d-%%03000d\\n' $i 0; done"
	                       " | while read -r line; do '%s' --db '%s' publish \"$line\";"
	                       " done) >/dev/null 2>&1 &", s.ssectl, s.db), 0);
	sb_reset(&out);
	if (!read_answer(reader, &out, "data: m0600-", 60000))
		fail_msg("the reading stream did not get all 600 (%zu bytes)", out.len);
	for (int i = 1; i <= 600; i++) {
		char want[32];
		snprintf(want, sizeof(want), "data: m%04d-", i);
		if (strstr(sb_str(&out), want) == NULL)
			fail_msg("the reading stream lacks message %d", i);
	}
	/*
	 * The stalled one was ended, and its end is there for it: read now,
	 * it gives whole records (read_answer parses them), the events it had
	 * room for, then retry, the reason and END_REQUEST, long before 600.
	 * Only its end waits for it, not the messages it fell behind on.
	 */
	struct strbuf stalled_out = STRBUF_INIT;
	if (!read_answer(stalled, &stalled_out, NULL, WAIT_MS))
		fail_msg("the stalled stream has no end (%zu bytes)", stalled_out.len);
	const char *text = sb_str(&stalled_out);
	const char *end = strstr(text, "retry: ");
	while (end != NULL && strstr(end + 1, "retry: ") != NULL)
		end = strstr(end + 1, "retry: ");   /* the last one: the end's */
	assert_non_null(end);
	assert_memory_equal(end - 2, "\n\n", 2);   /* after whole events */
	assert_non_null(strstr(end, ": this stream fell behind\n"));
	assert_null(strstr(text, "data: m0600-"));
	assert_true(stalled_out.len < 600 * 3000 / 2);
	close(stalled);
	close(reader);
	sb_free(&out);
	sb_free(&stalled_out);
	hub_stop(&s);
}

/*
 * The process falls more than the ring holds behind (stopped while 300
 * messages come) and retention pruned what it missed: its streams must not
 * be handed the newest rows past the gap without hearing of it.  The
 * stream machine answers as a per-process stream does (docs/PROTOCOL.md,
 * "A reset can also come in the middle of a live stream"): a reset, then
 * the newest history, and the stream goes on live.  Slow (300 ssectl runs): make
 * test only, see main.
 */
static void test_gap_while_behind_resets_streams(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 120\nkeepalive_s = 30\nretention = 5\nhistory = 2\n");
	publish(&s, "chat", "first");
	int fd = hub_request(&s, "GET", NULL, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, "data: first\n\n", WAIT_MS));
	kill(s.pid, SIGSTOP);
	/* With the site's config, so that its retention prunes. */
	assert_int_equal(tu_sh("for i in $(seq 1 300); do '%s' --config '%s/cgi-bin/sse-cgi.conf'"
	                       " publish \"m$i\"; done >/dev/null", s.ssectl, s.dir), 0);
	kill(s.pid, SIGCONT);
	sb_reset(&out);
	if (!read_answer(fd, &out, "data: m300\n\n", WAIT_MS))
		fail_msg("no reset and history after the gap; got [%s]", sb_str(&out));
	const char *text = sb_str(&out);
	const char *reset = strstr(text, "event: reset\ndata: {\"reason\":\"gap\"");
	assert_non_null(reset);
	assert_true(reset < strstr(text, "data: m299\n"));
	assert_null(strstr(text, "data: m1\n"));   /* nothing from the gap */
	/* Still live: a new message follows. */
	publish(&s, "chat", "after");
	sb_reset(&out);
	assert_true(read_answer(fd, &out, "data: after\n\n", WAIT_MS));
	close(fd);
	sb_free(&out);
	hub_stop(&s);
}

/*
 * At the open-file limit: a burst of connections far past what the process
 * may hold.  Each one is answered 200, live or one-shot; none is refused,
 * none waits for ever, the process survives.
 */
static void test_burst_at_the_file_limit(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 120\nkeepalive_s = 30\n");
	/* Once it is up (a first stream is live), its limit is lowered: it
	 * still counts on 10000, so only the kernel's EMFILE stops it (the
	 * reserve descriptor's path). */
	struct strbuf out = STRBUF_INIT;
	int first = hub_request(&s, "GET", NULL, NULL);
	assert_true(read_answer(first, &out, ": live\n", WAIT_MS));
	struct rlimit low = { 48, 48 };
	assert_int_equal(prlimit(s.pid, RLIMIT_NOFILE, &low, NULL), 0);
	enum { N = 120 };
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = hub_request(&s, "GET", NULL, NULL);
	int live = 0, one_shot = 0;
	static const char ok[] = "Status: 200 OK\r\n";
	for (int i = 0; i < N; i++) {
		sb_reset(&out);
		if (!read_answer(fds[i], &out, ": live\n", 2 * WAIT_MS))
			fail_msg("connection %d: no answer (%d live, %d one-shot so far)",
			         i, live, one_shot);
		if (strncmp(sb_str(&out), ok, strlen(ok)) != 0)
			fail_msg("connection %d: not 200: [%.60s]", i, sb_str(&out));
		if (strstr(sb_str(&out), ": live\n") != NULL) {
			live++;
		} else if (strstr(sb_str(&out), "at its open-file limit") != NULL) {
			one_shot++;
			close(fds[i]);   /* as a browser would until its retry */
			fds[i] = -1;
		} else {
			fail_msg("connection %d: [%s]", i, sb_str(&out));
		}
	}
	print_message("%d live, %d one-shot at a limit of 48 descriptors\n",
	              live, one_shot);
	assert_true(live > 0 && one_shot > 0 && live + one_shot == N);
	assert_true(tu_pid_alive(s.pid));
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(first);
	sb_free(&out);
	hub_stop(&s);
}

/* SIGTERM: every stream gets its end at once, then the process exits 0. */
static void test_sigterm_ends_every_stream(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 120\nkeepalive_s = 30\n");
	enum { N = 20 };
	int fds[N];
	struct strbuf out = STRBUF_INIT;
	for (int i = 0; i < N; i++) {
		fds[i] = hub_request(&s, "GET", NULL, NULL);
		sb_reset(&out);
		assert_true(read_answer(fds[i], &out, ": live\n", WAIT_MS));
	}
	kill(s.pid, SIGTERM);
	for (int i = 0; i < N; i++) {
		sb_reset(&out);
		if (!read_answer(fds[i], &out, NULL, WAIT_MS))
			fail_msg("stream %d got no end after SIGTERM", i);
		assert_non_null(strstr(sb_str(&out), ": the server is restarting\n"));
		close(fds[i]);
	}
	/* status is only read once waitpid has filled it; a process still
	 * there at the deadline stays `running`, for teardown to kill. */
	int status = 0;
	pid_t reaped = 0;
	long long deadline = tu_now_ms() + WAIT_MS;
	while ((reaped = waitpid(s.pid, &status, WNOHANG)) != s.pid &&
	       tu_now_ms() < deadline)
		usleep(10000);
	if (reaped != s.pid)
		fail_msg("the process did not exit within %d ms of SIGTERM", WAIT_MS);
	running = NULL;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sb_free(&out);
	tu_rmtree(s.dir);
}

/* ---- metrics_listen: GET /metrics -------------------------------------- */

/* Connects to the metrics socket and sends request (may be partial). */
static int scrape_send(const char *sock, const char *request)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect %s: %s", sock, strerror(errno));
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	return fd;
}

/* The whole answer to request: read until the hub closes (within WAIT_MS). */
static void scrape(const char *sock, const char *request, struct strbuf *out)
{
	int fd = scrape_send(sock, request);
	sb_reset(out);
	long long deadline = tu_now_ms() + WAIT_MS;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (tu_now_ms() > deadline)
			fail_msg("no end of the answer to [%s] within %d ms: [%s]", request,
			         WAIT_MS, sb_str(out));
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		sb_append(out, buf, (size_t)n);
	}
	close(fd);
}

/* The value of the series `series` in an exposition; -1 when it is not there. */
static long long metric(const char *text, const char *series)
{
	char line[160];
	snprintf(line, sizeof(line), "\n%s ", series);
	const char *at = strstr(text, line);
	return at != NULL ? strtoll(at + strlen(line), NULL, 10) : -1;
}

/* The counters a scrape must show, after the test's streams opened and ended. */
struct want_series {
	const char *series;
	long long value;
};

/* Scrapes until every series has its value (the hub sees a close when it
 * reads it), or fails naming the first that did not. */
static void scrape_until(const char *sock, const struct want_series *want, size_t n,
                         struct strbuf *out)
{
	long long deadline = tu_now_ms() + WAIT_MS;
	size_t i = 0;
	while (i < n) {
		scrape(sock, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", out);
		const char *body = strstr(sb_str(out), "\r\n\r\n");
		for (i = 0; i < n && body != NULL; i++)
			if (metric(body + 2, want[i].series) != want[i].value)
				break;
		if (i < n && tu_now_ms() > deadline)
			fail_msg("%s is not %lld after %d ms:\n%s", want[i].series, want[i].value,
			         WAIT_MS, sb_str(out));
		if (i < n)
			usleep(20000);
	}
}

/* promtool's verdict on an answer's body; a missing promtool fails. */
static void promtool_accepts(const char *dir, const char *answer)
{
	if (access(PROMTOOL, X_OK) != 0)
		fail_msg(PROMTOOL " is missing: install Debian's prometheus package"
		         " (scripts/deps.sh test)");
	const char *body = strstr(answer, "\r\n\r\n");
	assert_non_null(body);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/scrape.prom", dir);
	tu_write_file(path, body + 4);
	if (tu_sh(PROMTOOL " check metrics < '%s'", path) != 0)
		fail_msg("promtool check metrics refused:\n%s", body + 4);
}

/*
 * metrics_listen on a unix socket: the counters a hub's streams leave
 * (went live, over the cap, client gone, deliveries of a fan-out, then
 * shutdown), the open streams from its live count, promtool's verdict,
 * 404 and 405, and a scraper that never finishes its head holding up
 * neither the streams nor the next scrape.
 */
static void test_metrics_endpoint(void **state)
{
	(void)state;
	char mdir[PATH_MAX], sock[PATH_MAX + 16], conf[PATH_MAX + 128];
	tu_tempdir(mdir, sizeof(mdir));
	snprintf(sock, sizeof(sock), "%s/m.sock", mdir);
	snprintf(conf, sizeof(conf), "lifetime_s = 60\nkeepalive_s = 30\n"
	         "listen_max_streams = 3\nmetrics_listen = unix:%s\n", sock);
	struct server s;
	hub_start(&s, conf);
	struct strbuf out = STRBUF_INIT;
	int slow = -1;
	for (long long until = tu_now_ms() + WAIT_MS; slow < 0; usleep(10000)) {
		if (access(sock, F_OK) == 0)
			slow = scrape_send(sock, "GET /metr");   /* and nothing more */
		else if (tu_now_ms() > until)
			fail_msg("no metrics socket %s", sock);
	}
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = hub_request(&s, "GET", "channel=chat", NULL);
		sb_reset(&out);
		assert_true(read_answer(fds[i], &out, ": live\n", WAIT_MS));
	}
	int over = hub_request(&s, "GET", "channel=chat", NULL);   /* the 4th of 3 */
	sb_reset(&out);
	assert_true(read_answer(over, &out, NULL, WAIT_MS));
	assert_non_null(strstr(sb_str(&out), "all 3 live streams are in use"));
	close(over);
	publish(&s, "chat", "to the three");
	for (int i = 0; i < 3; i++) {
		sb_reset(&out);
		assert_true(read_answer(fds[i], &out, "data: to the three\n\n", WAIT_MS));
	}
	close(fds[0]);
	static const struct want_series after_close[] = {
		{ "sse_streams_open{mode=\"listen\"}", 2 },
		{ "sse_streams_total", 3 },
		{ "sse_deliveries_total", 3 },
		{ "sse_stream_ends_total{reason=\"client_gone\"}", 1 },
		{ "sse_stream_ends_total{reason=\"over_cap\"}", 1 },
		{ "sse_stream_ends_total{reason=\"shutdown\"}", 0 },
		{ "sse_messages_stored_total", 1 },
	};
	scrape_until(sock, after_close, ARRAY_LEN(after_close), &out);
	assert_non_null(strstr(sb_str(&out), "HTTP/1.0 200 OK\r\n"));
	assert_non_null(strstr(sb_str(&out), "\r\nContent-Type: text/plain; version=0.0.4"));
	promtool_accepts(mdir, sb_str(&out));

	static const struct { const char *request, *status; } refused[] = {
		{ "GET / HTTP/1.1\r\n\r\n", "HTTP/1.0 404 Not Found\r\n" },
		{ "POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.0 405 Method Not Allowed\r\n" },
		{ "GET /metrics\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n" },
	};
	for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
		scrape(sock, refused[i].request, &out);
		if (strncmp(sb_str(&out), refused[i].status, strlen(refused[i].status)) != 0)
			fail_msg("[%s]: got [%s]", refused[i].request, sb_str(&out));
	}
	close(slow);

	/* SIGTERM: the two live streams end by the shutdown, counted in the
	 * file that outlives the process (read by ssectl, as per process). */
	running = NULL;
	kill(s.pid, SIGTERM);
	int status;
	assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(tu_sh_number("'%s' --db '%s' stats --prometheus | grep -F"
	                              " 'sse_stream_ends_total{reason=\"shutdown\"}'"
	                              " | cut -d' ' -f2", s.ssectl, s.db), 2);
	for (int i = 1; i < 3; i++)
		close(fds[i]);
	sb_free(&out);
	tu_rmtree(s.dir);
	tu_rmtree(mdir);
}

/*
 * Two groups.  make check runs the quick one.  The slow one publishes with
 * hundreds of ssectl processes per case (seconds, and many more on a busy
 * machine): it runs instead when SSE_TEST_SLOW=1, which make test sets
 * (UNIT_TESTS_SLOW in the Makefile), under ASan+UBSan too.
 */
int main(void)
{
	const struct CMUnitTest quick[] = {
		cmocka_unit_test_teardown(test_many_streams_one_process, teardown),
		cmocka_unit_test_teardown(test_ring_made_after_start, teardown),
		cmocka_unit_test_teardown(test_resume_and_reset, teardown),
		cmocka_unit_test_teardown(test_other_answers, teardown),
		cmocka_unit_test_teardown(test_lifetime_keepalive_and_cap, teardown),
		cmocka_unit_test_teardown(test_burst_at_the_file_limit, teardown),
		cmocka_unit_test_teardown(test_sigterm_ends_every_stream, teardown),
		cmocka_unit_test_teardown(test_metrics_endpoint, teardown),
	};
	const struct CMUnitTest slow[] = {
		cmocka_unit_test_teardown(test_stalled_client_does_not_hold_up_others, teardown),
		cmocka_unit_test_teardown(test_gap_while_behind_resets_streams, teardown),
	};
	const char *want_slow = getenv("SSE_TEST_SLOW");
	if (want_slow != NULL && strcmp(want_slow, "1") == 0)
		return cmocka_run_group_tests_name("one process, many streams: the slow cases",
		                                   slow, NULL, NULL);
	return cmocka_run_group_tests_name("one process, many streams", quick, NULL, NULL);
}
