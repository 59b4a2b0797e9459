# `inspect` on bad input: each case checks the exit code and the exact
# message. No database server is needed (unreachable ones are the point).
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

R=$T/site
INST=$R/srv/modoboa/instance
SETTINGS=$INST/instance/settings.py
PF=$R/etc/postfix

# with_databases TEXT : rebuilds the site with TEXT as the DATABASES part of settings.py.
with_databases() {
	rm -rf "$R"
	printf '%s\n' "$1" >"$T/databases.py"
	mk_min_instance "$R"
}

case_begin missing_instance
run_ms inspect --instance "$T/nowhere" --no-db
expect_rc 1
expect_stderr "modosnap: error: instance directory '$T/nowhere' not found: No such file or directory"

case_begin missing_settings
rm -f "$T/databases.py"; mk_min_instance "$R"
rm "$SETTINGS"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: settings file '$SETTINGS' not found in instance '$INST'"

case_begin unreadable_settings
rm -rf "$R"; rm -f "$T/databases.py"; mk_min_instance "$R"
chmod 0600 "$SETTINGS"
if [ "$(id -u)" -eq 0 ]; then
	# root reads everything: run the check as an unprivileged user.
	chmod -R o+rX "$R"; chmod 0600 "$SETTINGS"
	chmod o+x "$T"
	"$(command -v setpriv)" --reuid=65534 --regid=65534 --clear-groups \
		"$MODOSNAP" inspect --instance "$INST" --postfix-dir "$PF" --no-db >"$T/out" 2>"$T/err"
	RC=$?
else
	chmod 0000 "$SETTINGS"
	run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
fi
expect_rc 1
expect_stderr "modosnap: error: unable to open '$SETTINGS': Permission denied"

case_begin syntax_error
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa,
    },
}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':7: syntax error: unterminated string"

case_begin unbalanced_bracket
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
    },
"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':4: syntax error: '{' never closed"

case_begin unresolvable_password
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
        'PASSWORD': os.environ['DB_PASSWORD'],
    },
}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':8: cannot resolve DATABASES['default']['PASSWORD'] (an expression) without running Python; set it in the config file: [db:default] password_file = FILE"

case_begin password_expression_never_shown
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
        'PASSWORD': os.environ.get('PGPW', 'fallback-Secr3t'),
    },
}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_no_secret "fallback-Secr3t" "fallback password in an expression"

case_begin alias_expression_never_shown
with_databases "DATABASES = {'default': dict(ENGINE='django.db.backends.postgresql', NAME='m', PASSWORD='dict-Secr3t')}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':4: cannot resolve DATABASES['default'] (an expression) without running Python; describe it in the config file: [db:default] with engine, name, user, host, port and password_file"
expect_no_secret "dict-Secr3t" "password inside an alias expression"

case_begin unresolvable_host
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
        'HOST': env('DB_HOST', default='localhost'),
    },
}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':8: cannot resolve DATABASES['default']['HOST'] = env('DB_HOST', default='localhost') without running Python; set it in the config file: [db:default] host = VALUE"

case_begin unresolvable_resolved_by_config
printf '[db:default]\nhost = /run/postgresql\n' >"$T/ok.conf"
run_ms -c "$T/ok.conf" inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 0
expect_stdout_has "socket     /run/postgresql"

case_begin unknown_engine
with_databases "DATABASES = {'default': {'ENGINE': 'django.db.backends.oracle', 'NAME': 'x'}}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':4: DATABASES['default']['ENGINE'] is 'django.db.backends.oracle', which modosnap does not support (expected django.db.backends.postgresql or django.db.backends.mysql)"

case_begin sqlite_unsupported
with_databases "DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': BASE_DIR / 'db.sqlite3',
    }
}"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS':5: DATABASES['default'] uses SQLite ('django.db.backends.sqlite3'), which modosnap does not support (PostgreSQL and MariaDB/MySQL only)"

case_begin no_databases
with_databases "DEBUG = True"
run_ms inspect --instance "$INST" --postfix-dir "$PF" --no-db
expect_rc 1
expect_stderr "modosnap: error: '$SETTINGS': no module-level DATABASES assignment found; describe the databases in the config file ([db:ALIAS] sections)"

case_begin missing_postfix_dir_given
rm -rf "$R"; rm -f "$T/databases.py"; mk_min_instance "$R"
run_ms inspect --instance "$INST" --postfix-dir "$T/no-postfix" --no-db
expect_rc 1
expect_stderr "modosnap: error: postfix directory '$T/no-postfix' not found: No such file or directory"

case_begin unreachable_postgresql
rm -rf "$R"; rm -f "$T/databases.py"; mk_min_instance "$R"
run_ms inspect --instance "$INST" --postfix-dir "$PF"
expect_rc 1
expect_stderr "modosnap: error: unable to connect to database 'default' (postgresql, modoboa@/nonexistent-pg-socket-dir:5432/modoboa): connection to server on socket \"/nonexistent-pg-socket-dir/.s.PGSQL.5432\" failed: No such file or directory Is the server running locally and accepting connections on that socket?
modosnap: error: unable to connect to database 'amavis' (mysql, amavis@/nonexistent-mysqld.sock/amavis): Can't connect to local server through socket '/nonexistent-mysqld.sock' (2)"
expect_stdout_has "server     unreachable (see the error above)"
expect_no_secret "pg-pass-w0rd" "postgresql password"
expect_no_secret "my-pass-w0rd" "mysql password"
expect_no_secret "k3y-very-secret-value" "SECRET_KEY"

case_begin config_unknown_key
printf '[modosnap]\ninstance = %s\n# comment\nfrobnicate = 1\n' "$INST" >"$T/bad.conf"
run_ms -c "$T/bad.conf" inspect --no-db
expect_rc 1
expect_stderr "modosnap: error: '$T/bad.conf':4: unknown key 'frobnicate' in section [modosnap]"

case_begin config_malformed_line
printf '[modosnap]\ninstance = %s\nthis is not a key value line\n' "$INST" >"$T/bad.conf"
run_ms -c "$T/bad.conf" inspect --no-db
expect_rc 1
expect_stderr "modosnap: error: '$T/bad.conf':3: malformed line"

case_begin config_overrides_discovery
printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$INST" "$PF" >"$T/good.conf"
run_ms -c "$T/good.conf" inspect --no-db
expect_rc 0
expect_stdout_has "instance     $INST (config file)"
expect_stdout_has "postfix      $PF (config file)"

# Paths that are not UTF-8 (a directory named in Latin-1): the JSON keeps
# every key, the value as {"base64": ...} (docs/inspect-json.md). Before,
# jansson refused the string and the key silently went missing.
case_begin json_path_not_utf8
R8=$T/caf$'\xe9'
rm -f "$T/databases.py"; mk_min_instance "$R8"
run_ms inspect --instance "$R8/srv/modoboa/instance" --postfix-dir "$R8/etc/postfix" --no-db --json
expect_rc 0
b64() { printf '%s' "$1" | base64 -w0; }
check "instance as base64" jq -e --arg b "$(b64 "$R8/srv/modoboa/instance")" '.instance == {"base64": $b}' "$T/out"
check "settings as base64" jq -e --arg b "$(b64 "$R8/srv/modoboa/instance/instance/settings.py")" \
	'.settings == {"base64": $b}' "$T/out"
check "postfix dir as base64" jq -e --arg b "$(b64 "$R8/etc/postfix")" '.postfix.dir == {"base64": $b}' "$T/out"
check "UTF-8 values stay strings" jq -e '.databases[0].alias == "default" and .instance_source == "command line"' "$T/out"

finish
