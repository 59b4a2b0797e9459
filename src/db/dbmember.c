/*
 * Database dump members (see dbmember.h).
 */
#include "db/dbmember.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/util.h"

int ms_db_write_member(struct ms_archive_writer *w, const char *path, const void *buf, size_t len,
		       ms_member_cb cb, void *ctx)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX];

	memset(&e, 0, sizeof(e));
	e.path = (char *)path;
	e.type = MS_ENTRY_FILE;
	e.size = len;
	e.mode = 0600;
	e.uid = (uint32_t)getuid();
	e.gid = (uint32_t)getgid();
	e.mtime_sec = (int64_t)time(NULL);
	if (ms_archive_write_buffer(w, &e, buf, len, sha) < 0)
		return -1;
	return cb ? cb(ctx, &e, sha) : 0;
}

void ms_rowchunks_init(struct ms_rowchunks *rc, struct ms_archive_writer *w, size_t size, ms_member_cb cb,
		       void *ctx)
{
	memset(rc, 0, sizeof(*rc));
	rc->w = w;
	rc->cb = cb;
	rc->ctx = ctx;
	rc->size = size;
	rc->buf = ms_xmalloc(size);
}

void ms_rowchunks_begin(struct ms_rowchunks *rc, const char *dir, const char *ext)
{
	free(rc->dir);
	rc->dir = ms_xstrdup(dir);
	rc->ext = ext;
	rc->len = 0;
	rc->chunks = 0;
}

static int write_chunk(struct ms_rowchunks *rc, const void *buf, size_t len)
{
	char *path = ms_xasprintf("%s/%06lu%s", rc->dir, rc->chunks + 1, rc->ext);
	int ret = ms_db_write_member(rc->w, path, buf, len, rc->cb, rc->ctx);

	free(path);
	if (ret == 0)
		rc->chunks++;
	return ret;
}

int ms_rowchunks_end(struct ms_rowchunks *rc)
{
	int ret = 0;

	if (rc->len)
		ret = write_chunk(rc, rc->buf, rc->len);
	rc->len = 0;
	return ret;
}

int ms_rowchunks_add(struct ms_rowchunks *rc, const void *row, size_t len)
{
	if (rc->len + len > rc->size && ms_rowchunks_end(rc) < 0)
		return -1;
	if (len > rc->size)
		return write_chunk(rc, row, len);
	memcpy(rc->buf + rc->len, row, len);
	rc->len += len;
	return 0;
}

int ms_rowchunks_put(struct ms_rowchunks *rc, const void *buf, size_t len)
{
	if (ms_rowchunks_end(rc) < 0)
		return -1;
	return write_chunk(rc, buf, len);
}

void ms_rowchunks_release(struct ms_rowchunks *rc)
{
	free(rc->buf);
	free(rc->dir);
	memset(rc, 0, sizeof(*rc));
}
