/*
 * ssectl: the site owner's tool.
 *
 *   ssectl [--db PATH] [--config FILE] init
 *   ssectl ... publish [--channel C] [--event E] (TEXT | -)
 *   ssectl ... tail [--channel C] [--since ID]
 *   ssectl ... prune --keep N
 *   ssectl ... stats [--prometheus]
 *   ssectl ... token [--subscribe C]... [--publish C]... [--name N] [--ttl T]
 *
 * It reads the same sse-cgi.conf as the binaries (beside itself, else the
 * build-time path, or --config), so `publish` lands where the page listens.
 * `publish` is how any other program on the host pushes an event: the data
 * is any UTF-8 text, multi-line included; `-` reads it from stdin.
 * `token` mints what a site's own login code would (auth/token.h), signed
 * with the configured token_secret_file: for trying private channels with
 * curl, or for a server-side publisher.
 * Exit status: 0 done, 1 failed (the reason on stderr), 2 usage.
 *
 * Commands are rows of one table (name, a prepare step that checks options
 * and reads input before the database is opened, its function); every
 * failure is reported by fail() as "ssectl: <what>: <why>" and exit 1 (one
 * of the database is reported by the feed, which knows what failed and
 * why: "sse-cgi: ssectl: <database>: <why>", and exit 1), every
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
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "feed.h"
#include "request.h"
#include "secret.h"
#include "sidecar.h"
#include "slots.h"
#include "sse.h"
#include "store.h"
#include "tally.h"
#include "process.h"
#include "strbuf.h"
#include "token.h"
#include "utf8.h"

#define PUBLISH_MAX (1024 * 1024)   /* one event's data, from stdin */
#define TAIL_FOREVER_S 3153600000L  /* a century: tail follows until killed */
#define TOKEN_TTL_DEFAULT_S 3600L   /* token: --ttl when not given */
#define TOKEN_TTL_MAX_S (366L * 86400) /* a credential for longer is a mistake */

static const char usage_text[] =
	"usage: ssectl [--db PATH] [--config FILE] COMMAND\n"
	"  init                                   create the database\n"
	"  publish [--channel C] [--event E] (TEXT | -)\n"
	"                                         store one event (- reads stdin)\n"
	"  tail [--channel C] [--since ID]        print events as a client sees them\n"
	"  prune --keep N                         keep the newest N per channel\n"
	"  stats [--prometheus]                   messages per channel, file, streams;\n"
	"                                         or the metrics, for node_exporter\n"
	"  token [--subscribe C]... [--publish C]... [--name N] [--ttl T]\n"
	"                                         print a token signed with\n"
	"                                         token_secret_file (C: a channel\n"
	"                                         or *; T: 90s, 30m, 1h, 7d; 1h)\n";

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
	const char *name;                         /* token */
	const char *ttl;
	const char *subscribe[TOKEN_CHANNELS_MAX];
	const char *publish[TOKEN_CHANNELS_MAX];
	size_t n_subscribe, n_publish;
	bool prometheus;           /* stats: the metrics in Prometheus's format */
	/* Filled by the command's prepare step, before the database opens. */
	long long since_id;        /* tail: STREAM_NO_RESUME when not given */
	long long keep_n;          /* prune */
	struct strbuf data;        /* publish: the event's data */
	long ttl_s;                /* token */
};

/* Adds a repeated option's value; false when there are too many. */
static bool add_listed(const char **list, size_t *n, const char *value)
{
	if (*n >= TOKEN_CHANNELS_MAX)
		return false;
	list[(*n)++] = value;
	return true;
}

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
		else if (strcmp(argv[i], "--name") == 0)
			slot = &o->name;
		else if (strcmp(argv[i], "--ttl") == 0)
			slot = &o->ttl;
		if (strcmp(argv[i], "--prometheus") == 0) {
			o->prometheus = true;
			continue;
		}
		bool sub = strcmp(argv[i], "--subscribe") == 0;
		if (sub || strcmp(argv[i], "--publish") == 0) {
			if (i + 1 >= argc)
				return *problem = "an option is missing its value", false;
			if (!(sub ? add_listed(o->subscribe, &o->n_subscribe, argv[++i])
			          : add_listed(o->publish, &o->n_publish, argv[++i])))
				return *problem = "at most 32 --subscribe and 32 --publish", false;
		} else if (slot != NULL) {
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

/* 90s, 30m, 1h, 7d or plain seconds: 1 s to TOKEN_TTL_MAX_S. */
static bool parse_ttl(const char *s, long *out)
{
	static const struct { char unit; long seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char digits[16];
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof(digits) || strlen(s) > n + 1)
		return false;
	long mult = s[n] == '\0' ? 1 : 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s[n] == units[i].unit)
			mult = units[i].seconds;
	memcpy(digits, s, n);
	digits[n] = '\0';
	long long v;
	if (mult == 0 || !parse_digits(digits, &v) || v < 1 ||
	    v > TOKEN_TTL_MAX_S / mult)
		return false;
	*out = (long)v * mult;
	return true;
}

static bool channels_ok(const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], "*") != 0 && !sse_valid_name(list[i], strlen(list[i])))
			return false;
	return true;
}

static int prepare_token(struct options *o)
{
	if (o->n_subscribe == 0 && o->n_publish == 0)
		return usage("token needs --subscribe or --publish");
	if (!channels_ok(o->subscribe, o->n_subscribe) ||
	    !channels_ok(o->publish, o->n_publish))
		return usage("--subscribe and --publish take * or " SSE_NAME_RULE);
	if (o->name != NULL && (*o->name == '\0' || strlen(o->name) > TOKEN_NAME_MAX ||
	                        !utf8_valid(o->name, strlen(o->name))))
		return usage("--name must be UTF-8, 1 to 128 bytes");
	o->ttl_s = TOKEN_TTL_DEFAULT_S;
	if (o->ttl != NULL && !parse_ttl(o->ttl, &o->ttl_s))
		return usage("--ttl must be like 90s, 30m, 1h or 7d (at most 366d)");
	if (o->text != NULL)
		return usage("unexpected argument");
	return 0;
}

static json_t *string_array(const char *const *list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* The claims, as Mercure names them (token.h). */
static char *token_payload(const struct options *o, long long now)
{
	json_t *root = json_object(), *mercure = json_object();
	json_object_set_new(root, "iat", json_integer(now));
	json_object_set_new(root, "exp", json_integer(now + o->ttl_s));
	if (o->name != NULL)
		json_object_set_new(root, "name", json_string(o->name));
	if (o->n_subscribe > 0)
		json_object_set_new(mercure, "subscribe",
		                    string_array(o->subscribe, o->n_subscribe));
	if (o->n_publish > 0)
		json_object_set_new(mercure, "publish",
		                    string_array(o->publish, o->n_publish));
	json_object_set_new(root, "mercure", mercure);
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static int cmd_token(const struct config *cfg, const struct options *o,
                     struct feed *feed)
{
	(void)feed;   /* no database: the secret is all it needs */
	struct token_keys keys;
	char err[CONFIG_ERROR_MAX];
	if (!secret_load(cfg, &keys, err, sizeof(err)))
		return fail("%s", err);
	if (keys.n == 0)
		return fail("token_secret_file is not set in %s",
		            cfg->source[0] ? cfg->source : "the configuration");
	char *payload = token_payload(o, (long long)time(NULL));
	struct strbuf out = STRBUF_INIT;
	bool ok = payload != NULL &&
	          token_sign(keys.bytes[0], keys.len[0], payload, strlen(payload),
	                     &out) && out.len <= TOKEN_MAX;
	token_keys_wipe(&keys);
	free(payload);
	if (ok)
		printf("%s\n", out.data);
	sb_free(&out);
	return ok ? 0 : fail("cannot make the token (out of memory, or over 4 KiB)");
}

static int cmd_init(const struct config *cfg, const struct options *o,
                    struct feed *feed)
{
	(void)o;
	char about[64];
	feed_describe(feed, about, sizeof(about));
	printf("%s: ready (%s)\n", cfg->database, about);
	return 0;
}

static int cmd_publish(const struct config *cfg, const struct options *o,
                       struct feed *feed)
{
	long long id;
	if (feed_publish(feed, o->channel, o->event, sb_str(&o->data),
	                 o->data.len, cfg->retention, &id) != STORE_OK)
		return 1;   /* the feed said what failed and why */
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
                    struct feed *opened)
{
	(void)opened;   /* the stream's feed opens its own connection */
	struct config follow = *cfg;
	follow.lifetime_s = TAIL_FOREVER_S;
	follow.max_streams = 0;
	struct feed *feed = feed_new_for(cfg, "ssectl");
	if (feed == NULL)
		return fail("out of memory");
	bool reopened;
	struct stream_request req = {
		.channel = o->channel,
		.resume = o->since_id,
		.feed = feed_ready(feed, &reopened),
		.room = STREAM_ROOM,
		.trusted = true,   /* the owner's tool reads private channels */
	};
	struct stream_io io = { tail_write, tail_wait, NULL };
	stream_process_run(&io, &follow, feed, req, false);   /* not a client's */
	feed_free(feed);
	return 0;
}

static int cmd_prune(const struct config *cfg, const struct options *o,
                     struct feed *feed)
{
	(void)cfg;
	long long deleted = 0;
	if (feed_prune_all(feed, (long)o->keep_n, &deleted) != STORE_OK)
		return 1;   /* the feed said what failed and why */
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
/* A sidecar file that could not be read: its own path, and why. */
static int fail_sidecar(const struct config *cfg, const char *suffix)
{
	int e = errno;
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), cfg->database, suffix))
		snprintf(path, sizeof(path), "(the %s file)", suffix);
	return fail("%s: %s", path, strerror(e));
}

static int print_prometheus(const struct config *cfg)
{
	struct tally t;
	if (!tally_read(cfg->database, &t))
		return fail_sidecar(cfg, SIDECAR_METRICS);
	long open = -1;
	if (cfg->max_streams > 0) {
		open = slots_in_use(cfg->database, cfg->max_streams);
		if (open < 0)
			return fail_sidecar(cfg, SIDECAR_STREAMS);
	}
	struct strbuf out = STRBUF_INIT;
	tally_put_prometheus(&out, &t, open, "process");
	bool written = !sb_failed(&out) && fwrite(out.data, 1, out.len, stdout) == out.len &&
	               fflush(stdout) == 0;
	sb_free(&out);
	return written ? 0 : fail("writing the metrics: %s", strerror(errno));
}

static int cmd_stats(const struct config *cfg, const struct options *o,
                     struct feed *feed)
{
	if (o->prometheus)
		return print_prometheus(cfg);
	struct stat sb;
	char about[64];
	feed_describe(feed, about, sizeof(about));
	size_t key = strcspn(about, " ");   /* "journal_mode wal" */
	printf("database: %s\n", cfg->database);
	if (!feed_is_redis(cfg->database))
		printf("size: %lld bytes\n", stat(cfg->database, &sb) == 0
		       ? (long long)sb.st_size : -1LL);
	printf("%.*s:%s\n", (int)key, about, about + key);
	if (cfg->max_streams > 0)
		printf("streams: %ld of %ld in use\n",
		       slots_in_use(cfg->database, cfg->max_streams), cfg->max_streams);
	else
		printf("streams: no cap\n");
	printf("%-24s %10s %12s %12s\n", "channel", "messages", "oldest", "newest");
	if (feed_stats(feed, print_channel, NULL) != STORE_OK)
		return 1;   /* the feed said what failed and why */
	return 0;
}

struct command {
	const char *name;
	int (*prepare)(struct options *o);   /* NULL: takes no options */
	enum feed_use use;   /* FEED_EXISTING: the database must exist */
	bool database;       /* opens the database (token needs none) */
	int (*run)(const struct config *cfg, const struct options *o,
	           struct feed *feed);
};

static const struct command commands[] = {
	{ "init", NULL, FEED_FOR_STREAMS, true, cmd_init },
	{ "publish", prepare_publish, FEED_FOR_STREAMS, true, cmd_publish },
	{ "tail", prepare_tail, FEED_FOR_STREAMS, true, cmd_tail },
	{ "prune", prepare_prune, FEED_EXISTING, true, cmd_prune },
	{ "stats", NULL, FEED_EXISTING, true, cmd_stats },
	{ "token", prepare_token, FEED_EXISTING, false, cmd_token },
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
	if (rc != 0 || !c->database)
		return rc != 0 ? rc : c->run(cfg, o, NULL);
	struct feed *feed = feed_new_for(cfg, "ssectl");
	if (feed == NULL)
		return fail("out of memory");
	bool reopened;
	if (feed_ready_for(feed, c->use, &reopened) == STORE_OK)
		rc = c->run(cfg, o, feed);
	else
		rc = 1;   /* the feed said what failed and why on stderr */
	feed_free(feed);
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
	if (db != NULL) {
		if (feed_is_redis(db) &&
		    !config_check_redis_url(db, "--db", err, sizeof(err)))
			return fail("%s", err);
		snprintf(cfg.database, sizeof(cfg.database), "%s", db);
	}
	int rc = run_command(command, &cfg, &o);
	sb_free(&o.data);
	return rc;
}
