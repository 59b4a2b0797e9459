/*
 * Monitoring pings (monitor.h): the URL of each ping and its body and
 * headers in the form of each service, sent by libcurl (this file is the
 * only one that includes it). One attempt per ping, bounded by the
 * timeout, no redirect followed, HTTP(S) only; anything but a 2xx answer
 * is a failed ping.
 */
#include "cli/monitor.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KUMA_MSG_MAX 200 /* bytes of the last line sent as Uptime Kuma's msg */

enum ping { PING_START, PING_SUCCESS, PING_FAILURE };
static const char *const ping_name[] = { "start", "success", "failure" };

/* Offsets of the parts of "scheme://user:password@host:port/path?query#frag". */
struct url_split {
	size_t auth;  /* the authority: after "scheme://" (0 without a scheme) */
	size_t host;  /* the host: after "user:password@" (= auth without one) */
	size_t path;  /* the path: the end of the authority */
	size_t query; /* the '?', or the end of the path */
	size_t end;   /* the '#', or the end of the string */
};

static void url_split(const char *url, struct url_split *u)
{
	size_t s = strcspn(url, ":/?#");

	u->auth = url[s] == ':' && url[s + 1] == '/' && url[s + 2] == '/' ? s + 3 : 0;
	u->path = u->auth + strcspn(url + u->auth, "/?#");
	u->host = u->auth;
	for (size_t i = u->auth; i < u->path; i++)
		if (url[i] == '@')
			u->host = i + 1;
	u->end = u->path + strcspn(url + u->path, "#");
	u->query = u->path + strcspn(url + u->path, "?#");
}

char *ms_monitor_url_shown(const char *url)
{
	struct url_split u;

	url_split(url, &u);
	return ms_xasprintf("%.*s%.*s", (int)u.auth, url, (int)(u.query - u.host), url + u.host);
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

enum ms_monitor_kind ms_monitor_guess(const char *url)
{
	struct url_split u;
	char *path;
	const char *seg = NULL;
	size_t nseg = 0, seglen = 0;
	enum ms_monitor_kind kind = MS_MON_HEALTHCHECKS;

	url_split(url, &u);
	path = ms_xstrndup(url + u.path, u.query - u.path);
	for (const char *p = path; *p; p += strcspn(p, "/")) {
		p += strspn(p, "/");
		if (*p) {
			seg = p;
			seglen = strcspn(p, "/");
			nseg++;
		}
	}
	if (strstr(path, "/api/push/"))
		kind = MS_MON_UPTIME_KUMA;
	else if (u.path - u.host > 5 && strncasecmp(url + u.host, "ntfy.", 5) == 0)
		kind = MS_MON_NTFY;
	else if (nseg == 1 && !is_uuid(seg, seglen))
		kind = MS_MON_NTFY;
	free(path);
	return kind;
}

/* Percent-encodes s (RFC 3986: everything but the unreserved characters). */
static void add_escaped(struct ms_strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			ms_strbuf_addch(sb, (char)*p);
		else
			ms_strbuf_addf(sb, "%%%02X", *p);
	}
}

/* The healthchecks URL with "/start" or "/fail" after its path (a
 * trailing '/' dropped), its query string kept. */
static char *hc_url(const char *url, const char *suffix)
{
	struct url_split u;
	size_t path_end;

	url_split(url, &u);
	path_end = u.query;
	while (path_end > u.path && url[path_end - 1] == '/')
		path_end--;
	return ms_xasprintf("%.*s%s%.*s", (int)path_end, url, suffix, (int)(u.end - u.query), url + u.query);
}

/* Whether the query parameter at p (up to '&') is one Kuma's ping sets. */
static bool kuma_param(const char *p, size_t n)
{
	static const char *const names[] = { "status", "msg", "ping" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t k = strlen(names[i]);

		if (n >= k && strncmp(p, names[i], k) == 0 && (n == k || p[k] == '='))
			return true;
	}
	return false;
}

/* The Uptime Kuma URL: the configured one's query without its status, msg
 * and ping (the UI's example push URL has them), then status and msg. */
static char *kuma_url(const char *url, bool up, const char *msg)
{
	struct url_split u;
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char sep = '?';

	url_split(url, &u);
	ms_strbuf_add(&sb, url, u.query);
	for (size_t i = u.query + 1; i < u.end; i += strcspn(url + i, "&#") + 1) {
		size_t n = strcspn(url + i, "&#");

		if (n == 0 || i + n > u.end || kuma_param(url + i, n))
			continue;
		ms_strbuf_addch(&sb, sep);
		ms_strbuf_add(&sb, url + i, n);
		sep = '&';
	}
	ms_strbuf_addf(&sb, "%cstatus=%s&msg=", sep, up ? "up" : "down");
	add_escaped(&sb, msg);
	return ms_strbuf_detach(&sb);
}

/* text repaired to UTF-8 and cut to its last MS_MONITOR_TEXT_MAX bytes,
 * from the start of a line when the cut leaves one; NULL for NULL. */
static char *tail_text(const char *text)
{
	char *fixed, *start, *nl, *out;
	size_t len;

	if (!text)
		return NULL;
	fixed = ms_utf8_lossy(text);
	len = strlen(fixed);
	start = fixed;
	if (len > MS_MONITOR_TEXT_MAX) {
		start = fixed + len - MS_MONITOR_TEXT_MAX;
		nl = start[-1] == '\n' ? NULL : strchr(start, '\n');
		if (nl && nl[1])
			start = nl + 1;
		while (((unsigned char)*start & 0xC0) == 0x80) /* never half a character */
			start++;
	}
	out = ms_xstrdup(start);
	free(fixed);
	return out;
}

/* The last non-empty line of text, at most KUMA_MSG_MAX bytes of whole
 * characters; `none` when there is none. Caller frees. */
static char *last_line(const char *text, const char *none)
{
	const char *end, *start;
	size_t n;

	if (!text)
		return ms_xstrdup(none);
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end == text)
		return ms_xstrdup(none);
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	n = (size_t)(end - start);
	if (n > KUMA_MSG_MAX) {
		n = KUMA_MSG_MAX;
		while (n > 0 && ((unsigned char)start[n] & 0xC0) == 0x80)
			n--;
	}
	return ms_xstrndup(start, n);
}

/* One ping to send: its URL, body (NULL: a GET) and headers. */
struct request {
	char *url;                 /* owned */
	char *body;                /* owned; NULL: GET */
	struct curl_slist *headers; /* owned */
};

static void request_header(struct request *rq, const char *h)
{
	struct curl_slist *l = curl_slist_append(rq->headers, h);

	if (!l)
		MS_BUG("out of memory in curl_slist_append");
	rq->headers = l;
}

/* A POST of body (owned) as UTF-8 text. */
static void request_post(struct request *rq, char *body)
{
	rq->body = body;
	request_header(rq, "Content-Type: text/plain; charset=utf-8");
	request_header(rq, "Expect:"); /* no 100-continue round trip for a large body */
}

static void request_build(const struct ms_monitor *m, enum ping which, const char *text, struct request *rq)
{
	static const char *const hc_suffix[] = { "/start", "", "/fail" };
	static const char *const ntfy_title[] = { "Title: modosnap started", "Title: modosnap succeeded",
						  "Title: modosnap failed" };
	char *body = tail_text(text), *msg;

	memset(rq, 0, sizeof(*rq));
	switch (m->kind) {
	case MS_MON_HEALTHCHECKS:
		rq->url = hc_url(m->url, hc_suffix[which]);
		if (which != PING_START)
			request_post(rq, body ? body : ms_xstrdup(""));
		else
			free(body);
		break;
	case MS_MON_UPTIME_KUMA:
		msg = last_line(body, which == PING_SUCCESS ? "OK" : "failed");
		rq->url = kuma_url(m->url, which == PING_SUCCESS, msg);
		free(msg);
		free(body);
		break;
	case MS_MON_NTFY:
		rq->url = ms_xstrdup(m->url);
		request_post(rq, body && *body ? body : ms_xstrdup(ntfy_title[which] + strlen("Title: ")));
		if (body && !*body)
			free(body);
		request_header(rq, ntfy_title[which]);
		if (which == PING_START)
			request_header(rq, "Priority: min");
		if (which == PING_FAILURE) {
			request_header(rq, "Priority: high");
			request_header(rq, "Tags: warning");
		}
		break;
	}
}

static void request_free(struct request *rq)
{
	free(rq->url);
	free(rq->body);
	curl_slist_free_all(rq->headers);
}

/* The answer's body is not needed. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	(void)ptr;
	(void)ctx;
	return size * nmemb;
}

static int set_options(CURL *c, const struct request *rq, long timeout, char *err)
{
	int bad = 0; /* nonzero: some option was refused */

	bad |= curl_easy_setopt(c, CURLOPT_URL, rq->url);
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "modosnap/" MODOSNAP_VERSION);
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, rq->headers);
	if (rq->body) {
		bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
	}
	return bad ? -1 : 0;
}

/* Sends rq; 0 on a 2xx answer, else -1 after a warning naming the URL
 * without its tokens. */
static int perform(enum ping which, const struct request *rq, long timeout)
{
	char err[CURL_ERROR_SIZE] = "", *shown = ms_monitor_url_shown(rq->url);
	CURL *c = NULL;
	CURLcode rc;
	long status = 0;
	int ret = -1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ms_log_warn("monitoring: the %s ping to '%s' failed: libcurl cannot start", ping_name[which], shown);
		free(shown);
		return -1;
	}
	c = curl_easy_init();
	if (!c || set_options(c, rq, timeout, err) < 0) {
		ms_log_warn("monitoring: the %s ping to '%s' failed: libcurl cannot be set up", ping_name[which],
			    shown);
		goto out;
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		ms_log_warn("monitoring: the %s ping to '%s' failed: no answer within %ld s", ping_name[which], shown,
			    timeout);
	else if (rc != CURLE_OK)
		ms_log_warn("monitoring: the %s ping to '%s' failed: %s", ping_name[which], shown,
			    *err ? err : curl_easy_strerror(rc));
	else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 200 || status > 299)
		ms_log_warn("monitoring: the %s ping to '%s' failed: HTTP %ld", ping_name[which], shown, status);
	else {
		ms_log_debug("monitoring: the %s ping to '%s' was answered HTTP %ld", ping_name[which], shown, status);
		ret = 0;
	}
out:
	curl_easy_cleanup(c);
	curl_global_cleanup();
	free(shown);
	return ret;
}

static int ping(const struct ms_monitor *m, enum ping which, const char *text)
{
	struct request rq;
	int ret;

	if (which == PING_START && m->kind == MS_MON_UPTIME_KUMA)
		return 0; /* a push monitor has no "started" state */
	request_build(m, which, text, &rq);
	ret = perform(which, &rq, m->timeout_s > 0 ? m->timeout_s : MS_MONITOR_TIMEOUT_S);
	request_free(&rq);
	return ret;
}

int ms_monitor_start(const struct ms_monitor *m)
{
	return ping(m, PING_START, NULL);
}

int ms_monitor_done(const struct ms_monitor *m, bool ok, const char *text)
{
	return ping(m, ok ? PING_SUCCESS : PING_FAILURE, text);
}
