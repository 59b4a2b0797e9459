# The destination directory and the archive reader against whoever can
# plant files (issue 11, findings 8, 11, 12 and 15): a destination owned by
# another user or writable by group/others is refused by every command that
# reads or writes it; files modosnap writes there never follow a planted
# symlink and are 0600 whatever the umask; an archive with data after the
# tar end-of-archive marker does not verify; a garbage line in Postfix's
# checksum file is a warning, not a failed create; a path that is not an
# archive file says what it is.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=${MS_T_CONF:-} # only the signing keys, under $T (tests/lib.sh)

echo "DATABASES = {}" >"$T/databases.py"
mk_min_instance "$T/site"
rm "$T/databases.py"
I=$T/site/srv/modoboa/instance
PF=$T/site/etc/postfix
C=(create --no-db --instance "$I" --postfix-dir "$PF")
archives() { find "$1" -maxdepth 1 -name '*.tar.zst' 2>/dev/null | wc -l; }

case_begin dest_writable_by_others
D=$T/open
mkdir -m 0777 "$D"
chmod 0777 "$D" # whatever the umask
run_ms "${C[@]}" --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: unsafe destination '$D': writable by others (mode 0777); run chmod 0700 '$D'"
check "nothing written" test -z "$(ls -A "$D")"
for cmd in list prune; do
	if [ "$cmd" = prune ]; then run_ms prune --dest "$D" --keep-last 1; else run_ms list --dest "$D"; fi
	expect_rc 1
	expect_stderr "modosnap: error: unsafe destination '$D': writable by others (mode 0777); run chmod 0700 '$D'"
done
run_ms verify latest --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: unsafe destination '$D': writable by others (mode 0777); run chmod 0700 '$D'"
chmod 0770 "$D"
run_ms list --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: unsafe destination '$D': writable by its group (mode 0770); run chmod 0700 '$D'"
chmod 0700 "$D"
run_ms "${C[@]}" --dest "$D"
expect_rc 0
check "the fix the message names works" test "$(archives "$D")" = 1

case_begin dest_owned_by_another_user
if [ "$(id -u)" != 0 ]; then
	echo "# skip - dest_owned_by_another_user: needs root to chown the directory"
else
	D=$T/foreign
	mkdir -m 0700 "$D"
	chown nobody "$D"
	run_ms "${C[@]}" --dest "$D"
	expect_rc 1
	expect_stderr "modosnap: error: unsafe destination '$D': owned by 'nobody' (uid $(id -u nobody)), not by root; run chown 0 '$D' && chmod 0700 '$D'"
	check "nothing written" test -z "$(ls -A "$D")"
	run_ms restore latest --dest "$D" --dry-run
	expect_rc 1
	check "restore refuses it too" grep -qF "unsafe destination '$D': owned by 'nobody'" "$T/err"
	chown 0 "$D"
	run_ms list --dest "$D"
	expect_rc 0
fi

case_begin ratio_tmp_symlink
D=$T/ratio
run_ms "${C[@]}" --dest "$D"
expect_rc 0
echo "precious" >"$T/victim"
chmod 0644 "$T/victim"
ln -s "$T/victim" "$D/.modosnap.ratio.partial"
run_ms "${C[@]}" --dest "$D"
expect_rc 0
check "the symlink's target is untouched" test "$(cat "$T/victim")" = precious
check "its mode too" test "$(stat -c %a "$T/victim")" = 644
check "no temporary file left" test ! -e "$D/.modosnap.ratio.partial" -a ! -L "$D/.modosnap.ratio.partial"
check "the ratio file is a regular file" test -f "$D/.modosnap.ratio" -a ! -L "$D/.modosnap.ratio"
ln "$T/victim" "$D/.modosnap.ratio.partial" 2>/dev/null || cp "$T/victim" "$D/.modosnap.ratio.partial"
run_ms "${C[@]}" --dest "$D"
expect_rc 0
check "a planted hard link's other name is untouched" test "$(cat "$T/victim")" = precious

case_begin umask_000
D=$T/umask
(umask 000 && "$MODOSNAP" "${C[@]}" --dest "$D" >"$T/out" 2>"$T/err")
RC=$?
expect_rc 0
check "destination 0700" test "$(stat -c %a "$D")" = 700
check ".modosnap.ratio 0600" test "$(stat -c %a "$D/.modosnap.ratio")" = 600
check ".modosnap.lock 0600" test "$(stat -c %a "$D/.modosnap.lock")" = 600
check "the archive 0600" test "$(stat -c %a "$(tail -n 1 "$T/out")")" = 600
(umask 000 && "$MODOSNAP" "${C[@]}" --dest "$D" --verify >"$T/out" 2>"$T/err")
RC=$?
expect_rc 0
check "the verification record 0600" test "$(stat -c %a "$(tail -n 1 "$T/out").verified")" = 600

case_begin lock_file_not_ours
D=$T/lock
run_ms "${C[@]}" --dest "$D"
expect_rc 0
rm "$D/.modosnap.lock"
echo "precious" >"$T/victim2"
ln -s "$T/victim2" "$D/.modosnap.lock"
run_ms "${C[@]}" --dest "$D"
expect_rc 1
check "a symlinked lock file is refused" grep -q "^modosnap: error: unable to open lock file '$D/.modosnap.lock': " "$T/err"
check "its target is untouched" test "$(cat "$T/victim2")" = precious
rm "$D/.modosnap.lock"
ln "$T/victim2" "$D/.modosnap.lock"
run_ms "${C[@]}" --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: unsafe lock file '$D/.modosnap.lock': not a regular file of ours with one link; remove it"
check "the hard link's other name is untouched" test "$(cat "$T/victim2")" = precious

case_begin data_after_tar_end
D=$T/hidden
run_ms "${C[@]}" --dest "$D"
expect_rc 0
A=$(tail -n 1 "$T/out")
mkdir "$T/h" && echo "evil" >"$T/h/hidden" && tar --format=pax -cf "$T/h/extra.tar" -C "$T/h" hidden
B=$T/h/$(basename "$A")
(zstd -q -d -c "$A" && cat "$T/h/extra.tar") | zstd -q -c >"$B"
check "zstd accepts the forged stream" zstd -q -t "$B"
check "tar -i lists the hidden member" bash -c "zstd -q -d -c '$B' | tar -i -tf - | grep -qx hidden"
run_ms verify "$A"
expect_rc 0
run_ms verify "$B"
expect_rc 5
expect_stderr "modosnap: error: '$B': data after the end of the tar archive"
(zstd -q -d -c "$A" && head -c 10240 /dev/zero) | zstd -q -c >"$B"
run_ms verify "$B"
expect_rc 5
expect_stderr "modosnap: error: '$B': data after the end of the tar archive" # zero padding too (FORMAT.md §3)

case_begin postfix_chk_garbage_line
D=$T/chk
CHK=$PF/modoboa-postfix-maps.chk
cp "$CHK" "$T/chk.orig"
printf '\001garbage line\377\n' >>"$CHK"
run_ms "${C[@]}" --dest "$D"
expect_rc 3
expect_stderr "modosnap: warning: '$CHK':2: malformed line in checksum file (expected FILE:DBTYPE:MD5); ignored"
A=$(tail -n 1 "$T/out")
check "the snapshot was taken" test -f "$A"
check "the checksum file is captured as is" \
	bash -c "tar --zstd -xOf '$A' files/postfix/modoboa-postfix-maps.chk | cmp -s - '$CHK'"
check "the map it records is captured" \
	bash -c "tar --zstd -tf '$A' | grep -qx files/postfix/sql-domains.cf"
cp "$T/chk.orig" "$CHK"

case_begin select_not_an_archive_file
run_ms verify /dev/zero
expect_rc 1
expect_stderr "modosnap: error: snapshot '/dev/zero' is a character device, not an archive file"
run_ms verify "$T/"
expect_rc 1
expect_stderr "modosnap: error: snapshot '$T/' is a directory, not an archive file"
mkfifo "$T/fifo"
run_ms verify "$T/fifo"
expect_rc 1
expect_stderr "modosnap: error: snapshot '$T/fifo' is a fifo, not an archive file"
run_ms verify "$T/none/x.tar.zst"
expect_rc 1
expect_stderr "modosnap: error: snapshot '$T/none/x.tar.zst' not found"

finish
