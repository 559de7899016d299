/*
 * Portability: the programs where a Linux-only call is refused or missing.
 *
 * statx: kernels before 4.11 have none (ENOSYS), and the seccomp profiles
 * of some container runtimes refused it with EPERM.  Either way there is no
 * birth time, so a database has no identity and no ring (ring.h), but it is
 * still the same file: a stream must not end at its first quiet look saying
 * the database was replaced, and a FastCGI process must not reopen it for
 * every request.  The refusal is real: a child installs a seccomp filter
 * and runs this program again with REFUSED_FLAG, and that run (and every
 * binary it starts: filters are inherited across fork and exec) executes
 * the scenarios.  glibc emulates statx when the kernel answers ENOSYS
 * (without a birth time); EPERM it passes on.
 *
 * The build without inotify, statx and getrandom (make nofeature-test)
 * runs this program too; its first tests check that a build goes without
 * what platform.h says it goes without.
 */
#include "fcgiclient.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "platform.h"
#include "store.h"
#include "watch.h"

#define REFUSED_FLAG "--statx-refused"
#define SCENARIOS_TIMEOUT_MS 60000   /* the whole run under one filter */
#define QUIET_MS 2500                /* a stream's quiet looks: two or more */
#define DELIVERY_MS 3000
#define FASTCGI_REQUESTS 3           /* after the first, which opens */
#define NO_FILTER_EXIT 3             /* the child could not install it */

/* The architecture this program's system calls are numbered for. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define SECCOMP_ARCH AUDIT_ARCH_I386
#else
#define SECCOMP_ARCH 0
#endif

struct refusal {
	const char *name;
	int err;
	const char *where;
};

static const struct refusal refusals[] = {
	{ "ENOSYS", ENOSYS, "a kernel older than 4.11" },
	{ "EPERM", EPERM, "a container's seccomp profile" },
};

static const struct refusal *refused;   /* in a REFUSED_FLAG run */

/*
 * Makes statx fail with err in this process and all it starts; NULL, or
 * why it could not.  Other architectures' calls (a 32-bit binary on a
 * 64-bit kernel) are let through: their numbers differ.
 */
static const char *refuse_statx(int err)
{
	if (SECCOMP_ARCH == 0)
		return "no seccomp architecture known for this machine";
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_statx, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
		         SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)ARRAY_LEN(code), code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return "prctl(PR_SET_NO_NEW_PRIVS) failed";
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return "prctl(PR_SET_SECCOMP) failed (a kernel without"
		       " CONFIG_SECCOMP_FILTER?)";
	return NULL;
}

/* ---- what a build without inotify or statx does (platform.h) ------------- */

static void test_watch_follows_the_build(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	struct watch w;
	watch_open(&w, db);
	print_message("built %s inotify\n", SSE_HAVE_INOTIFY ? "with" : "without");
	if (SSE_HAVE_INOTIFY)
		assert_true(w.fd >= 0);
	else
		assert_int_equal(w.fd, -1);   /* the stream polls */
	watch_drain(&w);
	watch_close(&w);
	tu_rmtree(dir);
}

static void test_identity_follows_the_build(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	struct store *st = tu_store_open(db, true);
	print_message("built %s statx\n", SSE_HAVE_STATX ? "with" : "without");
	if (SSE_HAVE_STATX)
		assert_true(store_identity(st) != 0);   /* this filesystem keeps birth times */
	else
		assert_true(store_identity(st) == 0);   /* no ring: SQLite only */
	assert_true(store_same_file(st));
	store_close(st);
	tu_rmtree(dir);
}

/* The calls platform.h decides on, by the names the C library exports. */
struct platform_call {
	const char *symbol;
	bool built;
};

static const struct platform_call platform_calls[] = {
	{ "inotify_init1", SSE_HAVE_INOTIFY },
	{ "inotify_add_watch", SSE_HAVE_INOTIFY },
	{ "statx", SSE_HAVE_STATX },
	{ "getrandom", SSE_HAVE_GETRANDOM },
};

/* A build without a call has no call to it anywhere, only the fallback. */
static void test_binaries_follow_the_build(void **state)
{
	(void)state;
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	if (bins == NULL)
		fail_msg("SSE_TEST_BIN_DIR is not set: run the tests with make");
	if (tu_sh("command -v nm >/dev/null") != 0)
		fail_msg("nm (binutils) is missing: this test lists what the"
		         " binaries import");
	const char *names[] = { "cgi-bin/events.fcgi", "ssectl" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		for (size_t k = 0; k < ARRAY_LEN(platform_calls); k++) {
			const struct platform_call *c = &platform_calls[k];
			long long n = tu_sh_number("nm -D --undefined-only '%s/%s' |"
			                           " awk '{print $2}' | grep -c -E '^%s(@|$)'",
			                           bins, names[i], c->symbol);
			if ((n > 0) != c->built)
				fail_msg("%s %s %s, but this build goes %s it", names[i],
				         n > 0 ? "calls" : "does not call", c->symbol,
				         c->built ? "with" : "without");
		}
	}
}

/* ---- the scenarios, run with statx refused -------------------------------- */

static void test_statx_is_refused(void **state)
{
	(void)state;
	struct statx sx;
	errno = 0;
	assert_int_equal(syscall(SYS_statx, AT_FDCWD, "/", 0, STATX_BTIME, &sx), -1);
	assert_int_equal(errno, refused->err);
	print_message("statx refused with %s (%s)\n", refused->name, refused->where);
}

static void test_store_knows_its_file(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16], moved[PATH_MAX + 32];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	struct store *st = tu_store_open(db, true);
	assert_true(store_same_file(st));
	assert_true(store_identity(st) == 0);   /* no birth time: no ring */
	/* Still told apart from a file that replaced it. */
	snprintf(moved, sizeof(moved), "%s.old", db);
	assert_int_equal(rename(db, moved), 0);
	struct store *fresh = tu_store_open(db, true);
	assert_true(store_same_file(fresh));
	assert_false(store_same_file(st));
	store_close(fresh);
	store_close(st);
	tu_rmtree(dir);
}

/* Runs ssectl of the site in dir with the arguments given. */
static void site_ssectl(const char *dir, const char *args)
{
	assert_int_equal(tu_sh("'%s/ssectl' --config '%s/cgi-bin/sse-cgi.conf' %s"
	                       " >/dev/null", dir, dir, args), 0);
}

/* Starts events.fcgi of the site in dir as a CGI GET of ?channel=chat. */
static void start_stream(const char *dir, struct tu_proc *p)
{
	char bin[PATH_MAX + 32];
	snprintf(bin, sizeof(bin), "%s/cgi-bin/events.fcgi", dir);
	char *argv[] = { bin, NULL };
	char vars[8][1024];
	char *env[ARRAY_LEN(vars) + 1];
	const char *fixed[] = { "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET",
	                        "QUERY_STRING=channel=chat", "HTTP_HOST=localhost",
	                        "REMOTE_ADDR=127.0.0.1" };
	const char *pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		snprintf(vars[n++], sizeof(vars[0]), "%s", fixed[i]);
	for (size_t i = 0; i < ARRAY_LEN(pass); i++)
		if (getenv(pass[i]) != NULL)
			snprintf(vars[n++], sizeof(vars[0]), "%s=%s", pass[i],
			         getenv(pass[i]));
	for (size_t i = 0; i < n; i++)
		env[i] = vars[i];
	env[n] = NULL;
	tu_spawn(p, argv, env, NULL);
}

static int count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *k = text; (k = strstr(k, needle)) != NULL; k++)
		n++;
	return n;
}

/*
 * A stream looks at the database when nothing woke it (here every
 * keepalive_s with inotify, every poll_interval_ms without) and asks
 * whether the file is still the one it opened; without statx that answer
 * used to be "no", at every look.
 */
static void test_stream_outlives_quiet_looks(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	tu_tempdir(dir, sizeof(dir));
	tu_make_site(dir, "lifetime_s = 60\nkeepalive_s = 1\npoll_interval_ms = 20\n");
	site_ssectl(dir, "publish m1");
	struct tu_proc p;
	start_stream(dir, &p);
	struct strbuf out = STRBUF_INIT;
	assert_true(tu_read(&p, &out, "id: 1\ndata: m1\n\n", DELIVERY_MS));
	if (tu_read(&p, &out, "database was replaced", QUIET_MS)) {
		tu_wait(&p, 3000);
		fail_msg("the stream ended at a quiet look: [%s]",
		         tu_unpad(tu_body(&out)));
	}
	assert_true(count(sb_str(&out), ": keepalive\n") >= 2);   /* it looked */
	site_ssectl(dir, "publish m2");
	assert_true(tu_read(&p, &out, "id: 2\ndata: m2\n\n", DELIVERY_MS));
	kill(p.pid, SIGTERM);
	int rc = tu_wait(&p, 3000);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
	sb_free(&out);
	tu_rmtree(dir);
}

struct fastcgi_case {
	const char *bin;
	const char *conf;
	const char *method, *query, *type, *body;
	const char *answer;     /* in every answer */
};

static const struct fastcgi_case fastcgi_cases[] = {
	{ "post.fcgi", "rate_limit = 0\n", "POST", NULL,
	  "application/x-www-form-urlencoded", "user=a&text=hi", "Status: 201" },
	{ "events.fcgi", "lifetime_s = 0\n", "GET", "channel=chat", NULL, NULL,
	  ": one-shot" },
};

/* One request, answered in full with the expected answer. */
static void fastcgi_request(const struct server *s, const struct fastcgi_case *c)
{
	int fd = send_request(s, c->method, c->query, c->type, c->body);
	struct strbuf out = STRBUF_INIT;
	assert_true(read_answer(fd, &out, NULL, 5000));
	if (strstr(sb_str(&out), c->answer) == NULL)
		fail_msg("%s: [%s] lacks [%s]", c->bin, sb_str(&out), c->answer);
	close(fd);
	sb_free(&out);
}

/* Opens of the database file since the watch began, read without waiting. */
static int opens_seen(int watch)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(watch, buf, sizeof(buf));
	int opens = 0;
	for (ssize_t off = 0; off < n;) {
		const struct inotify_event *e = (const void *)(buf + off);
		opens += (e->mask & IN_OPEN) != 0;
		off += (ssize_t)sizeof(*e) + e->len;
	}
	return opens;
}

/* Opens of the database during FASTCGI_REQUESTS requests after the first. */
static int opens_during_requests(const struct fastcgi_case *c)
{
	struct server s;
	server_start(&s, c->bin, c->conf);
	fastcgi_request(&s, c);   /* opens (and creates) the database */
	int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watch < 0)
		fail_msg("inotify_init1: %s (this test watches the opens)",
		         strerror(errno));
	assert_true(inotify_add_watch(watch, s.db, IN_OPEN) >= 0);
	int opens = 0;
	for (int k = 0; k < FASTCGI_REQUESTS; k++) {
		fastcgi_request(&s, c);
		/* Read at once: inotify merges an event into an unread equal one. */
		opens += opens_seen(watch);
	}
	close(watch);
	server_stop(&s);
	return opens;
}

/* A FastCGI process opens the database once, not for each request. */
static void test_fastcgi_keeps_its_connection(void **state)
{
	(void)state;
	int reopened = 0;
	for (size_t i = 0; i < ARRAY_LEN(fastcgi_cases); i++) {
		int opens = opens_during_requests(&fastcgi_cases[i]);
		if (opens != 0)
			print_message("%s opened the database %d times in %d requests\n",
			              fastcgi_cases[i].bin, opens, FASTCGI_REQUESTS);
		reopened += opens != 0;
	}
	assert_int_equal(reopened, 0);
}

static const struct CMUnitTest scenarios[] = {
	cmocka_unit_test(test_statx_is_refused),
	cmocka_unit_test(test_store_knows_its_file),
	cmocka_unit_test(test_stream_outlives_quiet_looks),
	cmocka_unit_test(test_fastcgi_keeps_its_connection),
};

/* The REFUSED_FLAG run: the filter is in place; runs the scenarios. */
static int run_scenarios(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(refusals); i++)
		if (strcmp(refusals[i].name, name) == 0)
			refused = &refusals[i];
	if (refused == NULL) {
		fprintf(stderr, "test_portability: no refusal named %s\n", name);
		return 2;
	}
	char group[64];
	snprintf(group, sizeof(group), "statx refused with %s", name);
	return cmocka_run_group_tests_name(group, scenarios, NULL, NULL);
}

/* The child's output, each line indented (so no summary of it is ours). */
static const char *indented(const char *text)
{
	static struct strbuf out = STRBUF_INIT;
	sb_reset(&out);
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		sb_puts(&out, "    | ");
		sb_append(&out, line, len);
		line += len;
	}
	return sb_str(&out);
}

/*
 * Runs the scenarios in a child of this program under the filter.  The
 * child leads a process group and has a folder of its own for TMPDIR, so
 * that whatever a failed scenario left behind (a FastCGI server, a stream,
 * a site) ends with it.
 */
static void test_with_statx_refused(void **state)
{
	const struct refusal *r = *state;
	char tmp[PATH_MAX];
	tu_tempdir(tmp, sizeof(tmp));
	int out[2];
	assert_int_equal(pipe(out), 0);
	struct tu_proc p = { .pid = fork(), .out_fd = out[0] };
	assert_true(p.pid >= 0);
	if (p.pid == 0) {
		setpgid(0, 0);
		setenv("TMPDIR", tmp, 1);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(out[0]);
		close(out[1]);
		const char *why = refuse_statx(r->err);
		if (why != NULL) {
			fprintf(stderr, "cannot install the seccomp filter: %s: %s\n",
			        why, strerror(errno));
			_exit(NO_FILTER_EXIT);
		}
		execl("/proc/self/exe", "test_portability", REFUSED_FLAG, r->name,
		      (char *)NULL);
		fprintf(stderr, "exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(out[1]);
	struct strbuf text = STRBUF_INIT;
	tu_read(&p, &text, NULL, SCENARIOS_TIMEOUT_MS);
	int rc = tu_wait(&p, 1000);
	kill(-p.pid, SIGKILL);
	tu_rmtree(tmp);
	char passed[64];
	snprintf(passed, sizeof(passed), "[  PASSED  ] %zu test(s).",
	         ARRAY_LEN(scenarios));
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0 || strstr(sb_str(&text), passed) == NULL) {
		/* Too long for fail_msg, which cuts its message short. */
		fputs(indented(sb_str(&text)), stdout);
		fflush(stdout);
		fail_msg("with statx refused (%s): the scenarios failed (above),"
		         " wait status %#x", r->name, (unsigned)rc);
	}
	print_message("with statx refused (%s): %zu scenarios passed\n", r->name,
	              ARRAY_LEN(scenarios));
	sb_free(&text);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], REFUSED_FLAG) == 0)
		return run_scenarios(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_follows_the_build),
		cmocka_unit_test(test_identity_follows_the_build),
		cmocka_unit_test(test_binaries_follow_the_build),
		{ "statx refused with ENOSYS", test_with_statx_refused, NULL, NULL,
		  (void *)&refusals[0] },
		{ "statx refused with EPERM", test_with_statx_refused, NULL, NULL,
		  (void *)&refusals[1] },
	};
	return cmocka_run_group_tests_name("portability", tests, NULL, NULL);
}
