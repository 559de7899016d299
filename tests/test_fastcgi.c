/*
 * The same binaries as FastCGI (tests/fcgiclient.h starts them and speaks
 * the protocol).  One process serves request after request, notices an
 * aborted stream, and stops on SIGTERM.
 */
#include "fcgiclient.h"

static void test_post_requests_share_one_process(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "post.fcgi", "rate_limit = 0\n");
	for (int i = 1; i <= 3; i++) {
		int fd = send_request(&s, "POST", NULL, "application/x-www-form-urlencoded",
		                      "user=a&text=hello");
		struct strbuf out = STRBUF_INIT;
		assert_true(read_answer(fd, &out, NULL, 5000));
		char want[32];
		snprintf(want, sizeof(want), "{\"id\":%d}\n", i);
		assert_non_null(strstr(sb_str(&out), "Status: 201 Created"));
		assert_non_null(strstr(sb_str(&out), want));
		close(fd);
		sb_free(&out);
	}
	int fd = send_request(&s, "GET", NULL, NULL, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, NULL, 5000));
	assert_non_null(strstr(sb_str(&out), "Status: 405"));
	close(fd);
	sb_free(&out);
	assert_int_equal(kill(s.pid, 0), 0);   /* still the same process */
	server_stop(&s);
}

static void test_stream_live_abort_and_next_request(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "events.fcgi", "lifetime_s = 60\nkeepalive_s = 1\npoll_interval_ms = 20\n");
	int fd = send_request(&s, "GET", "channel=chat", NULL, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, ": live\n", 5000));
	assert_non_null(strstr(sb_str(&out), "Content-Type: text/event-stream"));
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "'%s' --db '%s' publish 'over fastcgi' >/dev/null",
	         s.ssectl, s.db);
	assert_int_equal(system(cmd), 0);
	assert_true(read_answer(fd, &out, "data: over fastcgi\n\n", 5000));
	/* The server goes away mid-stream (an aborted client). */
	close(fd);
	sb_reset(&out);
	long long t0 = tu_now_ms();
	fd = send_request(&s, "HEAD", "channel=chat", NULL, NULL);
	assert_true(read_answer(fd, &out, NULL, 5000));
	assert_true(tu_now_ms() - t0 < 2500);
	assert_non_null(strstr(sb_str(&out), "Status: 200 OK"));
	close(fd);
	sb_free(&out);
	server_stop(&s);
}

static void test_sigterm_mid_stream(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, "events.fcgi", "lifetime_s = 60\nkeepalive_s = 5\n");
	int fd = send_request(&s, "GET", "", NULL, NULL);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, ": live\n", 5000));
	kill(s.pid, SIGUSR1);    /* mod_fcgid's graceful stop */
	assert_true(read_answer(fd, &out, NULL, 3000));   /* END_REQUEST comes */
	close(fd);
	sb_free(&out);
	int status;
	long long deadline = tu_now_ms() + 3000;
	while (waitpid(s.pid, &status, WNOHANG) != s.pid && tu_now_ms() < deadline)
		usleep(10000);
	assert_true(WIFEXITED(status));
	tu_rmtree(s.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_requests_share_one_process),
		cmocka_unit_test(test_stream_live_abort_and_next_request),
		cmocka_unit_test(test_sigterm_mid_stream),
	};
	return cmocka_run_group_tests_name("FastCGI end to end", tests, NULL, NULL);
}
