/*
 * The header and manifest documents to and from JSON (see manifest.h and
 * FORMAT.md "The JSON documents"); with src/cli/output.c, the only module
 * allowed to include jansson (tests/arch/layers.sh).
 * Encoding never fails: text that is not UTF-8 is kept byte for byte where
 * bytes matter (paths, link targets, owner names, xattr names become
 * {"base64": "..."}) and has invalid sequences replaced with U+FFFD
 * elsewhere. Decoding checks the whole document before handing anything
 * out and names the key path at fault; that path is built only when an
 * error is reported, from a chain of locations on the stack, so that
 * decoding 100k entries formats nothing.
 */
#include "formats/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DUMP_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)
#define UINT32_RANGE "0 to 4294967295"

/* ------------------------------------------------------------------------
 * Building JSON: jansson reports allocation failure as NULL / -1, which
 * we treat like every other allocation failure (util.h): abort.
 */

static json_t *need(json_t *j)
{
	if (!j)
		MS_BUG("jansson: out of memory");
	return j;
}

static void put(json_t *obj, const char *key, json_t *val)
{
	if (json_object_set_new(obj, key, need(val)) != 0)
		MS_BUG("jansson: cannot set an object key");
}

static void push(json_t *arr, json_t *val)
{
	if (json_array_append_new(arr, need(val)) != 0)
		MS_BUG("jansson: cannot append to an array");
}

static int dump_cb(const char *buf, size_t size, void *data)
{
	ms_strbuf_add(data, buf, size);
	return 0;
}

/* Serialises and releases root; the text ends with a newline. */
static char *dump(json_t *root)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	if (json_dump_callback(root, dump_cb, &sb, DUMP_FLAGS) != 0)
		MS_BUG("jansson: cannot serialise a document");
	ms_strbuf_addch(&sb, '\n');
	json_decref(root);
	return ms_strbuf_detach(&sb);
}

/* ------------------------------------------------------------------------
 * Text that may not be UTF-8
 */

/* A plain text field: a JSON string, repaired when it is not UTF-8. */
static json_t *text_new(const char *s)
{
	json_t *j = json_string(s);
	char *fixed;

	if (j)
		return j;
	fixed = ms_utf8_lossy(s);
	j = need(json_string(fixed));
	free(fixed);
	return j;
}

static json_t *text_or_null(const char *s)
{
	return s ? text_new(s) : json_null();
}

/* A byte-string field (FORMAT.md): the string itself when it is UTF-8,
 * else {"base64": "..."} so that no byte is lost. */
static json_t *bytes_new(const char *s)
{
	json_t *j = json_string(s), *o;
	char *b64;

	if (j)
		return j;
	o = need(json_object());
	b64 = ms_b64_encode(s, strlen(s));
	put(o, "base64", json_string(b64));
	free(b64);
	return o;
}

static json_t *bytes_or_null(const char *s)
{
	return s ? bytes_new(s) : json_null();
}

/* ------------------------------------------------------------------------
 * Encoding the header
 */

static json_t *strv_json(const struct ms_strv *sv)
{
	json_t *a = need(json_array());

	for (size_t i = 0; i < sv->n; i++)
		push(a, text_new(sv->v[i]));
	return a;
}

/* Object of key -> string or null, in the given order. */
static json_t *kv_json(const struct ms_kv *kv, size_t n)
{
	json_t *o = need(json_object());

	for (size_t i = 0; i < n; i++) {
		char *key = ms_utf8_lossy(kv[i].key);

		put(o, key, text_or_null(kv[i].value));
		free(key);
	}
	return o;
}

static json_t *db_versions_json(const struct ms_db_versions *d)
{
	json_t *o = need(json_object());

	put(o, "alias", text_new(d->alias));
	put(o, "engine", text_new(d->engine));
	put(o, "server_version", text_or_null(d->server_version));
	put(o, "migrations_applied",
	    d->migrations_applied < 0 ? json_null() : json_integer(d->migrations_applied));
	put(o, "latest_migrations", kv_json(d->latest, d->n_latest));
	return o;
}

static json_t *versions_json(const struct ms_versions *v)
{
	json_t *o = need(json_object()), *dbs = need(json_array());

	put(o, "modoboa", text_or_null(v->modoboa));
	put(o, "django", text_or_null(v->django));
	put(o, "python", text_or_null(v->python));
	put(o, "extensions", kv_json(v->extensions, v->n_extensions));
	for (size_t i = 0; i < v->n_dbs; i++)
		push(dbs, db_versions_json(&v->dbs[i]));
	put(o, "databases", dbs);
	return o;
}

char *ms_header_encode(const struct ms_header *h)
{
	json_t *o = need(json_object());

	put(o, "format_version", json_integer(h->format_version));
	put(o, "snapshot_id", text_new(h->snapshot_id));
	put(o, "created", text_new(h->created));
	put(o, "host", text_new(h->host));
	put(o, "tool_version", text_new(h->tool_version));
	put(o, "instance", bytes_new(h->instance));
	if (h->postfix_dir)
		put(o, "postfix_dir", bytes_new(h->postfix_dir));
	put(o, "tags", strv_json(&h->tags));
	put(o, "note", text_or_null(h->note));
	if (h->upgrade_to)
		put(o, "upgrade_to", text_new(h->upgrade_to));
	put(o, "components", strv_json(&h->components));
	put(o, "versions", versions_json(&h->versions));
	if (h->venv_dir || h->mail_dir || h->dkim_dir || h->system_root) {
		json_t *p = need(json_object());

		if (h->venv_dir)
			put(p, "venv", bytes_new(h->venv_dir));
		if (h->mail_dir)
			put(p, "mail", bytes_new(h->mail_dir));
		if (h->dkim_dir)
			put(p, "dkim", bytes_new(h->dkim_dir));
		if (h->system_root)
			put(p, "system_root", bytes_new(h->system_root));
		put(o, "paths", p);
	}
	if (h->mail_layout)
		put(o, "mail_layout", text_new(h->mail_layout));
	if (h->n_packages)
		put(o, "packages", kv_json(h->packages, h->n_packages));
	return dump(o);
}

/* ------------------------------------------------------------------------
 * Encoding the manifest
 */

static json_t *xattrs_json(const struct ms_entry *e)
{
	json_t *a = need(json_array());

	for (size_t i = 0; i < e->n_xattrs; i++) {
		json_t *x = need(json_object());
		char *b64 = ms_b64_encode(e->xattrs[i].value, e->xattrs[i].size);

		put(x, "name", bytes_new(e->xattrs[i].name));
		put(x, "value", json_string(b64));
		free(b64);
		push(a, x);
	}
	return a;
}

static json_t *entry_json(const struct ms_manifest_entry *me)
{
	const struct ms_entry *e = &me->e;
	json_t *o = need(json_object());

	if (e->size > (uint64_t)LLONG_MAX)
		MS_BUG("entry size does not fit a JSON integer");
	put(o, "path", bytes_new(e->path));
	put(o, "type", json_string(ms_entry_type_name(e->type)));
	put(o, "size", json_integer((json_int_t)e->size));
	put(o, "sha256", text_new(me->sha256));
	put(o, "mode", json_integer(e->mode));
	put(o, "uid", json_integer(e->uid));
	put(o, "gid", json_integer(e->gid));
	put(o, "uname", bytes_or_null(e->uname));
	put(o, "gname", bytes_or_null(e->gname));
	put(o, "mtime", json_integer(e->mtime_sec));
	put(o, "mtime_nsec", json_integer(e->mtime_nsec));
	if (e->link)
		put(o, "link", bytes_new(e->link));
	if (e->n_xattrs)
		put(o, "xattrs", xattrs_json(e));
	if (me->flags & MS_MF_CHANGED) {
		json_t *f = need(json_array());

		push(f, json_string("changed"));
		put(o, "flags", f);
	}
	return o;
}

static json_t *entry_element(const struct ms_manifest *m, size_t i)
{
	return entry_json(&m->entries[i]);
}

static json_t *skipped_element(const struct ms_manifest *m, size_t i)
{
	json_t *s = need(json_object());

	put(s, "path", bytes_new(m->skipped[i].path));
	put(s, "reason", text_new(m->skipped[i].reason));
	return s;
}

/* The manifest is written one top-level value, and one array element, at
 * a time: each is serialised by jansson and re-indented to its depth, so
 * that 100k entries never exist as one tree (building it costs more than
 * everything else). The text is byte for byte what json_dumps gives for
 * the whole document; test_manifest pins it. */
struct indent_ctx {
	struct ms_strbuf *sb;
	const char *pad; /* added after every newline */
};

static int indent_cb(const char *buf, size_t size, void *data)
{
	struct indent_ctx *c = data;
	const char *nl;

	/* JSON text never holds a raw newline inside a string */
	while (size && (nl = memchr(buf, '\n', size)) != NULL) {
		size_t k = (size_t)(nl - buf) + 1;

		ms_strbuf_add(c->sb, buf, k);
		ms_strbuf_addstr(c->sb, c->pad);
		buf += k;
		size -= k;
	}
	ms_strbuf_add(c->sb, buf, size);
	return 0;
}

/* Appends val (released) as it would appear at the depth given by pad. */
static void dump_nested(struct ms_strbuf *sb, json_t *val, const char *pad)
{
	struct indent_ctx c = { sb, pad };

	if (json_dump_callback(need(val), indent_cb, &c, DUMP_FLAGS | JSON_ENCODE_ANY) != 0)
		MS_BUG("jansson: cannot serialise a value");
	json_decref(val);
}

/* `  "key": value` of the top-level object; key is a plain ASCII constant. */
static void dump_member(struct ms_strbuf *sb, const char *key, json_t *val, bool last)
{
	ms_strbuf_addf(sb, "  \"%s\": ", key);
	dump_nested(sb, val, "  ");
	ms_strbuf_addstr(sb, last ? "\n" : ",\n");
}

static void dump_array_member(struct ms_strbuf *sb, const char *key, const struct ms_manifest *m, size_t n,
			      json_t *(*element)(const struct ms_manifest *, size_t), bool last)
{
	ms_strbuf_addf(sb, "  \"%s\": ", key);
	if (n == 0) {
		ms_strbuf_addstr(sb, "[]");
	} else {
		ms_strbuf_addstr(sb, "[\n");
		for (size_t i = 0; i < n; i++) {
			ms_strbuf_addstr(sb, "    ");
			dump_nested(sb, element(m, i), "    ");
			ms_strbuf_addstr(sb, i + 1 < n ? ",\n" : "\n");
		}
		ms_strbuf_addstr(sb, "  ]");
	}
	ms_strbuf_addstr(sb, last ? "\n" : ",\n");
}

static json_t *db_element(const struct ms_manifest *m, size_t i)
{
	const struct ms_manifest_db *db = &m->dbs[i];
	json_t *o = need(json_object()), *tables = need(json_array());

	put(o, "alias", text_new(db->alias));
	put(o, "engine", text_new(db->engine));
	put(o, "server_version", text_or_null(db->server_version));
	put(o, "encoding", text_or_null(db->encoding));
	if (db->collation)
		put(o, "collation", text_new(db->collation));
	if (!strcmp(db->engine, "mysql")) {
		json_t *shared = need(json_array());

		for (size_t k = 0; k < db->shared_snapshot.n; k++)
			push(shared, text_new(db->shared_snapshot.v[k]));
		put(o, "shared_snapshot", shared);
	}
	for (size_t k = 0; k < db->n_tables; k++) {
		const struct ms_manifest_table *t = &db->tables[k];
		json_t *to = need(json_object());

		put(to, "schema", text_new(t->schema));
		put(to, "name", text_new(t->name));
		put(to, "rows", need(json_integer(t->rows)));
		put(to, "digest", text_new(t->digest));
		put(to, "chunks", need(json_integer((json_int_t)t->chunks)));
		push(tables, to);
	}
	put(o, "tables", tables);
	return o;
}

char *ms_manifest_encode(const struct ms_manifest *m)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	ms_strbuf_addstr(&sb, "{\n");
	dump_member(&sb, "format_version", json_integer(m->format_version), false);
	dump_member(&sb, "snapshot_id", text_new(m->snapshot_id), false);
	dump_array_member(&sb, "entries", m, m->n_entries, entry_element, false);
	dump_array_member(&sb, "skipped", m, m->n_skipped, skipped_element, m->n_dbs == 0);
	if (m->n_dbs)
		dump_array_member(&sb, "databases", m, m->n_dbs, db_element, true);
	ms_strbuf_addstr(&sb, "}\n");
	return ms_strbuf_detach(&sb);
}

/* ------------------------------------------------------------------------
 * Decoding: context, key paths and error reports
 */

struct dec {
	const char *name; /* what the user knows the document as (an archive path) */
	const char *kind; /* "header" | "manifest" */
};

/* One step of a key path: `.key` when key is set, else `[index]`. */
struct loc {
	const struct loc *up;
	const char *key;
	size_t index;
};

static void loc_format(struct ms_strbuf *sb, const struct loc *at)
{
	if (!at)
		return;
	loc_format(sb, at->up);
	if (at->key)
		ms_strbuf_addf(sb, "%s%s", at->up ? "." : "", at->key);
	else
		ms_strbuf_addf(sb, "[%zu]", at->index);
}

__attribute__((format(printf, 2, 0)))
static void addv(struct ms_strbuf *sb, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *tmp;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		MS_BUG("vsnprintf failed");
	tmp = ms_xmalloc((size_t)n + 1);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	ms_strbuf_add(sb, tmp, (size_t)n);
	free(tmp);
}

/* Logs "'NAME': invalid KIND: KEYPATH MESSAGE" (no key path when at is
 * NULL); returns -1. */
__attribute__((format(printf, 3, 4)))
static int bad(const struct dec *d, const struct loc *at, const char *fmt, ...)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	va_list ap;

	loc_format(&sb, at);
	if (at)
		ms_strbuf_addch(&sb, ' ');
	va_start(ap, fmt);
	addv(&sb, fmt, ap);
	va_end(ap);
	ms_log_error("'%s': invalid %s: %s", d->name, d->kind, ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
	return -1;
}

/* A copy of s fit for a one-line message quoting it: control characters
 * become '?'. Caller frees. */
static char *printable(const char *s)
{
	char *p = ms_xstrdup(s);

	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return p;
}

static const char *type_word(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* ------------------------------------------------------------------------
 * Decoding: typed getters. Each takes the object `obj` found at `at` and a
 * key; on error it logs (naming at.key) and returns -1.
 */

static json_t *member(const struct dec *d, json_t *obj, const struct loc *at, const char *key)
{
	json_t *j = json_object_get(obj, key);
	struct loc here = { at, key, 0 };

	if (!j)
		bad(d, &here, "is missing");
	return j;
}

static int wrong_type(const struct dec *d, const struct loc *here, const char *want, const json_t *j)
{
	return bad(d, here, "is %s, not %s", type_word(j), want);
}

static json_t *get_typed(const struct dec *d, json_t *obj, const struct loc *at, const char *key,
			 json_type type, const char *want)
{
	json_t *j = member(d, obj, at, key);
	struct loc here = { at, key, 0 };

	if (j && json_typeof(j) != type) {
		wrong_type(d, &here, want, j);
		return NULL;
	}
	return j;
}

/* A borrowed string; with `nullable`, JSON null gives *out = NULL. *out is
 * NULL after a failure too (GCC -O3 cannot see that callers never read it
 * then, and warns). */
static int get_str(const struct dec *d, json_t *obj, const struct loc *at, const char *key, bool nullable,
		   const char **out)
{
	json_t *j = member(d, obj, at, key);
	struct loc here = { at, key, 0 };

	*out = NULL;
	if (!j)
		return -1;
	if (nullable && json_is_null(j)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(j))
		return wrong_type(d, &here, nullable ? "a string or null" : "a string", j);
	*out = json_string_value(j);
	return 0;
}

/* Like get_str, but a copy the caller owns. */
static int dup_str(const struct dec *d, json_t *obj, const struct loc *at, const char *key, bool nullable,
		   char **out)
{
	const char *s;

	if (get_str(d, obj, at, key, nullable, &s) < 0)
		return -1;
	*out = s ? ms_xstrdup(s) : NULL;
	return 0;
}

static int get_int(const struct dec *d, json_t *obj, const struct loc *at, const char *key, long long min,
		   long long max, const char *range, long long *out)
{
	json_t *j = get_typed(d, obj, at, key, JSON_INTEGER, "an integer");
	struct loc here = { at, key, 0 };
	long long v;

	if (!j)
		return -1;
	v = json_integer_value(j);
	if (v < min || v > max)
		return bad(d, &here, "%lld is out of range (%s)", v, range);
	*out = v;
	return 0;
}

/* A byte-string value j found at `here` (a string, or {"base64": ...}
 * decoding to bytes without NUL); caller owns *out. */
static int bytes_value(const struct dec *d, json_t *j, const struct loc *here, bool nullable, char **out)
{
	const char *b64;
	unsigned char *raw;
	size_t len;
	struct loc sub = { here, "base64", 0 };

	if (nullable && json_is_null(j)) {
		*out = NULL;
		return 0;
	}
	if (json_is_string(j)) {
		*out = ms_xstrdup(json_string_value(j));
		return 0;
	}
	if (!json_is_object(j))
		return wrong_type(d, here, nullable ? "a string, a base64 object or null"
						    : "a string or a base64 object", j);
	if (get_str(d, j, here, "base64", false, &b64) < 0)
		return -1;
	if (ms_b64_decode(b64, strlen(b64), &raw, &len) < 0)
		return bad(d, &sub, "is not valid base64");
	if (strlen((char *)raw) != len) {
		free(raw);
		return bad(d, &sub, "decodes to bytes containing NUL");
	}
	*out = (char *)raw;
	return 0;
}

static int get_bytes(const struct dec *d, json_t *obj, const struct loc *at, const char *key, bool nullable,
		     char **out)
{
	json_t *j = member(d, obj, at, key);
	struct loc here = { at, key, 0 };

	return j ? bytes_value(d, j, &here, nullable, out) : -1;
}

/* format_version first: a newer document may follow another schema, so
 * nothing else is looked at before it is known to be one we read. */
static int check_format_version(const struct dec *d, json_t *root, int *out)
{
	long long v;

	if (get_int(d, root, NULL, "format_version", 1, LLONG_MAX, "1 or more", &v) < 0)
		return -1;
	if (v > MS_FORMAT_VERSION)
		return ms_log_error("'%s': format version %lld is newer than this modosnap supports (%d)",
				    d->name, v, MS_FORMAT_VERSION);
	*out = (int)v;
	return 0;
}

static bool matches(const char *s, const char *pattern)
{
	/* pattern: '9' a digit, 'x' a lowercase hex digit, anything else itself */
	for (; *pattern; s++, pattern++) {
		bool ok = *pattern == '9' ? (*s >= '0' && *s <= '9')
			  : *pattern == 'x' ? ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))
			  : *s == *pattern;
		if (!ok)
			return false;
	}
	return *s == '\0';
}

static int get_snapshot_id(const struct dec *d, json_t *root, char **out)
{
	const char *s;
	struct loc here = { NULL, "snapshot_id", 0 };

	if (get_str(d, root, NULL, "snapshot_id", false, &s) < 0)
		return -1;
	if (!matches(s, "99999999T999999Z-xxxxxxxx")) {
		char *p = printable(s);

		bad(d, &here, "'%s' is not a snapshot id (YYYYMMDDTHHMMSSZ-xxxxxxxx)", p);
		free(p);
		return -1;
	}
	*out = ms_xstrdup(s);
	return 0;
}

/* Parses text into a root object, reporting jansson's own message. */
static json_t *load(const struct dec *d, const char *text, size_t len)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

	if (!root) {
		ms_log_error("'%s': invalid %s: %s at line %d", d->name, d->kind, err.text, err.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		bad(d, NULL, "the document is %s, not an object", type_word(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------------------
 * Decoding the header
 */

static int decode_strv(const struct dec *d, json_t *obj, const struct loc *at, const char *key,
		       struct ms_strv *out)
{
	json_t *a = get_typed(d, obj, at, key, JSON_ARRAY, "an array"), *v;
	struct loc here = { at, key, 0 };
	size_t i;

	if (!a)
		return -1;
	json_array_foreach(a, i, v) {
		struct loc item = { &here, NULL, i };

		if (!json_is_string(v))
			return wrong_type(d, &item, "a string", v);
		ms_strv_push(out, json_string_value(v));
	}
	return 0;
}

static int decode_kv(const struct dec *d, json_t *obj, const struct loc *at, const char *key,
		     struct ms_kv **out, size_t *n_out)
{
	json_t *o = get_typed(d, obj, at, key, JSON_OBJECT, "an object"), *v;
	struct loc here = { at, key, 0 };
	const char *k;

	if (!o)
		return -1;
	*out = ms_xcalloc(json_object_size(o), sizeof(**out));
	*n_out = 0;
	json_object_foreach(o, k, v) {
		struct loc item = { &here, k, 0 };

		if (!json_is_string(v) && !json_is_null(v))
			return wrong_type(d, &item, "a string or null", v);
		(*out)[*n_out].key = ms_xstrdup(k);
		(*out)[*n_out].value = json_is_null(v) ? NULL : ms_xstrdup(json_string_value(v));
		(*n_out)++;
	}
	return 0;
}

static int decode_db_versions(const struct dec *d, json_t *o, const struct loc *at, struct ms_db_versions *db)
{
	json_t *m;

	if (!json_is_object(o))
		return wrong_type(d, at, "an object", o);
	if (dup_str(d, o, at, "alias", false, &db->alias) < 0 ||
	    dup_str(d, o, at, "engine", false, &db->engine) < 0 ||
	    dup_str(d, o, at, "server_version", true, &db->server_version) < 0)
		return -1;
	m = member(d, o, at, "migrations_applied");
	if (!m)
		return -1;
	db->migrations_applied = -1;
	if (!json_is_null(m)) {
		long long v;

		if (get_int(d, o, at, "migrations_applied", 0, LLONG_MAX, "0 or more", &v) < 0)
			return -1;
		db->migrations_applied = v;
	}
	return decode_kv(d, o, at, "latest_migrations", &db->latest, &db->n_latest);
}

static int decode_versions(const struct dec *d, json_t *root, struct ms_versions *v)
{
	struct loc at = { NULL, "versions", 0 }, dbs_at = { &at, "databases", 0 };
	json_t *o = get_typed(d, root, NULL, "versions", JSON_OBJECT, "an object"), *dbs, *x;
	size_t i;

	if (!o || dup_str(d, o, &at, "modoboa", true, &v->modoboa) < 0 ||
	    dup_str(d, o, &at, "django", true, &v->django) < 0 ||
	    dup_str(d, o, &at, "python", true, &v->python) < 0 ||
	    decode_kv(d, o, &at, "extensions", &v->extensions, &v->n_extensions) < 0)
		return -1;
	dbs = get_typed(d, o, &at, "databases", JSON_ARRAY, "an array");
	if (!dbs)
		return -1;
	v->dbs = ms_xcalloc(json_array_size(dbs), sizeof(*v->dbs));
	json_array_foreach(dbs, i, x) {
		struct loc item = { &dbs_at, NULL, i };

		v->n_dbs = i + 1; /* counted before filling so that clearing frees a partial one */
		if (decode_db_versions(d, x, &item, &v->dbs[i]) < 0)
			return -1;
	}
	return 0;
}

static int get_created(const struct dec *d, json_t *root, char **out)
{
	const char *s;
	struct loc here = { NULL, "created", 0 };

	if (get_str(d, root, NULL, "created", false, &s) < 0)
		return -1;
	if (!matches(s, "9999-99-99T99:99:99Z")) {
		char *p = printable(s);

		bad(d, &here, "'%s' is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)", p);
		free(p);
		return -1;
	}
	*out = ms_xstrdup(s);
	return 0;
}

/* "paths": every key optional, each a path (bytes). */
static int decode_paths(const struct dec *d, json_t *root, struct ms_header *h)
{
	json_t *o = get_typed(d, root, NULL, "paths", JSON_OBJECT, "an object");
	struct loc at = { NULL, "paths", 0 };
	static const char *const keys[] = { "venv", "mail", "dkim", "system_root" };
	char **fields[] = { &h->venv_dir, &h->mail_dir, &h->dkim_dir, &h->system_root };

	if (!o)
		return -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(o, keys[i]) && get_bytes(d, o, &at, keys[i], false, fields[i]) < 0)
			return -1;
	return 0;
}

static int decode_header_fields(const struct dec *d, json_t *root, struct ms_header *h)
{
	if (check_format_version(d, root, &h->format_version) < 0 || get_snapshot_id(d, root, &h->snapshot_id) < 0 ||
	    get_created(d, root, &h->created) < 0 || dup_str(d, root, NULL, "host", false, &h->host) < 0 ||
	    dup_str(d, root, NULL, "tool_version", false, &h->tool_version) < 0 ||
	    get_bytes(d, root, NULL, "instance", false, &h->instance) < 0 ||
	    decode_strv(d, root, NULL, "tags", &h->tags) < 0 ||
	    dup_str(d, root, NULL, "note", true, &h->note) < 0 ||
	    decode_strv(d, root, NULL, "components", &h->components) < 0)
		return -1;
	/* optional: archives written before it existed lack it */
	if (json_object_get(root, "postfix_dir") && get_bytes(d, root, NULL, "postfix_dir", false, &h->postfix_dir) < 0)
		return -1;
	if (json_object_get(root, "upgrade_to") && dup_str(d, root, NULL, "upgrade_to", true, &h->upgrade_to) < 0)
		return -1;
	if (json_object_get(root, "paths") && decode_paths(d, root, h) < 0)
		return -1;
	if (json_object_get(root, "mail_layout") && dup_str(d, root, NULL, "mail_layout", false, &h->mail_layout) < 0)
		return -1;
	if (json_object_get(root, "packages") && decode_kv(d, root, NULL, "packages", &h->packages, &h->n_packages) < 0)
		return -1;
	return decode_versions(d, root, &h->versions);
}

int ms_header_decode(const char *name, const char *text, size_t len, struct ms_header *out)
{
	struct dec d = { name, "header" };
	struct ms_header h = { 0 };
	json_t *root = load(&d, text, len);
	int ret;

	if (!root)
		return -1;
	ret = decode_header_fields(&d, root, &h);
	json_decref(root);
	if (ret < 0) {
		ms_header_clear(&h);
		return -1;
	}
	*out = h;
	return 0;
}

/* ------------------------------------------------------------------------
 * Decoding the manifest
 */

static int get_sha256(const struct dec *d, json_t *o, const struct loc *at, char out[MS_HASH_HEX_MAX])
{
	const char *s;
	struct loc here = { at, "sha256", 0 };

	if (get_str(d, o, at, "sha256", false, &s) < 0)
		return -1;
	if (!matches(s, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
		return bad(d, &here, "is not a 64-digit hex string");
	memcpy(out, s, MS_HASH_HEX_MAX);
	return 0;
}

static int get_type(const struct dec *d, json_t *o, const struct loc *at, enum ms_entry_type *out)
{
	const char *s;
	struct loc here = { at, "type", 0 };

	if (get_str(d, o, at, "type", false, &s) < 0)
		return -1;
	if (ms_entry_type_parse(s, out) < 0) {
		char *p = printable(s);

		bad(d, &here, "'%s' is not an entry type (file, dir, symlink, hardlink)", p);
		free(p);
		return -1;
	}
	return 0;
}

/* path, type, sizes, ownership and times. */
static int decode_entry_meta(const struct dec *d, json_t *o, const struct loc *at, struct ms_entry *e)
{
	struct loc path_at = { at, "path", 0 };
	long long size, mode, uid, gid, mtime, nsec;

	if (get_bytes(d, o, at, "path", false, &e->path) < 0)
		return -1;
	if (!*e->path)
		return bad(d, &path_at, "is empty");
	if (get_type(d, o, at, &e->type) < 0 ||
	    get_int(d, o, at, "size", 0, LLONG_MAX, "0 or more", &size) < 0 ||
	    get_int(d, o, at, "mode", 0, 07777, "0 to 07777", &mode) < 0 ||
	    get_int(d, o, at, "uid", 0, UINT32_MAX, UINT32_RANGE, &uid) < 0 ||
	    get_int(d, o, at, "gid", 0, UINT32_MAX, UINT32_RANGE, &gid) < 0 ||
	    get_bytes(d, o, at, "uname", true, &e->uname) < 0 ||
	    get_bytes(d, o, at, "gname", true, &e->gname) < 0 ||
	    get_int(d, o, at, "mtime", LLONG_MIN, LLONG_MAX, "any", &mtime) < 0 ||
	    get_int(d, o, at, "mtime_nsec", 0, 999999999, "0 to 999999999", &nsec) < 0)
		return -1;
	e->size = (uint64_t)size;
	e->mode = (uint32_t)mode;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->mtime_sec = mtime;
	e->mtime_nsec = (int32_t)nsec;
	return 0;
}

/* What each type requires of size, digest and link (FORMAT.md). */
static int check_type_rules(const struct dec *d, json_t *o, const struct loc *at,
			    struct ms_manifest_entry *me)
{
	struct ms_entry *e = &me->e;
	const char *tn = ms_entry_type_name(e->type);
	bool is_link = e->type == MS_ENTRY_SYMLINK || e->type == MS_ENTRY_HARDLINK;
	json_t *link = json_object_get(o, "link");
	struct loc link_at = { at, "link", 0 }, size_at = { at, "size", 0 }, sha_at = { at, "sha256", 0 };

	if (e->type != MS_ENTRY_FILE && e->size != 0)
		return bad(d, &size_at, "must be 0 for a %s entry", tn);
	if (e->type != MS_ENTRY_FILE && strcmp(me->sha256, EMPTY_SHA256) != 0)
		return bad(d, &sha_at, "must be the digest of no data for a %s entry", tn);
	if (!is_link)
		return link && !json_is_null(link) ? bad(d, &link_at, "is not allowed for a %s entry", tn) : 0;
	if (get_bytes(d, o, at, "link", false, &e->link) < 0)
		return -1;
	return *e->link ? 0 : bad(d, &link_at, "is empty");
}

static int decode_xattr(const struct dec *d, json_t *x, const struct loc *at, struct ms_xattr *xa)
{
	const char *v;
	unsigned char *raw;
	struct loc name_at = { at, "name", 0 }, value_at = { at, "value", 0 };

	if (!json_is_object(x))
		return wrong_type(d, at, "an object", x);
	if (get_bytes(d, x, at, "name", false, &xa->name) < 0)
		return -1;
	if (!*xa->name)
		return bad(d, &name_at, "is empty");
	if (get_str(d, x, at, "value", false, &v) < 0)
		return -1;
	if (ms_b64_decode(v, strlen(v), &raw, &xa->size) < 0)
		return bad(d, &value_at, "is not valid base64");
	xa->value = raw;
	return 0;
}

static int decode_xattrs(const struct dec *d, json_t *o, const struct loc *at, struct ms_entry *e)
{
	struct loc here = { at, "xattrs", 0 };
	json_t *a = json_object_get(o, "xattrs"), *x;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return wrong_type(d, &here, "an array", a);
	e->xattrs = ms_xcalloc(json_array_size(a), sizeof(*e->xattrs));
	json_array_foreach(a, i, x) {
		struct loc item = { &here, NULL, i }, name_at = { &item, "name", 0 };

		e->n_xattrs = i + 1;
		if (decode_xattr(d, x, &item, &e->xattrs[i]) < 0)
			return -1;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(e->xattrs[k].name, e->xattrs[i].name) == 0) {
				char *p = printable(e->xattrs[i].name);

				bad(d, &name_at, "'%s' is a duplicate", p);
				free(p);
				return -1;
			}
		}
	}
	return 0;
}

/* Known flag names set bits; unknown ones are ignored (FORMAT.md: flags
 * are advisory, a flag that changes how data is read bumps the format). */
static int decode_flags(const struct dec *d, json_t *o, const struct loc *at, uint32_t *flags)
{
	struct loc here = { at, "flags", 0 };
	json_t *a = json_object_get(o, "flags"), *f;
	size_t i;

	*flags = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return wrong_type(d, &here, "an array", a);
	json_array_foreach(a, i, f) {
		struct loc item = { &here, NULL, i };

		if (!json_is_string(f))
			return wrong_type(d, &item, "a string", f);
		if (strcmp(json_string_value(f), "changed") == 0)
			*flags |= MS_MF_CHANGED;
	}
	return 0;
}

static int decode_entry(const struct dec *d, json_t *o, const struct loc *at, struct ms_manifest_entry *me)
{
	if (!json_is_object(o))
		return wrong_type(d, at, "an object", o);
	if (decode_entry_meta(d, o, at, &me->e) < 0 || get_sha256(d, o, at, me->sha256) < 0 ||
	    check_type_rules(d, o, at, me) < 0 || decode_xattrs(d, o, at, &me->e) < 0)
		return -1;
	return decode_flags(d, o, at, &me->flags);
}

/* Each path once; a hardlink names an earlier file entry. `seen` maps
 * path -> true for files, false for the other types. */
static int check_entry_links(const struct dec *d, json_t *seen, const struct loc *at,
			     const struct ms_manifest_entry *me)
{
	const struct ms_entry *e = &me->e;
	struct loc link_at = { at, "link", 0 };
	char *p;

	if (json_object_get(seen, e->path)) {
		p = printable(e->path);
		bad(d, NULL, "duplicate entry '%s'", p);
		free(p);
		return -1;
	}
	if (e->type == MS_ENTRY_HARDLINK && !json_is_true(json_object_get(seen, e->link))) {
		p = printable(e->link);
		bad(d, &link_at, "'%s' is not an earlier file entry", p);
		free(p);
		return -1;
	}
	if (json_object_set_new_nocheck(seen, e->path, json_boolean(e->type == MS_ENTRY_FILE)) != 0)
		MS_BUG("jansson: cannot set an object key");
	return 0;
}

static int decode_entries(const struct dec *d, json_t *root, struct ms_manifest *m)
{
	struct loc at = { NULL, "entries", 0 };
	json_t *a = get_typed(d, root, NULL, "entries", JSON_ARRAY, "an array"), *x, *seen;
	size_t i;
	int ret = 0;

	if (!a)
		return -1;
	m->alloc_entries = json_array_size(a);
	m->entries = ms_xcalloc(m->alloc_entries, sizeof(*m->entries));
	seen = need(json_object());
	json_array_foreach(a, i, x) {
		struct loc item = { &at, NULL, i };

		m->n_entries = i + 1;
		if (decode_entry(d, x, &item, &m->entries[i]) < 0 ||
		    check_entry_links(d, seen, &item, &m->entries[i]) < 0) {
			ret = -1;
			break;
		}
		/* release the entry's JSON now: the memory is reused, still
		 * warm, by the entries that follow */
		if (json_array_set_new(a, i, json_null()) != 0)
			MS_BUG("jansson: cannot replace an array element");
	}
	json_decref(seen);
	return ret;
}

static int decode_skipped(const struct dec *d, json_t *root, struct ms_manifest *m)
{
	struct loc at = { NULL, "skipped", 0 };
	json_t *a = get_typed(d, root, NULL, "skipped", JSON_ARRAY, "an array"), *x;
	size_t i;

	if (!a)
		return -1;
	m->alloc_skipped = json_array_size(a);
	m->skipped = ms_xcalloc(m->alloc_skipped, sizeof(*m->skipped));
	json_array_foreach(a, i, x) {
		struct loc item = { &at, NULL, i };
		struct ms_skipped *s = &m->skipped[i];

		m->n_skipped = i + 1;
		if (!json_is_object(x))
			return wrong_type(d, &item, "an object", x);
		if (get_bytes(d, x, &item, "path", false, &s->path) < 0 ||
		    dup_str(d, x, &item, "reason", false, &s->reason) < 0)
			return -1;
	}
	return 0;
}

static bool is_hex64(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

static int decode_table(const struct dec *d, json_t *x, const struct loc *at, struct ms_manifest_table *t)
{
	long long chunks;
	char *digest = NULL;

	if (!json_is_object(x))
		return wrong_type(d, at, "an object", x);
	if (dup_str(d, x, at, "schema", false, &t->schema) < 0 || dup_str(d, x, at, "name", false, &t->name) < 0 ||
	    get_int(d, x, at, "rows", 0, LLONG_MAX, "0 or more", &t->rows) < 0 ||
	    get_int(d, x, at, "chunks", 0, LLONG_MAX, "0 or more", &chunks) < 0 ||
	    dup_str(d, x, at, "digest", false, &digest) < 0)
		return -1;
	t->chunks = (unsigned long)chunks;
	if (!is_hex64(digest)) {
		struct loc here = { at, "digest", 0 };

		free(digest);
		return bad(d, &here, "is not a 64-digit hex string");
	}
	memcpy(t->digest, digest, 65);
	free(digest);
	return 0;
}

/* The optional MariaDB/MySQL keys: "collation" and "shared_snapshot". */
static int decode_db_mysql(const struct dec *d, json_t *x, const struct loc *at, struct ms_manifest_db *db)
{
	struct loc sat = { at, "shared_snapshot", 0 };
	json_t *a, *s;
	size_t i;

	if (json_object_get(x, "collation") && dup_str(d, x, at, "collation", true, &db->collation) < 0)
		return -1;
	a = json_object_get(x, "shared_snapshot");
	if (!a)
		return 0;
	if (!json_is_array(a))
		return wrong_type(d, &sat, "an array", a);
	json_array_foreach(a, i, s) {
		struct loc item = { &sat, NULL, i };

		if (!json_is_string(s))
			return wrong_type(d, &item, "a string", s);
		ms_strv_push(&db->shared_snapshot, json_string_value(s));
	}
	return 0;
}

static int decode_db(const struct dec *d, json_t *x, const struct loc *at, struct ms_manifest_db *db)
{
	struct loc tat = { at, "tables", 0 };
	json_t *a, *t;
	size_t i;

	if (!json_is_object(x))
		return wrong_type(d, at, "an object", x);
	if (dup_str(d, x, at, "alias", false, &db->alias) < 0 || dup_str(d, x, at, "engine", false, &db->engine) < 0 ||
	    dup_str(d, x, at, "server_version", true, &db->server_version) < 0 ||
	    dup_str(d, x, at, "encoding", true, &db->encoding) < 0)
		return -1;
	if (decode_db_mysql(d, x, at, db) < 0)
		return -1;
	if (!(a = get_typed(d, x, at, "tables", JSON_ARRAY, "an array")))
		return -1;
	db->tables = ms_xcalloc(json_array_size(a) + 1, sizeof(*db->tables));
	json_array_foreach(a, i, t) {
		struct loc item = { &tat, NULL, i };

		db->n_tables = i + 1;
		if (decode_table(d, t, &item, &db->tables[i]) < 0)
			return -1;
	}
	return 0;
}

/* "databases" is optional: archives without dumps do not carry it. */
static int decode_dbs(const struct dec *d, json_t *root, struct ms_manifest *m)
{
	struct loc at = { NULL, "databases", 0 };
	json_t *a = json_object_get(root, "databases"), *x;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return wrong_type(d, &at, "an array", a);
	m->dbs = ms_xcalloc(json_array_size(a) + 1, sizeof(*m->dbs));
	json_array_foreach(a, i, x) {
		struct loc item = { &at, NULL, i };

		m->n_dbs = i + 1;
		if (decode_db(d, x, &item, &m->dbs[i]) < 0)
			return -1;
	}
	return 0;
}

int ms_manifest_decode(const char *name, const char *text, size_t len, struct ms_manifest *out)
{
	struct dec d = { name, "manifest" };
	struct ms_manifest m = { 0 };
	json_t *root = load(&d, text, len);
	int ret = -1;

	if (!root)
		return -1;
	if (check_format_version(&d, root, &m.format_version) == 0 &&
	    get_snapshot_id(&d, root, &m.snapshot_id) == 0 && decode_entries(&d, root, &m) == 0 &&
	    decode_skipped(&d, root, &m) == 0 && decode_dbs(&d, root, &m) == 0)
		ret = 0;
	json_decref(root);
	if (ret < 0) {
		ms_manifest_clear(&m);
		return -1;
	}
	*out = m;
	return 0;
}

/* ------------------------------------------------------------------------
 * Building and freeing
 */

/* Reads n bytes of randomness: getrandom(2), /dev/urandom when the kernel
 * lacks it; a machine with neither cannot name snapshots safely. */
static void random_bytes(void *buf, size_t n)
{
	ssize_t got;
	int fd;

	do
		got = getrandom(buf, n, 0);
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)n)
		return;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	got = fd >= 0 ? read(fd, buf, n) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)n)
		MS_BUG("no source of random bytes (getrandom, /dev/urandom)");
}

void ms_header_new_id(long long now, char **id, char **created)
{
	time_t t = (time_t)now;
	struct tm tm;
	unsigned char r[4];
	char stamp[32], iso[32];

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
		MS_BUG("snapshot time outside the years 1000 to 9999");
	random_bytes(r, sizeof(r));
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	*id = ms_xasprintf("%s-%02x%02x%02x%02x", stamp, r[0], r[1], r[2], r[3]);
	*created = ms_xstrdup(iso);
}

void ms_manifest_add(struct ms_manifest *m, const struct ms_entry *e, const char *sha256, uint32_t flags)
{
	struct ms_manifest_entry *me;

	if (m->n_entries >= m->alloc_entries) {
		m->alloc_entries = m->n_entries < 8 ? 16 : m->n_entries * 2;
		m->entries = ms_xrealloc(m->entries, m->alloc_entries * sizeof(*m->entries));
	}
	me = &m->entries[m->n_entries++];
	memset(me, 0, sizeof(*me));
	ms_entry_copy(&me->e, e);
	snprintf(me->sha256, sizeof(me->sha256), "%s", sha256);
	me->flags = flags;
}

void ms_manifest_add_skipped(struct ms_manifest *m, const char *path, const char *reason)
{
	if (m->n_skipped >= m->alloc_skipped) {
		m->alloc_skipped = m->n_skipped < 8 ? 16 : m->n_skipped * 2;
		m->skipped = ms_xrealloc(m->skipped, m->alloc_skipped * sizeof(*m->skipped));
	}
	m->skipped[m->n_skipped].path = ms_xstrdup(path);
	m->skipped[m->n_skipped].reason = ms_xstrdup(reason);
	m->n_skipped++;
}

const struct ms_manifest_entry *ms_manifest_find(const struct ms_manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(m->entries[i].e.path, path) == 0)
			return &m->entries[i];
	return NULL;
}

static void kv_free(struct ms_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void ms_versions_clear(struct ms_versions *v)
{
	free(v->modoboa);
	free(v->django);
	free(v->python);
	kv_free(v->extensions, v->n_extensions);
	for (size_t i = 0; i < v->n_dbs; i++) {
		struct ms_db_versions *db = &v->dbs[i];

		free(db->alias);
		free(db->engine);
		free(db->server_version);
		kv_free(db->latest, db->n_latest);
	}
	free(v->dbs);
	memset(v, 0, sizeof(*v));
}

void ms_header_clear(struct ms_header *h)
{
	free(h->snapshot_id);
	free(h->created);
	free(h->host);
	free(h->tool_version);
	free(h->instance);
	free(h->postfix_dir);
	free(h->upgrade_to);
	ms_strv_clear(&h->tags);
	free(h->note);
	ms_strv_clear(&h->components);
	ms_versions_clear(&h->versions);
	free(h->venv_dir);
	free(h->mail_dir);
	free(h->dkim_dir);
	free(h->system_root);
	free(h->mail_layout);
	kv_free(h->packages, h->n_packages);
	memset(h, 0, sizeof(*h));
}

struct ms_manifest_db *ms_manifest_add_db(struct ms_manifest *m)
{
	m->dbs = ms_xrealloc(m->dbs, (m->n_dbs + 1) * sizeof(*m->dbs));
	memset(&m->dbs[m->n_dbs], 0, sizeof(*m->dbs));
	return &m->dbs[m->n_dbs++];
}

void ms_manifest_db_add_table(struct ms_manifest_db *db, const char *schema, const char *name, long long rows,
			      const char *digest, unsigned long chunks)
{
	struct ms_manifest_table *t;

	db->tables = ms_xrealloc(db->tables, (db->n_tables + 1) * sizeof(*db->tables));
	t = &db->tables[db->n_tables++];
	t->schema = ms_xstrdup(schema);
	t->name = ms_xstrdup(name);
	t->rows = rows;
	snprintf(t->digest, sizeof(t->digest), "%s", digest);
	t->chunks = chunks;
}

static void db_free(struct ms_manifest_db *db)
{
	free(db->alias);
	free(db->engine);
	free(db->server_version);
	free(db->encoding);
	free(db->collation);
	ms_strv_clear(&db->shared_snapshot);
	for (size_t k = 0; k < db->n_tables; k++) {
		free(db->tables[k].schema);
		free(db->tables[k].name);
	}
	free(db->tables);
}

void ms_manifest_clear(struct ms_manifest *m)
{
	for (size_t i = 0; i < m->n_dbs; i++)
		db_free(&m->dbs[i]);
	free(m->dbs);
	free(m->snapshot_id);
	for (size_t i = 0; i < m->n_entries; i++)
		ms_entry_clear(&m->entries[i].e);
	free(m->entries);
	for (size_t i = 0; i < m->n_skipped; i++) {
		free(m->skipped[i].path);
		free(m->skipped[i].reason);
	}
	free(m->skipped);
	memset(m, 0, sizeof(*m));
}
