/*
 * The rclone transport (see rclone.h): one spawn per call, its stdout
 * captured when the call reads something, its stderr kept for the message,
 * and a deadline after which the child is killed.
 */
#include "remote/rclone.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/spawn.h"
#include "base/util.h"

#define ERR_KEEP (32 * 1024)     /* stderr kept: its tail, for the message */
#define LAST_LINES 3             /* stderr lines put in a message */
#define TEXT_MAX (60 * 1024)     /* ms_rclone_put_text: fits a pipe's buffer */
#define LIST_MAX (16 * 1024 * 1024)

/* One run of rclone: what it is fed, what it gives back. */
struct rc_run {
	char *action;           /* for messages: "listing", "uploading 'X'" (owned) */
	const char *in;         /* its stdin, or NULL for /dev/null */
	bool capture;           /* stdout into out (else /dev/null) */
	size_t out_max;         /* more than this on stdout: out_over */
	bool out_over;
	struct ms_strbuf out;   /* stdout */
	struct ms_strbuf err;   /* the tail of stderr */
	long limit_s;           /* killed after this long */
	int status;             /* exit status, -1 when a signal ended it */
};

/* A file name that cannot climb out of url nor confuse rclone's syntax. */
static bool plain_name(const char *name)
{
	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* The url must name a configured remote: a connection string
 * (":sftp,pass=...:path" or "name,key=value:path") would put its
 * parameters, passwords included, on the command line. Never printed
 * when refused, for that reason. */
static int check_remote(const struct ms_rclone *rc, const char *name)
{
	const char *colon = strchr(rc->url, ':');
	size_t head = colon ? (size_t)(colon - rc->url) : 0;

	if (!colon || head == 0 || memchr(rc->url, ',', head) || memchr(rc->url, '=', head))
		return ms_log_error("remote '%s': its url must be REMOTE:PATH with REMOTE defined in rclone's "
				    "config file (no connection string)",
				    rc->name);
	if (name && !plain_name(name)) {
		char *p = ms_printable(name);
		ms_log_error("remote '%s': '%s' is not a plain file name", rc->name, p);
		free(p);
		return -1;
	}
	return 0;
}

/* url/name, or url itself when name is NULL; caller frees. */
static char *remote_path(const struct ms_rclone *rc, const char *name)
{
	size_t n = strlen(rc->url);

	if (!name)
		return ms_xstrdup(rc->url);
	if (n && rc->url[n - 1] == ':')
		return ms_xasprintf("%s%s", rc->url, name);
	return ms_xasprintf("%s/%s", rc->url, name);
}

/* A local path as rclone must see it: "./x:y", never the remote "x". */
static char *local_path(const char *path)
{
	if (path[0] == '/')
		return ms_xstrdup(path);
	return ms_xasprintf("./%s", path);
}

/* binary, config, timeouts, then the subcommand's words. */
static void base_argv(const struct ms_rclone *rc, struct ms_strv *av, const char *cmd)
{
	const char *bw = getenv("MODOSNAP_TEST_RCLONE_BWLIMIT");

	ms_strv_push(av, rc->binary ? rc->binary : "rclone");
	if (rc->config) {
		ms_strv_push(av, "--config");
		ms_strv_push(av, rc->config);
	}
	ms_strv_push(av, "--contimeout=15s");
	ms_strv_push(av, "--timeout=60s");
	ms_strv_push(av, "--ask-password=false");
	/* test seam: a slow upload, for the kill tests */
	if (bw && *bw)
		ms_strv_push_owned(av, ms_xasprintf("--bwlimit=%s", bw));
	ms_strv_push(av, cmd);
}

/* PATH, HOME, LANG=C and nothing else; caller frees (strv). */
static void child_env(struct ms_strv *env)
{
	const char *path = getenv("PATH"), *home = getenv("HOME");

	ms_strv_push_owned(env, ms_xasprintf("PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin"));
	if (home && *home)
		ms_strv_push_owned(env, ms_xasprintf("HOME=%s", home));
	ms_strv_push(env, "LANG=C");
}

/* The last LAST_LINES non-empty lines of stderr, without rclone's
 * "YYYY/MM/DD HH:MM:SS " prefix, joined by "; "; caller frees. */
static char *last_lines(const struct ms_strbuf *err)
{
	const char *s = ms_strbuf_str(err), *starts[LAST_LINES];
	size_t lens[LAST_LINES], n = 0;
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *l = p;

		p += len + (e ? 1 : 0);
		if (len > 20 && l[4] == '/' && l[7] == '/' && l[10] == ' ' && l[13] == ':' && l[19] == ' ')
			l += 20, len -= 20;
		while (len && (l[len - 1] == '\r' || l[len - 1] == ' '))
			len--;
		if (!len)
			continue;
		if (n == LAST_LINES) {
			memmove(starts, starts + 1, sizeof(starts[0]) * (LAST_LINES - 1));
			memmove(lens, lens + 1, sizeof(lens[0]) * (LAST_LINES - 1));
			n--;
		}
		starts[n] = l;
		lens[n++] = len;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			ms_strbuf_addstr(&sb, "; ");
		ms_strbuf_add(&sb, starts[i], lens[i]);
	}
	if (!n)
		ms_strbuf_addstr(&sb, "no message");
	return ms_strbuf_detach(&sb);
}

/* Appends what fd has to sb; false at end of file or on an error. With
 * `over` (stdout) bytes beyond max are dropped and *over set; without it
 * (stderr) only the tail is kept. */
static bool drain(int fd, struct ms_strbuf *sb, size_t max, bool *over)
{
	char buf[8192];
	ssize_t r = read(fd, buf, sizeof(buf));

	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	if (r == 0)
		return false;
	if (over && sb->len + (size_t)r > max) {
		*over = true;
		return true;
	}
	if (!over && sb->len + (size_t)r > ERR_KEEP && sb->len > ERR_KEEP / 2) {
		memmove(sb->buf, sb->buf + sb->len - ERR_KEEP / 2, ERR_KEEP / 2);
		sb->len = ERR_KEEP / 2;
		sb->buf[sb->len] = '\0';
	}
	ms_strbuf_add(sb, buf, (size_t)r);
	return true;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads both pipes until they close or the deadline; then reaps the child
 * (killed at the deadline). 0 with run->status set, or -1 on timeout. */
static int supervise(struct rc_run *run, pid_t pid, int outfd, int errfd)
{
	long long deadline = now_ms() + run->limit_s * 1000LL;
	struct pollfd pf[2] = { { .fd = errfd, .events = POLLIN }, { .fd = outfd, .events = POLLIN } };
	int st, open = outfd >= 0 ? 2 : 1;
	bool timed_out = false;

	while (open > 0 && !timed_out) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(pf, 2, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!drain(pf[i].fd, i ? &run->out : &run->err, i ? run->out_max : ERR_KEEP,
				   i ? &run->out_over : NULL)) {
				pf[i].fd = -1;
				open--;
			}
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return ms_log_error("waiting for rclone: %s", strerror(errno));
		if (r == 0 && !timed_out && now_ms() >= deadline) {
			timed_out = true;
			kill(pid, SIGKILL);
		}
		if (r == 0) {
			struct timespec ts = { 0, 20 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	if (timed_out)
		return -1;
	run->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}

/* The child's stdin: a pipe already holding run->in, or /dev/null. */
static int stdin_pipe(const struct ms_rclone *rc, const struct rc_run *run, int fds[2])
{
	size_t len = strlen(run->in);
	ssize_t w;

	if (len > TEXT_MAX)
		return ms_log_error("remote '%s': %s: the text is larger than %d bytes", rc->name, run->action, TEXT_MAX);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ms_log_error("remote '%s': %s: pipe: %s", rc->name, run->action, strerror(errno));
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	w = write(fds[1], run->in, len);
	close(fds[1]);
	fds[1] = -1;
	if (w < 0 || (size_t)w != len) {
		close(fds[0]);
		return ms_log_error("remote '%s': %s: could not feed rclone", rc->name, run->action);
	}
	return 0;
}

/* Starts av with the clean environment. 0 with *pid set, or -1 logged. */
static int spawn(const struct ms_rclone *rc, const struct rc_run *run, char **av, int infd, int outfd, int errfd,
		 pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct ms_strv env = { 0 };
	int rc_spawn;

	child_env(&env);
	posix_spawn_file_actions_init(&fa);
	if (infd >= 0)
		posix_spawn_file_actions_adddup2(&fa, infd, STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (outfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, outfd, STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, STDERR_FILENO);
	ms_spawnattr_init_clean(&attr);
	rc_spawn = posix_spawnp(pid, av[0], &fa, &attr, av, env.v);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	ms_strv_clear(&env);
	if (rc_spawn != 0)
		return ms_log_error("remote '%s': %s: cannot run '%s': %s", rc->name, run->action, av[0],
				    strerror(rc_spawn));
	return 0;
}

/* Runs rclone once. 0 when it ran to its end (run->status says how), -1
 * after logging when it could not start or was killed at the deadline. */
static int rc_exec(const struct ms_rclone *rc, struct ms_strv *av, struct rc_run *run)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ret = -1;
	pid_t pid;

	if (run->in && stdin_pipe(rc, run, in) < 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) < 0 || (run->capture && pipe2(out, O_CLOEXEC) < 0)) {
		ms_log_error("remote '%s': %s: pipe: %s", rc->name, run->action, strerror(errno));
		goto out;
	}
	ms_log_debug("remote '%s': %s", rc->name, run->action);
	if (spawn(rc, run, av->v, in[0], out[1], err[1], &pid) < 0)
		goto out;
	close(err[1]);
	err[1] = -1;
	if (out[1] >= 0) {
		close(out[1]);
		out[1] = -1;
	}
	ret = supervise(run, pid, out[0], err[0]);
	if (ret < 0)
		ms_log_error("remote '%s': %s did not finish within %ld s (rclone killed)", rc->name, run->action,
			     run->limit_s);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return ret;
}

/* rc_exec, and a failure (a status other than 0 and `also_ok`) logged
 * with the last lines of stderr. 0, or -1. */
static int rc_call(const struct ms_rclone *rc, struct ms_strv *av, struct rc_run *run, int also_ok)
{
	char *last;

	if (run->limit_s <= 0)
		run->limit_s = rc->kill_after_s > 0 ? rc->kill_after_s : MS_RCLONE_KILL_S;
	if (rc_exec(rc, av, run) < 0)
		return -1;
	if (run->status == 0 || (also_ok && run->status == also_ok))
		return 0;
	last = last_lines(&run->err);
	if (run->status < 0)
		ms_log_error("remote '%s': %s failed (rclone killed by a signal): %s", rc->name, run->action, last);
	else
		ms_log_error("remote '%s': %s failed (rclone exit %d): %s", rc->name, run->action, run->status, last);
	free(last);
	return -1;
}

/* A call's start: its action (taken over) and argv up to the subcommand. */
static void call_begin(const struct ms_rclone *rc, struct rc_run *run, struct ms_strv *av, const char *cmd,
		       char *action)
{
	run->action = action;
	base_argv(rc, av, cmd);
}

static void call_end(struct rc_run *run, struct ms_strv *av)
{
	ms_strbuf_release(&run->out);
	ms_strbuf_release(&run->err);
	ms_strv_clear(av);
	free(run->action);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct ms_remote_file *)a)->name, ((const struct ms_remote_file *)b)->name);
}

/* lsf's "SIZE;NAME" lines into an array; -1 (logged) on a line that is not. */
static int parse_listing(const struct ms_rclone *rc, char *text, struct ms_remote_file **out, size_t *n)
{
	struct ms_remote_file *f = NULL;
	size_t k = 0, alloc = 0;

	for (char *line = text, *next; line && *line; line = next) {
		char *semi, *end;
		long long size;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		semi = strchr(line, ';');
		errno = 0;
		size = semi ? strtoll(line, &end, 10) : -1;
		if (!semi || end != semi || errno || size < 0 || !plain_name(semi + 1)) {
			ms_remote_files_free(f, k);
			return ms_log_error("remote '%s': unexpected line in rclone's listing", rc->name);
		}
		if (k == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			f = ms_xrealloc(f, alloc * sizeof(*f));
		}
		f[k].name = ms_xstrdup(semi + 1);
		f[k++].size = size;
	}
	if (k)
		qsort(f, k, sizeof(*f), cmp_file);
	*out = f;
	*n = k;
	return 0;
}

int ms_rclone_list(const struct ms_rclone *rc, struct ms_remote_file **out, size_t *n)
{
	struct rc_run run = { .capture = true, .out_max = LIST_MAX };
	struct ms_strv av = { 0 };
	int ret = -1;

	if (check_remote(rc, NULL) < 0)
		return -1;
	call_begin(rc, &run, &av, "lsf", ms_xstrdup("listing"));
	ms_strv_push(&av, "--files-only");
	ms_strv_push(&av, "--format=sp");
	ms_strv_push(&av, "--separator=;");
	ms_strv_push_owned(&av, remote_path(rc, NULL));
	/* exit 3: the directory does not exist yet, nothing pushed */
	if (rc_call(rc, &av, &run, 3) < 0)
		goto out;
	if (run.out_over) {
		ms_log_error("remote '%s': the listing is larger than %d bytes", rc->name, LIST_MAX);
		goto out;
	}
	if (run.status == 3)
		ms_strbuf_reset(&run.out);
	ms_strbuf_addch(&run.out, '\0');
	ret = parse_listing(rc, run.out.buf, out, n);
out:
	call_end(&run, &av);
	return ret;
}

void ms_remote_files_free(struct ms_remote_file *f, size_t n)
{
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		free(f[i].name);
	free(f);
}

/* A transfer's bound: the default plus a second per 64 KiB of the file. */
static long transfer_limit(const struct ms_rclone *rc, long long size)
{
	long base = rc->kill_after_s > 0 ? rc->kill_after_s : MS_RCLONE_KILL_S;

	return base + (long)(size > 0 ? size / 65536 : 0);
}

/* copyto from `src` to `dst`, both already in rclone's syntax. */
static int copyto(const struct ms_rclone *rc, char *action, char *src, char *dst, long long size)
{
	struct rc_run run = { .limit_s = transfer_limit(rc, size) };
	struct ms_strv av = { 0 };
	int ret;

	call_begin(rc, &run, &av, "copyto", action);
	ms_strv_push(&av, "--ignore-times");
	ms_strv_push_owned(&av, src);
	ms_strv_push_owned(&av, dst);
	ret = rc_call(rc, &av, &run, 0);
	call_end(&run, &av);
	return ret;
}

int ms_rclone_upload(const struct ms_rclone *rc, const char *local, const char *name)
{
	struct stat st;

	if (check_remote(rc, name) < 0)
		return -1;
	if (stat(local, &st) < 0)
		return ms_log_error("cannot upload '%s': %s", local, strerror(errno));
	return copyto(rc, ms_xasprintf("uploading '%s'", name), local_path(local), remote_path(rc, name),
		      (long long)st.st_size);
}

int ms_rclone_download(const struct ms_rclone *rc, const char *name, const char *local)
{
	if (check_remote(rc, name) < 0)
		return -1;
	/* the size is not known here: the bound of a 64 GiB file */
	return copyto(rc, ms_xasprintf("downloading '%s'", name), remote_path(rc, name), local_path(local),
		      64LL << 30);
}

int ms_rclone_put_text(const struct ms_rclone *rc, const char *name, const char *text)
{
	struct rc_run run = { .in = text };
	struct ms_strv av = { 0 };
	int ret;

	if (check_remote(rc, name) < 0)
		return -1;
	call_begin(rc, &run, &av, "rcat", ms_xasprintf("writing '%s'", name));
	ms_strv_push_owned(&av, remote_path(rc, name));
	ret = rc_call(rc, &av, &run, 0);
	call_end(&run, &av);
	return ret;
}

char *ms_rclone_get_text(const struct ms_rclone *rc, const char *name, size_t max)
{
	struct rc_run run = { .capture = true, .out_max = max };
	struct ms_strv av = { 0 };
	char *ret = NULL;

	if (check_remote(rc, name) < 0)
		return NULL;
	call_begin(rc, &run, &av, "cat", ms_xasprintf("reading '%s'", name));
	ms_strv_push_owned(&av, remote_path(rc, name));
	if (rc_call(rc, &av, &run, 0) < 0)
		goto out;
	if (run.out_over)
		ms_log_error("remote '%s': '%s' is larger than %zu bytes", rc->name, name, max);
	else if (memchr(ms_strbuf_str(&run.out), '\0', run.out.len))
		ms_log_error("remote '%s': '%s' is not text", rc->name, name);
	else
		ret = ms_strbuf_detach(&run.out);
out:
	call_end(&run, &av);
	return ret;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int ms_rclone_sha256(const struct ms_rclone *rc, const char *name, char hex[65])
{
	struct rc_run run = { .capture = true, .out_max = 64 * 1024, .limit_s = transfer_limit(rc, 64LL << 30) };
	struct ms_strv av = { 0 };
	const char *s;
	int ret = -1;

	if (check_remote(rc, name) < 0)
		return -1;
	call_begin(rc, &run, &av, "hashsum", ms_xasprintf("reading back '%s'", name));
	ms_strv_push(&av, "sha256");
	ms_strv_push(&av, "--download");
	ms_strv_push_owned(&av, remote_path(rc, name));
	if (rc_call(rc, &av, &run, 0) < 0)
		goto out;
	/* "HEX  NAME\n"; nothing at all when the file is not there */
	s = ms_strbuf_str(&run.out);
	if (run.out.len < 66 || !is_hex64(s) || s[64] != ' ') {
		ms_log_error("remote '%s': no SHA-256 for '%s' (is it there?)", rc->name, name);
		goto out;
	}
	memcpy(hex, s, 64);
	hex[64] = '\0';
	ret = 0;
out:
	call_end(&run, &av);
	return ret;
}

int ms_rclone_delete(const struct ms_rclone *rc, const char *name)
{
	struct rc_run run = { 0 };
	struct ms_strv av = { 0 };
	int ret;

	if (check_remote(rc, name) < 0)
		return -1;
	call_begin(rc, &run, &av, "deletefile", ms_xasprintf("deleting '%s'", name));
	ms_strv_push(&av, "--retries=1");
	ms_strv_push_owned(&av, remote_path(rc, name));
	ret = rc_call(rc, &av, &run, 0);
	call_end(&run, &av);
	return ret;
}
