/*
 * ssectl: the site owner's tool.
 *
 *   ssectl [--db PATH] [--config FILE] init
 *   ssectl ... publish [--channel C] [--event E] (TEXT | -)
 *   ssectl ... tail [--channel C] [--since ID]
 *   ssectl ... prune --keep N
 *   ssectl ... stats
 *
 * It reads the same sse-cgi.conf as the binaries (beside itself, else the
 * build-time path, or --config), so `publish` lands where the page listens.
 * `publish` is how any other program on the host pushes an event: the data
 * is any UTF-8 text, multi-line included; `-` reads it from stdin.
 * Exit status: 0 done, 1 failed (the reason on stderr), 2 usage.
 *
 * Commands are rows of one table (name, what it needs, its function); every
 * failure is reported by fail() as "ssectl: <what>: <why>" and exit 1, every
 * usage problem by usage() and exit 2.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "publish.h"
#include "request.h"
#include "slots.h"
#include "sse.h"
#include "store.h"
#include "stream.h"
#include "strbuf.h"
#include "transport.h"
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
	"  stats                                  messages per channel, file, streams\n";

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

struct options {
	const char *channel;
	const char *event;
	const char *since;
	const char *keep;
	const char *text;
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

/* --channel, or the default; NULL when it breaks the name rule. */
static const char *channel_option(const struct options *o)
{
	const char *channel = o->channel ? o->channel : DEFAULT_CHANNEL;
	return sse_valid_name(channel, strlen(channel)) ? channel : NULL;
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

/* The event's data: TEXT, or stdin for "-"; UTF-8 without NUL bytes. */
static int publish_data(const char *text, struct strbuf *data)
{
	if (strcmp(text, "-") == 0) {
		if (read_stdin(data) != 0)
			return 1;
	} else {
		sb_puts(data, text);
	}
	if (!utf8_valid(sb_str(data), data->len) ||
	    memchr(sb_str(data), '\0', data->len) != NULL)
		return fail("data must be UTF-8 text without NUL bytes");
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
	const char *channel = channel_option(o);
	const char *event = o->event ? o->event : "message";
	struct strbuf data = STRBUF_INIT;
	int rc = publish_data(o->text, &data);
	long long id;
	if (rc == 0 && publish_event(st, channel, event, sb_str(&data), data.len,
	                             cfg->retention, &id) != STORE_OK)
		rc = fail("%s: %s", cfg->database, store_error(st));
	if (rc == 0)
		printf("%lld\n", id);
	sb_free(&data);
	return rc;
}

static int cmd_tail(const struct config *cfg, const struct options *o,
                    struct store *st)
{
	long long since = STREAM_NO_RESUME;
	if (o->since != NULL)
		parse_event_id(o->since, &since);   /* checked in check_tail */
	struct config follow = *cfg;
	follow.lifetime_s = TAIL_FOREVER_S;
	follow.max_streams = 0;
	struct request req = { .fastcgi = false, .fcgx = NULL, .envp = NULL };
	struct stream_plan plan = { channel_option(o), since, false, NULL };
	stream_body(&req, &follow, st, &plan);
	return 0;
}

static int cmd_prune(const struct config *cfg, const struct options *o,
                     struct store *st)
{
	long long keep, deleted = 0;
	parse_event_id(o->keep, &keep);   /* checked in check_prune */
	if (store_prune_all(st, (long)keep, &deleted) != STORE_OK)
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

static int cmd_stats(const struct config *cfg, const struct options *o,
                     struct store *st)
{
	(void)o;
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

/* Option checks, before the database is opened: NULL or the usage problem. */
static const char *check_publish(const struct options *o)
{
	if (channel_option(o) == NULL)
		return "--channel must be " SSE_NAME_RULE;
	const char *event = o->event ? o->event : "message";
	if (!sse_valid_name(event, strlen(event)) || strcmp(event, "reset") == 0)
		return "--event must be " SSE_NAME_RULE " and not 'reset' (the gap signal)";
	if (o->text == NULL)
		return "publish needs TEXT or - (stdin)";
	return NULL;
}

static const char *check_tail(const struct options *o)
{
	long long since;
	if (channel_option(o) == NULL)
		return "--channel must be " SSE_NAME_RULE;
	if (o->since != NULL && parse_event_id(o->since, &since) != ID_VALID)
		return "--since must be a message id";
	return NULL;
}

static const char *check_prune(const struct options *o)
{
	long long keep;
	if (o->keep == NULL || parse_event_id(o->keep, &keep) != ID_VALID)
		return "prune needs --keep N";
	return NULL;
}

struct command {
	const char *name;
	const char *(*check)(const struct options *o);   /* NULL: no options */
	bool create;   /* may create the database (else it must exist) */
	int (*run)(const struct config *cfg, const struct options *o,
	           struct store *st);
};

static const struct command commands[] = {
	{ "init", NULL, true, cmd_init },
	{ "publish", check_publish, true, cmd_publish },
	{ "tail", check_tail, true, cmd_tail },
	{ "prune", check_prune, false, cmd_prune },
	{ "stats", NULL, false, cmd_stats },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Checks the options, opens the database, runs the command. */
static int run_command(const struct command *c, const struct config *cfg,
                       const struct options *o)
{
	const char *problem = c->check != NULL ? c->check(o) : NULL;
	if (problem != NULL)
		return usage(problem);
	struct store *st;
	char error[256];
	if (store_open(cfg->database, c->create, &st, error, sizeof(error)) != STORE_OK)
		return fail("%s: %s", cfg->database, error);
	int rc = c->run(cfg, o, st);
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
	struct options o = { 0 };
	const char *problem = NULL;
	if (!parse_command_options(argc - i, argv + i, &o, &problem))
		return usage(problem);

	struct config cfg;
	char err[CONFIG_ERROR_MAX] = "";
	if (!config_load_for_program(&cfg, argv[0], config_path, err, sizeof(err)))
		return fail("%s", err);
	if (db != NULL)
		snprintf(cfg.database, sizeof(cfg.database), "%s", db);
	return run_command(command, &cfg, &o);
}
