/*
 * libFuzzer target: the configuration file reader (src/discover/config.c, inih).
 * ms_config_load reads a path, so each input becomes an anonymous memory
 * file (mode 0600, as a config holding a password must be) read through
 * /proc/self/fd/N. What loads is walked field by field.
 */
#include "discover/config.h"
#include "fuzzutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void touch(const char *s)
{
	if (s)
		FZ_ASSERT(strlen(s) < 1u << 20);
}

static void walk(const struct ms_config *cfg)
{
	touch(cfg->path);
	touch(cfg->instance);
	touch(cfg->postfix_dir);
	touch(cfg->dest);
	touch(cfg->venv);
	touch(cfg->label);
	touch(cfg->hook_before);
	touch(cfg->hook_after);
	touch(cfg->hook_on_error);
	touch(cfg->hook_pause);
	touch(cfg->hook_resume);
	for (size_t i = 0; i < cfg->exclude.n; i++)
		touch(cfg->exclude.v[i]);
	for (size_t i = 0; i < cfg->keep_tag.n; i++)
		touch(cfg->keep_tag.v[i]);
	FZ_ASSERT(cfg->keep_last >= -1 && cfg->keep_daily >= -1 && cfg->keep_weekly >= -1 &&
		  cfg->keep_monthly >= -1 && cfg->keep_pre_upgrade >= -1);
	FZ_ASSERT(cfg->min_free >= -1);
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		const struct ms_config_db *db = &cfg->dbs[i];

		FZ_ASSERT(db->alias && *db->alias);
		FZ_ASSERT(ms_config_db(cfg, db->alias) == db); /* aliases are unique */
		FZ_ASSERT(!db->engine || !strcmp(db->engine, "postgresql") || !strcmp(db->engine, "mysql"));
		if (db->port) {
			char *end;
			long port = strtol(db->port, &end, 10);

			FZ_ASSERT(*end == '\0' && port >= 1 && port <= 65535);
		}
		touch(db->name);
		touch(db->user);
		touch(db->host);
		touch(db->password);
		touch(db->password_file);
		touch(db->admin_user);
		touch(db->admin_password);
		touch(db->admin_password_file);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[32];
	int fd = fz_memfd(data, size, 0600, path);
	struct ms_config *cfg = ms_config_load(path);

	if (cfg)
		walk(cfg);
	ms_config_free(cfg);
	close(fd);
	return 0;
}
