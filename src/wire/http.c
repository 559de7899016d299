/* http: see http.h. */
#include "http.h"

#include <string.h>

#include "request.h"

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

void http_json_string(struct strbuf *out, const char *s)
{
	sb_putc(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sb_printf(out, "\\%c", c);
		else if (c < 0x20)
			sb_printf(out, "\\u%04x", c);
		else
			sb_putc(out, (char)c);
	}
	sb_putc(out, '"');
}

void http_put_response(struct strbuf *out, int status, const char *extra_headers,
                       const char *content_type, const char *body, bool head)
{
	size_t body_len = body != NULL ? strlen(body) : 0;
	sb_printf(out, "Status: %d %s\r\n", status, http_reason(status));
	if (content_type != NULL)
		sb_printf(out, "Content-Type: %s\r\n", content_type);
	sb_printf(out, "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
	          body_len, extra_headers);
	if (body != NULL && !head)
		sb_append(out, body, body_len);
}

void http_put_error(struct strbuf *out, int status, const char *extra_headers,
                    const char *message, bool head)
{
	struct strbuf body = STRBUF_INIT;
	sb_puts(&body, "{\"error\":");
	http_json_string(&body, message);
	sb_puts(&body, "}\n");
	http_put_response(out, status, extra_headers,
	                  "application/json; charset=utf-8", sb_str(&body), head);
	sb_free(&body);
}

static bool is_head(const struct request *req)
{
	const char *method = req_param(req, "REQUEST_METHOD");
	return method != NULL && strcmp(method, "HEAD") == 0;
}

void http_respond(struct request *req, int status, const char *extra_headers,
                  const char *content_type, const char *body)
{
	struct strbuf out = STRBUF_INIT;
	http_put_response(&out, status, extra_headers, content_type, body,
	                  is_head(req));
	if (!sb_failed(&out))
		req_write(req, out.data, out.len);
	sb_free(&out);
}

void http_discard_body(struct request *req)
{
	req_discard_body(req, HTTP_DISCARD_MAX);
}

void http_error(struct request *req, int status, const char *extra_headers,
                const char *message)
{
	http_discard_body(req);
	struct strbuf out = STRBUF_INIT;
	http_put_error(&out, status, extra_headers, message, is_head(req));
	if (!sb_failed(&out))
		req_write(req, out.data, out.len);
	sb_free(&out);
}
