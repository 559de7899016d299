/*
 * The socket of events.fcgi --listen (src/front/listen.h): each form of ADDR,
 * what is refused and why, and the open-file limit.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "listen.h"

struct bad_case {
	const char *addr;
	const char *error_has;
};

static const struct bad_case bad[] = {
	{ "", "expected unix:/path, HOST:PORT or fd:N" },
	{ "127.0.0.1", "expected unix:/path, HOST:PORT or fd:N" },
	{ "127.0.0.1:", "expected" },
	{ "127.0.0.1:0", "expected" },
	{ "127.0.0.1:65536", "expected" },
	{ "127.0.0.1:80x", "expected" },
	{ "localhost:9000", "not a numeric IPv4 or [IPv6] address" },
	{ "::1:9000", "not a numeric" },
	{ "[127.0.0.1]:9000", "not a numeric" },
	{ "unix:", "the path must be" },
	{ "fd:x", "not a descriptor number" },
	{ "fd:-1", "not a descriptor number" },
	{ "fd:0", "not a listening socket" },   /* the test's stdin */
};

static void test_refused_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char err[256] = "";
		int fd = listen_open(bad[i].addr, err, sizeof(err));
		if (fd >= 0)
			fail_msg("'%s' was accepted", bad[i].addr);
		if (strstr(err, bad[i].error_has) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].addr, err,
			         bad[i].error_has);
	}
}

/* A listening, non-blocking socket that a client can reach. */
static void assert_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
	assert_true(on);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static void test_ipv4_loopback(void **state)
{
	(void)state;
	/* A port the kernel picks, then freed, is free for the next bind. */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &sl), 0);
	close(probe);
	char addr[64], err[256] = "";
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	int fd = listen_open(addr, err, sizeof(err));
	if (fd < 0)
		fail_msg("%s: %s", addr, err);
	assert_listening(fd);
	int client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(client);
	close(fd);
}

static void test_unix_path(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 16], addr[PATH_MAX + 32], err[256] = "";
	tu_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	int fd = listen_open(addr, err, sizeof(err));
	if (fd < 0)
		fail_msg("%s: %s", addr, err);
	assert_listening(fd);
	close(fd);   /* the socket file stays: a stale one */
	fd = listen_open(addr, err, sizeof(err));
	if (fd < 0)
		fail_msg("a stale socket was not replaced: %s", err);
	close(fd);
	unlink(path);
	tu_write_file(path, "not a socket");
	assert_int_equal(listen_open(addr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exists and is not a socket"));
	tu_rmtree(dir);
}

static void test_inherited(void **state)
{
	(void)state;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	char dir[PATH_MAX], addr[64], err[256] = "";
	tu_tempdir(dir, sizeof(dir));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/i.sock", dir);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(addr, sizeof(addr), "fd:%d", s);
	assert_int_equal(listen_open(addr, err, sizeof(err)), -1);  /* not yet */
	assert_non_null(strstr(err, "not a listening socket"));
	assert_int_equal(listen(s, 8), 0);
	assert_int_equal(listen_open(addr, err, sizeof(err)), s);
	assert_listening(s);
	close(s);
	tu_rmtree(dir);
}

/* The soft limit rises to the hard one; the old soft one is reported. */
static void test_nofile_raised(void **state)
{
	(void)state;
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	struct rlimit low = { rl.rlim_max < 64 ? rl.rlim_max : 64, rl.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	long before, now = listen_raise_nofile(&before);
	assert_int_equal(before, (long)low.rlim_cur);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(now, (long)rl.rlim_cur);
	assert_true(rl.rlim_cur == rl.rlim_max);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_addresses),
		cmocka_unit_test(test_ipv4_loopback),
		cmocka_unit_test(test_unix_path),
		cmocka_unit_test(test_inherited),
		cmocka_unit_test(test_nofile_raised),
	};
	return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
