/*
 * Secondary keys that a MariaDB restore builds after the data
 * (docs/dev/perf-mariadb.md). InnoDB inserts every row into every index
 * as it loads; a plain key added to a loaded table is built by sorting
 * instead, which at 500 000 Amavis `msgs` rows took the table's load from
 * 10.9 s to 4.7 s plus 1.9 s for the three keys.
 *
 * Only the text SHOW CREATE TABLE prints is used: its plain `KEY` lines
 * (not PRIMARY, UNIQUE, FULLTEXT or SPATIAL keys, which stay, so that a
 * duplicate still fails the load) of a table that is InnoDB and not
 * partitioned. Each line is a valid ALTER TABLE ADD clause as printed.
 * The caller proves on an empty copy that dropping and adding them gives
 * the same definition back before it relies on them, and compares the
 * loaded table's definition with the original afterwards.
 */
#ifndef MS_MY_KEYS_H
#define MS_MY_KEYS_H

#include <stddef.h>

struct ms_my_keys {
	char *drop; /* "DROP KEY `a`, DROP KEY `b`" (owned), NULL when n == 0 */
	char *add;  /* "ADD KEY `a` (`x`), ADD KEY `b` (`y`)" (owned), NULL when n == 0 */
	size_t n;   /* keys found */
};

/* Fills *out from a SHOW CREATE TABLE text; n == 0 when the table has no
 * such key or is not eligible (not InnoDB, partitioned, a line not
 * understood). Never fails. */
void ms_my_keys_parse(const char *show_create, struct ms_my_keys *out);
void ms_my_keys_clear(struct ms_my_keys *k);

/* The SHOW CREATE TABLE text without its table option AUTO_INCREMENT=N
 * (the counter moves when rows are loaded; nothing else may). Caller
 * frees. */
char *ms_my_show_create_normal(const char *show_create);

#endif
