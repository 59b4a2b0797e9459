# `modosnap restore` end to end with the real binary, on generated
# installations with both databases on PostgreSQL and both on MariaDB:
# a simulated bad upgrade (settings edited, files added, removed and
# changed, a Postfix map rewritten, a table altered, rows changed, a
# migration row added) is undone by `restore SNAPSHOT --yes`, checked with
# independent tools (find + sha256sum of the trees with metadata, pg_dump /
# mariadb-dump); --dry-run prints the plan and changes nothing; no --yes
# without a terminal is refused; --only db:amavis restores only that;
# --root restores the files elsewhere only; SIGKILL during the file swap
# and during a database load leaves old-or-new, and a second run completes.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

. "$MS_SOURCE_DIR/tests/integration/restore-lib.sh"

bad_upgrade() {
	echo "MODOBOA_UPGRADED = True" >>"$MS_FX_SETTINGS"
	echo "new" >"$MS_FX_INSTANCE/added-by-upgrade.txt"
	rm -f "$MS_FX_INSTANCE/manage.py"
	map=$(cd "$MS_FX_POSTFIX" && ls sql-*.cf | head -n 1)
	echo "query = SELECT broken" >"$MS_FX_POSTFIX/$map"
	if [ "$ENGINE" = pg ]; then
		su_psql -d "$MS_FX_DEFAULT_DB" -c "SET ROLE \"$MS_FX_DEFAULT_USER\"" \
			-c "ALTER TABLE core_user ADD COLUMN upgraded integer" \
			-c "UPDATE core_user SET first_name = 'changed'" \
			-c "INSERT INTO django_migrations (app, name, applied) VALUES ('core', '9999_bad_upgrade', now())"
		su_psql -d "$MS_FX_AMAVIS_DB" -c "SET ROLE \"$MS_FX_AMAVIS_USER\"" -c "DELETE FROM msgrcpt"
	else
		my "$MS_FX_DEFAULT_DB" -e "SET foreign_key_checks = 0; ALTER TABLE core_user ADD COLUMN upgraded int;
			UPDATE core_user SET first_name = 'changed';
			INSERT INTO django_migrations (app, name, applied) VALUES ('core', '9999_bad_upgrade', NOW());"
		my "$MS_FX_AMAVIS_DB" -e "DELETE FROM msgrcpt"
	fi
}

# no_secret_files : nothing in the temporary directories holds a copy of
# settings.py or a password file of modosnap's (finding: killed restores
# left /tmp/modosnap-settings.*/instance/settings.py behind).
# Only what this script's runs made counts (the machine may keep older ones).
touch "$T/started"
no_secret_files() {
	local left
	left=$(find "${TMPDIR:-/tmp}" /tmp -maxdepth 4 \( -path '*modosnap-settings*' -o -path '*modosnap-pgpass*' \) \
		-newer "$T/started" 2>/dev/null)
	[ -z "$left" ] || { echo "    # left behind: $left"; return 1; }
}

run_engine() {
	ENGINE=$1
	local site=$T/site-$ENGINE prefix=rst${ENGINE}$$ conf=$T/$ENGINE.conf dest=$T/dest-$ENGINE
	"$MS_SOURCE_DIR/scripts/mkfixture" --root "$site" --servers "$MS_TESTSRV_ENV" \
		--engine "$([ "$ENGINE" = pg ] && echo pg || echo mariadb)" --prefix "$prefix" \
		>"$T/mkfixture-$ENGINE.log" 2>&1 || { cat "$T/mkfixture-$ENGINE.log"; return 1; }
	SITES+=("$site")
	# shellcheck disable=SC1091
	. "$site/fixture.env"
	# this machine's installation: restore targets come from here, never
	# from the archive
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
		ms_t_key_lines
	} >"$conf"
	if [ "$ENGINE" = my ]; then
		printf '[db:default]\nadmin_user = root\n[db:amavis]\nadmin_user = root\n' >>"$conf"
	fi
	chmod 600 "$conf"
	# MariaDB's MyISAM tables make every snapshot (the safety one too) exit 3.
	local ok=0 extra=0
	[ "$ENGINE" = my ] && ok=3
	[ "$ENGINE" = pg ] && extra=2 # the two files of the ownership case

	case_begin "$ENGINE: snapshot"
	if [ "$ENGINE" = pg ]; then
		# metadata the restore must bring back: an xattr, an ACL, a numeric
		# owner without a name, and an owner whose name will be gone
		setfattr -n user.modosnap -v "kept" "$MS_FX_SETTINGS"
		setfacl -m u:nobody:r "$MS_FX_INSTANCE/manage.py"
		touch "$MS_FX_INSTANCE/numeric-owner" "$MS_FX_INSTANCE/named-owner"
		chown 4242:4243 "$MS_FX_INSTANCE/numeric-owner"
		useradd -M -N -s /usr/sbin/nologin "msr$$"
		chown "msr$$" "$MS_FX_INSTANCE/named-owner"
	fi
	run_ms -c "$conf" create --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --dest "$dest"
	expect_rc "$ok"
	local A
	A=$(tail -n 1 "$T/out")
	if [ "$ENGINE" = pg ]; then
		userdel "msr$$"
		getfattr -R -d -m - --absolute-names "$MS_FX_INSTANCE" 2>/dev/null | LC_ALL=C sort >"$T/good.xattrs"
	fi
	state >"$T/good.state"
	bad_upgrade
	state >"$T/bad.state"
	check "the bad upgrade changed the installation" bash -c "! cmp -s '$T/good.state' '$T/bad.state'"

	case_begin "$ENGINE: dry-run"
	run_ms -c "$conf" restore "$A" --dest "$dest" --dry-run
	expect_rc 0
	expect_stdout_has "      1 added, 1 replaced, 1 removed, $((34 + extra)) unchanged"
	expect_stdout_has "      0 added, 1 replaced, 10 unchanged (other files there are left alone)"
	expect_stdout_has "django_migrations: 38 rows now, 37 in the snapshot"
	expect_stdout_has "msgrcpt: 0 rows now, 250 in the snapshot"
	# rows rewritten, count unchanged: the digests tell (as diff does)
	check "a table whose content changed with the same count is shown" \
		grep -qE '^      table [^ ]+\.core_user: [0-9]+ rows? now and in the snapshot, content differs$' "$T/out"
	check "unchanged tables are not listed without -v" bash -c "! grep -qE '^      table .*, unchanged\$' '$T/out'"
	run_ms -v -c "$conf" restore "$A" --dest "$dest" --dry-run
	check "-v lists the unchanged tables" grep -qE '^      table [^ ]+\.django_content_type: [0-9]+ rows?, unchanged$' "$T/out"
	expect_stdout_has "      add     manage.py"
	expect_stdout_has "      replace instance/settings.py"
	expect_stdout_has "      remove  added-by-upgrade.txt"
	state >"$T/after-dry.state"
	check "--dry-run changed nothing" same_state "$T/bad.state" "$T/after-dry.state"
	check "--dry-run wrote no safety snapshot" test "$(ls "$dest" | grep -c '\.tar\.zst$')" = 1

	case_begin "$ENGINE: no terminal"
	run_ms -c "$conf" restore "$A" --dest "$dest"
	expect_rc 1
	expect_stderr "modosnap: error: refusing to restore without confirmation: no terminal to ask on (use --yes)"
	state >"$T/after-refusal.state"
	check "a refused restore changed nothing" same_state "$T/bad.state" "$T/after-refusal.state"

	case_begin "$ENGINE: restore"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes
	expect_rc "$ok"
	expect_stdout_has "  ok: instance: $((37 + extra)) entries match the snapshot"
	expect_stdout_has "  ok: postfix: 11 files match the snapshot"
	expect_stdout_has "  ok: db:default: "
	expect_stdout_has "  ok: db:amavis: "
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default password"
	state >"$T/restored.state"
	check "files and databases equal the snapshot (find, sha256sum, dumps)" same_state "$T/good.state" "$T/restored.state"
	if [ "$ENGINE" = pg ]; then
		expect_stdout_has "  1 entries owned by a user or group name this machine lacks: restored by id"
		getfattr -R -d -m - --absolute-names "$MS_FX_INSTANCE" 2>/dev/null | LC_ALL=C sort >"$T/restored.xattrs"
		check "xattrs and ACLs restored" same_state "$T/good.xattrs" "$T/restored.xattrs"
		check "the ACL is there" bash -c "getfacl -c '$MS_FX_INSTANCE/manage.py' 2>/dev/null | grep -q '^user:nobody:r--'"
		check "the nameless owner is restored by id" test "$(stat -c %u:%g "$MS_FX_INSTANCE/numeric-owner")" = 4242:4243
	fi
	local S
	S=$(sed -n 's/^safety snapshot: //p' "$T/out")
	check "a safety snapshot was taken" test -f "$S"
	check "the safety snapshot is tagged and holds the replaced components" bash -c \
		"tar --zstd -xOf '$S' modosnap.json | jq -e '.tags == [\"safety\"] and .components == [\"instance\", \"postfix\", \"db:default\", \"db:amavis\", \"dkim\", \"system\"] and all(.versions.databases[]; .server_version != null and .migrations_applied > 0 or .alias == \"amavis\")' >/dev/null"
	check "latest still selects the snapshot, not the safety one" \
		bash -c "'$MODOSNAP' -c '$conf' show latest --dest '$dest' --json | jq -e '.header.tags == []' >/dev/null"
	# and the safety snapshot undoes it
	run_ms -c "$conf" restore "$S" --dest "$dest" --yes --no-safety-snapshot
	expect_rc 0
	state >"$T/undone.state"
	check "restoring the safety snapshot brings the bad state back" same_state "$T/bad.state" "$T/undone.state"

	case_begin "$ENGINE: only db:amavis"
	sed -i "s/^SECRET_KEY = .*/SECRET_KEY = 'rotated-by-the-upgrade'/" "$MS_FX_SETTINGS"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot --only db:amavis
	expect_rc 3
	expect_stderr "modosnap: warning: the current settings.py's SECRET_KEY differs from the snapshot's: passwords stored encrypted in the databases (e.g. DKIM or relay credentials) will not be readable; restore the instance component too, or put the snapshot's SECRET_KEY back"
	expect_stdout_lacks "restored instance"
	expect_stdout_has "restored db:amavis"
	check "amavis is back" test "$(db_state "$ENGINE" "$MS_FX_AMAVIS_DB" | md5sum)" = "$(sed -n '/^== amavis$/,$p' "$T/good.state" | tail -n +2 | md5sum)"
	check "the instance still has the upgrade's file" test -f "$MS_FX_INSTANCE/added-by-upgrade.txt"

	case_begin "$ENGINE: root"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes --root "$T/alt-$ENGINE" --only instance --only postfix
	expect_rc 0
	check "files restored under --root" test -f "$T/alt-$ENGINE$MS_FX_INSTANCE/manage.py"
	check "postfix restored under --root" test -f "$T/alt-$ENGINE$MS_FX_POSTFIX/main.cf"
	check "the live instance was not touched" test -f "$MS_FX_INSTANCE/added-by-upgrade.txt"
	tree_state "$T/alt-$ENGINE$MS_FX_INSTANCE" >"$T/alt.state"
	sed '/^== postfix$/,$d' "$T/good.state" >"$T/good-instance.state"
	check "the tree under --root equals the snapshot's" same_state "$T/good-instance.state" "$T/alt.state"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes --root "$T/alt-$ENGINE" --only instance
	expect_rc 1
	expect_stderr "modosnap: error: '$T/alt-$ENGINE$MS_FX_INSTANCE' exists: --root restores into new locations only"

	case_begin "$ENGINE: confirmation on a terminal"
	state >"$T/before-tty.state"
	printf 'n\n' | script -qec "'$MODOSNAP' -c '$conf' restore '$A' --dest '$dest' --no-safety-snapshot" /dev/null \
		>"$T/tty.out" 2>&1
	check "the question is asked" grep -q "Replace the components above with the snapshot's? \[y/N\]" "$T/tty.out"
	check "'n' cancels" grep -q "modosnap: error: restore cancelled: nothing was changed" "$T/tty.out"
	state >"$T/after-tty.state"
	check "a cancelled restore changed nothing" same_state "$T/before-tty.state" "$T/after-tty.state"

	case_begin "$ENGINE: the safety snapshot fails"
	mkdir -p "$T/tiny-$ENGINE"
	if mount -t tmpfs -o size=256k,mode=0700 tmpfs "$T/tiny-$ENGINE" 2>/dev/null; then
		run_ms -c "$conf" restore "$A" --dest "$T/tiny-$ENGINE" --yes
		umount "$T/tiny-$ENGINE"
		expect_rc 1
		check "it says nothing was restored" grep -q "modosnap: error: the safety snapshot failed: nothing was restored" "$T/err"
		check "the failing write is named" grep -q "No space left on device" "$T/err"
		state >"$T/after-full.state"
		check "nothing was restored" same_state "$T/before-tty.state" "$T/after-full.state"
	else
		not_ok "cannot mount a small tmpfs (run as root)"
	fi

	case_begin "$ENGINE: installed versions differ"
	local di
	di=$(find "$MS_FX_VENV" -maxdepth 5 -type d -name 'modoboa-2.3.2.dist-info' | head -n 1)
	sed -i 's/^Version: 2.3.2$/Version: 2.4.0/' "$di/METADATA"
	run_ms -c "$conf" restore "$A" --dest "$dest" --dry-run
	sed -i 's/^Version: 2.4.0$/Version: 2.3.2/' "$di/METADATA"
	expect_rc 3
	expect_stdout_has "  versions: installed Modoboa 2.4.0, snapshot 2.3.2; to match: pip install 'modoboa==2.3.2'"
	check "the warning names both versions" grep -q "modosnap: warning: the installed versions differ from the snapshot's (Modoboa 2.4.0 installed, 2.3.2 in the snapshot)" "$T/err"

	case_begin "$ENGINE: killed during the file swap"
	state >"$T/before-kill.state"
	kill_at files-swap -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
	check "the killed restore left no copy of a settings.py or a password file" no_secret_files
	settled_state "$T/before-kill.state" "$T/killed.state"
	check "the killed restore left the old installation" same_state "$T/before-kill.state" "$T/killed.state"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
	expect_rc 3
	expect_stderr "modosnap: warning: removing '$(dirname "$MS_FX_INSTANCE")/.instance.modosnap-restore', left behind by an interrupted restore"
	state >"$T/completed.state"
	check "a second run completes the restore" same_state "$T/good.state" "$T/completed.state"

	case_begin "$ENGINE: killed during a database load"
	bad_upgrade
	state >"$T/before-kill.state"
	kill_at db-load -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot --only db:default
	check "the killed restore left no copy of a settings.py or a password file" no_secret_files
	settled_state "$T/before-kill.state" "$T/killed.state"
	check "the killed database restore left the old database" same_state "$T/before-kill.state" "$T/killed.state"
	run_ms -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
	if [ "$ENGINE" = my ]; then
		expect_rc 3
		check "the interrupted run's staging database is dropped" grep -q "left behind by an interrupted run" "$T/err"
		check "no side database is left" test -z "$(my -N -e "SHOW DATABASES LIKE 'ms%\\_$MS_FX_DEFAULT_DB'")"
	else
		expect_rc 0
	fi
	state >"$T/completed.state"
	check "a second run completes the restore" same_state "$T/good.state" "$T/completed.state"

	[ "$ENGINE" = pg ] || return 0
	# admin_user may create databases: each database is loaded into a
	# staging database on three connections and renamed over the live one
	local sconf=$T/pg-staged.conf
	{
		cat "$conf"
		printf '[db:default]\nadmin_user = %s\n[db:amavis]\nadmin_user = %s\n' "$MS_PG_SUPERUSER" "$MS_PG_SUPERUSER"
	} >"$sconf"
	chmod 600 "$sconf"

	case_begin "pg: a restore through staging databases"
	bad_upgrade
	run_ms -v -c "$sconf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
	expect_rc 0
	check "the default database went through a staging database" \
		grep -q "^modosnap: debug: database 'default': restoring through the staging database 'msrestore_[0-9]*_$MS_FX_DEFAULT_DB'$" "$T/err"
	check "so did amavis" \
		grep -q "^modosnap: debug: database 'amavis': restoring through the staging database 'msrestore_" "$T/err"
	check "loaded on three connections" grep -q "^modosnap: debug: database 'amavis': the tables loaded on 3 connection(s) at once$" "$T/err"
	check "no warning" sh -c "! grep -q 'modosnap: warning' '$T/err'"
	state >"$T/staged.state"
	check "the staged restore restored" same_state "$T/good.state" "$T/staged.state"
	check "no staging or old database is left" \
		test "$(su_psql -Atc "SELECT count(*) FROM pg_database WHERE datname ~ '^ms(restore|old)_.*$prefix'")" = 0

	case_begin "pg: killed before the staging database's rename"
	bad_upgrade
	state >"$T/before-kill.state"
	kill_at db-load -c "$sconf" restore "$A" --dest "$dest" --yes --no-safety-snapshot --only db:default
	settled_state "$T/before-kill.state" "$T/killed.state"
	check "the killed restore left the live database" same_state "$T/before-kill.state" "$T/killed.state"
	check "and its staging database" \
		test "$(su_psql -Atc "SELECT count(*) FROM pg_database WHERE datname ~ '^msrestore_.*$MS_FX_DEFAULT_DB\$'")" = 1
	run_ms -c "$sconf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
	expect_rc 3
	check "the next run drops it, saying so" \
		grep -q "^modosnap: warning: database 'default': dropping 'msrestore_[0-9]*_$MS_FX_DEFAULT_DB', left behind by an interrupted run$" "$T/err"
	state >"$T/completed.state"
	check "and completes the restore" same_state "$T/good.state" "$T/completed.state"
	check "no staging or old database is left" \
		test "$(su_psql -Atc "SELECT count(*) FROM pg_database WHERE datname ~ '^ms(restore|old)_.*$prefix'")" = 0
}

SITES=()
cleanup_sites() {
	for s in "${SITES[@]}"; do
		"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$s" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	done
	ms_t_cleanup
}
trap cleanup_sites EXIT

run_engine pg
[ -n "${ONLY_PG:-}" ] || run_engine my

finish
