/*
 * sampler: memory and CPU of a server's process tree.
 *
 *   sampler mem  --pid PID | --pidfile FILE   [--json FILE]
 *   (--pid and --pidfile may be repeated, up to 16 roots: the trees are
 *   summed, e.g. nginx + a spawn-fcgi'd FastCGI server + post.fcgi)
 *   sampler cpu  --pid PID | --pidfile FILE  --interval SECONDS  [--json FILE]
 *   sampler count --pid PID | --pidfile FILE  [--comm NAME]
 *
 * The tree is PID and all its descendants, found by following the ppid field
 * of every /proc/N/stat.  (Apache's master, its worker children, the cgid
 * daemon and the CGI processes it forks, the fcgid process manager and the
 * FastCGI processes it spawns are all descendants of the master.)
 *
 * mem: sums Rss, Pss, Private_Clean + Private_Dirty (= private) and Swap from
 * /proc/N/smaps_rollup over the tree, in KiB, in total and per command name.
 * Pss divides each shared page among the processes mapping it, so the sum
 * is the tree's fair share of memory; private is what the tree alone holds
 * (pages no other process maps).
 *
 * cpu: utime + stime (clock ticks) of the tree over the interval.  Processes
 * are matched by (pid, start time); one that started during the interval
 * counts whole, one that ended counts through its parent's cutime/cstime
 * (which grow when the parent reaps it) minus what it had at the start.
 * The result is in ticks, CPU seconds and percent of one core.
 *
 * count: how many processes of the tree have the command name (all when no
 * --comm), for scripts that wait for streams to go away.
 *
 * Output: one JSON object on stdout (or --json FILE).  Reads /proc only;
 * run as root (or as the server's user) to read other users' smaps_rollup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 65536
#define MAX_COMMS 64

struct proc {
	int pid, ppid;
	unsigned long long start;      /* field 22: start time in ticks since boot */
	unsigned long long ticks;      /* utime + stime */
	unsigned long long cticks;     /* cutime + cstime (reaped children) */
	char comm[32];
	bool in_tree;
};

struct snapshot {
	struct proc *p;
	int n;
};

/* Reads /proc/PID/stat; false when the process is gone. */
static bool read_stat(int pid, struct proc *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *open = strchr(buf, '(');
	char *close = strrchr(buf, ')');
	if (open == NULL || close == NULL || close < open)
		return false;
	size_t cl = (size_t)(close - open - 1);
	if (cl >= sizeof(out->comm))
		cl = sizeof(out->comm) - 1;
	memcpy(out->comm, open + 1, cl);
	out->comm[cl] = '\0';
	/* after ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ... starttime(22) */
	char state;
	int ppid;
	unsigned long long utime, stime, start;
	long long cutime, cstime;
	int got = sscanf(close + 2,
	                 "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld "
	                 "%*d %*d %*d %*d %llu",
	                 &state, &ppid, &utime, &stime, &cutime, &cstime, &start);
	if (got != 7 || state == 'Z')
		return false;
	out->pid = pid;
	out->ppid = ppid;
	out->ticks = utime + stime;
	out->cticks = (unsigned long long)(cutime + cstime);
	out->start = start;
	out->in_tree = false;
	return true;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct proc *find(struct snapshot *s, int pid)
{
	struct proc key = { .pid = pid };
	return bsearch(&key, s->p, (size_t)s->n, sizeof(*s->p), cmp_pid);
}

#define MAX_ROOTS 16
static int roots[MAX_ROOTS], n_roots;

/* Every process on the system, then marks the roots and their descendants. */
static void take(struct snapshot *s, int root)
{
	(void)root;   /* roots[] */
	s->n = 0;
	s->p = calloc(MAX_PROCS, sizeof(*s->p));
	if (s->p == NULL) {
		fprintf(stderr, "sampler: out of memory\n");
		exit(2);
	}
	DIR *d = opendir("/proc");
	if (d == NULL) {
		perror("sampler: /proc");
		exit(2);
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && s->n < MAX_PROCS) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (read_stat(atoi(e->d_name), &s->p[s->n]))
			s->n++;
	}
	closedir(d);
	qsort(s->p, (size_t)s->n, sizeof(*s->p), cmp_pid);
	for (int k = 0; k < n_roots; k++) {
		struct proc *r = find(s, roots[k]);
		if (r != NULL)
			r->in_tree = true;
	}
	/* Fixpoint over the ppid links: trees are shallow (3-4 levels). */
	for (bool added = true; added;) {
		added = false;
		for (int i = 0; i < s->n; i++) {
			if (s->p[i].in_tree)
				continue;
			struct proc *parent = find(s, s->p[i].ppid);
			if (parent != NULL && parent->in_tree) {
				s->p[i].in_tree = true;
				added = true;
			}
		}
	}
}

struct comm_sum {
	char comm[32];
	int n;
	unsigned long long rss, pss, priv, swap, ticks;
};

static struct comm_sum *comm_slot(struct comm_sum *c, int *nc, const char *comm)
{
	for (int i = 0; i < *nc; i++)
		if (strcmp(c[i].comm, comm) == 0)
			return &c[i];
	if (*nc == MAX_COMMS)
		return &c[MAX_COMMS - 1];
	struct comm_sum *s = &c[(*nc)++];
	memset(s, 0, sizeof(*s));
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
	return s;
}

/* Sums the fields of /proc/PID/smaps_rollup; false when unreadable. */
static bool read_rollup(int pid, unsigned long long *rss, unsigned long long *pss,
                        unsigned long long *priv, unsigned long long *swap)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	*rss = *pss = *priv = *swap = 0;
	bool any = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;
		char key[64];
		if (sscanf(line, "%63[^:]: %llu kB", key, &v) != 2)
			continue;
		any = true;
		if (strcmp(key, "Rss") == 0)
			*rss = v;
		else if (strcmp(key, "Pss") == 0)
			*pss = v;
		else if (strcmp(key, "Private_Clean") == 0 || strcmp(key, "Private_Dirty") == 0)
			*priv += v;
		else if (strcmp(key, "Swap") == 0)
			*swap = v;
	}
	fclose(f);
	return any;   /* kernel threads and zombies have an empty rollup */
}

static void print_comms(FILE *out, struct comm_sum *c, int nc, bool mem)
{
	fprintf(out, "\"by_comm\":{");
	for (int i = 0; i < nc; i++) {
		fprintf(out, "%s\"%s\":{\"n\":%d", i ? "," : "", c[i].comm, c[i].n);
		if (mem)
			fprintf(out, ",\"rss_kib\":%llu,\"pss_kib\":%llu,\"private_kib\":%llu",
			        c[i].rss, c[i].pss, c[i].priv);
		else
			fprintf(out, ",\"ticks\":%llu", c[i].ticks);
		fprintf(out, "}");
	}
	fprintf(out, "}");
}

static int cmd_mem(int root, FILE *out)
{
	struct snapshot s;
	take(&s, root);
	for (int k = 0; k < n_roots; k++)
		if (find(&s, roots[k]) == NULL) {
			fprintf(stderr, "sampler: no process %d\n", roots[k]);
			return 1;
		}
	struct comm_sum comms[MAX_COMMS];
	int nc = 0, n = 0, unreadable = 0;
	unsigned long long rss = 0, pss = 0, priv = 0, swap = 0;
	for (int i = 0; i < s.n; i++) {
		if (!s.p[i].in_tree)
			continue;
		unsigned long long r, p, v, w;
		if (!read_rollup(s.p[i].pid, &r, &p, &v, &w)) {
			unreadable++;
			continue;
		}
		n++;
		rss += r;
		pss += p;
		priv += v;
		swap += w;
		struct comm_sum *c = comm_slot(comms, &nc, s.p[i].comm);
		c->n++;
		c->rss += r;
		c->pss += p;
		c->priv += v;
	}
	fprintf(out, "{\"tool\":\"sampler\",\"mode\":\"mem\",\"root\":%d,\"processes\":%d,"
	        "\"unreadable\":%d,\"rss_kib\":%llu,\"pss_kib\":%llu,\"private_kib\":%llu,"
	        "\"swap_kib\":%llu,",
	        root, n, unreadable, rss, pss, priv, swap);
	print_comms(out, comms, nc, true);
	fprintf(out, "}\n");
	free(s.p);
	return 0;
}

static int cmd_cpu(int root, double interval, FILE *out)
{
	struct snapshot a, b;
	struct timespec t0, t1;
	take(&a, root);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < n_roots; k++)
		if (find(&a, roots[k]) == NULL) {
			fprintf(stderr, "sampler: no process %d\n", roots[k]);
			return 1;
		}
	struct timespec req = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
	while (nanosleep(&req, &req) != 0 && errno == EINTR)
		;
	take(&b, root);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	struct comm_sum comms[MAX_COMMS];
	int nc = 0, started = 0, ended = 0, both = 0;
	long long total = 0;
	for (int i = 0; i < b.n; i++) {
		struct proc *q = &b.p[i];
		if (!q->in_tree)
			continue;
		struct proc *p = find(&a, q->pid);
		long long d;
		if (p != NULL && p->in_tree && p->start == q->start) {
			d = (long long)(q->ticks - p->ticks) + (long long)(q->cticks - p->cticks);
			both++;
		} else {
			d = (long long)(q->ticks + q->cticks);
			started++;
		}
		total += d;
		struct comm_sum *c = comm_slot(comms, &nc, q->comm);
		c->n++;
		c->ticks += (unsigned long long)(d > 0 ? d : 0);
	}
	for (int i = 0; i < a.n; i++) {
		struct proc *p = &a.p[i];
		if (!p->in_tree)
			continue;
		struct proc *q = find(&b, p->pid);
		if (q != NULL && q->in_tree && q->start == p->start)
			continue;
		/* gone: its whole life is in the parent's cticks; take off the
		 * part spent before the interval */
		total -= (long long)(p->ticks + p->cticks);
		ended++;
	}
	long hz = sysconf(_SC_CLK_TCK);
	double cpu_s = (double)total / (double)hz;
	fprintf(out, "{\"tool\":\"sampler\",\"mode\":\"cpu\",\"root\":%d,\"interval_s\":%.3f,"
	        "\"clk_tck\":%ld,\"ticks\":%lld,\"cpu_s\":%.3f,\"pct_one_core\":%.3f,"
	        "\"processes_start\":%d,\"processes_end\":%d,\"started\":%d,\"ended\":%d,",
	        root, secs, hz, total, cpu_s, secs > 0 ? 100.0 * cpu_s / secs : 0.0,
	        both + ended, both + started, started, ended);
	print_comms(out, comms, nc, false);
	fprintf(out, "}\n");
	free(a.p);
	free(b.p);
	return 0;
}

static int cmd_count(int root, const char *comm)
{
	struct snapshot s;
	take(&s, root);
	int n = 0;
	for (int i = 0; i < s.n; i++)
		if (s.p[i].in_tree && (comm == NULL || strcmp(s.p[i].comm, comm) == 0))
			n++;
	printf("%d\n", n);
	free(s.p);
	return 0;
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
	        "usage: sampler mem   (--pid PID | --pidfile FILE)... [--json FILE]\n"
	        "       sampler cpu   (--pid PID | --pidfile FILE) --interval S [--json FILE]\n"
	        "       sampler count (--pid PID | --pidfile FILE) [--comm NAME]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1];
	int pid = 0;
	double interval = 0;
	const char *json = NULL, *comm = NULL;
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--pid") == 0) {
			pid = atoi(argv[++i]);
			if (pid <= 0 || n_roots == MAX_ROOTS)
				usage();
			roots[n_roots++] = pid;
		} else if (strcmp(argv[i], "--pidfile") == 0) {
			/* every PID in the file (spawn-fcgi -P writes one a line) */
			FILE *f = fopen(argv[++i], "r");
			int got = 0, v;
			while (f != NULL && n_roots < MAX_ROOTS && fscanf(f, "%d", &v) == 1)
				if (v > 0) {
					roots[n_roots++] = pid = v;
					got++;
				}
			if (f != NULL)
				fclose(f);
			if (got == 0) {
				fprintf(stderr, "sampler: cannot read a pid from %s\n", argv[i]);
				return 1;
			}
		} else if (strcmp(argv[i], "--interval") == 0) {
			interval = atof(argv[++i]);
		} else if (strcmp(argv[i], "--json") == 0) {
			json = argv[++i];
		} else if (strcmp(argv[i], "--comm") == 0) {
			comm = argv[++i];
		} else {
			usage();
		}
	}
	if (pid <= 0)
		usage();
	FILE *out = stdout;
	if (json != NULL && strcmp(json, "-") != 0 && (out = fopen(json, "w")) == NULL) {
		perror(json);
		return 1;
	}
	int rc = 2;
	if (strcmp(mode, "mem") == 0) {
		rc = cmd_mem(pid, out);
	} else if (strcmp(mode, "cpu") == 0) {
		if (interval <= 0 || interval > 3600)
			usage();
		rc = cmd_cpu(pid, interval, out);
	} else if (strcmp(mode, "count") == 0) {
		rc = cmd_count(pid, comm);
	} else {
		usage();
	}
	if (out != stdout)
		fclose(out);
	return rc;
}
