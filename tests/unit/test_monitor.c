/*
 * Unit tests for the monitoring pings (src/cli/monitor.h) against a local
 * HTTP listener (python3's http.server, below) that writes down every
 * request it gets: method, path, query, the headers that matter and the
 * body. Each service's start, success and failure pings are pinned
 * exactly; a listener that answers 500, one that is down and one that
 * never answers each give one warning naming the URL without its tokens,
 * and -1. Without python3 the test is skipped (exit 77).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "cli/monitor.h"
#include "testutil.h"

/* The listener: argv PORTFILE LOGFILE MODE (ok: 200, 500: 500, hang: no
 * answer). Each request is logged before it is answered, so it is in the
 * log when the ping returns: "METHOD PATH", "query: Q", the headers but
 * Host, User-Agent, Accept and Content-Length, "body: JSON", "--". */
static const char listener_py[] =
	"import http.server, json, os, sys, time\n"
	"portfile, logfile, mode = sys.argv[1:4]\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def any(self):\n"
	"        n = int(self.headers.get('Content-Length') or 0)\n"
	"        body = self.rfile.read(n) if n else b''\n"
	"        path, _, query = self.path.partition('?')\n"
	"        out = [self.command + ' ' + path, 'query: ' + query]\n"
	"        for k, v in self.headers.items():\n"
	"            if k.lower() not in ('host', 'user-agent', 'accept', 'content-length'):\n"
	"                out.append(k + ': ' + v)\n"
	"        out.append('body: ' + json.dumps(body.decode('utf-8', 'replace'), ensure_ascii=False))\n"
	"        with open(logfile, 'a', encoding='utf-8') as f:\n"
	"            f.write('\\n'.join(out) + '\\n--\\n')\n"
	"        if mode == 'hang':\n"
	"            time.sleep(60)\n"
	"            return\n"
	"        self.send_response(500 if mode == '500' else 200)\n"
	"        self.send_header('Content-Length', '2')\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b'OK')\n"
	"    do_GET = do_POST = any\n"
	"    def log_message(self, *args):\n"
	"        pass\n"
	"srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"srv.daemon_threads = True\n"
	"with open(portfile + '.tmp', 'w') as f:\n"
	"    f.write(str(srv.server_address[1]))\n"
	"os.rename(portfile + '.tmp', portfile)\n"
	"srv.serve_forever()\n";

struct listener {
	char *dir;  /* scratch directory: the script, its port file and log */
	char *log;  /* the request log */
	pid_t pid;
	int port;
};

static void listener_start(struct listener *l, const char *mode)
{
	char *script, *portfile, *text = NULL;
	unsigned long port;

	l->dir = test_mkdtemp("ms-monitor");
	test_put_file(l->dir, "listener.py", listener_py, 0644);
	script = ms_path_join(l->dir, "listener.py");
	portfile = ms_path_join(l->dir, "port");
	l->log = ms_path_join(l->dir, "requests.log");
	l->pid = fork();
	assert_true(l->pid >= 0);
	if (l->pid == 0) {
		execlp("python3", "python3", script, portfile, l->log, mode, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !ms_is_file(portfile); i++)
		usleep(50000);
	text = test_slurp(portfile);
	assert_int_equal(ms_parse_ulong(text, 1, 65535, &port), 0);
	l->port = (int)port;
	free(text);
	free(portfile);
	free(script);
}

static void listener_stop(struct listener *l)
{
	kill(l->pid, SIGKILL);
	waitpid(l->pid, NULL, 0);
	test_rmtree(l->dir);
	free(l->dir);
	free(l->log);
}

/* What the listener got since the last call (then forgets it). */
static char *listener_take(const struct listener *l)
{
	char *text;

	if (!ms_is_file(l->log))
		return ms_xstrdup("");
	text = test_slurp(l->log);
	assert_int_equal(unlink(l->log), 0);
	return text;
}

static struct listener ok_listener; /* answers 200: the group's */

static int group_setup(void **state)
{
	(void)state;
	listener_start(&ok_listener, "ok");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	listener_stop(&ok_listener);
	return 0;
}

enum call { START, SUCCESS, FAILURE };

struct ping_case {
	enum ms_monitor_kind kind;
	const char *path;  /* after http://127.0.0.1:PORT */
	enum call call;
	const char *text;  /* the output handed to ms_monitor_done */
	const char *want;  /* the listener's log */
};

#define CT "Content-Type: text/plain; charset=utf-8\n"

static const struct ping_case ping_cases[] = {
	/* healthchecks: GET URL/start, POST URL, POST URL/fail */
	{ MS_MON_HEALTHCHECKS, "/ping/abc", START, NULL, "GET /ping/abc/start\nquery: \nbody: \"\"\n--\n" },
	{ MS_MON_HEALTHCHECKS, "/ping/abc", SUCCESS, "created\nverified\n",
	  "POST /ping/abc\nquery: \n" CT "body: \"created\\nverified\\n\"\n--\n" },
	{ MS_MON_HEALTHCHECKS, "/ping/abc", FAILURE, "modosnap: error: 'x': gone\n",
	  "POST /ping/abc/fail\nquery: \n" CT "body: \"modosnap: error: 'x': gone\\n\"\n--\n" },
	{ MS_MON_HEALTHCHECKS, "/ping/abc", SUCCESS, NULL, "POST /ping/abc\nquery: \n" CT "body: \"\"\n--\n" },
	/* a slug URL: the trailing '/' dropped, the query kept */
	{ MS_MON_HEALTHCHECKS, "/ping/key/nightly/?create=1", START, NULL,
	  "GET /ping/key/nightly/start\nquery: create=1\nbody: \"\"\n--\n" },
	/* text that is not UTF-8 is repaired */
	{ MS_MON_HEALTHCHECKS, "/ping/abc", FAILURE, "bad \xff byte\n",
	  "POST /ping/abc/fail\nquery: \n" CT "body: \"bad \xef\xbf\xbd byte\\n\"\n--\n" },
	/* Uptime Kuma: no start; status and msg (the last line) in the query,
	 * replacing those of the UI's example URL */
	{ MS_MON_UPTIME_KUMA, "/api/push/TOK", START, NULL, "" },
	{ MS_MON_UPTIME_KUMA, "/api/push/TOK?status=up&msg=OK&ping=", SUCCESS, "first\nlast line \xc3\xa9&x=1\n\n",
	  "GET /api/push/TOK\nquery: status=up&msg=last%20line%20%C3%A9%26x%3D1\nbody: \"\"\n--\n" },
	{ MS_MON_UPTIME_KUMA, "/api/push/TOK?keep=1&msg=OK", FAILURE, NULL,
	  "GET /api/push/TOK\nquery: keep=1&status=down&msg=failed\nbody: \"\"\n--\n" },
	{ MS_MON_UPTIME_KUMA, "/api/push/TOK", SUCCESS, "", "GET /api/push/TOK\nquery: status=up&msg=OK\nbody: \"\"\n--\n" },
	/* ntfy: POST URL, a title, quiet start, loud failure */
	{ MS_MON_NTFY, "/backups", START, NULL,
	  "POST /backups\nquery: \n" CT "Title: modosnap started\nPriority: min\nbody: \"modosnap started\"\n--\n" },
	{ MS_MON_NTFY, "/backups", SUCCESS, "created\n",
	  "POST /backups\nquery: \n" CT "Title: modosnap succeeded\nbody: \"created\\n\"\n--\n" },
	{ MS_MON_NTFY, "/backups", FAILURE, "modosnap: error: disk full\n",
	  "POST /backups\nquery: \n" CT
	  "Title: modosnap failed\nPriority: high\nTags: warning\nbody: \"modosnap: error: disk full\\n\"\n--\n" },
	{ MS_MON_NTFY, "/backups", FAILURE, NULL,
	  "POST /backups\nquery: \n" CT "Title: modosnap failed\nPriority: high\nTags: warning\nbody: \"modosnap failed\"\n--\n" },
};

static int call(const struct ms_monitor *m, enum call c, const char *text)
{
	return c == START ? ms_monitor_start(m) : ms_monitor_done(m, c == SUCCESS, text);
}

static void test_pings(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ping_cases) / sizeof(ping_cases[0]); i++) {
		const struct ping_case *c = &ping_cases[i];
		char *url = ms_xasprintf("http://127.0.0.1:%d%s", ok_listener.port, c->path), *got, *err;
		struct ms_monitor m = { url, c->kind, 5 };
		unsigned warnings = ms_log_warning_count();

		capture_start();
		assert_int_equal(call(&m, c->call, c->text), 0);
		err = capture_end();
		got = listener_take(&ok_listener);
		if (strcmp(got, c->want) != 0)
			print_error("case %zu (%s)\n", i, c->path);
		assert_string_equal(got, c->want);
		assert_string_equal(err, "");
		assert_int_equal(ms_log_warning_count(), warnings);
		free(got);
		free(err);
		free(url);
	}
}

/* Long output: its last 10 KB are sent, from the start of a line. */
static void test_long_text(void **state)
{
	struct ms_strbuf text = MS_STRBUF_INIT, want = MS_STRBUF_INIT;
	char *url = ms_xasprintf("http://127.0.0.1:%d/ping/abc", ok_listener.port), *got;
	struct ms_monitor m = { url, MS_MON_HEALTHCHECKS, 5 };
	size_t from;

	(void)state;
	for (int i = 0; i < 2000; i++)
		ms_strbuf_addf(&text, "line %06d\n", i); /* 12 bytes each */
	from = text.len - MS_MONITOR_TEXT_MAX;
	while (text.buf[from - 1] != '\n')
		from++;
	ms_strbuf_addstr(&want, "POST /ping/abc\nquery: \n" CT "body: \"");
	for (const char *p = text.buf + from; *p; p++)
		ms_strbuf_addstr(&want, *p == '\n' ? "\\n" : (char[]){ *p, 0 });
	ms_strbuf_addstr(&want, "\"\n--\n");
	assert_int_equal(ms_monitor_done(&m, true, text.buf), 0);
	got = listener_take(&ok_listener);
	assert_string_equal(got, ms_strbuf_str(&want));
	free(got);
	free(url);
	ms_strbuf_release(&text);
	ms_strbuf_release(&want);
}

/* One failing ping: -1, exactly one warning, which starts with `want`
 * and names none of `secrets`. */
static void ping_fails(const struct ms_monitor *m, enum call c, const char *want, bool exact)
{
	static const char *const secrets[] = { "s3cret", "tok3n" };
	unsigned warnings = ms_log_warning_count();
	char *err;

	capture_start();
	assert_int_equal(call(m, c, "output\n"), -1);
	err = capture_end();
	assert_int_equal(ms_log_warning_count(), warnings + 1);
	if (exact)
		assert_string_equal(err, want);
	else
		assert_memory_equal(err, want, strlen(want));
	assert_non_null(strchr(err, '\n'));
	assert_string_equal(strchr(err, '\n'), "\n"); /* one line */
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_null(strstr(err, secrets[i]));
	free(err);
}

static void test_http_500(void **state)
{
	/* healthchecks without user, password and query; Kuma's query is
	 * its own, and no token shows either */
	static const struct {
		enum ms_monitor_kind kind;
		const char *url;  /* after "http://" and before "127.0.0.1:PORT" */
		const char *path; /* after the port */
		enum call call;
		const char *want; /* after "the ", before " ping to" */
		const char *shown; /* the path shown */
	} cases[] = {
		{ MS_MON_HEALTHCHECKS, "u:s3cret@", "/ping/abc?k=tok3n", SUCCESS, "success", "/ping/abc" },
		{ MS_MON_UPTIME_KUMA, "", "/api/push/T?tok3n=1", FAILURE, "failure", "/api/push/T" },
	};
	struct listener l;

	(void)state;
	listener_start(&l, "500");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *url = ms_xasprintf("http://%s127.0.0.1:%d%s", cases[i].url, l.port, cases[i].path);
		char *want = ms_xasprintf("modosnap: warning: monitoring: the %s ping to 'http://127.0.0.1:%d%s' "
					  "failed: HTTP 500\n",
					  cases[i].want, l.port, cases[i].shown);

		ping_fails(&(struct ms_monitor){ url, cases[i].kind, 5 }, cases[i].call, want, true);
		free(want);
		free(url);
	}
	listener_stop(&l);
}

/* A port nobody listens on: libcurl's own reason, after the URL. */
static void test_listener_down(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *url, *want;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd); /* bound once, never listened on: refused */
	url = ms_xasprintf("http://user:s3cret@127.0.0.1:%d/backups?auth=tok3n", ntohs(sa.sin_port));
	want = ms_xasprintf("modosnap: warning: monitoring: the start ping to 'http://127.0.0.1:%d/backups' failed: "
			    "Failed to connect to 127.0.0.1 port %d",
			    ntohs(sa.sin_port), ntohs(sa.sin_port));
	ping_fails(&(struct ms_monitor){ url, MS_MON_NTFY, 5 }, START, want, false);
	free(want);
	free(url);
}

/* A listener that takes the request and never answers: the timeout holds. */
static void test_timeout(void **state)
{
	struct listener l;
	struct timespec t0, t1;
	char *url, *want, *got;
	double secs;

	(void)state;
	listener_start(&l, "hang");
	url = ms_xasprintf("http://127.0.0.1:%d/ping/abc", l.port);
	want = ms_xasprintf("modosnap: warning: monitoring: the start ping to 'http://127.0.0.1:%d/ping/abc/start' "
			    "failed: no answer within 1 s\n",
			    l.port);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ping_fails(&(struct ms_monitor){ url, MS_MON_HEALTHCHECKS, 1 }, START, want, true);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 0.9);
	assert_true(secs < 4.0);
	got = listener_take(&l); /* it did arrive */
	assert_string_equal(got, "GET /ping/abc/start\nquery: \nbody: \"\"\n--\n");
	free(got);
	free(want);
	free(url);
	listener_stop(&l);
}

static void test_guess(void **state)
{
	static const struct {
		const char *url;
		enum ms_monitor_kind kind;
	} cases[] = {
		{ "https://hc-ping.com/0b7a3c1e-52f2-4f4e-9a4b-0c6f2b1e9d11", MS_MON_HEALTHCHECKS },
		{ "https://hc-ping.com/0B7A3C1E-52F2-4F4E-9A4B-0C6F2B1E9D11/", MS_MON_HEALTHCHECKS },
		{ "https://hc-ping.com/pingkey/modosnap-nightly", MS_MON_HEALTHCHECKS },
		{ "https://hc.example.org/ping/0b7a3c1e-52f2-4f4e-9a4b-0c6f2b1e9d11", MS_MON_HEALTHCHECKS },
		{ "https://status.example.org/api/push/Ab12Cd34?status=up&msg=OK&ping=", MS_MON_UPTIME_KUMA },
		{ "http://10.0.0.2:3001/api/push/Ab12Cd34", MS_MON_UPTIME_KUMA },
		{ "https://ntfy.sh/mail-backups", MS_MON_NTFY },
		{ "https://NTFY.example.org/a/b", MS_MON_NTFY },
		{ "https://push.example.org/mail-backups/", MS_MON_NTFY },
		{ "https://user:pw@push.example.org/mail-backups?auth=x", MS_MON_NTFY },
		/* "/api/push/" only in the query does not count */
		{ "https://hc.example.org/ping/x?next=/api/push/", MS_MON_HEALTHCHECKS },
		{ "https://hc.example.org", MS_MON_HEALTHCHECKS },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ms_monitor_guess(cases[i].url) != cases[i].kind)
			print_error("%s\n", cases[i].url);
		assert_int_equal(ms_monitor_guess(cases[i].url), cases[i].kind);
	}
}

static void test_url_shown(void **state)
{
	static const char *const cases[][2] = {
		{ "https://hc-ping.com/uuid", "https://hc-ping.com/uuid" },
		{ "https://u:p@ntfy.sh/topic?auth=abc#frag", "https://ntfy.sh/topic" },
		{ "https://kuma:3001/api/push/T?status=up&msg=OK", "https://kuma:3001/api/push/T" },
		{ "https://ntfy.sh?x=1", "https://ntfy.sh" },
		{ "host.example/p#f", "host.example/p" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = ms_monitor_url_shown(cases[i][0]);

		assert_string_equal(got, cases[i][1]);
		free(got);
	}
}

int main(void)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guess),
		cmocka_unit_test(test_url_shown),
		cmocka_unit_test(test_pings),
		cmocka_unit_test(test_long_text),
		cmocka_unit_test(test_http_500),
		cmocka_unit_test(test_listener_down),
		cmocka_unit_test(test_timeout),
	};

	if (system("python3 -c 'import http.server' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_monitor: skipped: no python3 for the HTTP listener\n");
		return 77;
	}
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]); /* the listener is reached directly */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
