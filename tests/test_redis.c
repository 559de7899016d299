/*
 * test_redis: what only the Redis engine has, with real processes: a real
 * redis-server (redisutil.h), events.fcgi --listen hubs and per-process
 * streams, post.fcgi and ssectl on it (the database given as SSE_DATABASE,
 * which every binary reads over its configuration file).
 *
 *   - a hub follows a channel it did not follow before at once (its XREAD
 *     is ended by CLIENT UNBLOCK and sent again with the new channel), and
 *     a burst of 200 new channels with an XREAD per turn of its loop, not
 *     one per channel; a FastCGI process, one stream at a time, follows
 *     its next request's channel at once too;
 *   - two fronts (two hubs) on one Redis: a post reaches both, once, in order;
 *   - kill -9 of a hub with 200 listeners while posts go on: they resume
 *     on the other hub with their Last-Event-ID and miss nothing, with no
 *     duplicate;
 *   - Redis stopped: posts answer 503 with Retry-After, open streams end
 *     with retry: (hub and per-process), one log line for the outage, and
 *     all works again once Redis is back;
 *   - Redis frozen (SIGSTOP): the hub's loop goes on, a post gives up
 *     after its bound, the streams end once their XREAD is overdue;
 *   - Redis killed and restarted with appendonly: no acknowledged post lost,
 *     ids go on increasing;
 *   - connections Redis closed while idle (its timeout): the next post
 *     reconnects and is stored, the next stream is live and woken at once,
 *     with no outage logged;
 *   - redis_password_file: used, refused when others may read it, and the
 *     password never reaches a log.
 */
#include "fcgiclient.h"
#include "redisutil.h"

#define WAIT_MS 5000
#define FOLLOW_MS 1000        /* well under the XREAD's 5 s BLOCK */
#define FAILOVER_LISTENERS 200  /* the size */
#define FAILOVER_DURING 30    /* posts going on across the kill */
#define FAILOVER_GAP_MS 10    /* between them (each is an ssectl process) */
#define FAILOVER_IDS 64       /* > FAILOVER_DURING + 3 */
#define RECOVER_MS 15000      /* the back-off is at most 8 s */
#define SLOW_END_MS 15000     /* XREAD overdue (5 + 3 s), seen at a look (5 s) */
#define IDLE_CLOSED_MS 5000   /* Redis's timeout 1 (s) closes an idle client by then */
#define IDLE_XREAD_MS 8500    /* past the XREAD's 5 s BLOCK and 3 s grace */
#define BURST_CHANNELS 200    /* new channels arriving at once */
#define BURST_LAST 199        /* BURST_CHANNELS - 1, as text for a name */
#define STR(x) #x
#define XSTR(x) STR(x)

static struct tu_redis redis;

/* events.fcgi on the test's Redis (arg: "--listen" for a hub, or NULL),
 * its stderr in a log in the Redis folder, named in s->db. */
static void events_start(struct server *s, const char *conf, const char *arg)
{
	char log[PATH_MAX + 32];
	snprintf(log, sizeof(log), "%s/events-%d.log", redis.dir,
	         (int)tu_now_ms() % 100000);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	server_start_with(s, "events.fcgi", conf, arg, arg != NULL ? "fd:0" : NULL);
	dup2(saved, 2);
	close(saved);
	close(fd);
	snprintf(s->db, sizeof(s->db), "%s", log);   /* where its log went */
}

static void hub_start(struct server *s, const char *conf)
{
	events_start(s, conf, "--listen");
}

static void hub_kill(struct server *s)
{
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	tu_rmtree(s->dir);
}

static int stream(const struct server *s, const char *query, const char *last_id)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, s->sock, strlen(s->sock) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct strbuf req = STRBUF_INIT, params = STRBUF_INIT;
	unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	put_record(&req, FCGI_BEGIN, begin, 8);
	put_pair(&params, "REQUEST_METHOD", "GET");
	put_pair(&params, "QUERY_STRING", query);
	if (last_id != NULL)
		put_pair(&params, "HTTP_LAST_EVENT_ID", last_id);
	put_record(&req, FCGI_PARAMS, params.data, params.len);
	put_record(&req, FCGI_PARAMS, "", 0);
	put_record(&req, FCGI_STDIN, "", 0);
	assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
	sb_free(&req);
	sb_free(&params);
	return fd;
}

/* A live stream: its first frame said so. */
static int live_stream(const struct server *s, const char *query, const char *last_id)
{
	struct strbuf out = STRBUF_INIT;
	int fd = stream(s, query, last_id);
	if (!read_answer(fd, &out, ": live\n", WAIT_MS))
		fail_msg("not live: [%s]", sb_str(&out));
	sb_free(&out);
	return fd;
}

static void publish(const char *channel, const char *text)
{
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	assert_int_equal(tu_sh("'%s/ssectl' publish --channel %s '%s' >/dev/null",
	                       bins, channel, text), 0);
}

/* post.fcgi as a CGI process: its status line's number. */
static int post(const char *text, struct strbuf *out)
{
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	char bin[PATH_MAX], body[256], len[32], db[2 * PATH_MAX + 128];
	snprintf(bin, sizeof(bin), "%s/cgi-bin/post.fcgi", bins);
	snprintf(body, sizeof(body), "user=t&text=%s", text);
	snprintf(len, sizeof(len), "CONTENT_LENGTH=%zu", strlen(body));
	snprintf(db, sizeof(db), "SSE_DATABASE=%s", redis.url);
	char *argv[] = { bin, NULL };
	char *env[] = { "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST",
	                "CONTENT_TYPE=application/x-www-form-urlencoded", len,
	                "REMOTE_ADDR=192.0.2.9", "SSE_RATE_LIMIT=0", db, NULL };
	struct tu_proc p;
	tu_spawn(&p, argv, env, body);
	sb_reset(out);
	tu_read(&p, out, NULL, WAIT_MS);
	tu_wait(&p, WAIT_MS);
	int status = 0;
	sscanf(sb_str(out), "Status: %d", &status);
	return status;
}

/* The ids of the data frames in s, space-separated. */
static void ids_of(const char *s, struct strbuf *ids)
{
	sb_reset(ids);
	for (const char *p = strstr(s, "id: "); p != NULL; p = strstr(p + 1, "\nid: ")) {
		if (*p == '\n')
			p++;
		long long id = atoll(p + 4);
		sb_printf(ids, "%s%lld", ids->len ? " " : "", id);
	}
}

static long count_lines(const char *file, const char *word)
{
	return tu_sh_number("grep -c '%s' '%s' || true", word, file);
}

/* ---- the hub's wake ------------------------------------------------------- */

/*
 * Publishes text on channel and reads it on fd, a live stream of it: it
 * must arrive within FOLLOW_MS, well before the fallback look (5 s); what
 * says why it did not.
 */
static void arrives_at_once(int fd, const char *channel, const char *text,
                            const char *what)
{
	char frame[128];
	snprintf(frame, sizeof(frame), "data: %s\n\n", text);
	long long t0 = tu_now_ms();
	publish(channel, text);
	struct strbuf out = STRBUF_INIT;
	if (!read_answer(fd, &out, frame, WAIT_MS))
		fail_msg("%s: got [%s]", channel, sb_str(&out));
	long long took = tu_now_ms() - t0;
	if (took > FOLLOW_MS)
		fail_msg("%s took %lld ms", what, took);
	sb_free(&out);
}

static void test_hub_follows_a_new_channel_at_once(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 30\n");
	int chat = live_stream(&s, "channel=chat", NULL);
	usleep(200 * 1000);   /* the XREAD over chat alone is pending */
	int other = live_stream(&s, "channel=other", NULL);
	arrives_at_once(other, "other", "first on other",
	                "the new channel's message (XREAD not re-sent)");
	publish("chat", "on chat");
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(chat, &out, "data: on chat\n\n", WAIT_MS));
	assert_null(strstr(sb_str(&out), "first on other"));
	close(chat);
	close(other);
	sb_free(&out);
	server_stop(&s);
}

/* A stream request to a FastCGI events.fcgi, read until it says live. */
static int live_request(const struct server *s, const char *query)
{
	struct strbuf out = STRBUF_INIT;
	int fd = send_request(s, "GET", query, NULL, NULL);
	if (!read_answer(fd, &out, ": live\n", WAIT_MS))
		fail_msg("%s: not live: [%s]", query, sb_str(&out));
	sb_free(&out);
	return fd;
}

/*
 * events.fcgi under a FastCGI server (one stream at a time per process):
 * the XREAD of the process's last stream may still wait on that stream's
 * channel when the next request asks for another; the new channel's
 * messages must come at once all the same, not when the old XREAD times
 * out (5 s).
 */
static void test_process_follows_its_next_channel_at_once(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "events.fcgi", "lifetime_s = 60\nkeepalive_s = 30\nmax_streams = 0\n");
	int fd = live_request(&s, "channel=chat");
	usleep(200 * 1000);   /* its XREAD over chat is pending */
	close(fd);
	usleep(200 * 1000);   /* the process has seen it go */
	fd = live_request(&s, "channel=other");
	arrives_at_once(fd, "other", "first on other",
	                "the next request's channel (the old XREAD still waiting)");
	close(fd);
	server_stop(&s);
}

/* The number after `key` in INFO's `section`; 0 when INFO has no such line. */
static long info_number(const char *section, const char *key)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "INFO %s", section);
	redisReply *r = tu_redis_command(&redis, cmd);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	const char *at = strstr(r->str, key);
	long n = at != NULL ? atol(at + strlen(key)) : 0;
	freeReplyObject(r);
	return n;
}

/* How many times Redis ran a command since the last CONFIG RESETSTAT. */
static long command_calls(const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
	return info_number("commandstats", key);
}

/*
 * A burst of streams on channels the hub did not follow (per-user
 * channels after a restart): every one is followed at once, and the XREAD
 * that names them all is sent again once per turn of the hub's loop, not
 * once per new channel (which made the burst's cost grow with the square
 * of the channels).  All requests are written before any answer is read,
 * so the hub meets them together, as it would meet reconnecting browsers.
 */
static void test_hub_many_new_channels_in_one_burst(void **state)
{
	(void)state;
	enum { N = BURST_CHANNELS };
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 30\n");
	int first = live_stream(&s, "channel=u-first", NULL);
	usleep(200 * 1000);   /* the XREAD over one channel is pending */
	freeReplyObject(tu_redis_command(&redis, "CONFIG RESETSTAT"));
	int fds[N];
	for (int i = 0; i < N; i++) {
		char query[64];
		snprintf(query, sizeof(query), "channel=u-%d", i);
		fds[i] = stream(&s, query, NULL);
	}
	struct strbuf out = STRBUF_INIT;
	for (int i = 0; i < N; i++) {
		sb_reset(&out);
		if (!read_answer(fds[i], &out, ": live\n", WAIT_MS))
			fail_msg("u-%d not live: [%s]", i, sb_str(&out));
	}
	long xreads = command_calls("xread");
	long unblocks = command_calls("client|unblock");
	print_message("# %d new channels: %ld XREAD, %ld CLIENT UNBLOCK\n", N,
	              xreads, unblocks);
	if (xreads > N / 4)
		fail_msg("%ld XREADs for %d new channels: re-sent per channel", xreads, N);
	arrives_at_once(fds[0], "u-0", "to the first of the burst", "u-0's message");
	arrives_at_once(fds[N - 1], "u-" XSTR(BURST_LAST), "to the last of the burst",
	                "the last new channel's message");
	arrives_at_once(first, "u-first", "to the one before", "u-first's message");
	for (int i = 0; i < N; i++)
		close(fds[i]);
	close(first);
	sb_free(&out);
	server_stop(&s);
}

/* ---- two fronts, fail-over -------------------------------------------------- */

static void test_two_fronts_once_each_in_order(void **state)
{
	(void)state;
	struct server a, b;
	hub_start(&a, "lifetime_s = 60\nkeepalive_s = 30\n");
	hub_start(&b, "lifetime_s = 60\nkeepalive_s = 30\n");
	int on_a = live_stream(&a, "channel=chat", NULL);
	int on_b = live_stream(&b, "channel=chat", NULL);
	char text[32];
	for (int i = 1; i <= 10; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		publish("chat", text);
	}
	struct strbuf out = STRBUF_INIT, ids = STRBUF_INIT;
	int fds[] = { on_a, on_b };
	for (int i = 0; i < 2; i++) {
		sb_reset(&out);
		assert_true(read_answer(fds[i], &out, "data: m10\n\n", WAIT_MS));
		ids_of(sb_str(&out), &ids);
		assert_string_equal(sb_str(&ids), "1 2 3 4 5 6 7 8 9 10");
		close(fds[i]);
	}
	sb_free(&out);
	sb_free(&ids);
	server_stop(&a);
	server_stop(&b);
}

/*
 * The ids of the whole events in s (ended by a blank line, as a browser
 * dispatches them: an event cut by the kill is not one), into ids; their
 * count.  A reset event sets *reset.
 */
static int event_ids(const char *s, long long *ids, int cap, bool *reset)
{
	int n = 0;
	for (const char *end; (end = strstr(s, "\n\n")) != NULL; s = end + 2) {
		long long id = -1;
		bool data = false;
		for (const char *line = s; line < end; line = strchr(line, '\n') + 1) {
			if (strncmp(line, "id: ", 4) == 0)
				id = atoll(line + 4);
			else if (strncmp(line, "data:", 5) == 0)
				data = true;
			else if (strncmp(line, "event: reset\n", 13) == 0)
				*reset = true;
		}
		if (id >= 0 && data && n < cap)
			ids[n++] = id;
	}
	return n;
}

/* ids[0..n) is first, first + 1, ..., last: no gap, no duplicate, in order. */
static void expect_run(int listener, const char *where, const long long *ids, int n,
                       long long first, long long last)
{
	bool ok = n == last - first + 1;
	for (int k = 0; ok && k < n; k++)
		ok = ids[k] == first + k;
	if (!ok) {
		char got[512] = "";
		for (int k = 0; k < n && strlen(got) < sizeof(got) - 24; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), " %lld", ids[k]);
		fail_msg("listener %d on %s: want ids %lld..%lld, got%s", listener, where,
		         first, last, got);
	}
}

/*
 * The fail-over: 200 listeners on hub A, posts going on, kill -9 of
 * A in the middle of them.  Each listener takes what A had sent it (the
 * whole events only), reconnects to hub B with the last id it got, as
 * EventSource behind a load balancer would, while the posts go on; in the
 * end each one has every id exactly once, in order: A's part 1..k with no
 * gap, B's part k+1..last with no reset.
 */
/* The fail-over's processes, which teardown_failover ends when the case
 * failed half-way (a hub left behind would hold the test's stdout open). */
static struct server fo_a, fo_b;
static pid_t fo_poster;

static void test_kill_9_of_a_hub_fails_over_by_last_event_id(void **state)
{
	(void)state;
	struct server *a = &fo_a, *b = &fo_b;
	hub_start(a, "lifetime_s = 60\nkeepalive_s = 30\n");
	hub_start(b, "lifetime_s = 60\nkeepalive_s = 30\n");
	static int fd[FAILOVER_LISTENERS];
	static long long ids[FAILOVER_IDS];
	static long long last[FAILOVER_LISTENERS];
	struct strbuf out = STRBUF_INIT;
	for (int i = 0; i < FAILOVER_LISTENERS; i++)
		fd[i] = live_stream(a, "channel=fo", NULL);
	int watch = live_stream(a, "channel=fo", NULL);   /* times the kill */
	publish("fo", "before1");
	publish("fo", "before2");
	/* The posts that go on across the kill: ids 3 .. FAILOVER_DURING + 2. */
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	pid_t poster = fork();
	assert_true(poster >= 0);
	if (poster > 0)
		fo_poster = poster;
	if (poster == 0) {
		for (int k = 1; k <= FAILOVER_DURING; k++) {
			if (tu_sh("'%s/ssectl' publish --channel fo 'm%d' >/dev/null", bins, k) != 0)
				_exit(1);
			usleep(FAILOVER_GAP_MS * 1000);
		}
		_exit(0);
	}
	char mid[32];
	snprintf(mid, sizeof(mid), "data: m%d\n\n", FAILOVER_DURING / 3);
	if (!read_answer(watch, &out, mid, WAIT_MS))
		fail_msg("the watcher did not get m%d: [%s]", FAILOVER_DURING / 3, sb_str(&out));
	hub_kill(a);
	a->pid = 0;
	close(watch);
	long long lo = -1, hi = -1;
	for (int i = 0; i < FAILOVER_LISTENERS; i++) {
		/* what A sent before it died, up to the end of the socket */
		sb_reset(&out);
		read_answer(fd[i], &out, NULL, WAIT_MS);
		close(fd[i]);
		bool reset = false;
		int n = event_ids(sb_str(&out), ids, FAILOVER_IDS, &reset);
		last[i] = n > 0 ? ids[n - 1] : 0;
		expect_run(i, "A", ids, n, 1, last[i]);
		assert_false(reset);
		char lei[24];
		snprintf(lei, sizeof(lei), "%lld", last[i]);
		fd[i] = stream(b, "channel=fo", last[i] > 0 ? lei : NULL);
		if (lo < 0 || last[i] < lo)
			lo = last[i];
		if (last[i] > hi)
			hi = last[i];
	}
	int status = -1;
	assert_int_equal(waitpid(poster, &status, 0), poster);
	fo_poster = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	publish("fo", "after");
	const long long final = FAILOVER_DURING + 3;
	for (int i = 0; i < FAILOVER_LISTENERS; i++) {
		sb_reset(&out);
		if (!read_answer(fd[i], &out, "data: after\n\n", WAIT_MS))
			fail_msg("listener %d on B: got [%s]", i, sb_str(&out));
		close(fd[i]);
		bool reset = false;
		int n = event_ids(sb_str(&out), ids, FAILOVER_IDS, &reset);
		if (reset)
			fail_msg("listener %d on B: a reset after id %lld: [%s]", i, last[i],
			         sb_str(&out));
		expect_run(i, "B", ids, n, last[i] + 1, final);
	}
	print_message("fail-over: %d listeners had ids 1..%lld to 1..%lld from A,"
	              " the rest up to %lld from B\n", FAILOVER_LISTENERS, lo, hi, final);
	sb_free(&out);
	server_stop(b);
	b->pid = 0;
}

/* ---- Redis unavailable ----------------------------------------------------- */

static void test_redis_stopped_then_back(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 2\nretry_ms = 500\n");
	struct strbuf out = STRBUF_INIT, cgi = STRBUF_INIT;
	assert_int_equal(post("before", &cgi), 201);
	int fds[3];
	for (int i = 0; i < 3; i++)
		fds[i] = live_stream(&s, "channel=chat", NULL);
	tu_redis_stop(&redis, SIGTERM);
	/* Open streams end with retry: and the problem. */
	for (int i = 0; i < 3; i++) {
		sb_reset(&out);
		if (!read_answer(fds[i], &out, NULL, WAIT_MS) ||
		    strstr(sb_str(&out), "retry: 500\n: database is unavailable") == NULL)
			fail_msg("stream %d did not end with retry: [%s]", i, sb_str(&out));
		close(fds[i]);
	}
	/* Posts: 503 with Retry-After, nothing stored. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(post("during", &cgi), 503);
		assert_non_null(strstr(sb_str(&cgi), "Retry-After: 5\r\n"));
	}
	/* New streams meanwhile: answered at once, one-shot, with retry. */
	for (int i = 0; i < 5; i++) {
		int fd = stream(&s, "channel=chat", NULL);
		sb_reset(&out);
		long long t0 = tu_now_ms();
		assert_true(read_answer(fd, &out, NULL, WAIT_MS));
		assert_true(tu_now_ms() - t0 < 2000);
		assert_non_null(strstr(sb_str(&out), ": database is unavailable"));
		close(fd);
	}
	assert_int_equal(count_lines(s.db, "unavailable: reconnecting"), 1);
	assert_int_equal(count_lines(s.db, "epoll_ctl"), 0);   /* the closed wake */
	tu_redis_run(&redis);
	/* Back: a stream resuming after "before" gets what follows, posts
	 * are stored again. */
	long long until = tu_now_ms() + RECOVER_MS;
	int fd = -1;
	while (tu_now_ms() < until) {
		fd = stream(&s, "channel=chat", "1");
		sb_reset(&out);
		read_answer(fd, &out, ": live\n", 1000);
		if (strstr(sb_str(&out), ": live\n") != NULL)
			break;
		close(fd);
		fd = -1;
		usleep(300 * 1000);
	}
	if (fd < 0)
		fail_msg("the hub did not come back with Redis: [%s]", sb_str(&out));
	assert_int_equal(post("after", &cgi), 201);
	sb_reset(&out);
	assert_true(read_answer(fd, &out, "\"text\":\"after\"", WAIT_MS));
	close(fd);
	sb_free(&out);
	sb_free(&cgi);
	server_stop(&s);
}

/*
 * Redis stopped in its tracks (SIGSTOP): the hub's loop is not blocked
 * (keepalives go on), a post answers 503 once its command bound passed,
 * and the streams end with retry: once the XREAD is overdue.
 */
static void test_redis_slow(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 1\nretry_ms = 500\n");
	int fd = live_stream(&s, "channel=chat", NULL);
	kill(redis.pid, SIGSTOP);
	struct strbuf out = STRBUF_INIT, cgi = STRBUF_INIT;
	assert_true(read_answer(fd, &out, ": keepalive\n", 3000));
	long long t0 = tu_now_ms();
	assert_int_equal(post("slow", &cgi), 503);
	long long took = tu_now_ms() - t0;
	if (took > 3500)
		fail_msg("a post waited %lld ms for a stopped Redis", took);
	sb_reset(&out);
	if (!read_answer(fd, &out, NULL, SLOW_END_MS) ||
	    strstr(sb_str(&out), "retry: 500\n: database is unavailable") == NULL)
		fail_msg("the stream did not end with retry: [%s]", sb_str(&out));
	kill(redis.pid, SIGCONT);
	close(fd);
	sb_free(&out);
	sb_free(&cgi);
	server_stop(&s);
}

/* A per-process stream (CGI) ends with retry: when Redis goes. */
static void test_cgi_stream_ends_when_redis_goes(void **state)
{
	(void)state;
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	char bin[PATH_MAX], db[2 * PATH_MAX + 128];
	snprintf(bin, sizeof(bin), "%s/cgi-bin/events.fcgi", bins);
	snprintf(db, sizeof(db), "SSE_DATABASE=%s", redis.url);
	char *argv[] = { bin, NULL };
	char *env[] = { "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
	                "QUERY_STRING=channel=chat", "SSE_KEEPALIVE_S=2",
	                "SSE_MAX_STREAMS=0", db, NULL };
	struct tu_proc p;
	tu_spawn(&p, argv, env, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, ": live\n", WAIT_MS));
	publish("chat", "live one");
	assert_true(tu_read(&p, &out, "data: live one\n\n", WAIT_MS));
	long long t0 = tu_now_ms();
	tu_redis_stop(&redis, SIGKILL);
	assert_true(tu_read(&p, &out, NULL, WAIT_MS));   /* to its end */
	assert_true(tu_now_ms() - t0 < 3000);
	assert_non_null(strstr(sb_str(&out), "retry: 2000\n: database is unavailable"));
	int status = tu_wait(&p, WAIT_MS);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tu_redis_run(&redis);
	sb_free(&out);
}

/* ---- after an idle spell (the slow group) ----------------------------------- */

/* Longer than the XREAD's BLOCK (5 s) and its grace (3 s): what it answered
 * meanwhile waits unread on the wake connection. */
#define IDLE_SPELL_S 9

/*
 * A hub whose streams all went: its XREAD answers while nobody looks.  The
 * next stream, on a channel it did not follow, must get its messages at
 * once, not at the fallback look 5 s later (the answer was taken before
 * CLIENT UNBLOCK, which found nothing blocked).
 */
static void test_hub_after_an_idle_spell(void **state)
{
	(void)state;
	struct server s;
	hub_start(&s, "lifetime_s = 60\nkeepalive_s = 30\n");
	close(live_stream(&s, "channel=chat", NULL));
	sleep(IDLE_SPELL_S);
	int other = live_stream(&s, "channel=other", NULL);
	arrives_at_once(other, "other", "after the spell",
	                "the first message after the spell");
	close(other);
	server_stop(&s);
}

/*
 * A per-process FastCGI stream process between two requests: the first
 * stream's XREAD answers after it ended.  The next stream is live and
 * stays so, with no "database is unavailable" (that answer was once taken
 * for an XREAD that never came back).
 */
static void test_process_after_an_idle_spell(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "events.fcgi", "lifetime_s = 60\nkeepalive_s = 1\nmax_streams = 0\n");
	struct strbuf out = STRBUF_INIT;
	int fd = send_request(&s, "GET", "channel=chat", NULL, NULL);
	assert_true(read_answer(fd, &out, ": live\n", WAIT_MS));
	close(fd);
	sleep(IDLE_SPELL_S);
	sb_reset(&out);
	fd = send_request(&s, "GET", "channel=chat", NULL, NULL);
	assert_true(read_answer(fd, &out, ": live\n", WAIT_MS));
	publish("chat", "still live");
	if (!read_answer(fd, &out, "data: still live\n\n", WAIT_MS))
		fail_msg("the second stream: [%s]", sb_str(&out));
	assert_null(strstr(sb_str(&out), "unavailable"));
	close(fd);
	sb_free(&out);
	server_stop(&s);
}

/* How many clients Redis has, the one asking included. */
static long clients_connected(void)
{
	return info_number("clients", "connected_clients:");
}

/* One post to a FastCGI post.fcgi: its status. */
static int fcgi_post(const struct server *s, const char *text)
{
	char body[128];
	snprintf(body, sizeof(body), "user=t&text=%s", text);
	int fd = send_request(s, "POST", NULL, "application/x-www-form-urlencoded",
	                      body);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, NULL, WAIT_MS));
	int status = 0;
	sscanf(sb_str(&out), "Status: %d", &status);
	close(fd);
	sb_free(&out);
	return status;
}

/*
 * Redis closes a client idle for `timeout` seconds (0 in Debian's
 * redis.conf, often set on shared servers): a post.fcgi that kept its
 * connection from an earlier post reconnects, the post is stored.
 */
static void test_post_after_redis_closed_the_idle_connection(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "post.fcgi", "rate_limit = 0\n");
	assert_int_equal(fcgi_post(&s, "before"), 201);
	freeReplyObject(tu_redis_command(&redis, "CONFIG SET timeout 1"));
	/* Until Redis has closed it: no client but the one asking. */
	long long until = tu_now_ms() + IDLE_CLOSED_MS;
	while (clients_connected() > 1 && tu_now_ms() < until)
		usleep(100 * 1000);
	assert_int_equal(clients_connected(), 1);
	assert_int_equal(fcgi_post(&s, "after"), 201);
	freeReplyObject(tu_redis_command(&redis, "CONFIG SET timeout 0"));
	server_stop(&s);
}

/*
 * The same for a stream: a FastCGI events.fcgi idle for longer than its
 * last XREAD's BLOCK, whose connections Redis closed meanwhile (a timeout,
 * a restart; CLIENT KILL here, as the timeout itself races with the
 * XREAD's answers when shorter than its BLOCK), opens the next stream
 * live, delivers at once, and logs no outage.
 */
static void test_stream_after_redis_closed_the_idle_connections(void **state)
{
	(void)state;
	struct server s;
	events_start(&s, "lifetime_s = 60\nkeepalive_s = 30\nmax_streams = 0\n", NULL);
	close(live_request(&s, "channel=chat"));
	usleep(IDLE_XREAD_MS * 1000);
	redisReply *r = tu_redis_command(&redis, "CLIENT KILL TYPE normal");
	assert_true(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 2);
	freeReplyObject(r);
	int fd = live_request(&s, "channel=chat");
	arrives_at_once(fd, "chat", "after the idle spell", "the first message after it");
	close(fd);
	server_stop(&s);
	if (count_lines(s.db, "unavailable") != 0)
		fail_msg("an outage was logged: see %s", s.db);
}

/* ---- persistence ------------------------------------------------------------ */

static void test_acknowledged_posts_survive_kill_9_with_appendonly(void **state)
{
	(void)state;
	struct strbuf cgi = STRBUF_INIT, out = STRBUF_INIT;
	for (int i = 0; i < 20; i++)
		assert_int_equal(post("kept", &cgi), 201);
	tu_redis_stop(&redis, SIGKILL);
	tu_redis_run(&redis);
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	assert_int_equal(tu_sh_number("'%s/ssectl' stats | grep -c '^chat  *20 '", bins), 1);
	assert_int_equal(post("next", &cgi), 201);
	assert_non_null(strstr(sb_str(&cgi), "{\"id\":21}"));
	sb_free(&cgi);
	sb_free(&out);
}

/* ---- what others wrote into Redis ------------------------------------------- */

/*
 * An entry written straight into a channel's stream by someone else, with
 * a line break in its event name: it must not become SSE fields in any
 * stream.  Like any entry that is not ours (rstore_entry), it makes the
 * read fail with a clear log line, so the stream answers the database
 * problem (a transient one: retry:) and nothing of the entry.
 */
static void test_a_foreign_entry_cannot_inject_fields(void **state)
{
	(void)state;
	publish("chat", "before");
	redisReply *r = tu_redis_command(&redis, "INCR sse:{chat}:seq");
	assert_non_null(r);
	freeReplyObject(r);
	r = tu_redis_command(&redis, "XADD sse:{chat}:msgs 2-0 e x\nretry:1\nid:999 d evil");
	assert_true(r != NULL && r->type == REDIS_REPLY_STRING);
	freeReplyObject(r);
	publish("chat", "after");
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	char bin[PATH_MAX], db[2 * PATH_MAX + 128];
	snprintf(bin, sizeof(bin), "%s/cgi-bin/events.fcgi", bins);
	snprintf(db, sizeof(db), "SSE_DATABASE=%s", redis.url);
	char *argv[] = { bin, NULL };
	char *env[] = { "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
	                "QUERY_STRING=channel=chat", "SSE_LIFETIME_S=0", db, NULL };
	struct tu_proc p;
	tu_spawn(&p, argv, env, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, NULL, WAIT_MS));   /* one-shot: to its end */
	tu_wait(&p, WAIT_MS);
	const char *text = sb_str(&out);
	if (strstr(text, "retry: 2000\n") == NULL || strstr(text, ": database error\n") == NULL)
		fail_msg("not the database problem: [%s]", text);
	if (strstr(text, "evil") != NULL || strstr(text, "\nretry:1") != NULL ||
	    strstr(text, "id:999") != NULL)
		fail_msg("the foreign entry reached the stream: [%s]", text);
	sb_free(&out);
}

/* ---- the metrics ------------------------------------------------------------ */

/*
 * Counted on this engine too, once per stored message (feed.c), in this
 * machine's metrics file of the URL (sidecar.h): two ssectl publishes and
 * one post; a refused post counted by its reason.
 */
static void test_metrics_count_on_redis(void **state)
{
	(void)state;
	struct strbuf cgi = STRBUF_INIT;
	publish("chat", "one");
	publish("chat", "two");
	assert_int_equal(post("three", &cgi), 201);
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	assert_int_equal(tu_sh_number("'%s/ssectl' stats --prometheus"
	                              " | grep -x 'sse_messages_stored_total 3' | wc -l",
	                              bins), 1);
	assert_int_equal(tu_sh_number("'%s/ssectl' stats --prometheus"
	                              " | grep -x 'sse_store_commit_seconds_count 3' | wc -l",
	                              bins), 1);
	char path[PATH_MAX];
	assert_true(sidecar_path(path, sizeof(path), redis.url, SIDECAR_METRICS));
	assert_int_equal(strncmp(path, SIDECAR_REDIS_DIR "/sse-cgi-", 13), 0);
	assert_int_equal(access(path, R_OK), 0);
	sb_free(&cgi);
}

/* ---- the password ----------------------------------------------------------- */

static void test_password_file(void **state)
{
	(void)state;
	const char *secret = "s3cret-for-the-test";
	char cmd[256], file[PATH_MAX + 16], conf[PATH_MAX + 64], log[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "CONFIG SET requirepass %s", secret);
	redisReply *r = tu_redis_command(&redis, cmd);
	assert_non_null(r);
	freeReplyObject(r);
	snprintf(file, sizeof(file), "%s/password", redis.dir);
	snprintf(conf, sizeof(conf), "%s/pw.conf", redis.dir);
	snprintf(log, sizeof(log), "%s/pw.log", redis.dir);
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	struct strbuf text = STRBUF_INIT;
	sb_printf(&text, "database = %s\nredis_password_file = %s\n", redis.url, file);
	tu_write_file(conf, sb_str(&text));
	/* No file yet, then one others may read: refused, and said why. */
	assert_int_equal(tu_sh("SSE_DATABASE= '%s/ssectl' --config '%s' publish x 2>'%s'",
	                       bins, conf, log) != 0, true);
	tu_write_file(file, "wrong\n");
	chmod(file, 0600);
	assert_true(tu_sh("'%s/ssectl' --config '%s' publish x 2>>'%s'", bins, conf, log) != 0);
	tu_write_file(file, secret);
	chmod(file, 0644);
	assert_true(tu_sh("'%s/ssectl' --config '%s' publish x 2>>'%s'", bins, conf, log) != 0);
	assert_int_equal(count_lines(log, "chmod 600"), 1);
	chmod(file, 0600);
	assert_int_equal(tu_sh("'%s/ssectl' --config '%s' publish x >/dev/null 2>>'%s'",
	                       bins, conf, log), 0);
	assert_int_equal(count_lines(log, secret), 0);
	assert_true(count_lines(log, "WRONGPASS") >= 1);
	/* A password in a URL given on the command line: refused as the
	 * configuration's would be, and never repeated. */
	assert_true(tu_sh("'%s/ssectl' --db 'redis://:%s@127.0.0.1:6379' stats 2>>'%s'",
	                  bins, secret, log) != 0);   /* refused before any connect */
	assert_int_equal(count_lines(log, "db: database: a user or password"), 1);
	assert_int_equal(count_lines(log, secret), 0);
	sb_free(&text);
}

/* ---- the run ---------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	tu_redis_start(&redis, true);
	setenv("SSE_DATABASE", redis.url, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_redis_finish(&redis);
	return 0;
}

static int teardown_failover(void **state)
{
	struct server *hubs[] = { &fo_a, &fo_b };
	for (size_t i = 0; i < 2; i++) {
		if (hubs[i]->pid > 0)
			hub_kill(hubs[i]);
		hubs[i]->pid = 0;
	}
	if (fo_poster > 0) {
		kill(fo_poster, SIGKILL);
		waitpid(fo_poster, NULL, 0);
		fo_poster = 0;
	}
	return teardown(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* `test_redis [PATTERN]`: only the cases whose name matches PATTERN
 * (cmocka's filter: * and ? wildcards), e.g. test_redis '*kill_9_of_a_hub*'. */
int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	const struct CMUnitTest tests[] = {
		T(test_hub_follows_a_new_channel_at_once),
		T(test_hub_many_new_channels_in_one_burst),
		T(test_process_follows_its_next_channel_at_once),
		T(test_two_fronts_once_each_in_order),
		cmocka_unit_test_setup_teardown(test_kill_9_of_a_hub_fails_over_by_last_event_id,
		                                setup, teardown_failover),
		T(test_redis_stopped_then_back),
		T(test_redis_slow),
		T(test_cgi_stream_ends_when_redis_goes),
		T(test_post_after_redis_closed_the_idle_connection),
		T(test_stream_after_redis_closed_the_idle_connections),
		T(test_acknowledged_posts_survive_kill_9_with_appendonly),
		T(test_metrics_count_on_redis),
		T(test_a_foreign_entry_cannot_inject_fields),
		T(test_password_file),
	};
	const struct CMUnitTest slow[] = {
		T(test_hub_after_an_idle_spell),
		T(test_process_after_an_idle_spell),
	};
	const char *want_slow = getenv("SSE_TEST_SLOW");
	if (want_slow != NULL && strcmp(want_slow, "1") == 0)
		return cmocka_run_group_tests_name("the Redis engine: after idle spells",
		                                   slow, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
