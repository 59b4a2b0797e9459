# Helpers shared by the restore tests (test_restore.sh, test_runbook.sh):
# the independent oracles for files (find + sha256sum) and databases
# (pg_dump / mariadb-dump), and killing a run at a test seam. Sourced after
# tests/lib.sh and need_servers; `state` reads ENGINE and the MS_FX_*
# variables of the fixture in use.

su_psql() { "$MS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" "$@"; }
my() { mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S "$MS_MY_SOCKET" "$@"; }

# tree_state DIR : every entry with type, mode, owner, size, mtime (ns),
# link target, and every file's SHA-256 — the independent oracle.
# (FILES_ONLY=1: not the directory itself, whose mtime the snapshot does
# not hold — the Postfix directory.)
tree_state() {
	(cd "$1" && find . -mindepth "${FILES_ONLY:-0}" -printf '%P|%y|%m|%u|%g|%s|%T@|%l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# db_state ENGINE DB : schema and data as pg_dump / mariadb-dump see them.
db_state() {
	if [ "$1" = pg ]; then
		"$MS_PG_BINDIR/pg_dump" -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" --schema-only "$2" |
			grep -v -E '^\\(un)?restrict '
		"$MS_PG_BINDIR/pg_dump" -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" --data-only \
			--column-inserts "$2" | grep -v -E '^\\(un)?restrict ' | LC_ALL=C sort
	else
		mariadb-dump --no-defaults -uroot -S "$MS_MY_SOCKET" --skip-dump-date --order-by-primary --routines \
			--triggers "$2"
	fi
}

# state : the whole installation (files and both databases).
state() {
	tree_state "$MS_FX_INSTANCE"
	echo "== postfix"
	FILES_ONLY=1 tree_state "$MS_FX_POSTFIX"
	echo "== default"
	db_state "$ENGINE" "$MS_FX_DEFAULT_DB"
	echo "== amavis"
	db_state "$ENGINE" "$MS_FX_AMAVIS_DB"
}

# wait_stall FILE [POINT] : until the stderr FILE says the process stalled
# (at POINT when given: an earlier run's file must not count).
wait_stall() {
	for _ in $(seq 1 300); do
		grep -q "modosnap: test: stalled at ${2:-}" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# kill_at POINT ARGS... : runs modosnap ARGS until it stalls at the test
# seam POINT (MODOSNAP_TEST_STALL), then kills it with SIGKILL.
kill_at() {
	local point=$1 pid
	shift
	rm -f "$T/kill.out" "$T/kill.err" # the last kill's stall line must not be read as this one's
	MODOSNAP_TEST_STALL=$point "$MODOSNAP" "$@" >"$T/kill.out" 2>"$T/kill.err" &
	pid=$!
	check "the run reached '$point'" wait_stall "$T/kill.err" "$point"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
}


# same_state A B : the two state files are identical; otherwise the first
# differing lines are printed (for the log) and it fails.
same_state() {
	cmp -s "$1" "$2" && return 0
	diff "$1" "$2" | head -n 20 | sed 's/^/    # /'
	return 1
}

# settled_state EXPECTED OUT : the installation's state into OUT; when it
# differs from EXPECTED, the difference is shown and the state read once
# more after a pause (a difference that persists is a real one and fails
# the caller's same_state check; one that goes away came from reading).
settled_state() {
	state >"$2"
	cmp -s "$1" "$2" && return 0
	echo "# state differs right after the kill; reading it again:"
	diff "$1" "$2" | head -n 20 | sed 's/^/    # /'
	sleep 2
	state >"$2"
}
