/*
 * jsonbench: what reading one JSON post body costs (json_read_strings,
 * src/wire/json.c), in process, without fork, a server or the database.
 *
 *   jsonbench [-n CALLS] [--rounds R] [--body JSON] [--json FILE]
 *
 * Calls json_read_strings on the body (default: a typical chat post,
 * {"channel":"chat","user":"alice","text":"hello there"}) for the members
 * channel, user and text, as chatmsg.c does: 1,000 unmeasured calls first,
 * then R rounds (default 5) of CALLS calls (default 100,000), each round
 * timed from before its first call to after its last (CLOCK_MONOTONIC).
 * Every call must succeed, and the first one's values are checked against
 * the default body's, so a broken parser cannot look fast.
 *
 * Output: one JSON object (stdout or --json FILE) with ns per call for each
 * round, their median and minimum; a summary on stderr.  For instruction
 * counts, which do not depend on the machine's load:
 *
 *   valgrind --tool=callgrind --toggle-collect=json_read_strings \
 *       --callgrind-out-file=/dev/null build/bench/jsonbench -n 1000 --rounds 1
 *
 * counts inside json_read_strings only ("Collected", over 1,000 + CALLS
 * calls); the same with -n 3000, minus this, over 2,000 is the cost of one
 * call without the first call's set-up (bench/README.md, "JSON post parse").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "strbuf.h"

#define DEFAULT_BODY "{\"channel\":\"chat\",\"user\":\"alice\",\"text\":\"hello there\"}"
#define WARMUP_CALLS 1000
#define MAX_ROUNDS 100

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One call as chatmsg.c makes it; exits on an error. */
static void read_once(const char *body, size_t len, struct strbuf v[3])
{
	struct json_member members[] = {
		{ "channel", &v[0], false },
		{ "user", &v[1], false },
		{ "text", &v[2], false },
	};
	for (int i = 0; i < 3; i++)
		sb_reset(&v[i]);
	const char *err = json_read_strings(body, len, members, 3);
	if (err != NULL) {
		fprintf(stderr, "jsonbench: the body is refused: %s\n", err);
		exit(1);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: jsonbench [-n CALLS] [--rounds R] [--body JSON] [--json FILE]\n");
	exit(2);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return v;
}

/* Writes s as a JSON string, escaped as the endpoints escape theirs. */
static void put_json_string(FILE *f, const char *s)
{
	struct strbuf out = STRBUF_INIT;
	http_json_string(&out, s);
	fputs(sb_str(&out), f);
	sb_free(&out);
}

int main(int argc, char **argv)
{
	long calls = 100000, rounds = 5;
	const char *body = DEFAULT_BODY, *json_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "-n") == 0)
			calls = arg_long(argv[++i], 1, 100000000);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = arg_long(argv[++i], 1, MAX_ROUNDS);
		else if (strcmp(argv[i], "--body") == 0)
			body = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json_path = argv[++i];
		else
			usage();
	}
	size_t len = strlen(body);
	struct strbuf v[3] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };

	read_once(body, len, v);
	if (strcmp(body, DEFAULT_BODY) == 0 &&
	    (strcmp(sb_str(&v[0]), "chat") != 0 || strcmp(sb_str(&v[1]), "alice") != 0 ||
	     strcmp(sb_str(&v[2]), "hello there") != 0)) {
		fprintf(stderr, "jsonbench: wrong values: [%s] [%s] [%s]\n",
		        sb_str(&v[0]), sb_str(&v[1]), sb_str(&v[2]));
		return 1;
	}
	for (int i = 1; i < WARMUP_CALLS; i++)
		read_once(body, len, v);

	double per_call[MAX_ROUNDS], sorted[MAX_ROUNDS];
	for (long r = 0; r < rounds; r++) {
		int64_t t0 = now_ns();
		for (long i = 0; i < calls; i++)
			read_once(body, len, v);
		per_call[r] = (double)(now_ns() - t0) / (double)calls;
	}
	memcpy(sorted, per_call, sizeof(double) * (size_t)rounds);
	qsort(sorted, (size_t)rounds, sizeof(double), cmp_double);
	double median = sorted[rounds / 2], min = sorted[0];
	for (int i = 0; i < 3; i++)
		sb_free(&v[i]);

	FILE *out = stdout;
	if (json_path != NULL && (out = fopen(json_path, "w")) == NULL) {
		perror(json_path);
		return 1;
	}
	fprintf(out, "{\"body\":");
	put_json_string(out, body);
	fprintf(out, ",\"calls_per_round\":%ld,\"ns_per_call\":[", calls);
	for (long r = 0; r < rounds; r++)
		fprintf(out, "%s%.1f", r ? "," : "", per_call[r]);
	fprintf(out, "],\"median_ns\":%.1f,\"min_ns\":%.1f}\n", median, min);
	if (out != stdout && fclose(out) != 0) {
		perror(json_path);
		return 1;
	}
	fflush(stdout);
	fprintf(stderr, "jsonbench: json_read_strings, %zu-byte body: %.2f us per call "
	        "(median of %ld rounds of %ld; fastest round %.2f us)\n",
	        len, median / 1000, rounds, calls, min / 1000);
	return 0;
}
