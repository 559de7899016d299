/*
 * postbench: post.fcgi as plain CGI, per request, without a web server.
 *
 *   postbench --bin cgi-bin/post.fcgi [-n COUNT] [--timeout S] [--json FILE]
 *             [--keep DIR]
 *
 * Copies the binary into a fresh folder under /tmp with an sse-cgi.conf
 * beside it (database = bench.db, rate_limit = 0), as a host would hold it,
 * then COUNT times: fork, exec it with a CGI environment (REQUEST_METHOD=POST,
 * CONTENT_TYPE=application/json, CONTENT_LENGTH, REMOTE_ADDR, HTTP_HOST, ...)
 * and a JSON body on stdin (a pipe), read its answer from stdout until EOF,
 * and wait for it.  Each request is timed from before fork() to after
 * waitpid() (CLOCK_MONOTONIC): process start, dynamic linking, config,
 * opening SQLite, the insert with its fsync (synchronous=FULL), the answer.
 * Every answer must be "Status: 201".  answer_ms is the time until the first
 * byte of the answer came back (what a web server could already send on);
 * ms runs to the exit (what the process costs, SQLite's close included).  One unmeasured request first creates
 * the database, as the first post on a real site would.
 *
 * For scale it also times the same fork/exec/wait of /bin/true (the floor any
 * CGI pays on the machine it runs on), one after each post, so both see the
 * same load.
 *
 * Output: one JSON object (stdout or --json FILE) with median, p90, p99, max
 * and mean in ms; a summary on stderr.  The folder is removed at the end
 * unless --keep names one to use (and keep) instead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef int64_t ns_t;

static ns_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ns_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ns(const void *a, const void *b)
{
	ns_t x = *(const ns_t *)a, y = *(const ns_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const ns_t *v, size_t n, double q)
{
	if (n == 0)
		return -1;
	size_t k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1e6;
}

static double mean_ms(const ns_t *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)v[i];
	return n ? s / (double)n / 1e6 : -1;
}

static bool copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return false;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return false;
	}
	char buf[65536];
	ssize_t n;
	bool ok = true;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			ok = false;
	if (n < 0)
		ok = false;
	close(in);
	if (close(out) != 0)
		ok = false;
	return ok;
}

/*
 * Runs argv0 once as a CGI with body on stdin; puts its stdout (up to cap)
 * in out.  Returns the wall time in ns, or -1.
 */
static ns_t run_cgi(const char *path, char *const envp[], const char *body,
                    char *out, size_t cap, int *status, ns_t *answer)
{
	int in_pipe[2], out_pipe[2];
	if (pipe2(in_pipe, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out_pipe, O_CLOEXEC) != 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		return -1;
	}
	ns_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in_pipe[0], STDIN_FILENO);
		dup2(out_pipe[1], STDOUT_FILENO);
		char *const argv[] = { (char *)path, NULL };
		execve(path, argv, envp);
		_exit(127);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	size_t blen = strlen(body);
	/* the body fits in the pipe buffer: write it all, then EOF */
	if (blen > 0 && write(in_pipe[1], body, blen) != (ssize_t)blen)
		fprintf(stderr, "postbench: short write to the CGI's stdin\n");
	close(in_pipe[1]);
	size_t got = 0;
	*answer = -1;
	for (;;) {
		char tmp[4096];
		ssize_t n = read(out_pipe[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (*answer < 0)
			*answer = now_ns() - t0;
		size_t take = (size_t)n;
		if (got + take > cap - 1)
			take = cap - 1 - got;
		memcpy(out + got, tmp, take);
		got += take;
	}
	out[got] = '\0';
	close(out_pipe[0]);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	ns_t t1 = now_ns();
	*status = ws;
	return t1 - t0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p))
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const char *bin = NULL, *json = NULL, *keep = NULL;
	int count = 200;
	double timeout_s = 60;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--bin") == 0)
			bin = argv[++i];
		else if (strcmp(argv[i], "-n") == 0)
			count = atoi(argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout_s = atof(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0)
			json = argv[++i];
		else if (strcmp(argv[i], "--keep") == 0)
			keep = argv[++i];
		else
			goto usage;
	}
	if (bin == NULL || count < 1 || count > 100000 || timeout_s <= 0 || timeout_s > 3600)
		goto usage;

	char dir[PATH_MAX - 64];
	if (keep != NULL) {
		if (strlen(keep) >= sizeof(dir)) {
			fprintf(stderr, "postbench: --keep path too long\n");
			return 2;
		}
		snprintf(dir, sizeof(dir), "%s", keep);
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			perror(dir);
			return 1;
		}
	} else {
		snprintf(dir, sizeof(dir), "/tmp/sse-postbench.XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("postbench: mkdtemp");
			return 1;
		}
	}
	char exe[PATH_MAX], conf[PATH_MAX];
	snprintf(exe, sizeof(exe), "%s/post.fcgi", dir);
	snprintf(conf, sizeof(conf), "%s/sse-cgi.conf", dir);
	if (!copy_file(bin, exe, 0755)) {
		fprintf(stderr, "postbench: cannot copy %s to %s\n", bin, exe);
		return 1;
	}
	FILE *cf = fopen(conf, "w");
	if (cf == NULL) {
		perror(conf);
		return 1;
	}
	fprintf(cf, "# written by bench/postbench\ndatabase = bench.db\nrate_limit = 0\n");
	fclose(cf);

	ns_t *t = calloc((size_t)count, sizeof(ns_t));
	ns_t *tt = calloc((size_t)count, sizeof(ns_t));
	ns_t *ta = calloc((size_t)count, sizeof(ns_t));
	if (t == NULL || tt == NULL || ta == NULL)
		return 1;
	char body[256], clen[32], out[4096];
	char *envp[] = {
		"GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
		"REQUEST_METHOD=POST", "CONTENT_TYPE=application/json",
		clen, "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=40000",
		"HTTP_HOST=127.0.0.1", "SERVER_NAME=127.0.0.1", "SERVER_PORT=80",
		"SERVER_SOFTWARE=postbench", "SCRIPT_NAME=/cgi-bin/post.fcgi",
		"REQUEST_URI=/cgi-bin/post.fcgi", "QUERY_STRING=",
		"HTTP_ACCEPT=application/json", "PATH=/usr/bin:/bin", NULL,
	};
	/* the floor: fork + exec + wait of /bin/true, interleaved with the
	 * posts so that both see the same machine */
	char *const tenv[] = { "PATH=/usr/bin:/bin", NULL };
	int n_true = 0;
	int ok = 0, bad = 0, timed = 0;
	char first_bad[200] = "";
	ns_t deadline = now_ns() + (ns_t)(timeout_s * 1e9);
	for (int i = -1; i < count; i++) {
		if (now_ns() > deadline)
			break;
		int blen = snprintf(body, sizeof(body),
		                    "{\"channel\":\"postbench\",\"user\":\"bench\",\"text\":\"cgi seq=%d\"}", i);
		snprintf(clen, sizeof(clen), "CONTENT_LENGTH=%d", blen);
		int ws;
		ns_t ans;
		ns_t d = run_cgi(exe, envp, body, out, sizeof(out), &ws, &ans);
		bool good = d >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
		            strncmp(out, "Status: 201", 11) == 0;
		if (i < 0)
			continue;   /* the unmeasured first request */
		int tws;
		ns_t tans;
		ns_t td = run_cgi("/bin/true", tenv, "", out, sizeof(out), &tws, &tans);
		if (td >= 0)
			tt[n_true++] = td;
		if (good) {
			ta[timed] = ans;
			t[timed++] = d;
			ok++;
		} else {
			bad++;
			if (first_bad[0] == '\0')
				snprintf(first_bad, sizeof(first_bad), "%.150s", out);
		}
	}
	qsort(t, (size_t)timed, sizeof(ns_t), cmp_ns);
	qsort(ta, (size_t)timed, sizeof(ns_t), cmp_ns);
	qsort(tt, (size_t)n_true, sizeof(ns_t), cmp_ns);

	FILE *f = stdout;
	if (json != NULL && strcmp(json, "-") != 0 && (f = fopen(json, "w")) == NULL) {
		perror(json);
		f = stdout;
	}
	fprintf(f, "{\"tool\":\"postbench\",\"mode\":\"plain-cgi\",\"requests\":%d,\"ok\":%d,"
	        "\"failed\":%d,\"ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
	        "\"mean\":%.3f},\"answer_ms\":{\"p50\":%.3f,\"p90\":%.3f},"
	        "\"bin_true_ms\":{\"count\":%d,\"p50\":%.3f,\"p90\":%.3f}",
	        ok + bad, ok, bad, pct_ms(t, (size_t)timed, .5), pct_ms(t, (size_t)timed, .9),
	        pct_ms(t, (size_t)timed, .99), pct_ms(t, (size_t)timed, 1), mean_ms(t, (size_t)timed),
	        pct_ms(ta, (size_t)timed, .5), pct_ms(ta, (size_t)timed, .9),
	        n_true, pct_ms(tt, (size_t)n_true, .5), pct_ms(tt, (size_t)n_true, .9));
	if (bad > 0) {
		fprintf(f, ",\"first_failure\":\"");
		for (const char *c = first_bad; *c; c++)
			fputc(*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 ? '.' : *c, f);
		fprintf(f, "\"");
	}
	fprintf(f, "}\n");
	if (f != stdout)
		fclose(f);
	fprintf(stderr, "postbench: post.fcgi as plain CGI: %d/%d ok; median %.2f ms, p90 %.2f ms, "
	        "max %.2f ms; answer read after %.2f ms (median); fork+exec of /bin/true: "
	        "median %.2f ms\n",
	        ok, ok + bad, pct_ms(t, (size_t)timed, .5), pct_ms(t, (size_t)timed, .9),
	        pct_ms(t, (size_t)timed, 1), pct_ms(ta, (size_t)timed, .5),
	        pct_ms(tt, (size_t)n_true, .5));
	if (keep == NULL)
		remove_dir(dir);
	free(t);
	free(tt);
	free(ta);
	return bad == 0 && ok == count ? 0 : 1;
usage:
	fprintf(stderr, "usage: postbench --bin PATH/post.fcgi [-n COUNT] [--timeout S] "
	        "[--json FILE] [--keep DIR]\n");
	return 2;
}
