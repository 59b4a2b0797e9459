# PostgreSQL snapshots end to end with the real binary: a LATIN1 amavis
# database through create and verify --deep; writers inserting related rows
# during create, with the dump (loaded by psql, the documented manual
# procedure) keeping every invariant; --deep on a tampered archive.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

su_psql() { "$MS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" "$@"; }

"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine pg --latin1-amavis \
	--prefix "pgs$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; su_psql -d postgres -c "DROP DATABASE IF EXISTS pgs_load_$$" >/dev/null 2>&1; ms_t_cleanup' EXIT
I=$MS_FX_INSTANCE
PF=$MS_FX_POSTFIX
su_psql -d postgres -c "ALTER ROLE \"$MS_FX_DEFAULT_USER\" CREATEDB" -c "ALTER ROLE \"$MS_FX_AMAVIS_USER\" CREATEDB"

case_begin latin1_deep
check "amavis database is LATIN1" test "$(su_psql -d "$MS_FX_AMAVIS_DB" -c 'SHOW server_encoding')" = LATIN1
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/d1"
expect_rc 0
A=$(tail -n 1 "$T/out")
check "manifest records LATIN1" bash -c "tar --zstd -xOf '$A' MANIFEST.json | jq -e '.databases[1].encoding == \"LATIN1\"' >/dev/null"
run_ms verify "$A" --deep --instance "$I"
expect_rc 0
expect_stdout_has "ok: database 'amavis':"

case_begin deep_on_tampered
cp "$A" "$T/bad.tar.zst"
size=$(stat -c %s "$T/bad.tar.zst")
ms_t_flip_byte "$T/bad.tar.zst" $((size / 2))
run_ms verify "$T/bad.tar.zst" --deep --instance "$I"
expect_rc 5
check "no scratch database was made for a bad archive" test "$(su_psql -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'msverify%pgs$$%'")" = 0

case_begin concurrent_writers
# parent + children inserted in one transaction each, and a running total
# kept by the same transactions: any consistent snapshot satisfies
#   every child has its parent; total = number of children.
su_psql -d "$MS_FX_DEFAULT_DB" -c "SET ROLE \"$MS_FX_DEFAULT_USER\"" \
	-c "CREATE TABLE w_parent (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)" \
	-c "CREATE TABLE w_child (id bigserial PRIMARY KEY, parent bigint NOT NULL REFERENCES w_parent DEFERRABLE INITIALLY DEFERRED, payload bytea)" \
	-c "CREATE TABLE w_total (k int PRIMARY KEY, n bigint NOT NULL)" \
	-c "INSERT INTO w_total VALUES (1, 0)"
# Rows enough for several heap blocks: with MODOSNAP_TEST_PG_SPLIT_MIN=1
# below, w_child is read on two connections (src/db/pg_parcopy.c) and the
# invariants check that both parts read the dump's one snapshot.
su_psql -d "$MS_FX_DEFAULT_DB" -c "SET ROLE \"$MS_FX_DEFAULT_USER\"" \
	-c "INSERT INTO w_parent (note) SELECT 'seed' FROM generate_series(1, 1000)" \
	-c "INSERT INTO w_child (parent, payload) SELECT id, decode(md5(id::text), 'hex') FROM w_parent, generate_series(1, 3)" \
	-c "UPDATE w_total SET n = 3000" -c "ANALYZE w_child"
cat >"$T/writer.sql" <<'SQL'
BEGIN;
WITH p AS (INSERT INTO w_parent (note) VALUES ('é ' || clock_timestamp()) RETURNING id)
INSERT INTO w_child (parent, payload) SELECT p.id, decode(md5(random()::text), 'hex') FROM p, generate_series(1, 3);
UPDATE w_total SET n = n + 3 WHERE k = 1;
COMMIT;
SQL
touch "$T/keep-writing"
for w in 1 2; do
	(while [ -e "$T/keep-writing" ]; do
		su_psql -d "$MS_FX_DEFAULT_DB" -f "$T/writer.sql" >/dev/null 2>&1 || true
	done) &
done
sleep 1
export MODOSNAP_TEST_PG_SPLIT_MIN=1
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/d2" --level 1
unset MODOSNAP_TEST_PG_SPLIT_MIN
rm -f "$T/keep-writing"
wait
expect_rc 0
A2=$(tail -n 1 "$T/out")
# read in two parts, each its own chunk (one connection: one chunk);
# modosnap reads on one connection on a machine with one CPU
# (there the invariants below are checked on one connection only)
[ "$(nproc)" -lt 2 ] || check "w_child was read on two connections" bash -c "tar --zstd -xOf '$A2' MANIFEST.json | jq -e '[.databases[] | select(.alias == \"default\") | .tables[] | select(.name == \"w_child\") | .chunks] == [2]' >/dev/null"
check "writers were really writing (rows before and after differ)" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT n FROM w_total')" -gt 0
# The manual procedure of docs/snapshots.md: psql loads the dump.
X=$T/x2
mkdir -p "$X"
tar --zstd -xf "$A2" -C "$X"
L=pgs_load_$$
su_psql -d postgres -c "CREATE DATABASE $L TEMPLATE template0 ENCODING 'UTF8'"
su_psql -d "$L" -f "$X/db/default/schema-pre.sql" >/dev/null 2>"$T/load.err"
for dir in "$X"/db/default/data/*/; do
	t=$(basename "$dir")
	for chunk in "$dir"*.copy; do
		su_psql -d "$L" -c "\\copy ${t%%.*}.\"${t#*.}\" FROM '$chunk'" >/dev/null 2>>"$T/load.err"
	done
done
su_psql -d "$L" -f "$X/db/default/sequences.sql" >/dev/null 2>>"$T/load.err"
su_psql -d "$L" -f "$X/db/default/schema-post.sql" >/dev/null 2>>"$T/load.err"
check "the dump loads with psql" test ! -s "$T/load.err"
check "no orphan children in the snapshot" test "$(su_psql -d "$L" -c 'SELECT count(*) FROM w_child c LEFT JOIN w_parent p ON p.id = c.parent WHERE p.id IS NULL')" = 0
check "running total matches the children in the snapshot" test "$(su_psql -d "$L" -c 'SELECT n FROM w_total')" = "$(su_psql -d "$L" -c 'SELECT count(*) FROM w_child')"
check "every parent has its 3 children" test "$(su_psql -d "$L" -c 'SELECT count(*) FROM (SELECT parent FROM w_child GROUP BY parent HAVING count(*) <> 3) x')" = 0
check "the snapshot caught some of the writes" test "$(su_psql -d "$L" -c 'SELECT count(*) FROM w_parent')" -gt 0
check "writes went on after the snapshot's point in time" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT n FROM w_total')" -gt "$(su_psql -d "$L" -c 'SELECT n FROM w_total')"

finish
