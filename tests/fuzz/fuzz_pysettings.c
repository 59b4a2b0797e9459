/*
 * libFuzzer target: the settings.py reader (src/discover/pysettings.c). The input is
 * the text of a settings module; it is parsed, then looked up the way
 * discovery does (DATABASES and its per-alias keys, MODOBOA_APPS,
 * SECRET_KEY), and every value reached is walked so that ASan sees each
 * byte the reader claims to hold.
 */
#include "fuzzutil.h"
#include "discover/pysettings.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
	"DATABASES", "MODOBOA_APPS", "SECRET_KEY", "INSTALLED_APPS", "BASE_DIR", "DEBUG", "ALLOWED_HOSTS",
};
static const char *const db_keys[] = {
	"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "ATOMIC_REQUESTS",
};

/* Touches every byte of v and checks the node's own invariants. */
static void walk(const struct ms_py_value *v, int depth)
{
	FZ_ASSERT(v != NULL);
	FZ_ASSERT(depth < 10000);
	FZ_ASSERT(v->line >= 1);
	FZ_ASSERT(ms_py_type_name(v->type) != NULL);
	switch (v->type) {
	case MS_PY_STR:
	case MS_PY_INT:
	case MS_PY_FLOAT:
	case MS_PY_EXPR:
		FZ_ASSERT(v->str != NULL);
		FZ_ASSERT(strlen(v->str) == v->len);
		break;
	case MS_PY_BYTES:
		FZ_ASSERT(v->str != NULL);
		FZ_ASSERT(v->str[v->len] == '\0');
		break;
	case MS_PY_DICT:
		for (size_t i = 0; i < v->n; i++) {
			walk(v->keys[i], depth + 1);
			walk(v->items[i], depth + 1);
		}
		break;
	case MS_PY_LIST:
	case MS_PY_TUPLE:
	case MS_PY_SET:
		for (size_t i = 0; i < v->n; i++)
			walk(v->items[i], depth + 1);
		break;
	default:
		break;
	}
}

/* DATABASES['alias'][key] and OPTIONS, as discovery reads them. */
static void databases(const struct ms_py_value *dbs)
{
	if (dbs->type != MS_PY_DICT)
		return;
	for (size_t i = 0; i < dbs->n; i++) {
		const struct ms_py_value *k = dbs->keys[i], *conf;

		if (k->type != MS_PY_STR)
			continue;
		conf = ms_py_dict_get(dbs, k->str);
		FZ_ASSERT(conf != NULL); /* a key the dict holds is found */
		for (size_t j = 0; j < sizeof(db_keys) / sizeof(db_keys[0]); j++) {
			const struct ms_py_value *v = ms_py_dict_get(conf, db_keys[j]);

			if (v)
				walk(v, 0);
		}
		ms_py_dict_get(ms_py_dict_get(conf, "OPTIONS"), "unix_socket");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes, no terminating NUL: the reader takes a length. */
	char *text = malloc(size ? size : 1);
	struct ms_pysettings *s;

	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	s = ms_pysettings_parse("settings.py", text, size);
	if (s) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			struct ms_py_binding b;

			if (ms_pysettings_lookup(s, names[i], &b) < 0)
				continue;
			FZ_ASSERT(b.value != NULL);
			FZ_ASSERT(b.line >= 1);
			walk(b.value, 0);
			if (strcmp(names[i], "DATABASES") == 0)
				databases(b.value);
		}
	}
	ms_pysettings_free(s);
	free(text);
	return 0;
}
