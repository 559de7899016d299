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
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
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

static int open_store(struct store *st, const struct config *cfg, bool create)
{
	enum store_status s = store_open(st, cfg->database, create);
	if (s != STORE_OK) {
		fprintf(stderr, "ssectl: %s: %s\n", cfg->database, st->error);
		return 1;
	}
	return 0;
}

static int read_stdin(struct strbuf *out)
{
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		sb_append(out, buf, n);
		if (out->len > PUBLISH_MAX) {
			fprintf(stderr, "ssectl: data larger than %d bytes\n", PUBLISH_MAX);
			return 1;
		}
	}
	if (ferror(stdin) || sb_failed(out)) {
		fprintf(stderr, "ssectl: cannot read stdin\n");
		return 1;
	}
	return 0;
}

static int cmd_publish(const struct config *cfg, const struct options *o)
{
	const char *channel = o->channel ? o->channel : DEFAULT_CHANNEL;
	const char *event = o->event ? o->event : "message";
	if (!sse_valid_name(channel, strlen(channel)))
		return usage("--channel must be 1-64 characters of A-Z a-z 0-9 _ . -");
	if (!sse_valid_name(event, strlen(event)) || strcmp(event, "reset") == 0)
		return usage("--event must be 1-64 characters of A-Z a-z 0-9 _ . - "
		             "and not 'reset' (the gap signal)");
	if (o->text == NULL)
		return usage("publish needs TEXT or - (stdin)");
	struct strbuf data = STRBUF_INIT;
	int rc = 0;
	if (strcmp(o->text, "-") == 0)
		rc = read_stdin(&data);
	else
		sb_puts(&data, o->text);
	if (rc == 0 && (!utf8_valid(sb_str(&data), data.len) ||
	                memchr(sb_str(&data), '\0', data.len) != NULL)) {
		fprintf(stderr, "ssectl: data must be UTF-8 text without NUL bytes\n");
		rc = 1;
	}
	struct store st;
	if (rc == 0 && (rc = open_store(&st, cfg, true)) == 0) {
		long long id;
		enum store_status s = store_publish(&st, channel, event, sb_str(&data),
		                                    data.len, cfg->retention, &id);
		if (s == STORE_OK) {
			printf("%lld\n", id);
		} else {
			fprintf(stderr, "ssectl: %s: %s\n", cfg->database, st.error);
			rc = 1;
		}
		store_close(&st);
	}
	sb_free(&data);
	return rc;
}

static int cmd_tail(const struct config *cfg, const struct options *o)
{
	const char *channel = o->channel ? o->channel : DEFAULT_CHANNEL;
	if (!sse_valid_name(channel, strlen(channel)))
		return usage("--channel must be 1-64 characters of A-Z a-z 0-9 _ . -");
	long long since = STREAM_NO_RESUME;
	if (o->since != NULL && parse_event_id(o->since, &since) != ID_VALID)
		return usage("--since must be a message id");
	struct store st;
	if (open_store(&st, cfg, true) != 0)
		return 1;
	struct config follow = *cfg;
	follow.lifetime_s = TAIL_FOREVER_S;
	follow.max_streams = 0;
	struct request req = { .fastcgi = false, .fcgx = NULL, .envp = NULL };
	struct stream_plan plan = { channel, since, false, NULL };
	stream_body(&req, &follow, &st, &plan);
	store_close(&st);
	return 0;
}

static int cmd_prune(const struct config *cfg, const struct options *o)
{
	long long keep;
	if (o->keep == NULL || parse_event_id(o->keep, &keep) != ID_VALID)
		return usage("prune needs --keep N");
	struct store st;
	if (open_store(&st, cfg, false) != 0)
		return 1;
	long long deleted = 0;
	enum store_status s = store_prune_all(&st, (long)keep, &deleted);
	int rc = 0;
	if (s == STORE_OK) {
		printf("deleted %lld messages\n", deleted);
	} else {
		fprintf(stderr, "ssectl: %s: %s\n", cfg->database, st.error);
		rc = 1;
	}
	store_close(&st);
	return rc;
}

static int cmd_stats(const struct config *cfg)
{
	struct store st;
	if (open_store(&st, cfg, false) != 0)
		return 1;
	struct stat sb;
	char mode[16];
	store_journal_mode(&st, mode, sizeof(mode));
	printf("database: %s\n", cfg->database);
	printf("size: %lld bytes\n", stat(cfg->database, &sb) == 0 ? (long long)sb.st_size : -1LL);
	printf("journal_mode: %s\n", mode);
	if (cfg->max_streams > 0)
		printf("streams: %ld of %ld in use\n",
		       slots_in_use(cfg->database, cfg->max_streams), cfg->max_streams);
	else
		printf("streams: no cap\n");
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(st.db,
	        "SELECT channel, count(*), min(id), max(id) FROM messages"
	        " GROUP BY channel ORDER BY channel", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		printf("%-24s %10s %12s %12s\n", "channel", "messages", "oldest", "newest");
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			printf("%-24s %10lld %12lld %12lld\n", sqlite3_column_text(stmt, 0),
			       sqlite3_column_int64(stmt, 1), sqlite3_column_int64(stmt, 2),
			       sqlite3_column_int64(stmt, 3));
		sqlite3_finalize(stmt);
	}
	int status = rc == SQLITE_DONE ? 0 : 1;
	if (status != 0)
		fprintf(stderr, "ssectl: %s: %s\n", cfg->database, sqlite3_errmsg(st.db));
	store_close(&st);
	return status;
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
	const char *command = argv[i++];
	struct options o = { 0 };
	const char *problem = NULL;
	if (!parse_command_options(argc - i, argv + i, &o, &problem))
		return usage(problem);

	struct config cfg;
	char err[CONFIG_ERROR_MAX] = "";
	char dir[PATH_MAX];
	if (!config_exe_dir(argv[0], dir, sizeof(dir)))
		strcpy(dir, ".");
	if (!config_load(&cfg, dir, config_path, getenv, err, sizeof(err))) {
		fprintf(stderr, "ssectl: %s\n", err);
		return 1;
	}
	if (db != NULL)
		snprintf(cfg.database, sizeof(cfg.database), "%s", db);

	if (strcmp(command, "init") == 0) {
		struct store st;
		if (open_store(&st, &cfg, true) != 0)
			return 1;
		char mode[16];
		store_journal_mode(&st, mode, sizeof(mode));
		printf("%s: ready (journal_mode %s)\n", cfg.database, mode);
		store_close(&st);
		return 0;
	}
	if (strcmp(command, "publish") == 0)
		return cmd_publish(&cfg, &o);
	if (strcmp(command, "tail") == 0)
		return cmd_tail(&cfg, &o);
	if (strcmp(command, "prune") == 0)
		return cmd_prune(&cfg, &o);
	if (strcmp(command, "stats") == 0)
		return cmd_stats(&cfg);
	return usage("unknown command");
}
