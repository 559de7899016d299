/*
 * post.fcgi: POST /cgi-bin/post.fcgi stores one chat message.
 *
 * The checks run cheapest first and all before anything is written: method,
 * origin, content type, declared length (so an oversized body is refused
 * before a byte of it is read), the body itself (without the database: a
 * malformed body is a 400 even while the database is down), then one
 * transaction that applies the rate limit, stores the message and prunes
 * the channel.  Only after COMMIT (synchronous=FULL) does the client hear
 * 201, so an answered post is durable and an unanswered one is either
 * wholly there or absent.  Start-up, the configuration and the database
 * connection are endpoint.c's, shared with events.fcgi.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatmsg.h"
#include "endpoint.h"
#include "http.h"
#include "request.h"

#define POST_RETRY_AFTER_S 5   /* Retry-After when the database is busy */

/* Reads exactly len bytes of body; false when it ends early or fails. */
static bool read_body(struct request *req, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = req_read(req, buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Answers a store failure (already logged): 429 or 503, with Retry-After. */
static void answer_store_failure(struct request *req, enum store_status s)
{
	char headers[64];
	if (s == STORE_RATE_LIMITED) {
		snprintf(headers, sizeof(headers), "Retry-After: %d\r\n",
		         STORE_RATE_WINDOW_S);
		http_error(req, 429, headers, "too many posts: wait a minute");
		return;
	}
	snprintf(headers, sizeof(headers), "Retry-After: %d\r\n", POST_RETRY_AFTER_S);
	char message[128];
	snprintf(message, sizeof(message), "%s: try again shortly",
	         store_status_text(s));
	http_error(req, 503, headers, message);
}

/* 201 with the id for scripts; 303 back to the page for a plain form. */
static void answer_created(struct request *req, long long id)
{
	if (wants_html(req_param(req, "HTTP_ACCEPT"))) {
		const char *referer = req_param(req, "HTTP_REFERER");
		const char *host = req_param(req, "HTTP_HOST");
		/* Back to the page that posted, if it is ours; else the site root. */
		const char *target = "/";
		if (referer != NULL && host != NULL && strlen(referer) < 1024 &&
		    strchr(referer, '\r') == NULL && strchr(referer, '\n') == NULL) {
			const char *rest = strstr(referer, "://");
			size_t hl = strlen(host);
			if (rest != NULL && strncasecmp(rest + 3, host, hl) == 0 &&
			    (rest[3 + hl] == '/' || rest[3 + hl] == '\0'))
				target = rest[3 + hl] == '/' ? rest + 3 + hl : "/";
		}
		char headers[1100];
		snprintf(headers, sizeof(headers), "Location: %s\r\n", target);
		http_respond(req, 303, headers, NULL, NULL);
		return;
	}
	char body[64];
	snprintf(body, sizeof(body), "{\"id\":%lld}\n", id);
	http_respond(req, 201, "", "application/json; charset=utf-8", body);
}

/* Checks everything a request says before its body is read; 0 when fine. */
static int check_request(struct request *req, const struct config *cfg,
                         long long *length, enum body_type *type,
                         const char **why)
{
	const char *method = req_param(req, "REQUEST_METHOD");
	if (method == NULL || strcmp(method, "POST") != 0)
		return *why = "only POST", 405;
	if (!origin_allowed(req_param(req, "HTTP_ORIGIN"),
	                    req_param(req, "HTTP_SEC_FETCH_SITE"),
	                    req_param(req, "HTTP_HOST"), cfg->allowed_origins))
		return *why = "cross-origin posts are not allowed", 403;
	*type = parse_content_type(req_param(req, "CONTENT_TYPE"));
	if (*type == BODY_OTHER)
		return *why = "use application/x-www-form-urlencoded or application/json (UTF-8)", 415;
	const char *cl = req_param(req, "CONTENT_LENGTH");
	if (cl == NULL || *cl == '\0')
		return *why = "Content-Length is required", 411;
	if (!parse_content_length(cl, length))
		return *why = "Content-Length is not a number", 400;
	if (*length > cfg->max_body)
		return *why = "body too large", 413;
	if (*length == 0)
		return *why = "a body is required", 411;
	return 0;
}

/* Stores a valid message; the status to answer with. */
static enum store_status store_message(struct request *req, struct endpoint *ep,
                                       const struct chatmsg *msg, long long *id)
{
	const struct config *cfg = endpoint_config(ep);
	enum store_status s = endpoint_ready_for_writing(ep);
	if (s != STORE_OK)
		return s;   /* it logged why */
	const char *addr = req_param(req, "REMOTE_ADDR");
	struct chat_post post = {
		.channel = sb_str(&msg->channel),
		.user = sb_str(&msg->user),
		.text = sb_str(&msg->text),
		.addr = addr != NULL ? addr : "unknown",
		.rate_limit = cfg->rate_limit,
		.retention = cfg->retention,
	};
	return feed_post_chat(endpoint_feed(ep), &post, id);   /* it logged */
}

static void handle(struct request *req, void *arg)
{
	struct endpoint *ep = arg;
	if (endpoint_config_broken(ep)) {
		http_error(req, 500, "", CONFIG_PROBLEM);
		return;
	}
	long long length = 0;
	enum body_type type = BODY_OTHER;
	const char *why = NULL;
	int status = check_request(req, endpoint_config(ep), &length, &type, &why);
	if (status != 0) {
		http_error(req, status, status == 405 ? "Allow: POST\r\n" : "", why);
		return;
	}
	char *body = malloc((size_t)length + 1);
	if (body == NULL || !read_body(req, body, (size_t)length)) {
		free(body);
		http_error(req, 400, "", "body ended before Content-Length bytes");
		return;
	}
	body[length] = '\0';
	struct chatmsg msg = CHATMSG_INIT;
	const char *error;
	long long id;
	if (chatmsg_parse(type, body, (size_t)length, &msg, &error) != 0) {
		http_error(req, 400, "", error);
	} else {
		enum store_status s = store_message(req, ep, &msg, &id);
		if (s == STORE_OK)
			answer_created(req, id);
		else
			answer_store_failure(req, s);
	}
	chatmsg_free(&msg);
	free(body);
}

int main(int argc, char **argv)
{
	(void)argc;
	return endpoint_main("post", argv[0], handle);
}
