/*
 * One large table copied on several connections at once (issue 15): each
 * connection reads its own range of the table's heap blocks inside the
 * dump's exported snapshot, so together they read exactly what one COPY
 * in the dumper's transaction would, while the server formats rows on as
 * many backends and the rows are digested in as many threads. Each part
 * is cut into row-aligned chunks that the calling thread writes as the
 * table's next chunk members in the order they are ready: the table's
 * members stay contiguous (FORMAT.md §4.3) and its digest, a sum over
 * rows, does not depend on the order.
 *
 * Only the calling thread logs and writes the archive; the copy threads
 * start with every signal blocked and only read their connection.
 */
#ifndef MS_PG_PARCOPY_H
#define MS_PG_PARCOPY_H

#include <stddef.h>

#include "db/dbconf.h"
#include "db/dbmember.h"
#include "db/rowdigest.h"

struct ms_pg_parcopy; /* opaque */

/* Opens n (2 or more) connections with db's parameters, each with the
 * dumper's session settings and client encoding, in a REPEATABLE READ,
 * READ ONLY transaction that imports snapshot_id (which the dumper's own
 * transaction keeps valid). NULL after logging; when the server refused a
 * connection (max_connections, a role's CONNECTION LIMIT, pg_hba.conf),
 * *refused is set and the message is a debug line only: the caller reads
 * on its own connection instead. */
struct ms_pg_parcopy *ms_pg_parcopy_open(const struct ms_dbconf *db, const char *encoding,
					 const char *snapshot_id, int n, bool *refused);

/* The number of connections. */
int ms_pg_parcopy_parts(const struct ms_pg_parcopy *p);

/* Takes ACCESS SHARE on table qname (quoted) in every connection's
 * transaction, without waiting, before any part starts: once a part has
 * read its range it idles in its transaction, and should another session
 * then queue for an exclusive lock, a part that had yet to lock would
 * queue behind it, waiting for a lock the idle part holds, a wait no
 * deadlock detector sees. 0 when all hold it; 1 when one could not get
 * it at once (another session holds or waits for a conflicting lock:
 * read the table on one connection, which waits as pg_dump does); -1
 * after logging. */
int ms_pg_parcopy_lock(struct ms_pg_parcopy *p, const char *alias, const char *qname);

/* Runs sql[i] (a COPY ... TO STDOUT) on connection i, all at once, after
 * ms_pg_parcopy_lock returned 0 for its table. Every
 * row is added to dg; rows are gathered per connection into chunks of at
 * most chunk_size bytes (a longer row is a chunk of its own) and written
 * through rc as its current table's next chunks. `what` names the table
 * in messages ("copy of table 's.t'"). 0, or -1 after logging the first
 * failure (a failed archive write has logged already); every thread has
 * ended either way and the connections are then unusable. */
int ms_pg_parcopy_run(struct ms_pg_parcopy *p, const char *alias, char *const sql[], const char *what,
		      size_t chunk_size, struct ms_rowchunks *rc, struct ms_rowdigest *dg);

/* Closes the connections (ending their transactions); NULL is a no-op. */
void ms_pg_parcopy_close(struct ms_pg_parcopy *p);

#endif
