/*
 * events.fcgi: GET /cgi-bin/events.fcgi?channel=NAME[&since=ID]
 *
 * Works out what the client asked for (method, channel, resume point) and
 * hands the response to stream.c.  Start-up, the configuration and the
 * database connection are endpoint.c's, shared with post.fcgi.
 */
#include <limits.h>
#include <string.h>

#include "endpoint.h"
#include "http.h"
#include "request.h"
#include "stream.h"

/* NULL when the database is open, else the problem to tell the client. */
static const char *open_store(struct endpoint *ep)
{
	enum store_status s = endpoint_store(ep, false);
	return s == STORE_OK ? NULL : store_status_text(s);
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
	struct endpoint *ep = arg;
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
	if (ep->config_error[0] != '\0')
		plan.problem = "server configuration error (see the error log)";
	else if (!head)
		plan.problem = open_store(ep);
	/*
	 * Under FastCGI, read the (empty) body to its end, so that anything the
	 * server sends later means an abort.  Under CGI stdin is left alone: a
	 * server need not close it for a GET.
	 */
	char sink[512];
	while (req->fastcgi && req_read(req, sink, sizeof(sink)) > 0)
		;
	stream_run(req, &ep->cfg, ep->store, &plan);
}

int main(int argc, char **argv)
{
	(void)argc;
	return endpoint_main("events", argv[0], handle);
}
