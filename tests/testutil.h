/*
 * testutil: what the tests share: cmocka's headers in the order it needs,
 * temporary folders, files, and running a built binary as a CGI process with
 * a chosen environment and body, under a time limit.
 *
 * Header-only (static functions) so each test is one self-contained program.
 */
#ifndef SSE_TESTUTIL_H
#define SSE_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "strbuf.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * In a child that will exec a server: it dies with the test binary.  A
 * failed assertion leaves the test without its cleanup, and a server left
 * running would hold the output pipe of `make test` open for ever.
 */
static inline void tu_die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
}

/* Opens the database at path; the test fails with the reason when it cannot. */
static inline struct store *tu_store_open(const char *path, bool create)
{
	struct store *st;
	char error[STORE_ERROR_MAX];
	if (store_open(path, create, &st, error, sizeof(error)) != STORE_OK)
		fail_msg("store_open %s: %s", path, error);
	return st;
}

static inline long long tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh folder under $TMPDIR or /tmp; removed by tu_rmtree. */
static inline void tu_tempdir(char *out, size_t len)
{
	const char *base = getenv("TMPDIR");
	snprintf(out, len, "%s/sse-test-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(out));
}

static inline void tu_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static inline void tu_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static inline void tu_copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/*
 * A site as a host has it: dir/cgi-bin/{events,post}.fcgi copied from
 * $SSE_TEST_BIN_DIR (so the config beside them is theirs), dir/ssectl,
 * dir/data/ for the database, and dir/cgi-bin/sse-cgi.conf with
 * `database = ../data/sse.db` plus the extra lines given.
 */
static inline void tu_make_site(const char *dir, const char *extra_conf)
{
	const char *bins = getenv("SSE_TEST_BIN_DIR");
	if (bins == NULL)
		fail_msg("SSE_TEST_BIN_DIR is not set: run the tests with make test");
	char from[PATH_MAX + 64], to[PATH_MAX + 64];
	snprintf(to, sizeof(to), "%s/cgi-bin", dir);
	assert_int_equal(mkdir(to, 0755), 0);
	snprintf(to, sizeof(to), "%s/data", dir);
	assert_int_equal(mkdir(to, 0755), 0);
	const char *names[] = { "cgi-bin/events.fcgi", "cgi-bin/post.fcgi", "ssectl" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		snprintf(from, sizeof(from), "%s/%s", bins, names[i]);
		snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
		tu_copy_file(from, to);
	}
	struct strbuf conf = STRBUF_INIT;
	sb_printf(&conf, "# written by the tests\ndatabase = ../data/sse.db\n%s",
	          extra_conf ? extra_conf : "");
	snprintf(to, sizeof(to), "%s/cgi-bin/sse-cgi.conf", dir);
	tu_write_file(to, sb_str(&conf));
	sb_free(&conf);
}

struct tu_proc {
	pid_t pid;
	int out_fd;     /* the child's stdout */
};

/*
 * Starts argv[0] with exactly the environment env (NULL-terminated
 * "NAME=value" strings, as a CGI server would give), body on stdin.
 */
static inline void tu_spawn(struct tu_proc *p, char *const argv[],
                            char *const env[], const char *body)
{
	int in[2], out[2];
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->out_fd = out[0];
	if (body != NULL && *body) {
		size_t len = strlen(body);
		assert_int_equal(write(in[1], body, len), (ssize_t)len);
	}
	close(in[1]);
}

/*
 * Reads the child's stdout into out until EOF, until `until` appears (when
 * not NULL), or until timeout_ms; true when it stopped for the first two.
 */
static inline bool tu_read(struct tu_proc *p, struct strbuf *out,
                           const char *until, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	for (;;) {
		if (until != NULL && strstr(sb_str(out), until) != NULL)
			return true;
		long long left = deadline - tu_now_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(p->out_fd, buf, sizeof(buf));
		if (n <= 0)
			return until == NULL;
		sb_append(out, buf, (size_t)n);
	}
}

/*
 * Waits for the child (killing it after timeout_ms); its wait status, or -1
 * (neither WIFEXITED nor WIFSIGNALED) when it could not be reaped.  Not 0:
 * that would read as "exited 0".
 */
static inline int tu_wait(struct tu_proc *p, int timeout_ms)
{
	long long deadline = tu_now_ms() + timeout_ms;
	int status = -1;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid)
			break;
		if (r < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (tu_now_ms() > deadline) {
			kill(p->pid, SIGKILL);
			while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
				;
			if (r != p->pid)
				status = -1;
			break;
		}
		usleep(5000);
	}
	close(p->out_fd);
	return status;
}

/* Runs a CGI request to completion; its whole stdout in out. */
static inline int tu_run_cgi(const char *bin, char *const env[],
                             const char *body, struct strbuf *out,
                             int timeout_ms)
{
	char *argv[] = { (char *)bin, NULL };
	struct tu_proc p;
	tu_spawn(&p, argv, env, body);
	tu_read(&p, out, NULL, timeout_ms);
	return tu_wait(&p, 1000);
}

/* Runs a shell command built like printf; its exit status (-1: no exit). */
static inline int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int tu_sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A shell command built like vprintf into cmd, started for reading. */
static inline FILE *tu_popenv(char *cmd, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(cmd, len, fmt, ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	return p;
}

/*
 * The number a shell command prints (built like printf); fails the test
 * when it prints none.
 */
static inline long long tu_sh_number(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline long long tu_sh_number(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	FILE *p = tu_popenv(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	long long n = -1;
	int got = fscanf(p, "%lld", &n);
	pclose(p);
	if (got != 1)
		fail_msg("no number from: %s", cmd);
	return n;
}

/*
 * The first line a shell command prints (built like printf), without its
 * newline, into out; fails the test, with the command, when the command
 * fails or prints nothing.
 */
static inline void tu_sh_line(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void tu_sh_line(char *out, size_t len, const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	FILE *p = tu_popenv(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	if (fgets(out, (int)len, p) == NULL)
		out[0] = '\0';
	char rest[256];
	while (fgets(rest, sizeof(rest), p) != NULL)
		;   /* drained, so the command never dies of SIGPIPE */
	int rc = pclose(p);
	out[strcspn(out, "\n")] = '\0';
	if (rc != 0 || out[0] == '\0')
		fail_msg("no line from (exit status %d): %s", rc, cmd);
}

/* A process's /proc file (at most len - 1 bytes, NUL-terminated); false if
 * it is gone or empty (a zombie's cmdline is empty). */
static inline bool tu_proc_file(const char *pid, const char *file, char *buf,
                                size_t len)
{
	char path[300];
	snprintf(path, sizeof(path), "/proc/%s/%s", pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, len - 1);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	return r > 0;
}

/* Is this /proc/PID/stat line a zombie's (state Z after the command)? */
static inline bool tu_stat_is_zombie(const char *stat)
{
	const char *paren = strrchr(stat, ')');
	return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

/* Running, not a zombie: an orphan that has ended counts as gone even if
 * whoever adopted it has not reaped it yet. */
static inline bool tu_pid_alive(pid_t pid)
{
	char name[32], stat[512];
	snprintf(name, sizeof(name), "%d", (int)pid);
	return pid > 0 && tu_proc_file(name, "stat", stat, sizeof(stat)) &&
	       !tu_stat_is_zombie(stat);
}

/*
 * The processes a test site runs as SITE/htdocs/cgi-bin/NAME: returns how
 * many are alive and puts up to max of their pids into out (may be NULL).
 * Zombies have no command line, so *zombies (unless NULL) counts the
 * zombies whose command name is NAME, of any site.
 */
static inline int tu_site_processes(const char *site, const char *name,
                                    pid_t *out, int max, int *zombies)
{
	char needle[PATH_MAX + 64], comm[64];
	snprintf(needle, sizeof(needle), "%s/htdocs/cgi-bin/%s", site, name);
	snprintf(comm, sizeof(comm), "(%s)", name);
	DIR *d = opendir("/proc");
	assert_non_null(d);
	int live = 0;
	if (zombies != NULL)
		*zombies = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char stat[512], cmdline[PATH_MAX + 64];
		if (!tu_proc_file(e->d_name, "stat", stat, sizeof(stat)))
			continue;
		if (tu_stat_is_zombie(stat)) {
			if (zombies != NULL && strstr(stat, comm) != NULL)
				(*zombies)++;
			continue;
		}
		if (!tu_proc_file(e->d_name, "cmdline", cmdline, sizeof(cmdline)) ||
		    strcmp(cmdline, needle) != 0)
			continue;
		if (out != NULL && live < max)
			out[live] = (pid_t)atoi(e->d_name);
		live++;
	}
	closedir(d);
	return live;
}

/* Sums the per-channel message counts of `ssectl stats` output. */
#define TU_STATS_ROWS " 2>/dev/null | awk 'NR>5 {n += $2} END {print n+0}'"

/* The body after the CGI headers' blank line ("" if none). */
static inline const char *tu_body(const struct strbuf *out)
{
	const char *s = strstr(sb_str(out), "\r\n\r\n");
	return s != NULL ? s + 4 : "";
}

/*
 * The text without the first frame's padding line (": " and spaces only),
 * so tests can compare frames exactly; the padding itself is tested apart.
 * Returns a buffer that the next call reuses.
 */
static inline const char *tu_unpad(const char *text)
{
	static struct strbuf out = STRBUF_INIT;
	sb_reset(&out);
	const char *line = text;
	bool removed = false;
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool pad = !removed && len >= 4 && line[0] == ':' && line[1] == ' ' &&
		           strspn(line + 1, " ") == len - 2 && line[len - 1] == '\n';
		if (pad)
			removed = true;
		else
			sb_append(&out, line, len);
		line += len;
	}
	return sb_str(&out);
}

#endif
