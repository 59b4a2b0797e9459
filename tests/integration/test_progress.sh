# The progress line of `restore` with the real binary on a generated
# PostgreSQL installation: on a pseudo-terminal (script) it is drawn on
# stderr ("\r", erase line, "MiB"); without a terminal (stderr a file)
# or with -q nothing of it appears.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

SITES=()
cleanup_sites() {
	for s in "${SITES[@]}"; do
		"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$s" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	done
	ms_t_cleanup
}
trap cleanup_sites EXIT

site=$T/site conf=$T/pg.conf dest=$T/dest
"$MS_SOURCE_DIR/scripts/mkfixture" --root "$site" --servers "$MS_TESTSRV_ENV" --engine pg \
	--prefix "prg$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
SITES+=("$site")
# shellcheck disable=SC1091
. "$site/fixture.env"
{
	printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
	ms_t_key_lines
} >"$conf"
chmod 600 "$conf"

case_begin "snapshot"
run_ms -c "$conf" create --instance "$MS_FX_INSTANCE" --postfix-dir "$MS_FX_POSTFIX" --dest "$dest"
expect_rc 0
A=$(tail -n 1 "$T/out")

# on_tty NAME CMD... : runs the binary on a pseudo-terminal, output in $T/NAME.tty
on_tty() {
	local name=$1 cmd
	shift
	printf -v cmd '%q ' "$MODOSNAP" "$@"
	script -qfec "$cmd" /dev/null </dev/null >"$T/$name.tty" 2>&1
	echo "$?" >"$T/$name.rc"
}

case_begin "restore on a terminal"
on_tty restore -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
check "restore exits 0" grep -qx 0 "$T/restore.rc"
check "the line is drawn in place (\\r, erase line)" grep -q $'\r\033\[K' "$T/restore.tty"
check "it counts MiB of the components' total" grep -qE 'MiB of [0-9.]+ MiB \([0-9]+%\)' "$T/restore.tty"
check "the restore's lines are not appended to the progress line" \
	bash -c "grep -q 'restored db:default: ' '$T/restore.tty' && ! grep -q 'MiB/s[^'$'\r'']*restored' '$T/restore.tty'"
check "the result is still printed" grep -q "ok: db:default: " "$T/restore.tty"

case_begin "restore without a terminal"
run_ms -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
expect_rc 0
check "nothing of the line on stderr" bash -c "! grep -q 'MiB' '$T/err' && ! grep -q $'\033' '$T/err'"
check "nor on stdout" bash -c "! grep -q $'\033' '$T/out'"

case_begin "restore -q on a terminal"
on_tty restore-q -q -c "$conf" restore "$A" --dest "$dest" --yes --no-safety-snapshot
check "restore -q exits 0" grep -qx 0 "$T/restore-q.rc"
check "no line with -q" bash -c "! grep -q 'MiB' '$T/restore-q.tty'"

finish
