/*
 * The text forms of a MariaDB/MySQL dump, shared by the dumper and the
 * restore engine and free of any client library: how one column value is
 * written into a data line (the format `LOAD DATA ... FIELDS TERMINATED BY
 * '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'` reads back, FORMAT.md
 * §7.5), and the schema scripts' statement framing (`DELIMITER ;;`, one
 * statement per block ended by a line holding only `;;`).
 */
#ifndef MS_MY_TEXT_H
#define MS_MY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

/* How a column travels in a data line. */
enum ms_my_kind {
	MS_MY_TEXT, /* characters, escaped (\\ \t \n \r \0) */
	MS_MY_HEX,  /* binary strings and geometry: lowercase hex, loaded with UNHEX() */
	MS_MY_BIT,  /* BIT(n): hex of the raw bytes, loaded with CONV(..., 16, 10) */
	MS_MY_FLOAT, /* FLOAT: read as CAST(col AS DOUBLE), whose text is exact (the
	                FLOAT text is rounded to 6 digits), escaped like text */
};

/* The kind of a column from information_schema.COLUMNS.DATA_TYPE
 * (case-insensitive): binary, varbinary, *blob and geometry types are
 * MS_MY_HEX, bit is MS_MY_BIT, float is MS_MY_FLOAT, everything else
 * MS_MY_TEXT. */
enum ms_my_kind ms_my_kind_of(const char *data_type);

/* Appends one field: data == NULL (SQL NULL) as `\N`; otherwise the len
 * bytes in the column's kind. The caller adds the '\t' separators and
 * the final '\n'. */
void ms_my_field_append(struct ms_strbuf *sb, const char *data, size_t len, enum ms_my_kind kind);

/* The first line of every schema script. */
#define MS_MY_SCRIPT_HEAD "DELIMITER ;;\n"
/* Appends one statement and its `;;` line. Returns -1 (nothing appended)
 * when the statement itself holds a line that is exactly `;;`, which the
 * framing could not carry. */
int ms_my_script_add(struct ms_strbuf *sb, const char *stmt, size_t len);

/* Iterates the statements of a script text[0, len): start with *pos = 0.
 * Lines before the first statement that are empty, comments ("-- ...")
 * or the DELIMITER line are skipped, as is a final `DELIMITER ;` line.
 * Returns 1 with *stmt and *stmt_len set (borrowed from text, without the
 * `;;` line and its preceding newline), 0 at the end, or -1 when the text
 * ends inside a statement (no closing `;;`). */
int ms_my_script_next(const char *text, size_t len, size_t *pos, const char **stmt, size_t *stmt_len);

#endif
