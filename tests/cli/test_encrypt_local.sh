# [encrypt] local = yes (docs/offhost.md): the destination keeps only
# encrypted snapshots, in the age format, readable by the stock `age` tool;
# list, prune and guard work from their cleartext header copy, verify
# checks the ciphertext against its marker without a key and everything
# with --identity, restore decrypts with --identity into a private place
# it removes, and an attacker who rewrites a ciphertext (and its marker)
# is caught. No database server: --no-db snapshots of a minimal instance.
. "$MS_SOURCE_DIR/tests/lib.sh"

for tool in age age-keygen zstd tar jq rclone; do
	if ! command -v "$tool" >/dev/null; then
		echo "not ok - $tool is missing (scripts/install-deps installs it)"
		exit 1
	fi
done

R=$T/site
INST=$R/srv/modoboa/instance
PF=$R/etc/postfix
D=$T/dest
mk_min_instance "$R"
age-keygen -o "$T/admin.key" 2>/dev/null
age-keygen -o "$T/other.key" 2>/dev/null
PUB=$(age-keygen -y "$T/admin.key")
SECRET=$(grep '^AGE-SECRET-KEY-' "$T/admin.key")
conf() { # conf FILE [EXTRA LINES] : a config for this test, dest $D
	{
		printf '[modosnap]\ndest = %s\ninstance = %s\npostfix_dir = %s\n' "$D" "$INST" "$PF"
		ms_t_key_lines
		printf '%s\n' "${2:-}"
	} >"$1"
}
conf "$T/c.conf" "[encrypt]
recipient = $PUB
local = yes"
C=(-c "$T/c.conf")
jqok() { jq -e "$@" >/dev/null; }
# files DIR : the names in DIR, one per line, sorted
files() { (cd "$1" && ls -A | LC_ALL=C sort); }

case_begin needs_a_recipient
conf "$T/bad.conf" "[encrypt]
local = yes"
run_ms -c "$T/bad.conf" create --no-db
expect_rc 1
expect_stderr "modosnap: error: '$T/bad.conf':$(grep -n '^local' "$T/bad.conf" | cut -d: -f1): [encrypt] local = yes but [encrypt] names no recipient: add recipient = age1... (a public key), or set local = no"
check "nothing written" test ! -e "$D"

case_begin a_remote_without_recipient_is_read_not_pushed
# a new machine reads an encrypted remote before it has a recipient
mkdir -p "$T/empty-remote"
printf '[loc]\ntype = local\n' >"$T/rclone0.conf"
conf "$T/r.conf" "[remote]
rclone_config = $T/rclone0.conf
[remote:off]
url = loc:$T/empty-remote"
run_ms -c "$T/r.conf" list --remote off
expect_rc 0
expect_stdout_has "no complete snapshot on remote 'off' (loc:$T/empty-remote)"
run_ms -c "$T/r.conf" create --no-db
expect_rc 1
expect_stderr "modosnap: error: '$T/r.conf':$(grep -n '^\[remote:off\]' "$T/r.conf" | cut -d: -f1): [remote:off] is encrypted (encrypt = yes, the default) but [encrypt] names no recipient: add recipient = age1... (a public key), or set encrypt = no"
check "nothing taken" test ! -e "$D"
run_ms -c "$T/r.conf" config
expect_rc 3
check "config warns about it" grep -qF "modosnap: warning: [remote:off] is encrypted but [encrypt] names no recipient: reading from it works, pushing to it will fail" "$T/err"

case_begin create_keeps_only_the_ciphertext
run_ms "${C[@]}" create --no-db --verify --tag first --json
expect_rc 0
NAME=$(basename "$(ls "$D"/*.tar.zst.age)")
PLAIN=${NAME%.age}
check "only the encrypted snapshot, its header copy, record and marker" \
	test "$(files "$D" | grep -v '^\.modosnap')" = "$(printf '%s\n' "$NAME" "$NAME.header" "$NAME.ok" "$NAME.verified")"
check "every file 0600" test "$(stat -c %a "$D/$NAME" "$D/$NAME.header" "$D/$NAME.ok" "$D/$NAME.verified" | sort -u)" = 600
check "the JSON summary names the encrypted path" jqok --arg p "$D/$NAME" '.path == $p and .encrypted == true and .verified == true' "$T/out"
check "the marker records the ciphertext's SHA-256 and size" \
	test "$(sed -n 2,3p "$D/$NAME.ok")" = "sha256 $(sha256sum <"$D/$NAME" | cut -d' ' -f1)
size $(stat -c %s "$D/$NAME")"
check "the marker records the tag" grep -qx 'tag first' "$D/$NAME.ok"

case_begin stock_age_reads_it
check "age -d decrypts it into an archive tar lists" \
	bash -c "age -d -i '$T/admin.key' '$D/$NAME' | tar --zstd -tf - >'$T/members'"
check "the archive is whole: header first, signature last" \
	test "$(head -n 1 "$T/members")/$(tail -n 1 "$T/members")" = "modosnap.json/MANIFEST.json.sig"
age -d -i "$T/admin.key" -o "$T/$PLAIN" "$D/$NAME"
run_ms "${C[@]}" verify "$T/$PLAIN"
expect_rc 0
rm -f "$T/$PLAIN" "$T/$PLAIN.verified"

case_begin list_from_the_header_copy
run_ms "${C[@]}" list
expect_rc 0
expect_stdout_has "modoboa-2.3.2"
expect_stdout_has "encrypted"
expect_stdout_has "tags:first"
expect_stdout_has "signer:(encrypted)"
run_ms "${C[@]}" list --json
check "JSON says encrypted" jqok '.[0].encrypted == true and .[0].header.tags == ["first"]' "$T/out"

case_begin verify_without_the_key
run_ms "${C[@]}" verify latest
expect_rc 3
expect_stderr "modosnap: warning: '$D/$NAME' is encrypted: its SHA-256 matches its marker, but its content is not verified without --identity FILE"
expect_stdout_has "ok, encrypted: $D/$NAME (its SHA-256 matches its marker; the content needs --identity)"

case_begin verify_with_the_key
run_ms "${C[@]}" verify latest --identity "$T/admin.key"
expect_rc 0
expect_stdout_has "ok: $D/$NAME: "
expect_no_secret "$SECRET" "age identity"
check "nothing decrypted is left" test "$(files "$D" | grep -v '^\.')" = "$(printf '%s\n' "$NAME" "$NAME.header" "$NAME.ok" "$NAME.verified")"

case_begin verify_with_another_key
run_ms "${C[@]}" verify latest --identity "$T/other.key"
expect_rc 5
expect_stderr "modosnap: error: '$D/$NAME': no identity matches a recipient of this file"
check "nothing decrypted is left" test -z "$(files "$D" | grep '^\.modosnap-decrypt')"

case_begin a_signal_removes_the_decrypted_copy
for cmd in verify restore; do
	extra=()
	[ "$cmd" = restore ] && extra=(--only instance --yes)
	MODOSNAP_TEST_STALL=decrypted "$MODOSNAP" "${C[@]}" "$cmd" latest --identity "$T/admin.key" "${extra[@]}" \
		>"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	for _ in $(seq 300); do grep -q 'stalled at decrypted' "$T/err" && break; sleep 0.1; done
	check "$cmd: the decrypted copy exists while it runs" \
		test -s "$(find "$D" -path "$D/.modosnap-decrypt.*/$PLAIN" | head -n 1)"
	kill -TERM "$pid"
	wait "$pid"
	RC=$?
	expect_rc 143
	check "$cmd: SIGTERM removed the copy and its directory" test -z "$(files "$D" | grep '^\.modosnap-decrypt')"
done

case_begin show_and_diff_refuse
run_ms "${C[@]}" show latest
expect_rc 1
expect_stderr "modosnap: error: '$D/$NAME' is encrypted ([encrypt] local = yes): verify and restore read it with --identity FILE; to read it otherwise, decrypt a copy: age -d -i FILE -o COPY.tar.zst '$D/$NAME'"

case_begin restore_with_the_key
echo "changed after the snapshot" >>"$INST/instance/settings.py"
run_ms "${C[@]}" restore latest --only instance --yes
expect_rc 2
expect_stderr "modosnap: error: '$D/$NAME' is encrypted ([encrypt] local = yes): give --identity FILE"
run_ms "${C[@]}" restore latest --only instance --yes --identity "$T/admin.key"
expect_rc 0
check "settings.py is back" bash -c "! grep -q 'changed after the snapshot' '$INST/instance/settings.py'"
check "nothing decrypted is left" test -z "$(files "$D" | grep '^\.modosnap-decrypt')"
SAFETY=$(cd "$D" && ls ./*.tar.zst 2>/dev/null | sed 's|^\./||')
check "the safety snapshot is plaintext until the next run" test -n "$SAFETY"

case_begin the_next_create_encrypts_what_is_left
age -d -i "$T/admin.key" -o "$D/$PLAIN" "$D/$NAME" # as if killed after the marker
sleep 1 # another second: another snapshot name
run_ms -v "${C[@]}" create --no-db --verify
expect_rc 0
check "it says the leftover plaintext went" grep -qF "removed '$D/$PLAIN': its encrypted copy '$D/$NAME' is complete" "$T/err"
check "it says the safety snapshot was encrypted" grep -qF "encrypted '$D/$SAFETY.age' ([encrypt] local = yes)" "$T/err"
check "no plaintext snapshot is left" test -z "$(files "$D" | grep '\.tar\.zst$')"
check "three encrypted snapshots" test "$(files "$D" | grep -c '\.tar\.zst\.age$')" = 3

case_begin tampered_ciphertext
cp "$D/$NAME" "$T/saved.age"
cp "$D/$NAME.ok" "$T/saved.ok"
ms_t_flip_byte "$D/$NAME" 300
run_ms "${C[@]}" verify "$NAME"
expect_rc 5
expect_stderr "modosnap: error: '$D/$NAME' does not have the SHA-256 its marker records: the encrypted snapshot is damaged or was altered"
# an attacker rewrites the marker too: only the key can tell
sed -i "2s/.*/sha256 $(sha256sum <"$D/$NAME" | cut -d' ' -f1)/" "$D/$NAME.ok"
run_ms "${C[@]}" verify "$NAME"
expect_rc 3
run_ms "${C[@]}" verify "$NAME" --identity "$T/admin.key"
expect_rc 5
check "age's authentication names the damage" grep -q "^modosnap: error: '$D/$NAME': " "$T/err"
run_ms "${C[@]}" restore "$NAME" --only instance --yes --identity "$T/admin.key"
expect_rc 5
check "nothing decrypted is left" test -z "$(files "$D" | grep '^\.modosnap-decrypt')"
cp "$T/saved.age" "$D/$NAME"
cp "$T/saved.ok" "$D/$NAME.ok"

case_begin push_as_is
mkdir -p "$T/remote"
printf '[local]\ntype = local\n' >"$T/rclone.conf"
conf "$T/p.conf" "[encrypt]
recipient = $PUB
local = yes
[remote]
rclone_config = $T/rclone.conf
[remote:off]
url = local:$T/remote
push = never
[remote:plain]
url = local:$T/remote-plain
encrypt = no
push = never"
run_ms -c "$T/p.conf" push "$NAME" --remote off
expect_rc 0
check "the remote holds the same ciphertext" cmp -s "$D/$NAME" "$T/remote/$NAME"
check "its marker records the snapshot's tags" grep -qx 'tag first' "$T/remote/$NAME.ok"
run_ms -c "$T/p.conf" push "$NAME" --remote plain
expect_rc 1
check "a plain remote is refused" grep -qF "modosnap: error: remote 'plain' takes plain copies (encrypt = no) but '$D/$NAME' is kept encrypted ([encrypt] local = yes), and this machine holds no identity to decrypt it: set encrypt = yes for that remote" "$T/err"

case_begin prune_removes_every_file
run_ms "${C[@]}" prune --keep-last 1
expect_rc 0
check "it removes the oldest (the safety snapshot is kept 7 days)" grep -q "^remove .* first$" "$T/out"
check "two encrypted snapshots are left" test "$(files "$D" | grep -c '\.tar\.zst\.age$')" = 2
check "no orphan header, marker or record" test -z "$(files "$D" | grep "^$NAME")"

case_begin same_second_as_an_encrypted_snapshot
# Names have a one-second resolution. An encrypted snapshot (NAME.age and
# its marker) holds its name: a new snapshot of that second waits for the
# next one, else its plaintext NAME would be taken for the encrypted one's
# leftover and removed. Encrypted snapshots are planted for this second
# and the next (an interrupted encryption can leave just the marker).
left=$(files "$D" | grep -c '\.tar\.zst\.age$')
head=${NAME%_*_modoboa-*}
tail=${NAME##*_modoboa-}
sleep 1 # no snapshot of an earlier case holds this second's name
planted=()
for k in 0 1; do
	p="${head}_$(date -u -d "@$(($(date +%s) + k))" +%Y%m%dT%H%M%SZ)_modoboa-${tail%.age}"
	planted+=("$p")
	echo "not a snapshot" >"$D/$p.age"
	echo "not a marker" >"$D/$p.age.ok"
done
run_ms "${C[@]}" create --no-db
expect_rc 0
new=$(basename "$(tail -n 1 "$T/out")")
check "the new snapshot has a name of its own" test -n "$new" -a "${new%.age}" != "${planted[0]}" -a "${new%.age}" != "${planted[1]}"
check "the planted encrypted snapshots are untouched" test "$(cat "$D/${planted[0]}.age" "$D/${planted[1]}.age.ok")" = "not a snapshot
not a marker"
check "the new snapshot is there, encrypted" test -f "$D/${new%.age}.age" -a -f "$D/${new%.age}.age.ok"
rm -f "$D/${planted[0]}.age" "$D/${planted[0]}.age.ok" "$D/${planted[1]}.age" "$D/${planted[1]}.age.ok"
check "one more encrypted snapshot" test "$(files "$D" | grep -c '\.tar\.zst\.age$')" = $((left + 1))

finish
