# MariaDB snapshots end to end with the real binary: create on a generated
# installation (both databases on MariaDB, LATIN1 amavis) with the exact
# MyISAM warning and exit 3; the dump loaded by the stock `mariadb` client
# following docs/mariadb.md gives back the database mariadb-dump saw;
# verify --deep with and without an admin_user; writers inserting related
# rows during create, with the loaded dump keeping every invariant; two
# aliases on one login share one transaction.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

my() { mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S "$MS_MY_SOCKET" "$@"; }
mydump() {
	mariadb-dump --no-defaults -uroot -S "$MS_MY_SOCKET" --skip-dump-date --order-by-primary --routines \
		--triggers --events "$1"
}

"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine mariadb --latin1-amavis \
	--prefix "mys$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; ms_t_cleanup' EXIT
I=$MS_FX_INSTANCE
PF=$MS_FX_POSTFIX
DEF=$MS_FX_DEFAULT_DB
AMA=$MS_FX_AMAVIS_DB

case_begin create
mydump "$AMA" >"$T/amavis.before"
mydump "$DEF" >"$T/default.before"
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/d1"
expect_rc 3
expect_stderr "modosnap: warning: database 'default': table '$DEF.django_session' uses the non-transactional engine MyISAM: its rows are not covered by the consistent snapshot
modosnap: warning: database 'amavis': table '$AMA.stats_daily' uses the non-transactional engine MyISAM: its rows are not covered by the consistent snapshot"
expect_stdout_has "components  instance, postfix, db:default, db:amavis"
expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default password"
expect_no_secret "$MS_FX_AMAVIS_PASSWORD" "amavis password"
A=$(tail -n 1 "$T/out")
tar --zstd -xOf "$A" MANIFEST.json >"$T/manifest.json"
check "manifest: amavis is mysql, latin1, own transaction" \
	jq -e '.databases[1] | .engine == "mysql" and .encoding == "latin1" and .collation == "latin1_swedish_ci" and .shared_snapshot == [] and (.server_version | test("MariaDB"))' "$T/manifest.json"
check "manifest: quarantine rows and chunks" \
	jq -e '[.databases[1].tables[] | select(.name == "quarantine")][0] | .rows > 0 and .chunks >= 1' "$T/manifest.json"

case_begin deep
run_ms verify "$A" --deep --instance "$I"
expect_rc 1
sed -i -E 's/msverify_[0-9]+_/msverify_PID_/g' "$T/err"
expect_stderr "modosnap: error: database 'default': creating the scratch database 'msverify_PID_$DEF' failed: Access denied for user '$MS_FX_DEFAULT_USER'@'localhost' to database 'msverify_PID_$DEF' (a restore needs CREATE and DROP on new databases: set admin_user in the [db:default] section of the configuration, e.g. root over the local socket)
modosnap: error: database 'amavis': creating the scratch database 'msverify_PID_$AMA' failed: Access denied for user '$MS_FX_AMAVIS_USER'@'localhost' to database 'msverify_PID_$AMA' (a restore needs CREATE and DROP on new databases: set admin_user in the [db:amavis] section of the configuration, e.g. root over the local socket)"
printf '[db:default]\nadmin_user = root\n[db:amavis]\nadmin_user = root\n' >"$T/admin.conf"
ms_t_conf "$T/admin.conf"
chmod 600 "$T/admin.conf"
run_ms -c "$T/admin.conf" verify "$A" --deep --instance "$I"
expect_rc 0
expect_stdout_has "ok: database 'default': 22 tables restored into a scratch database and checked"
expect_stdout_has "ok: database 'amavis': 11 tables restored into a scratch database and checked"
check "no scratch database left" test -z "$(my -N -e "SHOW DATABASES LIKE 'msverify\\_%\\_mys$$\\_%'")"

case_begin manual_load
# docs/mariadb.md, "Loading a dump with the stock mariadb client", on the
# amavis database (latin1, binary keys, blobs, view, trigger, MyISAM).
X=$T/x1
mkdir -p "$X"
tar --zstd -xf "$A" -C "$X"
(
	cd "$X/db/amavis" &&
	my -e "DROP DATABASE IF EXISTS \`$AMA\`; CREATE DATABASE \`$AMA\` CHARACTER SET latin1 COLLATE latin1_swedish_ci" &&
	my "$AMA" <schema-pre.sql &&
	my --local-infile=1 --show-warnings "$AMA" <load.sql &&
	my "$AMA" <schema-post.sql
) >"$T/manual.out" 2>&1
check "the stock client loads the dump without a message" test ! -s "$T/manual.out"
mydump "$AMA" >"$T/amavis.after"
check "mariadb-dump of the loaded dump equals the original" cmp "$T/amavis.before" "$T/amavis.after"

case_begin concurrent_writers
# parent + children inserted in one transaction each, and a running total
# kept by the same transactions: any consistent snapshot satisfies
#   every child has its parent; total = number of children.
my "$DEF" -e "CREATE TABLE w_parent (id bigint AUTO_INCREMENT PRIMARY KEY, note varchar(100)) ENGINE=InnoDB;
CREATE TABLE w_child (id bigint AUTO_INCREMENT PRIMARY KEY, parent bigint NOT NULL, payload varbinary(16),
  FOREIGN KEY (parent) REFERENCES w_parent (id)) ENGINE=InnoDB;
CREATE TABLE w_total (k int PRIMARY KEY, n bigint NOT NULL) ENGINE=InnoDB;
INSERT INTO w_total VALUES (1, 0);"
for i in $(seq 1 300); do
	printf "START TRANSACTION; INSERT INTO w_parent (note) VALUES (CONCAT('é ', NOW(6))); SET @p = LAST_INSERT_ID(); INSERT INTO w_child (parent, payload) VALUES (@p, UNHEX(MD5(RAND()))), (@p, UNHEX(MD5(RAND()))), (@p, UNHEX(MD5(RAND()))); UPDATE w_total SET n = n + 3 WHERE k = 1; COMMIT;\n"
done >"$T/writer.sql"
touch "$T/keep-writing"
for w in 1 2; do
	(while [ -e "$T/keep-writing" ]; do my "$DEF" <"$T/writer.sql" >/dev/null 2>&1 || true; done) &
done
sleep 1
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/d2" --level 1
n_during=$(my -N "$DEF" -e 'SELECT n FROM w_total')
sleep 0.5
rm -f "$T/keep-writing"
wait
expect_rc 3
A2=$(tail -n 1 "$T/out")
check "writers were writing during create" test "$n_during" -gt 0
X=$T/x2
mkdir -p "$X"
tar --zstd -xf "$A2" -C "$X"
L=mys_load_$$
(
	cd "$X/db/default" &&
	my -e "CREATE DATABASE $L CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" &&
	my "$L" <schema-pre.sql &&
	my --local-infile=1 --show-warnings "$L" <load.sql
) >"$T/load.out" 2>&1
check "the dump loads with the stock client" test ! -s "$T/load.out"
check "no orphan children in the snapshot" test "$(my -N "$L" -e 'SELECT COUNT(*) FROM w_child c LEFT JOIN w_parent p ON p.id = c.parent WHERE p.id IS NULL')" = 0
check "running total matches the children in the snapshot" test "$(my -N "$L" -e 'SELECT n FROM w_total')" = "$(my -N "$L" -e 'SELECT COUNT(*) FROM w_child')"
check "every parent has its 3 children" test "$(my -N "$L" -e 'SELECT COUNT(*) FROM (SELECT parent FROM w_child GROUP BY parent HAVING COUNT(*) <> 3) x')" = 0
check "the snapshot caught some of the writes" test "$(my -N "$L" -e 'SELECT COUNT(*) FROM w_parent')" -gt 0
check "writes went on after the snapshot's point in time" test "$(my -N "$DEF" -e 'SELECT n FROM w_total')" -gt "$(my -N "$L" -e 'SELECT n FROM w_total')"
run_ms -c "$T/admin.conf" verify "$A2" --deep --instance "$I"
expect_rc 0
my -e "DROP DATABASE $L"

case_begin shared_transaction
# Both aliases through one login: one transaction, said in the manifest.
my -e "GRANT ALL PRIVILEGES ON \`$AMA\`.* TO '$MS_FX_DEFAULT_USER'@'localhost'"
S=$MS_FX_SETTINGS
cp "$S" "$T/settings.orig"
python3 - "$S" "$MS_FX_AMAVIS_USER" "$MS_FX_DEFAULT_USER" "$MS_FX_AMAVIS_PASSWORD" "$MS_FX_DEFAULT_PASSWORD" <<'PY'
import sys
p, au, du, ap, dp = sys.argv[1:]
s = open(p).read()
s = s.replace("'USER': '%s'" % au, "'USER': '%s'" % du).replace(repr(ap), repr(dp))
open(p, "w").write(s)
PY
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/d3"
cp "$T/settings.orig" "$S"
expect_rc 3
A3=$(tail -n 1 "$T/out")
check "manifest: default and amavis read in one transaction" \
	bash -c "tar --zstd -xOf '$A3' MANIFEST.json | jq -e '.databases[0].shared_snapshot == [\"amavis\"] and .databases[1].shared_snapshot == [\"default\"]' >/dev/null"

finish
