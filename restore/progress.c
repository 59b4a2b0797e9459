/*
 * The engine's side of the progress line (progress.h).
 */
#include "restore/progress.h"

#include <stdio.h>
#include <string.h>

void ms_progress_init(struct ms_progress *p)
{
	atomic_init(&p->bytes, 0);
	atomic_init(&p->total, 0);
	atomic_init(&p->component, NULL);
	atomic_init(&p->db, NULL);
	atomic_init(&p->table, MS_PROGRESS_NO_TABLE);
	p->drawn = false;
	pthread_mutex_init(&p->lock, NULL);
}

uint64_t ms_progress_member_bytes(const struct ms_manifest *m, const char *prefix)
{
	size_t len = strlen(prefix);
	uint64_t sum = 0;

	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entries[i].e.type == MS_ENTRY_FILE && !strncmp(m->entries[i].e.path, prefix, len))
			sum += m->entries[i].e.size;
	return sum;
}

void ms_progress_component(struct ms_progress *p, const char *component)
{
	if (!p)
		return;
	atomic_store(&p->db, NULL);
	atomic_store(&p->table, MS_PROGRESS_NO_TABLE);
	atomic_store(&p->component, component);
}

void ms_progress_db(struct ms_progress *p, const struct ms_manifest_db *db)
{
	if (!p)
		return;
	atomic_store(&p->component, NULL);
	atomic_store(&p->table, MS_PROGRESS_NO_TABLE);
	atomic_store(&p->db, db);
}

void ms_progress_table(struct ms_progress *p, size_t table)
{
	if (p)
		atomic_store(&p->table, table);
}

void ms_progress_describe(struct ms_progress *p, char *buf, size_t size)
{
	const struct ms_manifest_db *db = atomic_load(&p->db);
	const char *component = atomic_load(&p->component);
	size_t t = atomic_load(&p->table);

	if (db && t < db->n_tables)
		snprintf(buf, size, "db:%s %s", db->alias, db->tables[t].name);
	else if (db)
		snprintf(buf, size, "db:%s", db->alias);
	else
		snprintf(buf, size, "%s", component ? component : "");
}

void ms_progress_draw(struct ms_progress *p, const char *line)
{
	pthread_mutex_lock(&p->lock);
	fprintf(stderr, "\r\033[K%s", line ? line : "");
	p->drawn = line != NULL;
	pthread_mutex_unlock(&p->lock);
}

void ms_progress_vprintf(struct ms_progress *p, const char *fmt, va_list ap)
{
	bool drawn = false;

	if (p) {
		pthread_mutex_lock(&p->lock);
		drawn = p->drawn;
		if (drawn)
			fputs("\r\033[K", stderr);
		p->drawn = false;
	}
	vprintf(fmt, ap);
	if (drawn)
		fflush(stdout); /* before the next tick draws below it */
	if (p)
		pthread_mutex_unlock(&p->lock);
}
