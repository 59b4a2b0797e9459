/*
 * A reader for Django's settings.py that never runs Python. It tokenises
 * the whole module (so that strings, comments and brackets anywhere are
 * understood), records every module-level assignment, and parses each
 * right-hand side as a Python literal: None/True/False, numbers, str and
 * bytes (every quote style, prefixes r/b/u/f-free, escapes, implicit
 * concatenation), lists, tuples, sets, dicts with trailing commas. Anything
 * else (names, calls, subscripts, attribute access, operators, f-strings)
 * becomes an MS_PY_EXPR node carrying its source text, so that callers can
 * say exactly which key cannot be resolved.
 */
#ifndef MS_PYSETTINGS_H
#define MS_PYSETTINGS_H

#include <stdbool.h>
#include <stddef.h>

enum ms_py_type {
	MS_PY_NONE,
	MS_PY_BOOL,
	MS_PY_INT,
	MS_PY_FLOAT,
	MS_PY_STR,
	MS_PY_BYTES,
	MS_PY_LIST,
	MS_PY_TUPLE,
	MS_PY_SET,
	MS_PY_DICT,
	MS_PY_EXPR, /* not a literal: str holds the source text as messages quote it:
	               one line, at most MS_PY_EXPR_QUOTE_MAX bytes + "..." */
};

#define MS_PY_EXPR_QUOTE_MAX 80

struct ms_py_value {
	enum ms_py_type type;
	int line;                   /* 1-based line where the value starts */
	bool boolean;               /* MS_PY_BOOL */
	char *str;                  /* STR (UTF-8), BYTES: decoded content, NUL-terminated;
	                               INT/FLOAT: source spelling; EXPR: an excerpt of the
	                               source text for messages (line breaks and the blanks
	                               around them one space, control bytes '?', cut after
	                               MS_PY_EXPR_QUOTE_MAX bytes with "...") */
	size_t len;                 /* length of str in bytes (BYTES may hold NULs) */
	struct ms_py_value **keys;  /* DICT: n keys */
	struct ms_py_value **items; /* LIST/TUPLE/SET: n items; DICT: n values */
	size_t n;
};

/* How a module-level name is bound (see ms_pysettings_lookup). */
struct ms_py_binding {
	const struct ms_py_value *value; /* the last module-level assignment's value */
	int line;                        /* its line */
	bool conditional;                /* assigned inside if/try/for/while/with at module level */
	int modified_line;               /* first later statement that changes it in a way
	                                    that could not be applied (0 if none) */
	int star_import_line;            /* a later `from x import *` that may rebind it (0 if none) */
};

struct ms_pysettings; /* opaque: owns every value hanging off it */

/* Parses settings source text. `filename` is used in messages only.
 * Returns NULL after logging "'FILE':LINE: syntax error: WHAT". */
struct ms_pysettings *ms_pysettings_parse(const char *filename, const char *text, size_t len);
/* Reads and parses a file; NULL after logging an error naming the path. */
struct ms_pysettings *ms_pysettings_load(const char *path);
void ms_pysettings_free(struct ms_pysettings *s);

/* Looks up a module-level name. Subscript assignments with literal keys onto
 * a literal dict (`DATABASES['default']['HOST'] = 'x'`) are applied in order
 * (a value that is not a literal is stored as an MS_PY_EXPR node); other
 * later mutations (`NAME.update(...)`, `NAME += ...`, `del NAME[...]`,
 * subscripts with non-literal keys or through a non-dict, any mutation in a
 * conditional block, `from x import NAME`) set modified_line.
 * Returns 0 and fills *out when the name is bound at module level, -1 when
 * it is not (nothing logged). Assignments inside def/class bodies do not
 * count. */
int ms_pysettings_lookup(const struct ms_pysettings *s, const char *name, struct ms_py_binding *out);

/* Returns the value stored under string key `key` in a DICT, or NULL when
 * the dict has no such key or `dict` is not a DICT. Borrowed. */
const struct ms_py_value *ms_py_dict_get(const struct ms_py_value *dict, const char *key);

/* Name of a type for messages ("string", "dict", "expression", ...). */
const char *ms_py_type_name(enum ms_py_type t);

#endif
