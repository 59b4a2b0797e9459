/*
 * Plain secondary keys of a SHOW CREATE TABLE text (see my_keys.h).
 */
#include "restore/my_keys.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/util.h"

/* Length of the backquoted identifier at p ("`a``b`" is 6 bytes), or 0
 * when p does not start one that closes before end. */
static size_t quoted_len(const char *p, const char *end)
{
	if (p >= end || *p != '`')
		return 0;
	for (const char *q = p + 1; q < end; q++) {
		if (*q != '`')
			continue;
		if (q + 1 < end && q[1] == '`') {
			q++;
			continue;
		}
		return (size_t)(q + 1 - p);
	}
	return 0;
}

void ms_my_keys_parse(const char *s, struct ms_my_keys *out)
{
	struct ms_strbuf drop = MS_STRBUF_INIT, add = MS_STRBUF_INIT;
	const char *line = s, *nl, *last = NULL;
	bool ok = !strncmp(s, "CREATE TABLE `", 14);

	memset(out, 0, sizeof(*out));
	for (; ok && *line; line = nl + 1) {
		const char *end, *cend;
		size_t q;

		nl = strchr(line, '\n');
		if (!nl) {
			last = line;
			break;
		}
		if (strncmp(line, "  KEY `", 7) != 0)
			continue;
		end = nl;
		q = quoted_len(line + 6, end);
		if (!q || end - (line + 6 + q) < 2 || strncmp(line + 6 + q, " (", 2) != 0) {
			ok = false;
			break;
		}
		cend = end[-1] == ',' ? end - 1 : end;
		if (out->n) {
			ms_strbuf_addstr(&drop, ", ");
			ms_strbuf_addstr(&add, ", ");
		}
		ms_strbuf_addstr(&drop, "DROP KEY ");
		ms_strbuf_add(&drop, line + 6, q);
		ms_strbuf_addstr(&add, "ADD ");
		ms_strbuf_add(&add, line + 2, (size_t)(cend - (line + 2)));
		out->n++;
	}
	/* the table options close the text; a partitioned table's
	 * partitions would follow them */
	if (!ok || !last || strncmp(last, ") ENGINE=InnoDB", 15) != 0 || strstr(s, "PARTITION BY") || !out->n) {
		ms_strbuf_release(&drop);
		ms_strbuf_release(&add);
		out->n = 0;
		return;
	}
	out->drop = ms_strbuf_detach(&drop);
	out->add = ms_strbuf_detach(&add);
}

void ms_my_keys_clear(struct ms_my_keys *k)
{
	free(k->drop);
	free(k->add);
	memset(k, 0, sizeof(*k));
}

char *ms_my_show_create_normal(const char *s)
{
	const char *opts = strstr(s, "\n) ");
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const char *p;

	for (const char *o; opts && (o = strstr(opts + 1, "\n) ")) != NULL;)
		opts = o;
	if (!opts)
		return ms_xstrdup(s);
	ms_strbuf_add(&sb, s, (size_t)(opts - s));
	for (p = opts; *p;) {
		if (!strncmp(p, " AUTO_INCREMENT=", 16) && p[16] >= '0' && p[16] <= '9') {
			p += 16;
			while (*p >= '0' && *p <= '9')
				p++;
			continue;
		}
		ms_strbuf_addch(&sb, *p++);
	}
	return ms_strbuf_detach(&sb);
}
