# docs/restore.md's disaster-restore runbook, followed step by step on a
# fresh temporary installation: a generated Modoboa site is snapshotted,
# then "the machine is lost" (instance directory and Postfix files deleted,
# databases and their roles/users dropped), and the runbook's commands
# bring it back; files and databases must equal what they were, by find +
# sha256sum and pg_dump / mariadb-dump. Once with PostgreSQL, once with
# MariaDB (the roles / accounts of settings.py are created by the restore
# through admin_user).
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)
. "$MS_SOURCE_DIR/tests/integration/restore-lib.sh"

SITES=()
cleanup_sites() {
	for s in "${SITES[@]}"; do
		"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$s" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	done
	ms_t_cleanup
}
trap cleanup_sites EXIT

# The machine is lost: nothing of the installation is left but the backups.
lose_machine() {
	rm -rf "$MS_FX_INSTANCE" "$MS_FX_DKIM_DIR" "$MS_FX_ROOT/srv/modoboa/pdfcredentials" "$MS_FX_ROOT/srv/modoboa/rrdfiles"
	(cd "$MS_FX_POSTFIX" && rm -f sql-*.cf modoboa-postfix-maps.chk && echo "# fresh install" >main.cf)
	if [ "$ENGINE" = pg ]; then
		for db in "$MS_FX_DEFAULT_DB" "$MS_FX_AMAVIS_DB"; do
			su_psql -d postgres -c "DROP DATABASE \"$db\""
		done
		su_psql -d postgres -c "DROP ROLE \"$MS_FX_DEFAULT_USER\"" -c "DROP ROLE \"$MS_FX_AMAVIS_USER\""
	else
		my -e "DROP DATABASE \`$MS_FX_DEFAULT_DB\`; DROP DATABASE \`$MS_FX_AMAVIS_DB\`;
			DROP USER '$MS_FX_DEFAULT_USER'@'localhost', '$MS_FX_AMAVIS_USER'@'localhost';"
	fi
}

runbook() {
	ENGINE=$1
	local site=$T/site-$ENGINE backups=$T/backups-$ENGINE conf=$T/modosnap-$ENGINE.conf admin
	"$MS_SOURCE_DIR/scripts/mkfixture" --root "$site" --servers "$MS_TESTSRV_ENV" \
		--engine "$([ "$ENGINE" = pg ] && echo pg || echo mariadb)" --prefix "rb${ENGINE}$$" \
		>"$T/mkfixture-$ENGINE.log" 2>&1 || { cat "$T/mkfixture-$ENGINE.log"; return 1; }
	SITES+=("$site")
	# shellcheck disable=SC1091
	. "$site/fixture.env"
	local ok=0
	[ "$ENGINE" = my ] && ok=3 # MyISAM tables are reported by create

	case_begin "$ENGINE: before the disaster"
	run_ms create --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --dest "$backups"
	expect_rc "$ok"
	local A
	A=$(tail -n 1 "$T/out")
	state >"$T/good.state"
	lose_machine
	check "the installation is gone" test ! -e "$MS_FX_INSTANCE"

	# Steps 1-2 (services and Modoboa installed, modosnap installed, the
	# snapshot copied): the servers run, the snapshot is in $backups.
	case_begin "$ENGINE: step 3, check the archive"
	run_ms verify "$A"
	expect_rc 0
	expect_stdout_has "ok: $A:"

	case_begin "$ENGINE: step 4, let modosnap create the databases"
	if [ "$ENGINE" = pg ]; then admin=$MS_PG_SUPERUSER; else admin=root; fi
	{
		echo '[modosnap]'
		ms_t_key_lines
		printf '[db:default]\nadmin_user = %s\n[db:amavis]\nadmin_user = %s\n' "$admin" "$admin"
	} >"$conf"
	chmod 600 "$conf"
	check "the config holds no password" bash -c "! grep -qi password '$conf'"

	case_begin "$ENGINE: step 5, the archive proposes, the administrator decides"
	# a fresh machine names neither the instance directory nor the
	# databases: the snapshot's are shown, and used only once accepted
	run_ms -c "$conf" restore "$A" --dest "$backups" --dry-run
	expect_rc 1
	expect_stderr "modosnap: error: the snapshot's instance directory is '$MS_FX_INSTANCE', not this machine's default '/srv/modoboa/instance': name the target with --instance or [modosnap] instance in the config, or pass --accept-snapshot-targets to restore into '$MS_FX_INSTANCE'"
	run_ms -c "$conf" restore "$A" --dest "$backups" --dry-run --instance "$MS_FX_INSTANCE" \
		--postfix-dir "$MS_FX_POSTFIX"
	expect_rc 1
	check "the databases' settings are the snapshot's, shown and refused" \
		grep -q "^modosnap: error: database 'default': no connection settings for it on this machine (no settings.py at '$MS_FX_INSTANCE' names it, nor a \[db:default\] config section); the snapshot's settings.py says .* database '$MS_FX_DEFAULT_DB' on .*: describe it in \[db:default\], or pass --accept-snapshot-targets to use the snapshot's$" "$T/err"
	run_ms -c "$conf" restore "$A" --dest "$backups" --dry-run --accept-snapshot-targets
	expect_rc 0
	expect_stdout_has "$MS_FX_INSTANCE (does not exist: created) (snapshot, accepted)"
	expect_stdout_has "      36 added, 0 replaced, 0 removed, 0 unchanged"
	expect_stdout_has "      not reachable now (missing database or server down): it will be created if possible"
	expect_stdout_has "(the snapshot's settings, accepted)"
	check "the dry run created nothing" test ! -e "$MS_FX_INSTANCE"

	case_begin "$ENGINE: step 5b, every connection is tried before the first write"
	{
		echo '[modosnap]'
		ms_t_key_lines
		printf '[db:default]\nadmin_user = no_such_admin\n[db:amavis]\nadmin_user = %s\n' "$admin"
	} >"$T/bad-admin.conf"
	chmod 600 "$T/bad-admin.conf"
	run_ms -c "$T/bad-admin.conf" restore "$A" --dest "$backups" --yes --accept-snapshot-targets
	expect_rc 1
	check "the failing admin connection is named" grep -q "^modosnap: error: database 'default': the admin_user connection of \[db:default\] failed: nothing was changed$" "$T/err"
	check "the server's own answer is shown" grep -q "^modosnap: error: unable to connect to database 'default' as admin 'no_such_admin'" "$T/err"
	check "no file was restored" test ! -e "$MS_FX_INSTANCE"

	case_begin "$ENGINE: step 6, restore"
	run_ms -c "$conf" restore "$A" --dest "$backups" --yes --accept-snapshot-targets
	expect_rc 0
	if [ "$ENGINE" = pg ]; then
		expect_stderr "modosnap: safety snapshot: nothing to protect (no component exists yet)
modosnap: database 'default': created role '$MS_FX_DEFAULT_USER'
modosnap: database 'default': created database '$MS_FX_DEFAULT_DB' owned by '$MS_FX_DEFAULT_USER'
modosnap: database 'amavis': created role '$MS_FX_AMAVIS_USER'
modosnap: database 'amavis': created database '$MS_FX_AMAVIS_DB' owned by '$MS_FX_AMAVIS_USER'"
	else
		expect_stderr "modosnap: safety snapshot: nothing to protect (no component exists yet)
modosnap: database 'default': created user '$MS_FX_DEFAULT_USER'@'localhost' with all privileges on '$MS_FX_DEFAULT_DB'
modosnap: database 'amavis': created user '$MS_FX_AMAVIS_USER'@'localhost' with all privileges on '$MS_FX_AMAVIS_DB'"
	fi
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default password"

	case_begin "$ENGINE: step 7, the report"
	expect_stdout_has "  ok: instance: 37 entries match the snapshot"
	expect_stdout_has "  ok: postfix: 11 files match the snapshot"
	expect_stdout_has "  ok: db:default: "
	expect_stdout_has "  ok: db:amavis: "
	# the DKIM keys and the state directories the database names come back too
	expect_stdout_has "  ok: dkim: "
	expect_stdout_has "  ok: system: "
	check "the DKIM keys are back" test -s "$MS_FX_DKIM_DIR/example.test.pem"
	check "the state directories are back" test -d "$MS_FX_ROOT/srv/modoboa/pdfcredentials"
	expect_stdout_has "next steps: restart the Modoboa application server"
	state >"$T/restored.state"
	check "files and databases are back exactly (find, sha256sum, dumps)" same_state "$T/good.state" "$T/restored.state"
	check "the Postfix directory's other files were left alone" test -f "$MS_FX_POSTFIX/master.cf"
	check "the settings.py users connect again" bash -c "'$MODOSNAP' inspect --instance '$MS_FX_INSTANCE' \
		--postfix-dir '$MS_FX_POSTFIX' >/dev/null"
}

runbook pg
runbook my

finish
