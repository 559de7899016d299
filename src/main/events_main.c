/*
 * events.fcgi: GET /cgi-bin/events.fcgi?channel=NAME[&since=ID][&poll=1]
 *              [&hello=1][&format=html]
 *
 * Works out what the client asked for (method, channel, resume point) and
 * hands the stream to the per-process driver (stream/process.h), which
 * runs the stream machine.  Start-up, the configuration and the feed are
 * endpoint.c's, shared with post.fcgi.
 *
 * `events.fcgi --listen ADDR` instead serves many streams from this one
 * process behind nginx, lighttpd or mod_proxy_fcgi (hub.h), through the
 * same stream machine.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ask.h"
#include "endpoint.h"
#include "http.h"
#include "hub.h"
#include "listen.h"
#include "log.h"
#include "process.h"
#include "request.h"

static const char *param_of(void *req, const char *name)
{
	return req_param(req, name);
}

static void handle(struct request *req, void *arg)
{
	struct endpoint *ep = arg;
	struct events_request er;
	struct stream_request sr;
	const char *why;
	const struct stream_params params = { param_of, req };
	int status = stream_ask(&params, ep, &er, &sr, &why);
	if (status != 0) {
		http_error(req, status,
		           status == 405 ? "Allow: " EVENTS_ALLOW "\r\n" : "", why);
		return;
	}
	bool reopened;
	if (!sr.config_broken && !er.head)
		sr.feed = endpoint_ready(ep, &reopened);
	/*
	 * Under FastCGI, read the (empty) body to its end, so that anything the
	 * server sends later means an abort.  Under CGI stdin is left alone: a
	 * server need not close it for a GET.
	 */
	char sink[512];
	while (req_is_fastcgi(req) && req_read(req, sink, sizeof(sink)) > 0)
		;
	struct stream_io io = stream_io_of_request(req);
	/* A broken configuration has no database to count in. */
	stream_process_run(&io, endpoint_config(ep), endpoint_feed(ep), sr,
	                   !sr.config_broken);
}

/*
 * events.fcgi --listen ADDR: one process serving many streams (hub.h).
 * Only outside CGI: a CGI server may turn a query string without '=' into
 * arguments (the old ISINDEX rule), and no request may choose this mode.
 */
static int serve_many(const char *argv0, const char *addr)
{
	struct endpoint *ep = endpoint_start("events", argv0);
	if (ep == NULL)
		return 1;
	char err[256];
	int fd = listen_open(addr, err, sizeof(err));
	if (fd < 0) {
		log_msg("events", "--listen %s", err);
		endpoint_finish(ep);
		return 1;
	}
	int rc = hub_run(ep, fd);
	close(fd);
	endpoint_finish(ep);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--listen") == 0 &&
	    getenv("GATEWAY_INTERFACE") == NULL)
		return serve_many(argv[0], argv[2]);
	return endpoint_main("events", argv[0], handle);
}
