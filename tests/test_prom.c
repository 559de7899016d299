/*
 * The metrics: Prometheus's text format as written (src/wire/prom.c), and
 * the counters every process adds to in DATABASE.metrics (src/feed/tally.c),
 * read back exactly, across processes.  The whole exposition is checked by
 * a strict reader of the format here and, where Debian's prometheus package
 * is installed, by `promtool check metrics`.
 */
#include "testutil.h"

#include <ctype.h>

#include "prom.h"
#include "tally.h"

#define PROMTOOL "/usr/bin/promtool"
#define ADDERS 4               /* processes adding at once */
#define ADDS_EACH 2000         /* additions per process */

struct writer_case {
	const char *what;
	void (*write)(struct strbuf *out);
	const char *want;
};

static void w_family(struct strbuf *out)
{
	prom_family(out, "a_total", "counter", "Lines\nand \\ backslashes.");
}

static void w_sample(struct strbuf *out)
{
	prom_sample(out, "a_total", NULL, NULL, 18446744073709551615ULL);
}

static void w_label(struct strbuf *out)
{
	prom_sample(out, "a_total", "reason", "say \"no\"\\\n", 3);
}

static void w_histogram(struct strbuf *out)
{
	static const double bounds[] = { 0.0025, 1 };
	static const uint64_t counts[] = { 2, 0, 5 };
	prom_histogram(out, "h_seconds", bounds, counts, 2, 12.5);
}

static const struct writer_case writers[] = {
	{ "help is escaped", w_family,
	  "# HELP a_total Lines\\nand \\\\ backslashes.\n# TYPE a_total counter\n" },
	{ "the largest counter", w_sample, "a_total 18446744073709551615\n" },
	{ "a label value is escaped", w_label, "a_total{reason=\"say \\\"no\\\"\\\\\\n\"} 3\n" },
	{ "buckets are cumulative", w_histogram,
	  "h_seconds_bucket{le=\"0.0025\"} 2\nh_seconds_bucket{le=\"1\"} 2\n"
	  "h_seconds_bucket{le=\"+Inf\"} 7\nh_seconds_sum 12.500000\nh_seconds_count 7\n" },
};

static void test_writer(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(writers); i++) {
		struct strbuf out = STRBUF_INIT;
		writers[i].write(&out);
		if (strcmp(sb_str(&out), writers[i].want) != 0)
			fail_msg("%s: got [%s], want [%s]", writers[i].what, sb_str(&out),
			         writers[i].want);
		sb_free(&out);
	}
}

/* ---- a strict reader of the text format ---------------------------------- */

static bool metric_name(const char *s, size_t len)
{
	if (len == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ':')
			return false;
	return true;
}

/* Whether sample `name` belongs to the family declared last (its type). */
static bool of_family(const char *name, const char *family, const char *type)
{
	size_t n = strlen(family);
	if (strncmp(name, family, n) != 0)
		return false;
	if (strcmp(type, "histogram") != 0)
		return name[n] == '\0';
	return strcmp(name + n, "_bucket") == 0 || strcmp(name + n, "_sum") == 0 ||
	       strcmp(name + n, "_count") == 0;
}

/*
 * Fails unless text is valid exposition format 0.0.4 as sse-cgi writes it:
 * every family HELP then TYPE, once; every sample after its family's TYPE,
 * each series once; counters end in _total; a histogram's buckets never
 * decrease and its +Inf bucket equals its _count.
 */
static void check_exposition(const char *text)
{
	char family[128] = "", type[16] = "", seen[64][160];
	int nseen = 0, line_no = 0;
	double last_bucket = -1, inf_bucket = -1;
	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		line_no++;
		const char *end = strchr(line, '\n');
		if (end == NULL)
			fail_msg("line %d does not end with a newline", line_no);
		char buf[256];
		snprintf(buf, sizeof(buf), "%.*s", (int)(end - line), line);
		char name[128], rest[160];
		if (strncmp(buf, "# HELP ", 7) == 0) {
			if (sscanf(buf + 7, "%127s", name) != 1 || !metric_name(name, strlen(name)))
				fail_msg("line %d: bad HELP: %s", line_no, buf);
			snprintf(family, sizeof(family), "%s", name);
			type[0] = '\0';
			continue;
		}
		if (strncmp(buf, "# TYPE ", 7) == 0) {
			if (sscanf(buf + 7, "%127s %15s", name, type) != 2 || strcmp(name, family) != 0)
				fail_msg("line %d: TYPE not right after its HELP: %s", line_no, buf);
			if (strcmp(type, "counter") == 0 &&
			    strcmp(family + strlen(family) - 6, "_total") != 0)
				fail_msg("line %d: counter %s does not end in _total", line_no, family);
			last_bucket = -1;
			continue;
		}
		size_t n = strcspn(buf, "{ ");
		snprintf(name, sizeof(name), "%.*s", (int)n, buf);
		if (type[0] == '\0' || !metric_name(name, n) || !of_family(name, family, type))
			fail_msg("line %d: sample outside its family %s: %s", line_no, family, buf);
		const char *value = strrchr(buf, ' ');
		char *after;
		double v = value != NULL ? strtod(value + 1, &after) : -1;
		if (value == NULL || *after != '\0' || v < 0)
			fail_msg("line %d: bad value: %s", line_no, buf);
		snprintf(rest, sizeof(rest), "%.*s", (int)(value - buf), buf);
		for (int k = 0; k < nseen; k++)
			if (strcmp(seen[k], rest) == 0)
				fail_msg("line %d: series twice: %s", line_no, rest);
		assert_true(nseen < (int)ARRAY_LEN(seen));
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", rest);
		if (strstr(name, "_bucket") != NULL) {
			if (v < last_bucket)
				fail_msg("line %d: bucket below the one before", line_no);
			last_bucket = v;
			if (strstr(buf, "le=\"+Inf\"") != NULL)
				inf_bucket = v;
		} else if (strstr(name, "_count") != NULL && v != inf_bucket) {
			fail_msg("line %d: _count %g is not the +Inf bucket %g", line_no, v,
			         inf_bucket);
		}
	}
}

/* promtool's verdict when it is installed (0: valid); -1 when it is not. */
static int promtool_check(const char *text)
{
	if (access(PROMTOOL, X_OK) != 0)
		return -1;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/m.prom", dir);
	tu_write_file(path, text);
	int rc = tu_sh(PROMTOOL " check metrics < '%s'", path);
	tu_rmtree(dir);
	return rc;
}

/* ---- the counters -------------------------------------------------------- */

static void test_counters_read_back(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	struct tally t;
	assert_true(tally_read(db, &t));      /* no file yet: all zero */
	assert_int_equal(t.messages_stored, 0);
	tally_stored(db, 300);                /* 0.3 ms: the first bucket */
	tally_stored(db, 2000000);            /* 2 s: the 5 s bucket */
	tally_stored(db, 9000000);            /* 9 s: above every bound */
	tally_refused(db, 403);
	tally_refused(db, 403);
	tally_refused(db, 429);
	tally_refused(db, 201);               /* not a refusal: not counted */
	assert_true(tally_read(db, &t));
	assert_int_equal(t.messages_stored, 3);
	assert_int_equal(t.posts_refused[TALLY_ORIGIN], 2);
	assert_int_equal(t.posts_refused[TALLY_RATE_LIMIT], 1);
	assert_int_equal(t.commit_buckets[0], 1);
	assert_int_equal(t.commit_buckets[TALLY_COMMIT_BOUNDS - 1], 1);
	assert_int_equal(t.commit_buckets[TALLY_COMMIT_BOUNDS], 1);
	assert_int_equal(t.commit_sum_us, 11000300);
	uint64_t refused = 0;
	for (size_t i = 0; i < TALLY_REFUSALS; i++)
		refused += t.posts_refused[i];
	assert_int_equal(refused, 3);

	struct strbuf out = STRBUF_INIT;
	tally_put_prometheus(&out, &t, 7, "process");
	check_exposition(sb_str(&out));
	assert_non_null(strstr(sb_str(&out), "\nsse_streams_open{mode=\"process\"} 7\n"));
	assert_non_null(strstr(sb_str(&out), "\nsse_posts_refused_total{reason=\"origin\"} 2\n"));
	assert_non_null(strstr(sb_str(&out), "\nsse_store_commit_seconds_sum 11.000300\n"));
	int rc = promtool_check(sb_str(&out));
	if (rc > 0)
		fail_msg("promtool check metrics refused:\n%s", sb_str(&out));
	print_message("exposition checked by the strict reader%s\n",
	              rc == 0 ? " and promtool" : " (promtool is not installed)");
	sb_reset(&out);
	tally_put_prometheus(&out, &t, -1, "process");   /* no slots: no gauge */
	check_exposition(sb_str(&out));
	assert_null(strstr(sb_str(&out), "sse_streams_open"));
	sb_free(&out);

	tu_write_file(db, "");   /* a file that is not ours is an error */
	char metrics[PATH_MAX + 32];
	snprintf(metrics, sizeof(metrics), "%s.metrics", db);
	assert_int_equal(tu_sh("head -c 4096 /dev/zero | tr '\\0' x > '%s'", metrics), 0);
	assert_false(tally_read(db, &t));
	tu_rmtree(dir);
}

/*
 * The stream counters (what the stream machine counts and its drivers
 * hand on) read back, and each series is in the exposition with its value.
 */
static void test_stream_counters(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	struct tally_file *f = tally_attach(db);
	assert_non_null(f);
	struct tally_streams c = { .live = 3, .deliveries = 120 };
	c.ends[TALLY_END_LIFETIME] = 2;
	c.ends[TALLY_END_OVER_CAP] = 5;
	tally_add_streams(f, &c);
	assert_int_equal(c.live + c.deliveries + c.ends[TALLY_END_OVER_CAP], 0);  /* zeroed */
	c.ends[TALLY_END_STALLED] = 1;
	c.deliveries = 1;
	tally_add_streams(f, &c);
	tally_add_streams(NULL, &c);   /* not counting: nothing, and no crash */
	tally_detach(f);
	struct tally t;
	assert_true(tally_read(db, &t));
	static const struct { const char *line; } want[] = {
		{ "\nsse_streams_total 3\n" },
		{ "\nsse_deliveries_total 121\n" },
		{ "\nsse_stream_ends_total{reason=\"client_gone\"} 0\n" },
		{ "\nsse_stream_ends_total{reason=\"lifetime\"} 2\n" },
		{ "\nsse_stream_ends_total{reason=\"stalled\"} 1\n" },
		{ "\nsse_stream_ends_total{reason=\"over_cap\"} 5\n" },
		{ "\nsse_stream_ends_total{reason=\"shutdown\"} 0\n" },
		{ "\nsse_stream_ends_total{reason=\"problem\"} 0\n" },
		{ "\nsse_streams_open{mode=\"listen\"} 4\n" },
	};
	struct strbuf out = STRBUF_INIT;
	tally_put_prometheus(&out, &t, 4, "listen");
	check_exposition(sb_str(&out));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		if (strstr(sb_str(&out), want[i].line) == NULL)
			fail_msg("[%s] not in:\n%s", want[i].line + 1, sb_str(&out));
	if (promtool_check(sb_str(&out)) != 0)
		fail_msg("promtool check metrics refused, or is missing (%s):\n%s",
		         PROMTOOL, sb_str(&out));
	sb_free(&out);
	tu_rmtree(dir);
}

/* ADDERS processes adding at once lose nothing: the adds are atomic. */
static void test_counters_across_processes(void **state)
{
	(void)state;
	char dir[PATH_MAX], db[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	pid_t pids[ADDERS];
	for (int p = 0; p < ADDERS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			for (int k = 0; k < ADDS_EACH; k++) {
				tally_refused(db, 400);
				tally_stored(db, 1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < ADDERS; p++) {
		int status;
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct tally t;
	assert_true(tally_read(db, &t));
	assert_int_equal(t.posts_refused[TALLY_BAD_REQUEST], ADDERS * ADDS_EACH);
	assert_int_equal(t.messages_stored, ADDERS * ADDS_EACH);
	assert_int_equal(t.commit_sum_us, ADDERS * ADDS_EACH);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_counters_read_back),
		cmocka_unit_test(test_stream_counters),
		cmocka_unit_test(test_counters_across_processes),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
