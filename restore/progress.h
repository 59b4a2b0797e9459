/*
 * What a restore or a deep verification is doing, for a progress line
 * another thread draws meanwhile (cli/progress.h): the bytes read from
 * the archive for the components being loaded, of a total known before
 * the start (the manifest gives every member's size), and the component
 * and table at hand ("db:default core_user"). The engine writes, the
 * drawing thread reads, so every field is atomic. It is handed down as a
 * parameter (NULL: nobody is watching), never kept in a global.
 */
#ifndef MS_RESTORE_PROGRESS_H
#define MS_RESTORE_PROGRESS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/manifest.h"

#define MS_PROGRESS_NO_TABLE SIZE_MAX

struct ms_progress {
	_Atomic uint64_t bytes;  /* content bytes read (ms_archive_reader_count) or written (create) */
	_Atomic uint64_t total;  /* the bytes the whole run reads, 0 when unknown */
	_Atomic(const char *) component;           /* a constant ("instance"), or NULL */
	_Atomic(const struct ms_manifest_db *) db; /* the database being loaded, or NULL;
	                                              borrowed from a manifest that outlives the line */
	_Atomic size_t table;    /* index in db->tables of the table being loaded, or MS_PROGRESS_NO_TABLE */
	bool drawn;              /* a line is on the terminal (under lock) */
	pthread_mutex_t lock;    /* one writer on the terminal at a time: the line or a printed line */
};

/* Initialises p: nothing done, nothing named, nothing drawn. */
void ms_progress_init(struct ms_progress *p);

/* The sum of the sizes of m's members under `prefix` ("db/default/"):
 * what loading them reads. */
uint64_t ms_progress_member_bytes(const struct ms_manifest *m, const char *prefix);

/* Names what is being done: a component by a constant string (borrowed
 * for good), a database (its tables follow with ms_progress_table), a
 * table of that database by its index. Each is a no-op when p is NULL. */
void ms_progress_component(struct ms_progress *p, const char *component);
void ms_progress_db(struct ms_progress *p, const struct ms_manifest_db *db);
void ms_progress_table(struct ms_progress *p, size_t table);

/* Draws `line` on stderr in place of the previous one ("\r", erase
 * line), or with NULL erases it. The drawing thread's only output. */
void ms_progress_draw(struct ms_progress *p, const char *line);

/* Writes into buf (size > 0) what p says is being done: "instance",
 * "db:default core_user", or "" when nothing is named. */
void ms_progress_describe(struct ms_progress *p, char *buf, size_t size);

/* vprintf on stdout (flushed) while a progress line may be drawn: the
 * line is erased first so that the text starts on a clean one, and the
 * next tick draws it again below. p may be NULL. */
void ms_progress_vprintf(struct ms_progress *p, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
