# `inspect` on generated installations, against the real servers of the
# `dbservers` fixture: PostgreSQL, MariaDB, mixed, and PostgreSQL over TCP
# with password authentication. Checks the text and JSON output and that
# no password or SECRET_KEY ever appears.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

fixture() { # fixture NAME ARGS... : generates $T/NAME and sources its env
	"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/$1" --servers "$MS_TESTSRV_ENV" \
		--prefix "insp$1$$" "${@:2}" >"$T/mkfixture.log" 2>&1 ||
		{ not_ok "mkfixture $*" "$(tail -20 "$T/mkfixture.log")"; return 1; }
	# shellcheck disable=SC1090
	. "$T/$1/fixture.env"
}

no_secrets() {
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default database password"
	[ -z "${MS_FX_AMAVIS_PASSWORD:-}" ] || expect_no_secret "$MS_FX_AMAVIS_PASSWORD" "amavis database password"
	expect_no_secret "$MS_FX_SECRET_KEY" "SECRET_KEY"
}

jq_check() { # jq_check DESCRIPTION FILTER : FILTER must yield true on $T/out
	if [ "$(jq -e "$2" "$T/out" 2>&1)" = "true" ]; then ok "$1"; else
		not_ok "$1" "jq $2 -> $(jq "$2" "$T/out" 2>&1 | head -5)"
	fi
}

check_engine() { # check_engine NAME FIXTURE-ARGS...
	local name=$1 e_def e_am
	case_begin "$name"
	fixture "$@" || return
	e_def=$MS_FX_DEFAULT_ENGINE e_am=$MS_FX_AMAVIS_ENGINE

	run_ms inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX"
	expect_rc 0
	expect_stderr_empty
	expect_stdout_has "instance     $MS_FX_INSTANCE (command line)"
	expect_stdout_has "settings     $MS_FX_SETTINGS"
	expect_stdout_has "engine     $e_def"
	expect_stdout_has "name       $MS_FX_DEFAULT_DB"
	expect_stdout_has "name       $MS_FX_AMAVIS_DB"
	expect_stdout_has "user       $MS_FX_DEFAULT_USER"
	expect_stdout_has "password   set"
	expect_stdout_has "migrations none (no django_migrations table)"
	expect_stdout_has "sql-domains.cf"
	expect_stdout_has "matches"
	expect_stdout_has "main.cf    $MS_FX_POSTFIX/main.cf"
	expect_stdout_has "master.cf  $MS_FX_POSTFIX/master.cf"
	expect_stdout_has "virtualenv   $MS_FX_VENV (found by manage.py)"
	expect_stdout_has "python     3.11"
	check "modoboa version shown" grep -qE '^  modoboa +2\.3\.2$' "$T/out"
	check "Django version shown" grep -qE '^  Django +4\.2\.16$' "$T/out"
	check "extension modoboa_contacts shown" grep -qE '^  modoboa_contacts +1\.1\.0 \(extension\)$' "$T/out"
	no_secrets

	run_ms inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --json
	expect_rc 0
	jq_check "json: instance" ".instance == \"$MS_FX_INSTANCE\""
	jq_check "json: two databases" '.databases | map(.alias) == ["default", "amavis"]'
	jq_check "json: engines" ".databases | map(.engine) == [\"$e_def\", \"$e_am\"]"
	jq_check "json: passwords set, not shown" '.databases | all(.password_set == true and (has("password") | not))'
	jq_check "json: servers reachable" '.databases | all(.server.reachable == true and (.server.version | length > 0) and .server.size_bytes > 0)'
	jq_check "json: default migrations summary" '.databases[0].server.migrations.applied > 0 and (.databases[0].server.migrations.latest | has("admin") and has("core"))'
	jq_check "json: amavis has no migrations table" '.databases[1].server.migrations == null'
	jq_check "json: every map matches its checksum" '.postfix.maps | length >= 8 and all(.state == "matches")'
	jq_check "json: versions" '.virtualenv.packages.modoboa == "2.3.2" and .virtualenv.packages.Django == "4.2.16"'
	jq_check "json: extensions" '.virtualenv.extensions | map(.app) | index("modoboa_contacts") != null'
	no_secrets

	run_ms inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --no-db --json
	expect_rc 0
	jq_check "json --no-db: no server section" '.databases | all(.server == null)'
	no_secrets

	# A map edited by hand no longer matches its recorded checksum.
	echo "# local edit" >>"$MS_FX_POSTFIX/sql-domains.cf"
	run_ms inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --no-db --json
	jq_check "edited map detected" '.postfix.maps[] | select(.name == "sql-domains.cf") | .state == "edited"'

	"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/$name" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
}

check_engine pg --engine pg
check_engine mariadb --engine mariadb
check_engine mixed --engine mixed
check_engine pgtcp --engine pg --pg-tcp

# A wrong password over TCP is an authentication error naming the alias,
# and the wrong password itself is not printed.
case_begin wrong_password
fixture badpw --engine pg --pg-tcp || true
sed -i "s/'PASSWORD': '$MS_FX_DEFAULT_PASSWORD'/'PASSWORD': 'WrongPassw0rdXyz'/" "$MS_FX_SETTINGS"
run_ms inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX"
expect_rc 1
check "error names the alias and the auth failure" \
	grep -qF "modosnap: error: unable to connect to database 'default' (postgresql, $MS_FX_DEFAULT_USER@127.0.0.1:$MS_PG_PORT/$MS_FX_DEFAULT_DB): connection to server at \"127.0.0.1\", port $MS_PG_PORT failed: FATAL: password authentication failed for user \"$MS_FX_DEFAULT_USER\"" "$T/err"
expect_no_secret "WrongPassw0rdXyz" "wrong password"
"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/badpw" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1

# The config file supplies a password that settings.py reads from the environment.
case_begin password_file_from_config
fixture cfgpw --engine pg --pg-tcp || true
sed -i "s/'PASSWORD': '$MS_FX_DEFAULT_PASSWORD'/'PASSWORD': os.environ['DB_PASSWORD']/" "$MS_FX_SETTINGS"
printf '%s\n' "$MS_FX_DEFAULT_PASSWORD" >"$T/default.pass"
chmod 0600 "$T/default.pass"
printf '[db:default]\npassword_file = %s\n' "$T/default.pass" >"$T/pw.conf"
run_ms -c "$T/pw.conf" inspect --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --json
expect_rc 0
jq_check "password from password_file" '.databases[0].password_source == "password_file" and .databases[0].server.reachable'
no_secrets
"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/cfgpw" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1

finish
