# Database connections come from this machine, never from the archive
# (docs/security.md). A snapshot of a generated installation (PostgreSQL,
# then MariaDB) is forged (tests/forge) so that its settings.py sends the `default`
# database to a listener of this test; restore --dry-run, restore, and a
# restore on a machine that names no database must make no connection to
# it (the listener counts them), while restoring into the database this
# machine's settings.py names. Forged archives are accepted with
# --allow-unsigned: what is shown is the defence behind the signature.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF
FORGE=$MS_SOURCE_DIR/tests/forge
su_psql() { "$MS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" "$@"; }

# A listener standing for the attacker's server: it logs every connection
# and, speaking just enough of PostgreSQL's protocol to ask for a
# cleartext password, every password a client sends it.
python3 - "$T/port" "$T/connections" <<'PY' &
import os, socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])

def log(line):
    with open(sys.argv[2], "a") as f:
        f.write(line + "\n")

def read_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b

while True:
    c, a = s.accept()
    log("connection from %s:%d" % a)
    c.settimeout(5)
    try:
        n, code = struct.unpack("!II", read_exact(c, 8))
        if code in (80877103, 80877104):  # SSL or GSS request: no
            c.sendall(b"N")
            n, code = struct.unpack("!II", read_exact(c, 8))
        read_exact(c, n - 8)  # startup parameters
        c.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        kind = read_exact(c, 1)
        n = struct.unpack("!I", read_exact(c, 4))[0]
        if kind == b"p":
            log("password " + read_exact(c, n - 4).rstrip(b"\0").decode(errors="replace"))
    except Exception:
        pass
    c.close()
PY
LISTENER=$!
SITES=()
cleanup() {
	kill $LISTENER 2>/dev/null
	for s in "${SITES[@]}"; do
		"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$s" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	done
	ms_t_cleanup
}
trap cleanup EXIT
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")

run_engine() {
	ENGINE=$1
	local site=$T/site-$ENGINE dest=$T/dest-$ENGINE ok=0 ENGINE_NAME=postgresql
	[ "$ENGINE" = my ] && ok=3 && ENGINE_NAME=mysql # MyISAM tables are reported by create
	"$MS_SOURCE_DIR/scripts/mkfixture" --root "$site" --servers "$MS_TESTSRV_ENV" \
		--engine "$([ "$ENGINE" = pg ] && echo pg || echo mariadb)" --prefix "trs${ENGINE}$$" \
		>"$T/mkfixture-$ENGINE.log" 2>&1 || { cat "$T/mkfixture-$ENGINE.log"; return 1; }
	SITES+=("$site")
	# shellcheck disable=SC1091
	. "$site/fixture.env"
	: >"$T/connections"
	case_begin "$ENGINE: a snapshot, then its forgery"
	conf=$T/live-$ENGINE.conf
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
		ms_t_key_lines
		[ "$ENGINE" = my ] && printf '[db:default]\nadmin_user = root\n[db:amavis]\nadmin_user = root\n'
	} >"$conf"
	chmod 600 "$conf"

	run_ms -c "$conf" create --dest "$dest"
	expect_rc "$ok"
	A=$(tail -n 1 "$T/out")

	# The forged settings.py: the same, but the default database on the listener.
	tar --zstd -xOf "$A" files/instance/instance/settings.py >"$T/settings-$ENGINE.py"
	python3 - "$T/settings-$ENGINE.py" "$PORT" <<-'PY'
	import re, sys
	p, port = sys.argv[1], sys.argv[2]
	s = open(p).read()
	s = re.sub(r"('HOST':\s*)'[^']*'", r"\g<1>'127.0.0.1'", s, count=1)
	s = re.sub(r"('PORT':\s*)'[^']*'", r"\g<1>'%s'" % port, s, count=1)
	open(p, "w").write(s)
	PY
	check "the forged settings.py points at the listener" grep -q "'$PORT'" "$T/settings-$ENGINE.py"
	"$FORGE" "$A" "$T/forged-$ENGINE.tar.zst" --replace "files/instance/instance/settings.py=$T/settings-$ENGINE.py"

	case_begin "$ENGINE: the plan connects where this machine says"
	run_ms -c "$conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --dry-run --allow-unsigned --only db:default
	expect_rc 3 # the warning: not signed (and MyISAM tables for MariaDB)
	expect_stdout_has "this machine's settings"
	expect_stdout_has "      the snapshot's settings.py names database '$MS_FX_DEFAULT_DB' on "
	check "no connection reached the listener" test ! -s "$T/connections"

	case_begin "$ENGINE: the restore too"
	run_ms -c "$conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --yes --no-safety-snapshot --allow-unsigned \
		--only db:default
	expect_rc 3
	expect_stdout_has "  ok: db:default: "
	check "no connection reached the listener" test ! -s "$T/connections"
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default password"

	case_begin "$ENGINE: a machine that names no database refuses, showing the snapshot's"
	{
		echo '[modosnap]'
		printf 'instance = %s\n' "$T/fresh/instance"
		ms_t_key_lines
		printf '[db:default]\npassword_file = %s\n' "$T/pw"
	} >"$T/fresh-$ENGINE.conf"
	chmod 600 "$T/fresh-$ENGINE.conf"
	printf '%s\n' "$MS_FX_DEFAULT_PASSWORD" >"$T/pw"
	chmod 600 "$T/pw"
	run_ms -c "$T/fresh-$ENGINE.conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --dry-run --allow-unsigned --only db:default
	expect_rc 1
	check "the refusal names the snapshot's host and the way out" grep -q "^modosnap: error: database 'default': no connection settings for it on this machine (no settings.py at '$T/fresh/instance' names it, nor a \\[db:default\\] config section); the snapshot's settings.py says $ENGINE_NAME database '$MS_FX_DEFAULT_DB' on .*127.0.0.1:$PORT.*: describe it in \\[db:default\\], or pass --accept-snapshot-targets to use the snapshot's$" "$T/err"
	check "the configured password went nowhere" test ! -s "$T/connections"

	if [ "$ENGINE" = pg ]; then
		case_begin "$ENGINE: accepted, the snapshot's server never gets this machine's passwords"
		printf 'THIS-MACHINES-PASSWORD\n' >"$T/pw"
		run_ms -c "$T/fresh-$ENGINE.conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --dry-run \
			--allow-unsigned --accept-snapshot-targets --only db:default
		check "the config's password is held back, with a warning" grep -q "^modosnap: warning: database 'default': the config's password is not sent to .*127.0.0.1:$PORT.*, which only the snapshot names (set host in \[db:default\] to use it)$" "$T/err"
		check "the listener heard the snapshot's own password (so it would have heard ours)" \
			grep -q "^password $MS_FX_DEFAULT_PASSWORD\$" "$T/connections"
		check "the listener got no password of this machine" bash -c "! grep -q THIS-MACHINES '$T/connections'"
		printf 'THIS-MACHINES-ADMIN-PASSWORD\n' >"$T/apw"
		chmod 600 "$T/apw"
		printf 'admin_user = postgres\nadmin_password_file = %s\n' "$T/apw" >>"$T/fresh-$ENGINE.conf"
		: >"$T/connections"
		run_ms -c "$T/fresh-$ENGINE.conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --yes \
			--allow-unsigned --accept-snapshot-targets --only db:default
		expect_rc 1
		check "the admin password is refused for the snapshot's server" grep -q "^modosnap: error: database 'default': admin_password_file of \[db:default\] would be sent to .*127.0.0.1:$PORT.*, which only the snapshot names: set host (and port) in \[db:default\] to use it$" "$T/err"
		check "no connection was made" test ! -s "$T/connections"

		case_begin "$ENGINE: SQL a dump never writes stops the whole restore before the first write"
		tar --zstd -xOf "$A" db/default/schema-pre.sql >"$T/pre.sql"
		printf "ALTER ROLE CURRENT_USER PASSWORD 'owned';\n" >>"$T/pre.sql"
		"$FORGE" "$A" "$T/sql-$ENGINE.tar.zst" --replace "db/default/schema-pre.sql=$T/pre.sql"
		pw_before=$(su_psql -d postgres -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$MS_FX_DEFAULT_USER'")
		echo "# added by the test: a restore of the instance would remove it" >>"$MS_FX_INSTANCE/instance/settings.py"
		tree_before=$(cd "$MS_FX_INSTANCE" && find . -printf '%P %s %T@\n' | sort | sha256sum)
		run_ms -c "$conf" restore "$T/sql-$ENGINE.tar.zst" --dest "$dest" --yes --allow-unsigned
		expect_rc 5
		check "the statement is named" grep -q "^modosnap: error: database 'default': 'db/default/schema-pre.sql': statement [0-9]* refused: ALTER ROLE" "$T/err"
		check "the instance is untouched" test "$tree_before" = "$(cd "$MS_FX_INSTANCE" && find . -printf '%P %s %T@\n' | sort | sha256sum)"
		check "the role's password is unchanged" test "$pw_before" = "$(su_psql -d postgres -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$MS_FX_DEFAULT_USER'")"
		check "no safety snapshot was taken" test "$(ls "$dest" | grep -c 'tar.zst$')" = 1
		sed -i '$d' "$MS_FX_INSTANCE/instance/settings.py"

		case_begin "$ENGINE: create --verify refuses a dump restore would refuse"
		su_psql -d "$MS_FX_DEFAULT_DB" -c "GRANT SELECT ON core_user TO PUBLIC"
		run_ms -c "$conf" create --dest "$T/dest-grant" --verify
		expect_rc 5
		check "the statement is named" grep -q "^modosnap: error: database 'default': 'db/default/schema-p[a-z]*.sql': statement [0-9]* refused: GRANT" "$T/err"
		check "and what it means" grep -q "^modosnap: error: '.*': restore would refuse this snapshot's database 'default' (see above)$" "$T/err"
		su_psql -d "$MS_FX_DEFAULT_DB" -c "REVOKE SELECT ON core_user FROM PUBLIC"

		case_begin "$ENGINE: a restore waits [modosnap] lock_timeout for a lock, then gives up unchanged"
		sed 's/^\[modosnap\]$/[modosnap]\nlock_timeout = 2/' "$conf" >"$T/lock.conf"
		chmod 600 "$T/lock.conf"
		su_psql -d "$MS_FX_DEFAULT_DB" -c "BEGIN" -c "LOCK TABLE core_user IN ACCESS SHARE MODE" \
			-c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
		local locker=$!
		for _ in $(seq 1 50); do
			[ "$(su_psql -d postgres -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'core_user' AND l.granted")" -gt 0 ] && break
			sleep 0.1
		done
		local t0=$SECONDS
		run_ms -c "$T/lock.conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot --only db:default
		expect_rc 1
		check "the lock wait is named, with the configured time" grep -q "gave up after waiting 2 s for a lock that another session holds" "$T/err"
		check "it gave up within seconds" test $((SECONDS - t0)) -lt 20
		kill "$locker" 2>/dev/null
		wait "$locker" 2>/dev/null

		case_begin "$ENGINE: an instance whose settings.py moves a database is refused"
		tree_before=$(cd "$MS_FX_INSTANCE" && find . -printf '%P %s %T@\n' | sort | sha256sum)
		run_ms -c "$conf" restore "$T/forged-$ENGINE.tar.zst" --dest "$dest" --yes --no-safety-snapshot \
			--allow-unsigned --only instance
		expect_rc 1
		check "the refusal names both servers" grep -q "^modosnap: error: the snapshot's settings.py connects database 'default' to .*127.0.0.1:$PORT.*, this machine's to .*: restoring it would send this machine's passwords there on the next run; pass --accept-snapshot-targets to restore it anyway$" "$T/err"
		check "the instance is untouched" test "$tree_before" = "$(cd "$MS_FX_INSTANCE" && find . -printf '%P %s %T@\n' | sort | sha256sum)"
	fi
}

run_engine pg
run_engine my
finish
