#!/usr/bin/env bash
# scripts/mkfixture against the throwaway servers of tests/harness/dbservers:
# for each engine layout (pg, mariadb, mixed with --pg-tcp, pg with
# --latin1-amavis, --no-amavis) the generated tree has the expected files and
# modes, the Postfix .chk file matches md5sum, the databases hold the expected
# objects and row counts, the credentials written to settings.py really
# authenticate (password checked over TCP for PostgreSQL, over the socket for
# MariaDB), and --remove leaves nothing behind. settings.py is read with
# Python's own parser (ast), an oracle independent of modosnap.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers

MKFX=$MS_SOURCE_DIR/scripts/mkfixture
PSQL=$MS_PG_BINDIR/psql
RUN=t$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')   # prefix stem, unique per run
ALLBYTES_MD5=e2c865db4162bed963bfaa9ef6ac18f0           # md5 of bytes 0x00..0xff
PYTHON=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 || true)   # not a slow pyenv shim

# ---------------------------------------------------------------- helpers

# pg_q DB SQL : one value (unaligned) as the superuser over the socket.
pg_q() {
	PGCLIENTENCODING=UTF8 "$PSQL" -X -At -v ON_ERROR_STOP=1 -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" \
		-U "$MS_PG_SUPERUSER" -d "$1" -c "$2" 2>&1
}

# my_q SQL : values as the MariaDB superuser over the socket.
my_q() {
	mariadb --no-defaults --default-character-set=utf8mb4 -u"$MS_MY_SUPERUSER" -S "$MS_MY_SOCKET" -N -B -e "$1" 2>&1
}

# eq DESCRIPTION GOT WANT
eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# setting EXPR : evaluates EXPR over settings.py's literal assignments (ast).
setting() {
	"$PYTHON" - "$MS_FX_SETTINGS" "$1" <<-'EOF'
		import ast, sys
		tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
		env = {}
		for node in tree.body:
		    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
		        try:
		            env[node.targets[0].id] = ast.literal_eval(node.value)
		        except (ValueError, TypeError, SyntaxError):
		            pass
		print(eval(sys.argv[2], env))
	EOF
}

# pg_login USER PASSWORD DB HOST PORT : connects with that password (PGPASSWORD,
# not the command line); prints current_user.
pg_login() {
	PGPASSWORD=$2 PGCONNECT_TIMEOUT=5 "$PSQL" -X -At -w -h "$4" -p "$5" -U "$1" -d "$3" \
		-c 'SELECT current_user' 2>&1
}

# my_login USER PASSWORD DB SQL : connects over the socket with a 0600 option file.
my_login() {
	local cnf=$T/login.cnf
	(umask 077 && printf '[client]\nuser=%s\npassword=%s\nsocket=%s\n' "$1" "$2" "$MS_MY_SOCKET" >"$cnf")
	mariadb --defaults-file="$cnf" --default-character-set=utf8mb4 -N -B "$3" -e "$4" 2>&1
	local rc=$?
	rm -f "$cnf"
	return $rc
}

mode_is() { [ "$(stat -c %a "$2")" = "$1" ]; }

# mk NAME ARGS... : runs mkfixture into $T/NAME; output in $T/mk.out, status in $RC.
mk() {
	local name=$1
	shift
	FX=$T/$name
	"$MKFX" --root "$FX" --servers "$MS_TESTSRV_ENV" "$@" >"$T/mk.out" 2>&1
	RC=$?
}

# load_fx : sources the fixture's env file (resetting the previous one's values).
load_fx() {
	unset "${!MS_FX_@}"
	# shellcheck disable=SC1091
	. "$FX/fixture.env"
}

# ---------------------------------------------------------------- checks

check_files() {
	local root=$MS_FX_ROOT inst=$MS_FX_INSTANCE venv=$MS_FX_VENV
	local site=$venv/lib/python3.11/site-packages
	check "fixture.env is 0600" mode_is 600 "$root/fixture.env"
	check "pyvenv.cfg names Python 3.11" grep -q '^version = 3\.11\.' "$venv/pyvenv.cfg"
	check "bin/python3 links to /usr/bin/python3" test "$(readlink "$venv/bin/python3")" = /usr/bin/python3
	check "bin/python links to python3" test "$(readlink "$venv/bin/python")" = python3
	check "modoboa 2.3.2 metadata" grep -qx 'Version: 2.3.2' "$site/modoboa-2.3.2.dist-info/METADATA"
	check "Django 4.2.16 metadata" grep -qx 'Name: Django' "$site/Django-4.2.16.dist-info/METADATA"
	check "modoboa-contacts 1.1.0 metadata" grep -qx 'Name: modoboa-contacts' "$site/modoboa_contacts-1.1.0.dist-info/METADATA"
	check "modoboa-webmail 1.8.0 metadata" grep -qx 'Version: 1.8.0' "$site/modoboa_webmail-1.8.0.dist-info/METADATA"
	check "METADATA has a blank line then a body" sh -c "sed -n '/^\$/,\$p' '$site/modoboa-2.3.2.dist-info/METADATA' | grep -q modoboa"
	check "frontend_dist in the venv" test -f "$site/modoboa/frontend_dist/index.html"
	eq "manage.py shebang names the venv python" "$(head -n 1 "$inst/manage.py")" "#!$venv/bin/python"
	check ".env is 0600" mode_is 600 "$inst/.env"
	check ".env holds an RSA key block" grep -q -- '-----BEGIN RSA PRIVATE KEY-----' "$inst/.env"
	check "settings.py is 0640" mode_is 640 "$MS_FX_SETTINGS"
	local f
	for f in __init__ urls wsgi asgi cron_config; do
		check "instance/$f.py is 0644" mode_is 644 "$inst/instance/$f.py"
	done
	check "a 1 MiB media file" test "$(find "$inst/media" -type f -size 1024k | wc -l)" -ge 1
	check "a non-ASCII media path" test -f "$inst/media/pièces jointes/2024/日本語 資料.bin"
	check "media files are 0644" test -z "$(find "$inst/media" -type f ! -perm 644)"
	check "sitestatic has files" test "$(find "$inst/sitestatic" -type f | wc -l)" -ge 3
	check "frontend symlinks resolve into the venv" sh -c "test -L '$inst/frontend/index.html' && test -e '$inst/frontend/index.html' && readlink '$inst/frontend/assets' | grep -q '^$site/modoboa/frontend_dist'"
	check "frontend/config.json" test -f "$inst/frontend/config.json"
}

check_settings() {
	if [ -z "$PYTHON" ]; then
		not_ok "python3 is needed to parse settings.py"
		return
	fi
	eq "settings.py parses; SECRET_KEY matches" "$(setting 'SECRET_KEY')" "$MS_FX_SECRET_KEY"
	eq "MODOBOA_APPS core entries and extensions" "$(setting "','.join(MODOBOA_APPS)")" \
		"modoboa,modoboa.core,modoboa.lib,modoboa.admin,modoboa.transport,modoboa.relaydomains,modoboa.limits,modoboa.parameters,modoboa.dnstools,modoboa.policyd,modoboa.maillog,modoboa.dmarc,modoboa.pdfcredentials,modoboa.imap_migration,modoboa_contacts,modoboa_webmail"
	eq "DATABASES aliases" "$(setting "','.join(DATABASES)")" "$([ -n "$MS_FX_AMAVIS_ENGINE" ] && echo default,amavis || echo default)"
	eq "default NAME/USER/HOST/PORT" \
		"$(setting "'|'.join(DATABASES['default'][k] for k in ('NAME','USER','HOST','PORT'))")" \
		"$MS_FX_DEFAULT_DB|$MS_FX_DEFAULT_USER|$MS_FX_DEFAULT_HOST|$MS_FX_DEFAULT_PORT"
	eq "default PASSWORD matches fixture.env" "$(setting "DATABASES['default']['PASSWORD']")" "$MS_FX_DEFAULT_PASSWORD"
	eq "ATOMIC_REQUESTS is True" "$(setting "DATABASES['default']['ATOMIC_REQUESTS']")" True
	check "hand edit kept at the end" sh -c "tail -n 3 '$MS_FX_SETTINGS' | grep -q '^MODOBOA_CUSTOM_LOGO = None'"
}

check_postfix() {
	local pf=$MS_FX_POSTFIX drv dbtype n=0 bad=0 line file type sum
	if [ "$MS_FX_DEFAULT_ENGINE" = postgresql ]; then drv=pgsql dbtype=postgres; else drv=mysql dbtype=mysql; fi
	check "main.cf uses proxy:$drv maps" grep -qF "proxy:$drv:$pf/sql-domains.cf" "$pf/main.cf"
	check "master.cf exists" test -s "$pf/master.cf"
	while IFS= read -r line; do
		n=$((n + 1))
		IFS=: read -r file type sum <<<"$line"
		[ "$type" = "$dbtype" ] || bad=1
		[ "$(md5sum <"$pf/$file" | cut -d' ' -f1)" = "$sum" ] || bad=1
		mode_is 640 "$pf/$file" || bad=1
		grep -q '^# This file was generated on ' "$pf/$file" || bad=1
		# compared in the shell: the password stays off command lines
		[ "$(grep '^password = ' "$pf/$file")" = "password = $MS_FX_DEFAULT_PASSWORD" ] || bad=1
		grep -qx "dbname = $MS_FX_DEFAULT_DB" "$pf/$file" || bad=1
		grep -q '^query = SELECT\|^query = (SELECT' "$pf/$file" || bad=1
	done <"$pf/modoboa-postfix-maps.chk"
	eq "8 maps listed in modoboa-postfix-maps.chk" "$n" 8
	eq "every map: md5 matches md5sum, dbtype $dbtype, mode 0640, generated header, credentials" "$bad" 0
	check "sql-spliteddomains-transport.cf listed" grep -q '^sql-spliteddomains-transport.cf:' "$pf/modoboa-postfix-maps.chk"
}

check_pg_default() {
	local db=$MS_FX_DEFAULT_DB own=$MS_FX_DEFAULT_USER
	eq "pg default: owner of the database" "$(pg_q "$db" "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")" "$own"
	eq "pg default: every table, view and sequence owned by $own" \
		"$(pg_q "$db" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','v','S','i') AND pg_get_userbyid(c.relowner) <> '$own'")" 0
	eq "pg default: row counts" \
		"$(pg_q "$db" "SELECT (SELECT count(*) FROM django_migrations) || ' ' || (SELECT count(DISTINCT app) FROM django_migrations) || ' ' || (SELECT count(*) FROM core_user) || ' ' || (SELECT count(*) FROM admin_mailbox) || ' ' || (SELECT count(*) FROM auth_group) || ' ' || (SELECT count(*) FROM dkim)")" \
		"37 13 40 40 0 2"
	eq "pg default: identity and serial sequences ahead of max(id)" \
		"$(pg_q "$db" "SELECT (SELECT last_value FROM core_user_id_seq) > (SELECT max(id) FROM core_user) AND (SELECT last_value FROM admin_mailbox_id_seq) > (SELECT max(id) FROM admin_mailbox) AND (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES') > 5")" t
	eq "pg default: all foreign keys DEFERRABLE INITIALLY DEFERRED" \
		"$(pg_q "$db" "SELECT count(*) > 10 AND bool_and(condeferrable AND condeferred) FROM pg_constraint WHERE contype = 'f'")" t
	eq "pg default: trigger, function, view, jsonb, timestamptz" \
		"$(pg_q "$db" "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'mergequota')::text || (SELECT count(*) FROM pg_proc WHERE proname = 'merge_quota') || (SELECT count(*) FROM pg_views WHERE viewname = 'dkim') || (SELECT data_type FROM information_schema.columns WHERE table_name = 'core_localconfig' AND column_name = '_parameters') || (SELECT data_type FROM information_schema.columns WHERE table_name = 'core_user' AND column_name = 'date_joined')")" \
		"111jsonbtimestamp with time zone"
	eq "pg default: quota trigger merged the second insert" \
		"$(pg_q "$db" "SELECT bytes || ' ' || messages FROM admin_quota WHERE username = 'user10@example.test'")" "81094656 131"
	eq "pg default: bytea with every byte, NULL vs empty, >= 3 MB value" \
		"$(pg_q "$db" "SELECT (SELECT md5(raw) FROM dmarc_report WHERE report_id = '1234567890123456789') || ' ' || (SELECT count(*) FROM dmarc_report WHERE raw = '') || (SELECT count(*) FROM dmarc_report WHERE raw IS NULL) || ' ' || (SELECT max(length(raw)) >= 3000000 FROM dmarc_report)")" \
		"$ALLBYTES_MD5 11 true"
	eq "pg default: non-ASCII text incl. a 4-byte emoji" \
		"$(pg_q "$db" "SELECT string_agg(first_name, ',' ORDER BY id) FROM core_user WHERE id IN (2, 3, 4)")" "Élodie,太郎,🦊 Renard"
	eq "pg default: NULL and '' both present" \
		"$(pg_q "$db" "SELECT count(*) FILTER (WHERE secondary_email IS NULL) > 0 AND count(*) FILTER (WHERE secondary_email = '') > 0 FROM core_user")" t
	eq "pg default: a table without primary key" \
		"$(pg_q "$db" "SELECT count(*) FROM pg_class c WHERE relname = 'maillog_counters' AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.oid AND contype = 'p')")" 1
	eq "pg default: DKIM directory recorded in core_localconfig JSON" \
		"$(pg_q "$db" "SELECT _parameters->'admin'->>'dkim_keys_storage_dir' FROM core_localconfig")" "$MS_FX_DKIM_DIR"
}

check_pg_amavis() {
	local db=$MS_FX_AMAVIS_DB n=$MS_FX_SIZE
	eq "pg amavis: owner of every relation" \
		"$(pg_q "$db" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> '$MS_FX_AMAVIS_USER'")" 0
	eq "pg amavis: msgs, msgrcpt, maddr rows for --size $n" \
		"$(pg_q "$db" "SELECT (SELECT count(*) FROM msgs) || ' ' || (SELECT count(*) FROM msgrcpt) || ' ' || (SELECT count(*) FROM maddr)")" \
		"$n $((n + n / 4)) $(( (n / 10 < 20 ? 20 : n / 10) + 2 ))"
	eq "pg amavis: lookup tables and the empty one" \
		"$(pg_q "$db" "SELECT (SELECT count(*) FROM policy) || ' ' || (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM mailaddr) || ' ' || (SELECT count(*) FROM wblist) || ' ' || (SELECT count(*) FROM pending_release)")" \
		"4 30 40 40 0"
	eq "pg amavis: bytea keys, multi-MB chunk, every byte value" \
		"$(pg_q "$db" "SELECT (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'msgs'::regclass AND attname = 'mail_id') || ' ' || (SELECT max(length(mail_text)) >= 3145728 FROM quarantine) || ' ' || (SELECT count(*) FROM quarantine WHERE md5(mail_text) = '$ALLBYTES_MD5')")" \
		"bytea true 1"
	eq "pg amavis: sequence past max(id)" "$(pg_q "$db" "SELECT (SELECT last_value FROM maddr_id_seq) > (SELECT max(id) FROM maddr)")" t
}

check_my_default() {
	local db=$MS_FX_DEFAULT_DB
	eq "mariadb default: row counts" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM $db.django_migrations), (SELECT COUNT(*) FROM $db.core_user), (SELECT COUNT(*) FROM $db.auth_group), (SELECT COUNT(*) FROM $db.dkim))")" \
		"37 40 0 2"
	eq "mariadb default: engines and charsets (MyISAM, latin1 table)" \
		"$(my_q "SELECT GROUP_CONCAT(CONCAT(table_name, ':', engine, ':', table_collation) ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '$db' AND (engine = 'MyISAM' OR table_collation LIKE 'latin1%')")" \
		"django_session:MyISAM:utf8mb4_general_ci,lib_parameter:InnoDB:latin1_swedish_ci"
	eq "mariadb default: AUTO_INCREMENT past max(id)" \
		"$(my_q "SELECT auto_increment > (SELECT MAX(id) FROM $db.core_user) FROM information_schema.tables WHERE table_schema = '$db' AND table_name = 'core_user'")" 1
	eq "mariadb default: trigger, view, foreign keys, JSON check" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '$db'), (SELECT COUNT(*) FROM information_schema.views WHERE table_schema = '$db'), (SELECT COUNT(*) > 10 FROM information_schema.referential_constraints WHERE constraint_schema = '$db'), (SELECT COUNT(*) FROM information_schema.check_constraints WHERE constraint_schema = '$db' AND check_clause LIKE '%json_valid%') >= 2)")" \
		"1 1 1 1"
	eq "mariadb default: blob with every byte, NULL vs empty, >= 3 MB value" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT MD5(raw) FROM $db.dmarc_report WHERE report_id = '1234567890123456789'), (SELECT COUNT(*) FROM $db.dmarc_report WHERE raw = ''), (SELECT COUNT(*) FROM $db.dmarc_report WHERE raw IS NULL), (SELECT MAX(LENGTH(raw)) >= 3000000 FROM $db.dmarc_report))")" \
		"$ALLBYTES_MD5 1 1 1"
	eq "mariadb default: 4-byte UTF-8 and latin1 text" \
		"$(my_q "SELECT CONCAT((SELECT first_name FROM $db.core_user WHERE id = 4), '|', (SELECT value FROM $db.lib_parameter WHERE name = 'core.BANNER'))")" \
		"🦊 Renard|Bienvenue à bord, Noël"
	eq "mariadb default: trigger definer is the owner" \
		"$(my_q "SELECT definer FROM information_schema.triggers WHERE trigger_schema = '$db'")" "$MS_FX_DEFAULT_USER@localhost"
}

check_my_amavis() {
	local db=$MS_FX_AMAVIS_DB n=$MS_FX_SIZE cs=utf8mb4
	[ "$MS_FX_LATIN1_AMAVIS" = 1 ] && cs=latin1
	eq "mariadb amavis: msgs, msgrcpt, maddr rows for --size $n" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM $db.msgs), (SELECT COUNT(*) FROM $db.msgrcpt), (SELECT COUNT(*) FROM $db.maddr))")" \
		"$n $((n + n / 4)) $(( (n / 10 < 20 ? 20 : n / 10) + 2 ))"
	eq "mariadb amavis: varbinary keys, multi-MB chunk, every byte" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT column_type FROM information_schema.columns WHERE table_schema = '$db' AND table_name = 'msgs' AND column_name = 'mail_id'), (SELECT MAX(LENGTH(mail_text)) >= 3145728 FROM $db.quarantine), (SELECT COUNT(*) FROM $db.quarantine WHERE MD5(mail_text) = '$ALLBYTES_MD5'))")" \
		"varbinary(16) 1 1"
	eq "mariadb amavis: msgs charset, MyISAM stats table, empty table" \
		"$(my_q "SELECT CONCAT_WS(' ', (SELECT character_set_name FROM information_schema.collation_character_set_applicability c JOIN information_schema.tables t ON t.table_collation = c.collation_name WHERE t.table_schema = '$db' AND t.table_name = 'msgs'), (SELECT engine FROM information_schema.tables WHERE table_schema = '$db' AND table_name = 'stats_daily'), (SELECT COUNT(*) FROM $db.pending_release))")" \
		"$cs MyISAM 0"
	eq "mariadb amavis: accented subjects stored" \
		"$(my_q "SELECT COUNT(*) > 0 FROM $db.msgs WHERE subject LIKE 'Réunion café%'")" 1
}

# check_auth ALIAS : the credentials in settings.py authenticate, wrong ones do not.
check_auth() {
	local alias=$1 engine user pass db host port
	engine=$(setting "DATABASES['$alias']['ENGINE']")
	user=$(setting "DATABASES['$alias']['USER']")
	pass=$(setting "DATABASES['$alias']['PASSWORD']")
	db=$(setting "DATABASES['$alias']['NAME']")
	host=$(setting "DATABASES['$alias']['HOST']")
	port=$(setting "DATABASES['$alias']['PORT']")
	case "$engine" in
		django.db.backends.postgresql)
			# TCP is scram-sha-256 (the socket trusts): that is where a password is proven.
			eq "$alias: settings.py password logs in to PostgreSQL over TCP" \
				"$(pg_login "$user" "$pass" "$db" 127.0.0.1 "$MS_PG_PORT")" "$user"
			if [ "$(pg_login "$user" "wrong-$RANDOM" "$db" 127.0.0.1 "$MS_PG_PORT")" = "$user" ]; then
				not_ok "$alias: a wrong password is refused over TCP"
			else
				ok "$alias: a wrong password is refused over TCP"
			fi
			if [ "$host" = 127.0.0.1 ]; then
				eq "$alias: settings.py HOST/PORT reach the server (TCP)" \
					"$(pg_login "$user" "$pass" "$db" "$host" "$port")" "$user"
			else
				eq "$alias: settings.py HOST is the socket directory" "$host" "$MS_PG_SOCKDIR"
				eq "$alias: settings.py HOST/PORT reach the server (socket)" \
					"$(pg_login "$user" "$pass" "$db" "$host" "$port")" "$user"
			fi
			;;
		django.db.backends.mysql)
			eq "$alias: settings.py HOST is the MariaDB socket, PORT empty" "$host|$port" "$MS_MY_SOCKET|"
			eq "$alias: settings.py password logs in to MariaDB" \
				"$(my_login "$user" "$pass" "$db" 'SELECT CURRENT_USER()')" "$user@localhost"
			if my_login "$user" "wrong-$RANDOM" "$db" 'SELECT 1' >/dev/null 2>&1; then
				not_ok "$alias: a wrong MariaDB password is refused"
			else
				ok "$alias: a wrong MariaDB password is refused"
			fi
			;;
		*) not_ok "$alias: unexpected ENGINE '$engine'" ;;
	esac
}

# check_isolation : each owner reaches only its own database.
check_isolation() {
	[ -n "$MS_FX_AMAVIS_ENGINE" ] || return 0
	[ "$MS_FX_AMAVIS_ENGINE" = "$MS_FX_DEFAULT_ENGINE" ] || return 0
	if [ "$MS_FX_AMAVIS_ENGINE" = postgresql ]; then
		if [ "$(pg_login "$MS_FX_AMAVIS_USER" "$MS_FX_AMAVIS_PASSWORD" "$MS_FX_DEFAULT_DB" 127.0.0.1 "$MS_PG_PORT")" = "$MS_FX_AMAVIS_USER" ]; then
			not_ok "amavis role cannot connect to the default database"
		else
			ok "amavis role cannot connect to the default database"
		fi
	elif my_login "$MS_FX_AMAVIS_USER" "$MS_FX_AMAVIS_PASSWORD" "$MS_FX_DEFAULT_DB" 'SELECT 1' >/dev/null 2>&1; then
		not_ok "amavis user cannot use the default database"
	else
		ok "amavis user cannot use the default database"
	fi
}

# check_removed : --remove dropped the databases and owners and the root.
check_removed() {
	local prefix=$MS_FX_PREFIX
	eq "PostgreSQL has no $prefix databases or roles left" \
		"$(pg_q postgres "SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE '${prefix}\_%') + (SELECT count(*) FROM pg_roles WHERE rolname LIKE '${prefix}\_%')")" 0
	eq "MariaDB has no $prefix databases or users left" \
		"$(my_q "SELECT (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '${prefix}\_%') + (SELECT COUNT(*) FROM mysql.user WHERE user LIKE '${prefix}\_%')")" 0
	check "the fixture root is gone" test ! -e "$MS_FX_ROOT"
}

# names_nothing FILE : FILE names neither the instance, the venv, a Modoboa
# database nor the DKIM directory (what makes discovery capture a file).
names_nothing() {
	! grep -qF -e "$MS_FX_INSTANCE" -e "$MS_FX_VENV" -e "$MS_FX_DEFAULT_DB" -e "$MS_FX_DKIM_DIR" \
		-e /srv/modoboa -e /var/lib/dkim "$1"
}

# param_value APP KEY : core_localconfig._parameters[APP][KEY] of the default database.
param_value() {
	if [ "$MS_FX_DEFAULT_ENGINE" = postgresql ]; then
		pg_q "$MS_FX_DEFAULT_DB" "SELECT _parameters->'$1'->>'$2' FROM core_localconfig"
	else
		my_q "SELECT JSON_UNQUOTE(JSON_EXTRACT(_parameters, '\$.$1.$2')) FROM $MS_FX_DEFAULT_DB.core_localconfig"
	fi
}

# check_server : the system layer of --server (installer-like, with an
# unrelated file beside each piece).
check_server() {
	local e=$MS_FX_ROOT/etc vm=$MS_FX_VMAIL box n
	eq "fixture.env: MS_FX_SERVER" "$MS_FX_SERVER" 1
	check "cron.d/modoboa names the instance" grep -qx "INSTANCE=$MS_FX_INSTANCE" "$e/cron.d/modoboa"
	check "cron.d/other names nothing of Modoboa" names_nothing "$e/cron.d/other"
	check "uwsgi ini names the venv and the instance" \
		sh -c "grep -qx 'home = $MS_FX_VENV' '$e/uwsgi/apps-available/modoboa_instance.ini' && grep -qx 'chdir = $MS_FX_INSTANCE' '$e/uwsgi/apps-available/modoboa_instance.ini'"
	eq "apps-enabled link (relative)" "$(readlink "$e/uwsgi/apps-enabled/modoboa_instance.ini")" ../apps-available/modoboa_instance.ini
	check "apps-enabled link resolves" test -f "$e/uwsgi/apps-enabled/modoboa_instance.ini"
	check "an unrelated uwsgi ini names nothing of Modoboa" names_nothing "$e/uwsgi/apps-available/wiki.ini"
	check "supervisor policyd and base worker run the venv's python" \
		sh -c "grep -q '^command=$MS_FX_VENV/bin/python $MS_FX_INSTANCE/manage.py policy_daemon\$' '$e/supervisor/conf.d/policyd.conf' && grep -q '^command=$MS_FX_VENV/bin/python $MS_FX_INSTANCE/manage.py rqworker' '$e/supervisor/conf.d/modoboa-base-worker.conf'"
	check "an unrelated supervisor program names nothing of Modoboa" names_nothing "$e/supervisor/conf.d/metrics.conf"
	check "dovecot-sql.conf.ext is 0600" mode_is 600 "$e/dovecot/dovecot-sql.conf.ext"
	# compared in the shell: the password stays off command lines
	n=$(grep '^connect = ' "$e/dovecot/dovecot-sql.conf.ext")
	check "dovecot connect string: database, user, password" \
		test "${n#*dbname=}" = "$MS_FX_DEFAULT_DB user=$MS_FX_DEFAULT_USER password=$MS_FX_DEFAULT_PASSWORD"
	eq "dovecot mail_location" "$(grep '^mail_location' "$e/dovecot/conf.d/10-mail.conf")" "mail_location = maildir:$vm/%d/%n/Maildir"
	check "dovecot files beside them name nothing" sh -c "! grep -qF -e '$MS_FX_INSTANCE' -e '$MS_FX_DEFAULT_DB' -e '$vm' '$e/dovecot/dovecot.conf' '$e/dovecot/conf.d/10-logging.conf'"
	check "main.cf names the cidr side file" grep -qx "smtpd_client_restrictions = check_client_access cidr:$MS_FX_POSTFIX/client_access.cidr" "$MS_FX_POSTFIX/main.cf"
	check "the cidr side file exists" grep -q '^192\.0\.2\.0/24 ' "$MS_FX_POSTFIX/client_access.cidr"
	check "the cidr file is not listed as a map" sh -c "! grep -q client_access '$MS_FX_POSTFIX/modoboa-postfix-maps.chk'"
	for box in example.test/alice example.test/bob example.org/carol; do
		n=$(find "$vm/$box/Maildir/cur" "$vm/$box/Maildir/new" -type f | wc -l)
		check "$box: messages in cur/ and new/" sh -c "[ $n -ge 4 ] && [ -n \"\$(ls '$vm/$box/Maildir/new')\" ]"
	done
	check "messages are 0600" test -z "$(find "$vm" -type f ! -perm 600)"
	if [ "$(id -u)" -eq 0 ]; then
		eq "fixture.env: MS_FX_DKIM_OWNER" "$MS_FX_DKIM_OWNER" mstestdkim
		eq "DKIM keys owned by mstestdkim, 0640" \
			"$(stat -c '%U:%G %a' "$MS_FX_DKIM_DIR/example.test.pem" "$MS_FX_DKIM_DIR/example.org.pem" | sort -u)" "mstestdkim:mstestdkim 640"
		eq "DKIM directory owned by mstestdkim, 0750" "$(stat -c '%U:%G %a' "$MS_FX_DKIM_DIR")" "mstestdkim:mstestdkim 750"
	else
		eq "fixture.env: no DKIM owner when not root" "$MS_FX_DKIM_OWNER" ""
	fi
}

# check_rspamd : the Modoboa 2.9-style layout of --rspamd.
check_rspamd() {
	local site=$MS_FX_VENV/lib/python3.11/site-packages
	eq "fixture.env: MS_FX_RSPAMD, version, no amavis" "$MS_FX_RSPAMD $MS_FX_MODOBOA_VERSION $MS_FX_AMAVIS_ENGINE" "1 2.9.1 "
	check "modoboa 2.9.1 metadata" grep -qx 'Version: 2.9.1' "$site/modoboa-2.9.1.dist-info/METADATA"
	check "no modoboa 2.3.2 dist-info" test ! -e "$site/modoboa-2.3.2.dist-info"
	check "modoboa.rspamd in MODOBOA_APPS" grep -qx "    'modoboa.rspamd'," "$MS_FX_SETTINGS"
	check "no amavis entry in settings.py" sh -c "! grep -q \"'amavis'\" '$MS_FX_SETTINGS'"
	check "MODOBOA_ENCRYPTION_KEY in .env" test "$(grep '^MODOBOA_ENCRYPTION_KEY=' "$MS_FX_INSTANCE/.env")" = "MODOBOA_ENCRYPTION_KEY=$MS_FX_ENCRYPTION_KEY"
	check "the encryption key is a Fernet key (44 characters)" test "${#MS_FX_ENCRYPTION_KEY}" = 44
	eq "rspamd.key_map_path in core_localconfig" "$(param_value rspamd key_map_path)" "$MS_FX_DKIM_DIR/keys.path.map"
	eq "rspamd.selector_map_path in core_localconfig" "$(param_value rspamd selector_map_path)" "$MS_FX_DKIM_DIR/selectors.path.map"
	eq "keys.path.map names the keys" "$(cat "$MS_FX_DKIM_DIR/keys.path.map")" \
		"example.test $MS_FX_DKIM_DIR/example.test.pem"$'\n'"example.org $MS_FX_DKIM_DIR/example.org.pem"
	eq "selectors.path.map" "$(cat "$MS_FX_DKIM_DIR/selectors.path.map")" $'example.test modoboa\nexample.org mail'
	if [ "$MS_FX_SERVER" = 1 ]; then
		check "rspamd's dkim_signing.conf names the maps" grep -qx "path_map = \"$MS_FX_DKIM_DIR/keys.path.map\";" \
			"$MS_FX_ROOT/etc/rspamd/local.d/dkim_signing.conf"
	fi
}

# one_fixture NAME ARGS... : generate, check everything, remove.
one_fixture() {
	local name=$1
	shift
	case_begin "$name"
	mk "$name" --prefix "${RUN}_$name" "$@"
	if [ "$RC" -ne 0 ]; then
		not_ok "mkfixture $* failed (exit $RC)" "$(tail -n 20 "$T/mk.out")"
		return
	fi
	ok "mkfixture $* succeeded"
	check "one summary line on stdout" test "$(grep -c '^mkfixture: fixture ' "$T/mk.out")" = 1
	load_fx
	eq "fixture.env prefix" "$MS_FX_PREFIX" "${RUN}_$name"
	check_files
	check_settings
	check_postfix
	case "$MS_FX_DEFAULT_ENGINE" in
		postgresql) check_pg_default ;;
		mysql) check_my_default ;;
		*) not_ok "MS_FX_DEFAULT_ENGINE is '$MS_FX_DEFAULT_ENGINE'" ;;
	esac
	case "$MS_FX_AMAVIS_ENGINE" in
		postgresql) check_pg_amavis ;;
		mysql) check_my_amavis ;;
		"") ;;
		*) not_ok "MS_FX_AMAVIS_ENGINE is '$MS_FX_AMAVIS_ENGINE'" ;;
	esac
	check_auth default
	[ -z "$MS_FX_AMAVIS_ENGINE" ] || check_auth amavis
	check_isolation
	if [ "$MS_FX_SERVER" = 1 ]; then check_server; else
		check "no system layer without --server" test ! -e "$MS_FX_ROOT/etc/cron.d" -a ! -e "$MS_FX_VMAIL/example.org"
	fi
	"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >"$T/rm.out" 2>&1
	eq "--remove exits 0" "$?" 0
	check_removed
}

# ---------------------------------------------------------------- cases

one_fixture pg --engine pg --size 300
one_fixture mariadb --engine mariadb --size 250
one_fixture mixed --engine mixed --pg-tcp
one_fixture server --engine pg --server --size 50

# --rspamd (Modoboa 2.9 layout) with --server, on MariaDB and PostgreSQL.
for e in mariadb pg; do
	case_begin "rspamd-$e"
	mk "rspamd$e" --prefix "${RUN}_rs$e" --engine "$e" --server --rspamd
	eq "mkfixture --engine $e --server --rspamd exits 0" "$RC" 0
	load_fx
	check_rspamd
	check_server
	check_auth default
	"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	check_removed
done

# --pg-tcp in detail: the Postfix maps follow settings.py's HOST/PORT.
case_begin pg-tcp-maps
mk pgtcp --prefix "${RUN}_pgtcp" --engine pg --pg-tcp --no-amavis
eq "mkfixture --pg-tcp --no-amavis exits 0" "$RC" 0
load_fx
eq "maps use hosts = 127.0.0.1:port" "$(grep -h '^hosts = ' "$MS_FX_POSTFIX/sql-domains.cf")" "hosts = 127.0.0.1:$MS_PG_PORT"
eq "settings.py HOST/PORT" "$(setting "DATABASES['default']['HOST'] + ':' + DATABASES['default']['PORT']")" "127.0.0.1:$MS_PG_PORT"
eq "no amavis database" "$(pg_q postgres "SELECT count(*) FROM pg_database WHERE datname = '${RUN}_pgtcp_amavis'")" 0
check_auth default
"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
check_removed

case_begin latin1
mk latin1 --prefix "${RUN}_l1" --engine pg --latin1-amavis --size 120
eq "mkfixture --latin1-amavis exits 0" "$RC" 0
load_fx
eq "amavis database is LATIN1 with C collation" \
	"$(pg_q postgres "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype FROM pg_database WHERE datname = '$MS_FX_AMAVIS_DB'")" "LATIN1 C C"
eq "default database stays UTF8" \
	"$(pg_q postgres "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '$MS_FX_DEFAULT_DB'")" UTF8
eq "Latin-1 text in the amavis data (read back as UTF-8)" \
	"$(pg_q "$MS_FX_AMAVIS_DB" "SELECT count(*) > 0 FROM msgs WHERE subject LIKE 'Réunion café à Noël%'")" t
eq "Latin-1 bytes on disk (é = 0xe9)" \
	"$(pg_q "$MS_FX_AMAVIS_DB" "SELECT position('\xe9'::bytea IN convert_to(fullname, 'LATIN1')) > 0 FROM users WHERE fullname LIKE '%Hélène' LIMIT 1")" t
check_pg_amavis
check_auth amavis
"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
check_removed

case_begin latin1-mariadb
mk latin1my --prefix "${RUN}_l1m" --engine mixed --latin1-amavis
eq "mkfixture --engine mixed --latin1-amavis exits 0" "$RC" 0
load_fx
check_my_amavis
"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
check_removed

case_begin refusals
mkdir -p "$T/busy" && echo x >"$T/busy/keep"
mk busy --prefix "${RUN}_busy"
check "a non-empty root is refused" test "$RC" -ne 0
check "the refusal names the directory" grep -q "'$T/busy' exists and is not empty" "$T/mk.out"
check "the non-empty root is left alone" test -f "$T/busy/keep"
mk keep --prefix "${RUN}_dup" --engine pg --no-amavis
eq "first fixture with prefix ${RUN}_dup" "$RC" 0
mk dup --prefix "${RUN}_dup" --engine pg --no-amavis
check "a prefix already in use is refused" test "$RC" -ne 0
check "the refusal says so" grep -q "already exists" "$T/mk.out"
check "the failed run removed its own root" test ! -e "$T/dup"
eq "the existing fixture's database survived" \
	"$(pg_q "${RUN}_dup_modoboa" "SELECT count(*) FROM core_user")" 40
FX=$T/keep
load_fx
"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
check_removed
"$MKFX" --remove --root "$FX" --servers "$MS_TESTSRV_ENV" --prefix "${RUN}_dup" >/dev/null 2>&1
eq "--remove again is harmless" "$?" 0
"$MKFX" --root "$T/x" >/dev/null 2>&1
eq "missing --servers is a usage error" "$?" 2
"$MKFX" --root "$T/x" --servers "$MS_TESTSRV_ENV" --engine sqlite >"$T/mk.out" 2>&1
check "an unknown engine is refused" grep -q "engine must be pg, mariadb or mixed" "$T/mk.out"

finish
