#!/usr/bin/env bash
# The disaster runbook of docs/offhost.md ("Disaster restore on a new
# machine"), followed command by command, for PostgreSQL (through an SFTP
# remote served on localhost by rclone serve sftp) and MariaDB (through a
# local-path remote), on installer-like sites (scripts/mkfixture --server):
# - the old server's create pushes its signed snapshot, encrypted to the
#   administrator's age key;
# - the machine is lost: instance, Postfix directory, DKIM keys, system
#   files, state directories, every local snapshot, the old config and its
#   signing key, both databases and their roles / accounts;
# - the new machine holds only the rclone config, the remote's url,
#   [db:ALIAS] admin_user, the old server's public signing key, the
#   administrator's public age key (the recipient of its own snapshots to
#   come) and identity file; list, verify, restore --dry-run and restore
#   bring everything back: every file with its bytes, mode, owner
#   and mtime (find -printf + sha256sum), every table's rows (count and
#   md5) and the dumps (restore-lib.sh's oracles), and the application's
#   role logs in with the password of settings.py;
# - before that, a wrong identity exits 5 and a missing one stops with the
#   documented message, and neither writes a file or creates a database;
#   the encrypted copy they leave in the destination is used again by the
#   next run, with the identity.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
. "$MS_SOURCE_DIR/tests/integration/restore-lib.sh"

SFTP_PID=
trap 'kill $SFTP_PID 2>/dev/null; ms_t_sites_cleanup' EXIT

# the administrator's age keys, made and kept off the server
age-keygen -o "$T/admin.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$T/admin.key")
age-keygen -o "$T/other.key" 2>/dev/null

# rclone's config: a local-path remote, and an SFTP server on localhost
printf '[loc]\ntype = local\n' >"$T/rclone.conf"
ms_t_serve_sftp sf

# tables_state ENGINE DB : every table's row count and the md5 of its rows
# in order, as the server computes them.
tables_state() {
	if [ "$1" = pg ]; then
		su_psql -d "$2" <<-'SQL'
			SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %I.%I t',
			              table_schema || '.' || table_name, table_schema, table_name)
			  FROM information_schema.tables
			 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'
			 ORDER BY 1
			\gexec
		SQL
	else
		local t sql=""
		for t in $(my -N -B -e "SELECT table_name FROM information_schema.tables
				WHERE table_schema = '$2' AND table_type = 'BASE TABLE' ORDER BY 1"); do
			sql+="SELECT '$t', COUNT(*) FROM \`$t\`; CHECKSUM TABLE \`$t\` EXTENDED;"
		done
		my -N -B -e "$sql" "$2"
	fi
}

# system_state ARCHIVE_LIST : the entries of the snapshot's system component
# (relative to the system root), with type, mode, owner, size, mtime, link
# target and each file's SHA-256, read on this machine.
system_state() {
	local p
	sed -n 's#^files/system/##p' "$1" | sed 's#/$##' | LC_ALL=C sort -u | while read -r p; do
		(cd "$MS_FX_ROOT" && find "$p" -maxdepth 0 -printf '%p|%y|%m|%u|%g|%s|%T@|%l\n' &&
			if [ -f "$p" ] && [ ! -L "$p" ]; then sha256sum "$p"; fi)
	done
}

# whole_state ENGINE ARCHIVE_LIST : restore-lib.sh's state (the instance,
# the Postfix files, the dumps), the DKIM keys, the system component's
# entries, and every table's rows.
whole_state() {
	state
	echo "== dkim"
	tree_state "$MS_FX_DKIM_DIR"
	echo "== system"
	system_state "$2"
	echo "== rows"
	tables_state "$1" "$MS_FX_DEFAULT_DB"
	tables_state "$1" "$MS_FX_AMAVIS_DB"
}

# nothing_written : no database or role of the site exists, and none of
# the places the snapshot's files go to (the instance, the Postfix
# directory, the DKIM keys, the system files, the state directories).
nothing_written() {
	local n
	if [ "$ENGINE" = pg ]; then
		n=$(su_psql -d postgres -c "SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE '${MS_FX_PREFIX}_%')
			+ (SELECT count(*) FROM pg_roles WHERE rolname LIKE '${MS_FX_PREFIX}_%')")
	else
		n=$(my -N -B -e "SELECT (SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE '${MS_FX_PREFIX}_%')
			+ (SELECT count(*) FROM mysql.user WHERE user LIKE '${MS_FX_PREFIX}_%')")
	fi
	[ "$n" = 0 ] || return 1
	for n in "$MS_FX_ROOT/etc" "$MS_FX_ROOT/var" "$MS_FX_INSTANCE" "$MS_FX_ROOT/srv/modoboa/pdfcredentials" \
		"$MS_FX_ROOT/srv/modoboa/rrdfiles"; do
		[ ! -e "$n" ] || { echo "    # '$n' exists"; return 1; }
	done
}

# app_login DB USER PASSWORD : the application's account logs in (with
# the password, over TCP for PostgreSQL, where the server checks it).
app_login() {
	if [ "$ENGINE" = pg ]; then
		PGPASSWORD=$3 "$MS_PG_BINDIR/psql" -X -At -h 127.0.0.1 -p "$MS_PG_PORT" -U "$2" -d "$1" -c 'SELECT 1' 2>/dev/null |
			grep -qx 1
	else
		MYSQL_PWD=$3 mariadb --no-defaults -u "$2" -S "$MS_MY_SOCKET" -N -B -e 'SELECT 1' "$1" 2>/dev/null | grep -qx 1
	fi
}
login_refused() { ! app_login "$@"; }

disaster() {
	ENGINE=$1
	local url=$2 copies=$3 old=$T/old-$1 new=$T/new-$1 admin rc=0 A NAME
	[ "$ENGINE" = my ] && rc=3 # create: MariaDB's MyISAM tables, a warning
	if [ "$ENGINE" = pg ]; then admin=$MS_PG_SUPERUSER; else admin=root; fi
	unset "${!MS_FX_@}"
	"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site-$ENGINE" --servers "$MS_TESTSRV_ENV" --server --size 50 \
		--engine "$([ "$ENGINE" = pg ] && echo pg || echo mariadb)" --prefix "dr$ENGINE$$" \
		>"$T/mkfixture-$ENGINE.log" 2>&1 || { not_ok "mkfixture" "$(tail -n 20 "$T/mkfixture-$ENGINE.log")"; return; }
	ms_t_site "$T/site-$ENGINE"
	# shellcheck disable=SC1090
	. "$T/site-$ENGINE/fixture.env"

	case_begin "$ENGINE: the old server pushes an encrypted, signed snapshot"
	mkdir -p "$old"
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX" "$old/backups"
		printf 'signing_key = %s/signing.key\ntrusted_keys = %s/trusted_keys\nsystem_root = %s\n' "$old" "$old" "$MS_FX_ROOT"
		printf '[remote]\nrclone_config = %s\n[remote:off]\nurl = %s\npush = always\nencrypt = yes\n' "$T/rclone.conf" "$url"
		printf '[encrypt]\nrecipient = %s\n' "$RECIPIENT"
	} >"$old/modosnap.conf"
	chmod 600 "$old/modosnap.conf"
	run_ms -c "$old/modosnap.conf" create
	expect_rc "$rc"
	expect_stdout_has "pushed      off ($url)"
	A=$(tail -n 1 "$T/out")
	NAME=$(basename "$A")
	check "the remote holds the encrypted copy and its marker, no plain copy" \
		test -s "$copies/$NAME.age" -a -s "$copies/$NAME.age.ok" -a ! -e "$copies/$NAME"
	tar --zstd -tf "$A" >"$T/members-$ENGINE"
	check "the snapshot holds the DKIM keys and the system files" \
		grep -q -e '^files/dkim/' -e '^files/system/etc/' "$T/members-$ENGINE"
	whole_state "$ENGINE" "$T/members-$ENGINE" >"$T/before-$ENGINE.state"
	cp "$old/signing.key.pub" "$T/old-$ENGINE.pub" # kept off the server with the age key

	case_begin "$ENGINE: the machine is lost"
	rm -rf "${MS_FX_ROOT:?}/etc" "${MS_FX_ROOT:?}/var" "$MS_FX_INSTANCE" "$MS_FX_ROOT/srv/modoboa/pdfcredentials" \
		"$MS_FX_ROOT/srv/modoboa/rrdfiles" "$MS_FX_VMAIL" "$old"
	if [ "$ENGINE" = pg ]; then
		su_psql -d postgres -c "DROP DATABASE \"$MS_FX_DEFAULT_DB\"" -c "DROP DATABASE \"$MS_FX_AMAVIS_DB\"" \
			-c "DROP ROLE \"$MS_FX_DEFAULT_USER\"" -c "DROP ROLE \"$MS_FX_AMAVIS_USER\""
	else
		my -e "DROP DATABASE \`$MS_FX_DEFAULT_DB\`; DROP DATABASE \`$MS_FX_AMAVIS_DB\`;
			DROP USER IF EXISTS '$MS_FX_DEFAULT_USER'@'localhost', '$MS_FX_DEFAULT_USER'@'127.0.0.1',
				'$MS_FX_AMAVIS_USER'@'localhost', '$MS_FX_AMAVIS_USER'@'127.0.0.1';"
	fi
	check "nothing of the installation is left (files, databases, roles)" nothing_written
	check "no local snapshot, config or signing key is left" test ! -e "$old"

	case_begin "$ENGINE: the new machine's config"
	mkdir -p "$new"
	cp "$T/old-$ENGINE.pub" "$new/trusted_keys"
	{
		printf '[modosnap]\ndest = %s\nsigning_key = %s/signing.key\ntrusted_keys = %s/trusted_keys\nsystem_root = %s\n' \
			"$new/backups" "$new" "$new" "$MS_FX_ROOT"
		printf '[db:default]\nadmin_user = %s\n[db:amavis]\nadmin_user = %s\n' "$admin" "$admin"
		printf '[remote]\nrclone_config = %s\n[remote:off]\nurl = %s\n' "$T/rclone.conf" "$url"
		# the public half of the identity: this machine's own snapshots go there too
		printf '[encrypt]\nrecipient = %s\n' "$(age-keygen -y "$T/admin.key")"
	} >"$new/modosnap.conf"
	chmod 600 "$new/modosnap.conf"
	check "it holds no password and no private key" bash -c "! grep -qi -e password -e SECRET '$new/modosnap.conf'"
	C=(-c "$new/modosnap.conf")

	case_begin "$ENGINE: list --remote"
	run_ms "${C[@]}" list --remote off
	expect_rc 0
	expect_stdout_has "$NAME.age"

	case_begin "$ENGINE: verify latest --remote --identity"
	run_ms "${C[@]}" verify latest --remote off --identity "$T/admin.key"
	expect_rc 0
	expect_stdout_has "ok: $NAME on remote 'off' (decrypted where needed, integrity and signature verified)"

	case_begin "$ENGINE: a wrong identity: exit 5, nothing written"
	run_ms "${C[@]}" restore off:latest --identity "$T/other.key" --yes --accept-snapshot-targets
	expect_rc 5
	expect_stderr "modosnap: error: '$new/backups/$NAME.age': no identity matches a recipient of this file"
	check "no database or role created, no file written but the encrypted copy" nothing_written
	check "the destination holds the encrypted copy only" test "$(ls -A "$new/backups")" = "$NAME.age"

	case_begin "$ENGINE: no identity: the documented refusal, nothing written"
	run_ms "${C[@]}" restore off:latest --yes --accept-snapshot-targets
	expect_rc 2
	expect_stderr "modosnap: warning: '$new/backups/$NAME.age' is encrypted: its SHA-256 matches what the remote recorded, but its content is not verified; fetch it again with --identity FILE to decrypt and verify it
modosnap: error: '$new/backups/$NAME.age' is encrypted: restore it with --identity FILE"
	check "no database or role created, no file written but the encrypted copy" nothing_written
	check "the destination holds the encrypted copy only" test "$(ls -A "$new/backups")" = "$NAME.age"

	# the encrypted copy the refused runs left is used again, not refused
	case_begin "$ENGINE: restore --dry-run"
	run_ms "${C[@]}" restore off:latest --identity "$T/admin.key" --dry-run --accept-snapshot-targets
	expect_rc 0
	expect_stdout_has "$MS_FX_INSTANCE (does not exist: created) (snapshot, accepted)"
	expect_stdout_has "not reachable now (missing database or server down): it will be created if possible"
	check "the dry run created no database and no installation file" nothing_written

	case_begin "$ENGINE: restore"
	run_ms "${C[@]}" restore off:latest --identity "$T/admin.key" --yes --accept-snapshot-targets
	expect_rc 0
	local c
	for c in "instance: " "postfix: " "db:default: " "db:amavis: " "dkim: " "system: "; do
		expect_stdout_has "  ok: $c"
	done
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default database password"
	expect_no_secret "$(grep '^AGE-SECRET-KEY-1' "$T/admin.key")" "age identity"
	expect_no_secret "$SFTP_PASS" "SFTP password"
	whole_state "$ENGINE" "$T/members-$ENGINE" >"$T/after-$ENGINE.state"
	check "files (bytes, mode, owner, mtime), dumps and every table's rows are back exactly" \
		same_state "$T/before-$ENGINE.state" "$T/after-$ENGINE.state"
	check "the application's account logs in with settings.py's password" \
		app_login "$MS_FX_DEFAULT_DB" "$MS_FX_DEFAULT_USER" "$MS_FX_DEFAULT_PASSWORD"
	check "the amavis account too" app_login "$MS_FX_AMAVIS_DB" "$MS_FX_AMAVIS_USER" "$MS_FX_AMAVIS_PASSWORD"
	check "a wrong password is refused (the login check is real)" \
		login_refused "$MS_FX_DEFAULT_DB" "$MS_FX_DEFAULT_USER" "wrong-$MS_FX_DEFAULT_PASSWORD"
}

disaster pg "sf:backups/mail1" "$T/sftp-root/backups/mail1"
disaster my "loc:$T/remote-my" "$T/remote-my"

finish
