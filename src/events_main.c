/*
 * events.fcgi: GET /cgi-bin/events.fcgi?channel=NAME[&since=ID]
 *
 * Works out what the client asked for (method, channel, resume point) and
 * hands the response to stream.c.  Under FastCGI the configuration and the
 * database connection live for the whole process; the connection is reopened
 * when the file was replaced or the last open failed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "request.h"
#include "store.h"
#include "stream.h"
#include "transport.h"

struct events {
	struct config cfg;
	char config_error[CONFIG_ERROR_MAX];  /* "" when the config loaded */
	struct store store;
	bool store_ready;
};

/* Opens or reopens the database; NULL, or the problem to tell the client. */
static const char *ensure_store(struct events *ev)
{
	if (ev->store_ready && store_same_file(&ev->store))
		return NULL;
	if (ev->store_ready)
		store_close(&ev->store);
	enum store_status s = store_open(&ev->store, ev->cfg.database, true);
	ev->store_ready = s == STORE_OK;
	if (ev->store_ready)
		return NULL;
	log_msg("events", "%s: %s", ev->cfg.database, ev->store.error);
	return store_status_text(s);
}

/* Last-Event-ID wins over since=; an unreadable one counts as unknown. */
static long long resume_point(const struct request *req,
                              const struct stream_query *q)
{
	long long id;
	switch (parse_event_id(req_param(req, "HTTP_LAST_EVENT_ID"), &id)) {
	case ID_VALID:
		return id;
	case ID_INVALID:
		return LLONG_MAX;  /* above every id: answered with a reset */
	case ID_ABSENT:
		break;
	}
	return q->since == ID_VALID ? q->since_id : STREAM_NO_RESUME;
}

static void handle(struct request *req, void *arg)
{
	struct events *ev = arg;
	const char *method = req_param(req, "REQUEST_METHOD");
	bool head = method != NULL && strcmp(method, "HEAD") == 0;
	if (!head && !(method != NULL && strcmp(method, "GET") == 0)) {
		http_error(req, 405, "Allow: GET, HEAD\r\n", "only GET and HEAD");
		return;
	}
	struct stream_query q;
	if (parse_stream_query(req_param(req, "QUERY_STRING"), &q) != 0) {
		http_error(req, 400, "", q.error);
		return;
	}
	struct stream_plan plan = {
		.channel = q.channel,
		.resume = resume_point(req, &q),
		.head = head,
		.problem = NULL,
	};
	if (ev->config_error[0] != '\0')
		plan.problem = "server configuration error (see the error log)";
	else if (!head)
		plan.problem = ensure_store(ev);
	/*
	 * Under FastCGI, read the (empty) body to its end, so that anything the
	 * server sends later means an abort.  Under CGI stdin is left alone: a
	 * server need not close it for a GET.
	 */
	char sink[512];
	while (req->fastcgi && req_read(req, sink, sizeof(sink)) > 0)
		;
	stream_run(req, &ev->cfg, &ev->store, &plan);
}

int main(int argc, char **argv)
{
	store_process_init();
	(void)argc;
	struct events ev;
	memset(&ev, 0, sizeof(ev));
	char dir[PATH_MAX];
	if (!config_exe_dir(argv[0], dir, sizeof(dir)))
		strcpy(dir, ".");
	if (!config_load(&ev.cfg, dir, NULL, getenv, ev.config_error,
	                 sizeof(ev.config_error))) {
		log_msg("events", "%s", ev.config_error);
		if (ev.config_error[0] == '\0')
			strcpy(ev.config_error, "configuration error");
	}
	int rc = transport_serve(handle, &ev);
	if (ev.store_ready)
		store_close(&ev.store);
	return rc;
}
