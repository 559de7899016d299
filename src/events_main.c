/*
 * events.fcgi: GET /cgi-bin/events.fcgi?channel=NAME[&since=ID]
 *
 * Works out what the client asked for (method, channel, resume point) and
 * hands the response to stream.c.  Start-up, the configuration and the
 * database connection are endpoint.c's, shared with post.fcgi.
 */
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

static void handle(struct request *req, void *arg)
{
	struct endpoint *ep = arg;
	struct events_request er;
	const char *why;
	int status = parse_events_request(req_param(req, "REQUEST_METHOD"),
	                                  req_param(req, "QUERY_STRING"),
	                                  req_param(req, "HTTP_LAST_EVENT_ID"),
	                                  &er, &why);
	if (status != 0) {
		http_error(req, status,
		           status == 405 ? "Allow: " EVENTS_ALLOW "\r\n" : "", why);
		return;
	}
	struct stream_plan plan = {
		.channel = er.q.channel,
		.resume = er.resume,
		.head = er.head,
		.problem = NULL,
	};
	if (ep->config_error[0] != '\0')
		plan.problem = "server configuration error (see the error log)";
	else if (!er.head)
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
