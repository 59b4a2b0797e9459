/*
 * Which components a snapshot takes (see components.h).
 */
#include "snapshot/components.h"
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = { "instance", "postfix", "db", "venv", "dkim", "system", "mail" };
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static bool *kind_flag(struct ms_component_set *s, const char *name)
{
	bool *flags[] = { &s->instance, &s->postfix, &s->db, &s->venv, &s->dkim, &s->system, &s->mail };

	for (size_t i = 0; i < N_KINDS; i++)
		if (!strcmp(name, kinds[i]))
			return flags[i];
	return NULL;
}

static void strv_remove(struct ms_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s)) {
			free(sv->v[i]);
			memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i) * sizeof(*sv->v)); /* with the NULL */
			sv->n--;
			return;
		}
}

/* Turns one name on or off; false when it is not a component. */
static bool set_one(struct ms_component_set *s, const char *name, bool on)
{
	bool *flag = kind_flag(s, name);

	if (flag) {
		*flag = on;
		return true;
	}
	if (strncmp(name, "db:", 3) != 0 || !name[3])
		return false;
	if (on) {
		strv_remove(&s->db_without, name);
		if (!ms_strv_contains(&s->db_with, name))
			ms_strv_push(&s->db_with, name);
	} else {
		strv_remove(&s->db_with, name);
		if (!ms_strv_contains(&s->db_without, name))
			ms_strv_push(&s->db_without, name);
	}
	return true;
}

void ms_components_choose(const struct ms_component_request *req, struct ms_component_set *out)
{
	memset(out, 0, sizeof(*out));
	if (req->components && req->components->n)
		for (size_t i = 0; i < req->components->n; i++)
			set_one(out, req->components->v[i], true);
	else
		out->instance = out->postfix = out->db = out->dkim = out->system = true;
	if (req->capture_venv || req->pre_upgrade)
		out->venv = true;
	if (req->mail_enabled)
		out->mail = true;
	for (size_t i = 0; req->with && i < req->with->n; i++)
		set_one(out, req->with->v[i], true);
	for (size_t i = 0; req->without && i < req->without->n; i++)
		set_one(out, req->without->v[i], false);
	if (req->no_db) {
		out->db = false;
		ms_strv_clear(&out->db_with);
	}
}

bool ms_component_set_has_db(const struct ms_component_set *s, const char *alias)
{
	char *name = ms_xasprintf("db:%s", alias);
	bool has = s->db ? !ms_strv_contains(&s->db_without, name) : ms_strv_contains(&s->db_with, name);

	free(name);
	return has;
}

void ms_component_set_clear(struct ms_component_set *s)
{
	ms_strv_clear(&s->db_with);
	ms_strv_clear(&s->db_without);
}

static bool part_ok(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			return false;
	return true;
}

bool ms_mailbox_valid(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at && strlen(addr) <= 255 && part_ok(addr, (size_t)(at - addr)) && part_ok(at + 1, strlen(at + 1));
}

char *ms_mailbox_path(const char *layout, const char *addr)
{
	const char *at = strrchr(addr, '@');
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *path;

	if (!ms_mailbox_valid(addr))
		return NULL;
	for (const char *p = layout ? layout : "%d/%n"; *p; p++) {
		if (*p != '%') {
			ms_strbuf_addf(&sb, "%c", *p);
			continue;
		}
		switch (*++p) {
		case 'd': ms_strbuf_addf(&sb, "%s", at + 1); break;
		case 'n': ms_strbuf_addf(&sb, "%.*s", (int)(at - addr), addr); break;
		case 'u': ms_strbuf_addf(&sb, "%s", addr); break;
		case '%': ms_strbuf_addf(&sb, "%%"); break;
		default:
			ms_strbuf_release(&sb);
			return NULL;
		}
	}
	path = sb.buf ? ms_xstrdup(sb.buf) : NULL;
	ms_strbuf_release(&sb);
	/* relative, normalised, each part safe */
	if (path && (path[0] == '/' || strstr(path, "//") || path[strlen(path) - 1] == '/')) {
		free(path);
		return NULL;
	}
	for (char *s = path; s && *s;) {
		size_t n = strcspn(s, "/");

		if (!part_ok(s, n)) {
			free(path);
			return NULL;
		}
		s += n + (s[n] == '/');
	}
	return path;
}
