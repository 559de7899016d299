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
 *
 * Tokens (auth/gate.h): a token the request carries is checked before the
 * body is read (401 when refused); the body is then read with the token's
 * name as the user when its publish claim is there (the form's user field
 * is ignored), and the channel the body names is checked against the
 * claim and the configuration (401, 403).  A signed message is stored
 * with "signed": true, so pages can tell a name a site vouched for from
 * one typed into the form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatmsg.h"
#include "clock.h"
#include "endpoint.h"
#include "gate.h"
#include "http.h"
#include "log.h"
#include "origin.h"
#include "request.h"
#include "tally.h"

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

/* Every refusal once the configuration is read: counted, then answered. */
static void refuse(struct request *req, const struct config *cfg, int status,
                   const char *extra_headers, const char *why)
{
	tally_refused(cfg->database, status);
	http_error(req, status, extra_headers, why);
}

/* A token refused, or one (or none) without the right (401, 403): one log
 * line, then refused like the rest.  Never the token itself. */
static void refuse_token(struct request *req, const struct config *cfg,
                         const struct gate_verdict *v, const char *channel)
{
	log_msg("post", "%d%s%s: %s", v->status, channel ? " for channel " : "",
	        channel ? channel : "", v->reason);
	tally_refused_token(cfg->database);   /* not an origin's 403 */
	http_error(req, v->status, v->challenge, v->reason);
}

/* Answers a store failure (already logged): 429 or 503, with Retry-After. */
static void answer_store_failure(struct request *req, const struct config *cfg,
                                 enum store_status s)
{
	char headers[64];
	if (s == STORE_RATE_LIMITED) {
		snprintf(headers, sizeof(headers), "Retry-After: %d\r\n",
		         STORE_RATE_WINDOW_S);
		refuse(req, cfg, 429, headers, "too many posts: wait a minute");
		return;
	}
	snprintf(headers, sizeof(headers), "Retry-After: %d\r\n", POST_RETRY_AFTER_S);
	char message[128];
	snprintf(message, sizeof(message), "%s: try again shortly",
	         store_status_text(s));
	refuse(req, cfg, 503, headers, message);
}

/* Where the request arrived, as the web server says it (origin.h). */
static struct site_vars site_of(const struct request *req)
{
	return (struct site_vars){
		.host = req_param(req, "HTTP_HOST"),
		.server_port = req_param(req, "SERVER_PORT"),
		.https = req_param(req, "HTTPS"),
		.scheme = req_param(req, "REQUEST_SCHEME"),
	};
}

/* 201 with the id for scripts; 303 back to the page for a plain form. */
static void answer_created(struct request *req, long long id)
{
	if (wants_html(req_param(req, "HTTP_ACCEPT"))) {
		/* Back to the page that posted, if it is ours; else the site root. */
		struct site_vars site = site_of(req);
		const char *target = referer_path(req_param(req, "HTTP_REFERER"), &site);
		char headers[REFERER_MAX + 32];
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
	if (query_has_token(req_param(req, "QUERY_STRING")))
		return *why = QUERY_TOKEN_REFUSED, 400;
	struct site_vars site = site_of(req);
	if (!origin_allowed(req_param(req, "HTTP_ORIGIN"),
	                    req_param(req, "HTTP_SEC_FETCH_SITE"), &site,
	                    cfg->allowed_origins))
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
                                       const struct chatmsg *msg, bool signed_user,
                                       long long *id)
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
		.signed_user = signed_user,
	};
	return feed_post_chat(endpoint_feed(ep), &post, id);   /* it logged */
}

/* The body, read and judged with the token's name; then the channel. */
static void post_body(struct request *req, struct endpoint *ep,
                      enum body_type type, const char *body, size_t length,
                      struct gate_verdict *v)
{
	const struct config *cfg = endpoint_config(ep);
	struct chatmsg msg = CHATMSG_INIT;
	const char *error;
	long long id;
	if (chatmsg_parse_signed(type, body, length, gate_signer(v), &msg,
	                         &error) != 0) {
		refuse(req, cfg, 400, "", error);
	} else if (gate_publish(cfg, sb_str(&msg.channel), v), v->status != 0) {
		refuse_token(req, cfg, v, sb_str(&msg.channel));
	} else {
		enum store_status s = store_message(req, ep, &msg, v->signed_name, &id);
		if (s == STORE_OK)
			answer_created(req, id);
		else
			answer_store_failure(req, cfg, s);
	}
	chatmsg_free(&msg);
}

static void handle(struct request *req, void *arg)
{
	struct endpoint *ep = arg;
	if (endpoint_config_broken(ep)) {
		http_error(req, 500, "", CONFIG_PROBLEM);   /* no database to count in */
		return;
	}
	const struct config *cfg = endpoint_config(ep);
	long long length = 0;
	enum body_type type = BODY_OTHER;
	const char *why = NULL;
	int status = check_request(req, cfg, &length, &type, &why);
	if (status != 0) {
		refuse(req, cfg, status, status == 405 ? "Allow: POST\r\n" : "", why);
		return;
	}
	struct gate_verdict v;
	gate_token(cfg, endpoint_keys(ep), req_param(req, "HTTP_AUTHORIZATION"),
	           req_param(req, "HTTP_COOKIE"), clock_epoch_s(), &v);
	if (v.status != 0) {
		refuse_token(req, cfg, &v, NULL);
		return;
	}
	char *body = malloc((size_t)length + 1);
	if (body == NULL || !read_body(req, body, (size_t)length)) {
		free(body);
		refuse(req, cfg, 400, "", "body ended before Content-Length bytes");
		return;
	}
	body[length] = '\0';
	post_body(req, ep, type, body, (size_t)length, &v);
	free(body);
}

int main(int argc, char **argv)
{
	(void)argc;
	return endpoint_main("post", argv[0], handle);
}
