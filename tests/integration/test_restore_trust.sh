# Database connections come from this machine, never from the archive
# (docs/security.md). A snapshot of a generated PostgreSQL installation is
# forged (tests/forge) so that its settings.py sends the `default`
# database to a listener of this test; restore --dry-run, restore, and a
# restore on a machine that names no database must make no connection to
# it (the listener counts them), while restoring into the database this
# machine's settings.py names. Forged archives are accepted with
# --allow-unsigned: what is shown is the defence behind the signature.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF
FORGE=$MS_SOURCE_DIR/tests/forge

"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine pg --prefix "trs$$" \
	>"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"

# A listener standing for the attacker's server: it logs every connection.
python3 - "$T/port" "$T/connections" <<'PY' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, a = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("connection from %s:%d\n" % a)
    c.close()
PY
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; "$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; ms_t_cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
: >"$T/connections"

conf=$T/live.conf
{
	printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
	ms_t_key_lines
} >"$conf"
chmod 600 "$conf"

run_ms -c "$conf" create --dest "$T/dest"
A=$(tail -n 1 "$T/out")

# The forged settings.py: the same, but the default database on the listener.
tar --zstd -xOf "$A" files/instance/instance/settings.py >"$T/settings.py"
python3 - "$T/settings.py" "$PORT" <<'PY'
import re, sys
p, port = sys.argv[1], sys.argv[2]
s = open(p).read()
s = re.sub(r"('HOST':\s*)'[^']*'", r"\g<1>'127.0.0.1'", s, count=1)
s = re.sub(r"('PORT':\s*)'[^']*'", r"\g<1>'%s'" % port, s, count=1)
open(p, "w").write(s)
PY
check "the forged settings.py points at the listener" grep -q "'$PORT'" "$T/settings.py"
"$FORGE" "$A" "$T/forged.tar.zst" --replace "files/instance/instance/settings.py=$T/settings.py"

case_begin "the plan connects where this machine says"
run_ms -c "$conf" restore "$T/forged.tar.zst" --dest "$T/dest" --dry-run --allow-unsigned --only db:default
expect_rc 3 # the warning: not signed
expect_stdout_has "this machine's settings"
expect_stdout_has "      the snapshot's settings.py names database '$MS_FX_DEFAULT_DB' on "
check "no connection reached the listener" test ! -s "$T/connections"

case_begin "the restore too"
run_ms -c "$conf" restore "$T/forged.tar.zst" --dest "$T/dest" --yes --no-safety-snapshot --allow-unsigned \
	--only db:default
expect_rc 3
expect_stdout_has "  ok: db:default: "
check "no connection reached the listener" test ! -s "$T/connections"
expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "default password"

case_begin "a machine that names no database refuses, showing the snapshot's"
{
	echo '[modosnap]'
	printf 'instance = %s\n' "$T/fresh/instance"
	ms_t_key_lines
	printf '[db:default]\npassword_file = %s\n' "$T/pw"
} >"$T/fresh.conf"
chmod 600 "$T/fresh.conf"
printf '%s\n' "$MS_FX_DEFAULT_PASSWORD" >"$T/pw"
chmod 600 "$T/pw"
run_ms -c "$T/fresh.conf" restore "$T/forged.tar.zst" --dest "$T/dest" --dry-run --allow-unsigned --only db:default
expect_rc 1
check "the refusal names the snapshot's host and the way out" grep -q "^modosnap: error: database 'default': no connection settings for it on this machine (no settings.py at '$T/fresh/instance' names it, nor a \\[db:default\\] config section); the snapshot's settings.py says postgresql database '$MS_FX_DEFAULT_DB' on .*127.0.0.1:$PORT.*: describe it in \\[db:default\\], or pass --accept-snapshot-targets to use the snapshot's$" "$T/err"
check "the configured password went nowhere" test ! -s "$T/connections"

finish
