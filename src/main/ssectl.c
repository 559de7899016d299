/*
 * ssectl: the site owner's tool.
 *
 *   ssectl [--db PATH] [--config FILE] init
 *   ssectl ... publish [--channel C] [--event E] (TEXT | -)
 *   ssectl ... tail [--channel C] [--since ID]
 *   ssectl ... prune --keep N
 *   ssectl ... stats [--prometheus]
 *
 * It reads the same sse-cgi.conf as the binaries (beside itself, else the
 * build-time path, or --config), so `publish` lands where the page listens.
 * `publish` is how any other program on the host pushes an event: the data
 * is any UTF-8 text, multi-line included; `-` reads it from stdin.
 * Exit status: 0 done, 1 failed (the reason on stderr), 2 usage.
 *
 * Commands are rows of one table (name, a prepare step that checks options
 * and reads input before the database is opened, its function); every
 * failure is reported by fail() as "ssectl: <what>: <why>" and exit 1, every
 * usage problem by usage() and exit 2.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "publish.h"
#include "sidecar.h"
#include "request.h"
#include "slots.h"
#include "sse.h"
#include "store.h"
#include "tally.h"
#include "process.h"
#include "strbuf.h"
#include "utf8.h"

#define PUBLISH_MAX (1024 * 1024)   /* one event's data, from stdin */
#define TAIL_FOREVER_S 3153600000L  /* a century: tail follows until killed */

static const char usage_text[] =
	"usage: ssectl [--db PATH] [--config FILE] COMMAND\n"
	"  init                                   create the database\n"
	"  publish [--channel C] [--event E] (TEXT | -)\n"
	"                                         store one event (- reads stdin)\n"
	"  tail [--channel C] [--since ID]        print events as a client sees them\n"
	"  prune --keep N                         keep the newest N per channel\n"
	"  stats [--prometheus]                   messages per channel, file, streams;\n"
	"                                         or the metrics, for node_exporter\n";

static int usage(const char *problem)
{
	if (problem != NULL)
		fprintf(stderr, "ssectl: %s\n", problem);
	fputs(usage_text, stderr);
	return 2;
}

/* The one way a command reports a failure: a line on stderr, exit 1. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ssectl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/* The command's own options as given, then what prepare made of them. */
struct options {
	const char *channel;
	const char *event;
	const char *since;
	const char *keep;
	const char *text;
	bool prometheus;           /* stats: the metrics in Prometheus's format */
	/* Filled by the command's prepare step, before the database opens. */
	long long since_id;        /* tail: STREAM_NO_RESUME when not given */
	long long keep_n;          /* prune */
	struct strbuf data;        /* publish: the event's data */
};

/* Parses the command's own options; false on anything unknown. */
static bool parse_command_options(int argc, char **argv, struct options *o,
                                  const char **problem)
{
	for (int i = 0; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--channel") == 0)
			slot = &o->channel;
		else if (strcmp(argv[i], "--event") == 0)
			slot = &o->event;
		else if (strcmp(argv[i], "--since") == 0)
			slot = &o->since;
		else if (strcmp(argv[i], "--keep") == 0)
			slot = &o->keep;
		if (strcmp(argv[i], "--prometheus") == 0) {
			o->prometheus = true;
			continue;
		}
		if (slot != NULL) {
			if (i + 1 >= argc)
				return *problem = "an option is missing its value", false;
			*slot = argv[++i];
		} else if (o->text == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
			o->text = argv[i];
		} else {
			return *problem = "unexpected argument", false;
		}
	}
	return true;
}

static int read_stdin(struct strbuf *out)
{
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		sb_append(out, buf, n);
		if (out->len > PUBLISH_MAX)
			return fail("data larger than %d bytes", PUBLISH_MAX);
	}
	if (ferror(stdin) || sb_failed(out))
		return fail("cannot read stdin");
	return 0;
}

/*
 * Prepare steps: check the options and read what the command needs before
 * the database is opened, so a mistake creates no database file.  Each
 * returns 0, or the exit status after saying why (usage: 2, failure: 1).
 */
static int prepare_channel(struct options *o)
{
	if (o->channel == NULL)
		o->channel = DEFAULT_CHANNEL;
	if (!sse_valid_name(o->channel, strlen(o->channel)))
		return usage("--channel must be " SSE_NAME_RULE);
	return 0;
}

static int prepare_publish(struct options *o)
{
	if (prepare_channel(o) != 0)
		return 2;
	if (o->event == NULL)
		o->event = "message";
	if (!sse_valid_name(o->event, strlen(o->event)) || strcmp(o->event, "reset") == 0)
		return usage("--event must be " SSE_NAME_RULE " and not 'reset' (the gap signal)");
	if (o->text == NULL)
		return usage("publish needs TEXT or - (stdin)");
	if (strcmp(o->text, "-") != 0)
		sb_puts(&o->data, o->text);
	else if (read_stdin(&o->data) != 0)
		return 1;
	if (!utf8_valid(sb_str(&o->data), o->data.len) ||
	    memchr(sb_str(&o->data), '\0', o->data.len) != NULL)
		return fail("data must be UTF-8 text without NUL bytes");
	return 0;
}

static int prepare_tail(struct options *o)
{
	if (prepare_channel(o) != 0)
		return 2;
	o->since_id = STREAM_NO_RESUME;
	if (o->since != NULL && parse_event_id(o->since, &o->since_id) != ID_VALID)
		return usage("--since must be a message id");
	return 0;
}

static int prepare_prune(struct options *o)
{
	if (o->keep == NULL || parse_event_id(o->keep, &o->keep_n) != ID_VALID)
		return usage("prune needs --keep N");
	return 0;
}

static int cmd_init(const struct config *cfg, const struct options *o,
                    struct store *st)
{
	(void)o;
	char mode[16];
	store_journal_mode(st, mode, sizeof(mode));
	printf("%s: ready (journal_mode %s)\n", cfg->database, mode);
	return 0;
}

static int cmd_publish(const struct config *cfg, const struct options *o,
                       struct store *st)
{
	long long id;
	if (publish_event(st, o->channel, o->event, sb_str(&o->data), o->data.len,
	                  cfg->retention, &id) != STORE_OK)
		return fail("%s: %s", cfg->database, store_error(st));
	printf("%lld\n", id);
	return 0;
}

/* tail's output: the frames on stdout, as a client would read them. */
static bool tail_write(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0;
}

/* tail's wait: the feed's wake; a closed stdout (a pipe's reader gone). */
static enum wait_result tail_wait(void *ctx, int timeout_ms, int wake_fd)
{
	(void)ctx;
	struct pollfd pfd[2] = { { STDOUT_FILENO, 0, 0 }, { wake_fd, POLLIN, 0 } };
	int r = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms);
	if (r > 0 && (pfd[0].revents & (POLLERR | POLLHUP)))
		return WAIT_GONE;
	return r > 0 && wake_fd >= 0 && pfd[1].revents != 0 ? WAIT_WOKEN
	                                                     : WAIT_TIMEOUT;
}

/* tail drives the stream machine as events.fcgi does, without headers. */
static int cmd_tail(const struct config *cfg, const struct options *o,
                    struct store *st)
{
	(void)st;   /* the feed opens its own connection */
	struct config follow = *cfg;
	follow.lifetime_s = TAIL_FOREVER_S;
	follow.max_streams = 0;
	struct feed *feed = feed_new(cfg->database, "ssectl");
	if (feed == NULL)
		return fail("out of memory");
	bool reopened;
	struct stream_request req = {
		.channel = o->channel,
		.resume = o->since_id,
		.feed = feed_ready(feed, &reopened),
		.room = STREAM_ROOM,
	};
	struct stream_io io = { tail_write, tail_wait, NULL };
	stream_process_run(&io, &follow, feed, req, false);   /* not a client's */
	feed_free(feed);
	return 0;
}

static int cmd_prune(const struct config *cfg, const struct options *o,
                     struct store *st)
{
	long long deleted = 0;
	if (store_prune_all(st, (long)o->keep_n, &deleted) != STORE_OK)
		return fail("%s: %s", cfg->database, store_error(st));
	printf("deleted %lld messages\n", deleted);
	return 0;
}

static void print_channel(void *ctx, const struct store_channel_stats *c)
{
	(void)ctx;
	printf("%-24s %10lld %12lld %12lld\n", c->channel, c->messages,
	       c->oldest, c->newest);
}

/*
 * stats --prometheus: the counters every process added to (tally.h) and the
 * streams live now, from their slots; with no cap (max_streams = 0) streams
 * take no slot and the gauge is left out rather than shown as 0.  Written
 * whole to stdout for node_exporter's textfile collector.
 */
static int print_prometheus(const struct config *cfg)
{
	struct tally t;
	if (!tally_read(cfg->database, &t))
		return fail("%s%s: %s", cfg->database, SIDECAR_METRICS, strerror(errno));
	long open = -1;
	if (cfg->max_streams > 0) {
		open = slots_in_use(cfg->database, cfg->max_streams);
		if (open < 0)
			return fail("%s%s: %s", cfg->database, SIDECAR_STREAMS, strerror(errno));
	}
	struct strbuf out = STRBUF_INIT;
	tally_put_prometheus(&out, &t, open, "process");
	bool written = !sb_failed(&out) && fwrite(out.data, 1, out.len, stdout) == out.len &&
	               fflush(stdout) == 0;
	sb_free(&out);
	return written ? 0 : fail("writing the metrics: %s", strerror(errno));
}

static int cmd_stats(const struct config *cfg, const struct options *o,
                     struct store *st)
{
	if (o->prometheus)
		return print_prometheus(cfg);
	struct stat sb;
	char mode[16];
	store_journal_mode(st, mode, sizeof(mode));
	printf("database: %s\n", cfg->database);
	printf("size: %lld bytes\n", stat(cfg->database, &sb) == 0 ? (long long)sb.st_size : -1LL);
	printf("journal_mode: %s\n", mode);
	if (cfg->max_streams > 0)
		printf("streams: %ld of %ld in use\n",
		       slots_in_use(cfg->database, cfg->max_streams), cfg->max_streams);
	else
		printf("streams: no cap\n");
	printf("%-24s %10s %12s %12s\n", "channel", "messages", "oldest", "newest");
	if (store_stats(st, print_channel, NULL) != STORE_OK)
		return fail("%s: %s", cfg->database, store_error(st));
	return 0;
}

struct command {
	const char *name;
	int (*prepare)(struct options *o);   /* NULL: takes no options */
	bool create;   /* may create the database (else it must exist) */
	int (*run)(const struct config *cfg, const struct options *o,
	           struct store *st);
};

static const struct command commands[] = {
	{ "init", NULL, true, cmd_init },
	{ "publish", prepare_publish, true, cmd_publish },
	{ "tail", prepare_tail, true, cmd_tail },
	{ "prune", prepare_prune, false, cmd_prune },
	{ "stats", NULL, false, cmd_stats },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Prepares, opens the database, runs the command. */
static int run_command(const struct command *c, const struct config *cfg,
                       struct options *o)
{
	int rc = c->prepare != NULL ? c->prepare(o) : 0;
	if (rc != 0)
		return rc;
	struct store *st;
	char error[STORE_ERROR_MAX];
	if (store_open(cfg->database, c->create, &st, error, sizeof(error)) != STORE_OK)
		return fail("%s: %s", cfg->database, error);
	rc = c->run(cfg, o, st);
	store_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	store_process_init();
	const char *db = NULL, *config_path = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		const char **slot = strcmp(argv[i], "--db") == 0 ? &db
		                  : strcmp(argv[i], "--config") == 0 ? &config_path
		                  : NULL;
		if (slot == NULL || i + 1 >= argc)
			return usage("unknown option or missing value");
		*slot = argv[++i];
	}
	if (i >= argc)
		return usage("no command");
	const struct command *command = find_command(argv[i++]);
	if (command == NULL)
		return usage("unknown command");
	struct options o = { .data = STRBUF_INIT };
	const char *problem = NULL;
	if (!parse_command_options(argc - i, argv + i, &o, &problem))
		return usage(problem);
	if (o.prometheus && command->run != cmd_stats)
		return usage("--prometheus is an option of stats only");

	struct config cfg;
	char err[CONFIG_ERROR_MAX] = "";
	if (!config_load_for_program(&cfg, argv[0], config_path, err, sizeof(err)))
		return fail("%s", err);
	if (db != NULL)
		snprintf(cfg.database, sizeof(cfg.database), "%s", db);
	int rc = run_command(command, &cfg, &o);
	sb_free(&o.data);
	return rc;
}
