# Restore trusts nothing in an archive (issue "Restore trusts nothing in an
# archive", docs/security.md). Archives made by the real `create`, then
# rewritten the way an attacker who can write the backup directory would
# (tests/forge: members and header edited, MANIFEST.json recomputed so that
# `verify` agrees), are restored with --allow-unsigned, so that what is
# shown here is the defence behind the signature: targets come from this
# machine, Postfix members are limited to the component's files, setuid,
# setgid, world-writable bits and file capabilities are dropped, free space
# is checked from the manifest before the first write. And what create
# writes, restore restores: names with control characters, and no path too
# long to come back.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF
FORGE=$MS_SOURCE_DIR/tests/forge

mk_min_instance "$T/site"
INST=$T/site/srv/modoboa/instance
PF=$T/site/etc/postfix
DEST=$T/dest
run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$DEST" --no-db
A=$(tail -n 1 "$T/out")

# state DIR : everything under DIR with mode, size, mtime and content hash.
state() { (cd "$1" && find . -printf '%P|%y|%m|%s|%T@|%l\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }
# restore_forged ARCHIVE ARGS... : restore with this test's dest, never asking.
restore_forged() { run_ms restore "$1" --dest "$DEST" --yes --no-safety-snapshot --allow-unsigned "${@:2}"; }

case_begin "the snapshot's Postfix directory is not a target"
mkdir -p "$T/victim"
echo "ssh-ed25519 AAAA... admin" >"$T/victim/authorized_keys"
state "$T/victim" >"$T/victim.before"
echo "ssh-ed25519 AAAA-attacker" >"$T/key"
"$FORGE" "$A" "$T/f1.tar.zst" --header "postfix_dir=\"$T/victim\"" --add "files/postfix/sql-x.cf=$T/key"
restore_forged "$T/f1.tar.zst" --only postfix --instance "$T/nothing"
expect_rc 1
expect_stderr "modosnap: warning: '$T/f1.tar.zst': snapshot is not signed; accepted because of --allow-unsigned
modosnap: error: the snapshot's postfix directory is '$T/victim', not this machine's default '/etc/postfix': name the target with --postfix-dir or [modosnap] postfix_dir in the config, or pass --accept-snapshot-targets to restore into '$T/victim'"
state "$T/victim" >"$T/victim.after"
check "the directory the archive named is untouched" cmp -s "$T/victim.before" "$T/victim.after"

case_begin "accepted, a system directory is still refused"
for bad in /root/.ssh /etc/cron.d /usr/lib/systemd/system; do
	"$FORGE" "$A" "$T/f2.tar.zst" --header "postfix_dir=\"$bad\""
	restore_forged "$T/f2.tar.zst" --only postfix --instance "$T/nothing" --accept-snapshot-targets
	expect_rc 1
	expect_stderr "modosnap: warning: '$T/f2.tar.zst': snapshot is not signed; accepted because of --allow-unsigned
modosnap: error: postfix target '$bad' refused: a system directory (Postfix targets there are /etc/postfix or /etc/postfix-NAME)"
done

case_begin "a member the Postfix component does not hold"
"$FORGE" "$A" "$T/f3.tar.zst" --add "files/postfix/authorized_keys=$T/key"
run_ms verify "$T/f3.tar.zst" --allow-unsigned
expect_rc 3 # verify agrees with the forgery: only the signature is missing
restore_forged "$T/f3.tar.zst" --postfix-dir "$T/victim" --only postfix --instance "$T/nothing"
expect_rc 5
expect_stderr "modosnap: warning: '$T/f3.tar.zst': snapshot is not signed; accepted because of --allow-unsigned
modosnap: error: refusing member 'files/postfix/authorized_keys': not a file the Postfix component holds (main.cf, master.cf, modoboa-postfix-maps.chk and *.cf maps)"
state "$T/victim" >"$T/victim.after"
check "nothing was written" cmp -s "$T/victim.before" "$T/victim.after"

case_begin "the snapshot's instance path replaces nothing unless named"
mkdir -p "$T/unrelated/data"
echo "precious" >"$T/unrelated/data/file"
state "$T/unrelated" >"$T/unrelated.before"
"$FORGE" "$A" "$T/f4.tar.zst" --header "instance=\"$T/unrelated\""
restore_forged "$T/f4.tar.zst" --only instance
expect_rc 1
expect_stderr "modosnap: warning: '$T/f4.tar.zst': snapshot is not signed; accepted because of --allow-unsigned
modosnap: error: the snapshot's instance directory is '$T/unrelated', not this machine's default '/srv/modoboa/instance': name the target with --instance or [modosnap] instance in the config, or pass --accept-snapshot-targets to restore into '$T/unrelated'"
state "$T/unrelated" >"$T/unrelated.after"
check "the unrelated directory is untouched" cmp -s "$T/unrelated.before" "$T/unrelated.after"

case_begin "recorded paths that are no paths"
mkdir -p "$T/newroot"
for bad in '"/"' '""' '"srv/modoboa/instance"' '"/srv/../etc"'; do
	"$FORGE" "$A" "$T/f5.tar.zst" --header "instance=$bad"
	restore_forged "$T/f5.tar.zst" --only instance --root "$T/newroot"
	expect_rc 1
	check "refused: $bad" grep -q "^modosnap: error: instance target '.*' refused: " "$T/err"
done
check "nothing was written under --root" test -z "$(ls -A "$T/newroot")"

case_begin "setuid, setgid, world-writable bits and capabilities are dropped"
echo '#!/bin/sh' >"$T/tool"
"$FORGE" "$A" "$T/f6.tar.zst" --add "files/instance/tool=$T/tool:4755" --add "files/instance/open=$T/tool:0666" \
	--add-dir "files/instance/shared:0777" --add "files/instance/shared/g=$T/tool:2750"
restore_forged "$T/f6.tar.zst" --only instance --instance "$T/r6/instance"
expect_rc 3
check "the plan warned" grep -q "^modosnap: warning: instance: 4 entries with setuid, setgid or world-writable bits and 0 extended attributes other than user.\* and ACLs in the snapshot: restored without them$" "$T/err"
check "no setuid bit" test "$(stat -c %a "$T/r6/instance/tool")" = 755
check "not world-writable" test "$(stat -c %a "$T/r6/instance/open")" = 664
check "directory not world-writable" test "$(stat -c %a "$T/r6/instance/shared")" = 775
check "no setgid bit on a file" test "$(stat -c %a "$T/r6/instance/shared/g")" = 750
expect_stdout_has "  ok: instance: "

case_begin "names with control characters: created, verified, restored"
mkdir -p "$T/site2"
mk_min_instance "$T/site2"
printf 'x\n' >"$T/site2/srv/modoboa/instance/$(printf 'a\nb')"
printf 'y\n' >"$T/site2/srv/modoboa/instance/$(printf 'esc\033[2Jz')"
run_ms create --instance "$T/site2/srv/modoboa/instance" --postfix-dir "$T/site2/etc/postfix" --dest "$T/dest2" --no-db
expect_rc 0
A2=$(tail -n 1 "$T/out")
run_ms verify "$A2"
expect_rc 0
run_ms restore "$A2" --dest "$T/dest2" --yes --no-safety-snapshot --root "$T/r7"
expect_rc 0
check "the name with a newline is back" test -f "$T/r7$T/site2/srv/modoboa/instance/$(printf 'a\nb')"
check "the name with an escape is back" test -f "$T/r7$T/site2/srv/modoboa/instance/$(printf 'esc\033[2Jz')"
check "no raw escape reached the terminal" bash -c "! grep -q $'\033' '$T/out' '$T/err'"
run_ms restore "$A2" --dest "$T/dest2" --yes --no-safety-snapshot --root "$T/r8" --only postfix
expect_rc 0

case_begin "a path too long to come back is left out by create, with a warning"
mkdir -p "$T/site3"
mk_min_instance "$T/site3"
deep=$T/site3/srv/modoboa/instance/media
for _ in $(seq 1 19); do deep=$deep/$(printf 'd%.0s' $(seq 1 200)); done
mkdir -p "$deep"
echo deep >"$deep/file"
run_ms create --instance "$T/site3/srv/modoboa/instance" --postfix-dir "$T/site3/etc/postfix" --dest "$T/dest3" --no-db
expect_rc 3
check "the warning names the cut" grep -q "^modosnap: warning: '.*\\.\\.\\.': path too long to be restored ([0-9]* bytes in the archive, at most 3839); not archived$" "$T/err"
A3=$(tail -n 1 "$T/out")
run_ms restore "$A3" --dest "$T/dest3" --yes --no-safety-snapshot --root "$T/r9"
expect_rc 0

case_begin "a file the checksum file names that is no map is left out by create"
mkdir -p "$T/site7"
mk_min_instance "$T/site7"
echo "x" >"$T/site7/etc/postfix/authorized_keys"
echo "authorized_keys:postgres:$(md5sum <"$T/site7/etc/postfix/authorized_keys" | cut -d' ' -f1)" \
	>>"$T/site7/etc/postfix/modoboa-postfix-maps.chk"
run_ms create --instance "$T/site7/srv/modoboa/instance" --postfix-dir "$T/site7/etc/postfix" --dest "$T/dest7" --no-db
expect_rc 3
expect_stderr "modosnap: warning: '$T/site7/etc/postfix/authorized_keys': named in 'modoboa-postfix-maps.chk' but not a Postfix map name (*.cf); not archived"
A7=$(tail -n 1 "$T/out")
run_ms restore "$A7" --dest "$T/dest7" --yes --no-safety-snapshot --root "$T/r16" --only postfix
expect_rc 0

case_begin "-q restore prints nothing"
run_ms -q restore "$A2" --dest "$T/dest2" --yes --no-safety-snapshot --root "$T/r10"
expect_rc 0
check "stdout is empty" test ! -s "$T/out"
expect_stderr_empty

case_begin "-q needs --yes (it hides the plan it would ask about)"
run_ms -q restore "$A2" --dest "$T/dest2" --root "$T/r10b"
expect_rc 2
expect_stderr "modosnap: error: -q hides the plan it would ask about: add --yes; try 'modosnap help restore'"

case_begin "--root / is the live system"
run_ms restore "$A2" --dest "$T/dest2" --dry-run --root / --instance "$T/r11/instance" --only instance
expect_rc 2
expect_stderr "modosnap: error: --root / is the live system: leave --root out; try 'modosnap help restore'"
run_ms restore "$A2" --dest "$T/dest2" --dry-run --root "$T/r11/" --only instance
expect_rc 0
expect_stdout_lacks "//"

case_begin "no link or foreign-writable directory on a target's way"
mkdir -p "$T/realdir"
ln -s "$T/realdir" "$T/lnk"
run_ms restore "$A" --dest "$DEST" --yes --no-safety-snapshot --only instance --instance "$T/lnk/instance"
expect_rc 1
expect_stderr "modosnap: error: instance target '$T/lnk/instance' refused: '$T/lnk' on its way is a symbolic link (give the real path)"
mkdir -p "$T/shared"
chmod 0777 "$T/shared"
run_ms restore "$A" --dest "$DEST" --yes --no-safety-snapshot --only instance --instance "$T/shared/instance"
expect_rc 1
expect_stderr "modosnap: error: instance target '$T/shared/instance' refused: '$T/shared' on its way is writable by group or others"
check "nothing was written through the link" test -z "$(ls -A "$T/realdir")"
check "nothing was written in the shared directory" test -z "$(ls -A "$T/shared")"

case_begin "the destination directory is never a target"
run_ms restore "$A" --dest "$DEST" --yes --no-safety-snapshot --only instance --instance "$DEST/instance"
expect_rc 1
expect_stderr "modosnap: error: instance target '$DEST/instance' refused: it holds or is inside the destination directory '$DEST'"

case_begin "Postfix files come back owned by root, without group or other write"
mkdir -p "$T/pf-live"
echo "# live" >"$T/pf-live/main.cf"
"$FORGE" "$A" "$T/f13.tar.zst" --owner files/postfix/main.cf=65534:65534 --mode files/postfix/main.cf=0666 \
	--mode files/postfix/master.cf=0664
restore_forged "$T/f13.tar.zst" --only postfix --postfix-dir "$T/pf-live" --instance "$T/nothing"
expect_rc 3
check "the plan warned" grep -q "^modosnap: warning: postfix: 2 files with special or group/other-writable bits or an owner other than root, and 0 extended attributes other than user.\* and ACLs, in the snapshot: restored owned by root, without them$" "$T/err"
check "main.cf belongs to root" test "$(stat -c %u "$T/pf-live/main.cf")" = 0
check "main.cf is 0644" test "$(stat -c %a "$T/pf-live/main.cf")" = 644
check "master.cf is 0644" test "$(stat -c %a "$T/pf-live/master.cf")" = 644
expect_stdout_has "  ok: postfix: "

case_begin "ACLs cannot give back what the mode lost"
mkdir -p "$T/site4"
mk_min_instance "$T/site4"
I4=$T/site4/srv/modoboa/instance
mkdir -p "$I4/media"
echo x >"$I4/media/shared.txt"
setfacl -m u:nobody:rw,o::rwx "$I4/media/shared.txt"
setfacl -d -m u:nobody:rwx,o::rwx "$I4/media"
run_ms create --instance "$I4" --postfix-dir "$T/site4/etc/postfix" --dest "$T/dest4" --no-db
expect_rc 0
A4=$(tail -n 1 "$T/out")
run_ms restore "$A4" --dest "$T/dest4" --yes --no-safety-snapshot --root "$T/r14" --only instance
expect_rc 3
R4=$T/r14$I4
check "the file is not world-writable (rw-rw-rwx with its ACL became rw-rw-r-x)" test "$(stat -c %a "$R4/media/shared.txt")" = 665
check "its named-user entry is kept" bash -c "getfacl -c '$R4/media/shared.txt' 2>/dev/null | grep -q '^user:nobody:rw-'"
check "the default ACL gives others no write" bash -c "getfacl -c -d '$R4/media' 2>/dev/null | grep -q '^other::r-x'"
expect_stdout_has "  ok: instance: "

case_begin "a linked or hardlinked Postfix map is captured whole, and restores"
mkdir -p "$T/site5"
mk_min_instance "$T/site5"
ln "$T/site5/srv/modoboa/instance/manage.py" "$T/site5/etc/postfix/sql-manage.cf"
ln -s sql-domains.cf "$T/site5/etc/postfix/sql-link.cf"
run_ms create --instance "$T/site5/srv/modoboa/instance" --postfix-dir "$T/site5/etc/postfix" --dest "$T/dest5" --no-db
expect_rc 0
A5=$(tail -n 1 "$T/out")
run_ms restore "$A5" --dest "$T/dest5" --yes --no-safety-snapshot --root "$T/r15"
expect_rc 0
check "the hardlinked map is a file" test -f "$T/r15$T/site5/etc/postfix/sql-manage.cf"
check "the linked map is a file with the target's content" cmp -s "$T/r15$T/site5/etc/postfix/sql-link.cf" "$T/site5/etc/postfix/sql-domains.cf"

case_begin "free space is checked from the manifest before the first write"
if mkdir -p "$T/small" && mount -t tmpfs -o size=100m modosnap-test "$T/small" 2>/dev/null; then
	head -c $((48 << 20)) /dev/zero >"$T/big"
	"$FORGE" "$A" "$T/f12.tar.zst" --add "files/instance/big=$T/big"
	restore_forged "$T/f12.tar.zst" --only instance --instance "$T/small/instance"
	expect_rc 1
	check "the refusal names the filesystem and sizes" grep -q "^modosnap: error: not enough space for the instance component on the filesystem of '$T/small': 112\\.[0-9] MiB needed (the snapshot's files and 64 MiB to spare), [0-9.]* MiB free; nothing was changed$" "$T/err"
	check "nothing was written" test -z "$(ls -A "$T/small")"
	restore_forged "$A" --only instance --instance "$T/small/instance"
	expect_rc 0
	umount "$T/small"
	mount -t tmpfs -o size=100m,nr_inodes=100 modosnap-test "$T/small"
	mkdir -p "$T/site6"
	mk_min_instance "$T/site6"
	mkdir -p "$T/site6/srv/modoboa/instance/media"
	for i in $(seq 1 150); do : >"$T/site6/srv/modoboa/instance/media/f$i"; done
	run_ms create --instance "$T/site6/srv/modoboa/instance" --postfix-dir "$T/site6/etc/postfix" --dest "$T/dest6" --no-db
	restore_forged "$(tail -n 1 "$T/out")" --only instance --instance "$T/small/instance" --dest "$T/dest6"
	expect_rc 1
	check "inodes are counted too" grep -q "^modosnap: error: not enough inodes for the instance component on the filesystem of '$T/small': 15[0-9] needed, [0-9]* free; nothing was changed$" "$T/err"
	umount "$T/small"
else
	echo "skipped - free space: cannot mount a tmpfs here (not root?)"
fi

finish
