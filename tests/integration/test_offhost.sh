# Off-host copies end to end with the real binary (issue 14, docs/offhost.md),
# on a PostgreSQL installation made by scripts/mkfixture and a local-path
# rclone remote under the test's tree:
# - create pushes its verified snapshot, encrypted to the [encrypt]
#   recipient (age), and pings the monitor at the start and at the end;
# - the stock `age -d` decrypts the copy into a tar that GNU tar lists;
# - list --remote shows it; fetch --remote with the identity brings it
#   back decrypted and verified, and restore puts a deleted row back;
# - fetch without an identity keeps it encrypted (warning, exit 3); a wrong
#   identity and a tampered copy exit 5;
# - a remote that fails makes create fail (exit 1, on_error hook, the
#   failure ping), the local snapshot intact;
# - the same through an SFTP remote served on localhost by rclone serve sftp,
#   and that server stopped in the middle of an upload (create fails naming
#   the remote, no marker, the local snapshot intact);
# - [encrypt] local = yes: the pre-upgrade snapshot kept encrypted passes
#   guard, the remote receives the same ciphertext, restore --identity;
# - no identity, password or ping token in the output (the children's
#   argv and environment: unit.test_rclone).
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers

su_psql() { "$MS_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" "$@"; }

"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine pg --no-amavis \
	--prefix "off$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; kill "$LISTENER" 2>/dev/null; ms_t_cleanup' EXIT

# the administrator's key pair: the server only ever holds the public key
age-keygen -o "$T/admin.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$T/admin.key")
IDENTITY=$(grep '^AGE-SECRET-KEY-1' "$T/admin.key")
age-keygen -o "$T/other.key" 2>/dev/null

# a monitoring endpoint (healthchecks.io's form): it logs each request
python3 - "$T/port" "$T/pings" <<'PY' &
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def handle_one(self):
        pass
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        with open(sys.argv[2], "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, len(body)))
            if body:
                f.write("".join("| " + l + "\n" for l in body.splitlines()))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")
    do_GET = do_POST = reply
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
LISTENER=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
TOKEN=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0

# rclone's own config: the credentials of a real remote would live here
printf '[loc]\ntype = local\n' >"$T/rclone.conf"
mkdir -p "$T/remote"
conf() { # conf FILE URL : this installation, a remote at URL, the monitor
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
		ms_t_key_lines
		printf '[db:default]\nadmin_user = %s\n' "$MS_PG_SUPERUSER"
		printf '[remote]\nrclone_config = %s\n[remote:off]\nurl = %s\npush = always\n' "$T/rclone.conf" "$2"
		printf '[encrypt]\nrecipient = %s\n' "$RECIPIENT"
		printf '[monitor]\nping_url = http://127.0.0.1:%s/%s\nkind = healthchecks\n' "$PORT" "$TOKEN"
		printf '[hooks]\non_error = echo failed >%s/on_error\n' "$T"
	} >"$1"
	chmod 600 "$1"
}
conf "$T/c.conf" "loc:$T/remote"
DEST=$T/dest

case_begin "create pushes an encrypted copy and pings the monitor"
run_ms -c "$T/c.conf" create --dest "$DEST" --verify
expect_rc 0
expect_stderr_empty
A=$(tail -n 1 "$T/out")
NAME=$(basename "$A")
expect_stdout_has "pushed      off (loc:$T/remote)"
check "the remote holds the encrypted archive and its marker" test -s "$T/remote/$NAME.age" -a -s "$T/remote/$NAME.age.ok"
check "the remote holds no plain copy" test ! -e "$T/remote/$NAME"
check "the copy is an age file" bash -c "head -c 21 '$T/remote/$NAME.age' | grep -qx 'age-encryption.org/v1'"
check "the monitor saw the start and the success" \
	bash -c "grep -c '^GET /$TOKEN/start 0\$' '$T/pings' | grep -qx 1 && grep -q '^POST /$TOKEN ' '$T/pings'"
expect_no_secret "$TOKEN" "the ping URL's token"
expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "the database password"

case_begin "the stock age decrypts the copy, GNU tar lists it"
age -d -i "$T/admin.key" -o "$T/plain.tar.zst" "$T/remote/$NAME.age"
check "age -d: identical to the local snapshot" cmp -s "$T/plain.tar.zst" "$A"
check "tar lists the header first" bash -c "tar --zstd -tf '$T/plain.tar.zst' | head -n 1 | grep -qx modosnap.json"

case_begin "pushing again does nothing new; list --remote shows the copy"
run_ms -c "$T/c.conf" push latest --dest "$DEST"
expect_rc 0
expect_stdout_has "pushed $NAME to off (loc:$T/remote)"
check "still one archive and one marker" test "$(find "$T/remote" -type f | wc -l)" = 2
run_ms -c "$T/c.conf" list --remote off
expect_rc 0
expect_stdout_has "$NAME.age"
run_ms -c "$T/c.conf" list --remote off --json
check "JSON: name and size" jq -e --arg n "$NAME.age" --argjson s "$(stat -c %s "$T/remote/$NAME.age")" \
	'. == [{"name": $n, "size": $s}]' "$T/out"

case_begin "a half-uploaded copy is not listed"
cp "$T/remote/$NAME.age" "$T/remote/half_20000101T000000Z_modoboa-2.3.2.tar.zst.age"
run_ms -c "$T/c.conf" list --remote off
expect_stdout_lacks "half_"
rm "$T/remote/half_20000101T000000Z_modoboa-2.3.2.tar.zst.age"

case_begin "disaster: fetch with the identity, verified, then restore"
su_psql -d "$MS_FX_DEFAULT_DB" -c "DELETE FROM core_log"
rm -rf "$T/fresh"
run_ms -c "$T/c.conf" fetch latest --remote off --identity "$T/admin.key" --dest "$T/fresh"
expect_rc 0
expect_stderr_empty
F=$(tail -n 1 "$T/out")
check "the fetched snapshot is the plain archive, identical" cmp -s "$F" "$A"
check "no encrypted copy left in the destination" test ! -e "$T/fresh/$NAME.age"
expect_no_secret "$IDENTITY" "the age identity"
run_ms -c "$T/c.conf" restore "$F" --dest "$T/fresh" --yes --only db:default
expect_rc 0
expect_stdout_has "  ok: db:default: "
check "the deleted rows are back" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT count(*) > 0 FROM core_log')" = t

case_begin "verify --remote: with the identity everything, without it the hash only"
run_ms -c "$T/c.conf" verify latest --remote off --identity "$T/admin.key" --dest "$T/nowhere"
expect_rc 0
expect_stdout_has "ok: $NAME on remote 'off' (decrypted where needed, integrity and signature verified)"
check "nothing left behind" test -z "$(find "${TMPDIR:-/var/tmp}" -maxdepth 1 -name '.modosnap-verify.*' -newer "$T/c.conf" 2>/dev/null)"
MODOSNAP_TEST_STALL=decrypted "$MODOSNAP" -c "$T/c.conf" verify latest --remote off --identity "$T/admin.key" \
	--dest "$DEST" >"$T/out" 2>"$T/err" </dev/null &
VPID=$!
for _ in $(seq 300); do grep -q 'stalled at decrypted' "$T/err" && break; sleep 0.1; done
check "the decrypted copy exists while verify --remote runs" test -s "$(find "$DEST" -path "$DEST/.modosnap-verify.*/$NAME")"
kill -TERM "$VPID"
wait "$VPID"
RC=$?
expect_rc 143
check "SIGTERM removed the decrypted copy" test -z "$(find "$DEST" -path "$DEST/.modosnap-verify.*/$NAME*")"
run_ms -c "$T/c.conf" verify latest --remote off --dest "$DEST"
expect_rc 3
expect_stdout_has "ok, encrypted: $NAME.age on remote 'off' (its SHA-256 matches the marker; the content needs --identity)"
check "the destination holds no verification leftovers" test -z "$(find "$DEST" -name '.modosnap-verify.*')"

case_begin "restore REMOTE:SNAPSHOT fetches, decrypts, verifies and restores"
su_psql -d "$MS_FX_DEFAULT_DB" -c "DELETE FROM core_log"
rm -rf "$T/fresh4"
run_ms -c "$T/c.conf" restore "off:latest" --identity "$T/admin.key" --dest "$T/fresh4" --yes --only db:default
expect_rc 0
expect_stdout_has "  ok: db:default: "
check "the deleted rows are back" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT count(*) > 0 FROM core_log')" = t
check "the fetched snapshot stays in the destination" test -s "$T/fresh4/$NAME"
run_ms -c "$T/c.conf" restore "off:latest" --dest "$T/fresh5" --yes --only db:default
expect_rc 2
expect_stderr "modosnap: warning: '$T/fresh5/$NAME.age' is encrypted: its SHA-256 matches what the remote recorded, but its content is not verified; fetch it again with --identity FILE to decrypt and verify it
modosnap: error: '$T/fresh5/$NAME.age' is encrypted: restore it with --identity FILE"

case_begin "fetch without an identity keeps the copy encrypted"
rm -rf "$T/fresh2"
run_ms -c "$T/c.conf" fetch latest --remote off --dest "$T/fresh2"
expect_rc 3
expect_stderr "modosnap: warning: '$T/fresh2/$NAME.age' is encrypted: its SHA-256 matches what the remote recorded, but its content is not verified; fetch it again with --identity FILE to decrypt and verify it"

case_begin "a wrong identity, a tampered copy: exit 5"
rm -rf "$T/fresh3"
run_ms -c "$T/c.conf" fetch latest --remote off --identity "$T/other.key" --dest "$T/fresh3"
expect_rc 5
expect_stderr "modosnap: error: '$T/fresh3/$NAME.age': no identity matches a recipient of this file"
check "nothing decrypted is left" test ! -e "$T/fresh3/$NAME"
# whoever can write the bucket flips a byte of the ciphertext and rewrites
# the marker's SHA-256 to match: the age authentication still refuses it
cp -p "$T/remote/$NAME.age" "$T/good.age"
cp -p "$T/remote/$NAME.age.ok" "$T/good.age.ok"
size=$(stat -c %s "$T/remote/$NAME.age")
ms_t_flip_byte "$T/remote/$NAME.age" $((size / 2))
sed -i "s/^sha256 .*/sha256 $(sha256sum "$T/remote/$NAME.age" | cut -d' ' -f1)/" "$T/remote/$NAME.age.ok"
rm -rf "$T/fresh7"
run_ms -c "$T/c.conf" fetch latest --remote off --identity "$T/admin.key" --dest "$T/fresh7"
expect_rc 5
check "the refusal names the damaged place" grep -q "^modosnap: error: '$T/fresh7/$NAME.age': damaged or tampered at byte [0-9]* (chunk [0-9]* fails authentication)" "$T/err"
check "nothing decrypted is left" test ! -e "$T/fresh7/$NAME"
mv "$T/good.age" "$T/remote/$NAME.age"
mv "$T/good.age.ok" "$T/remote/$NAME.age.ok"

case_begin "prune --remote: the retention rules and the pre-upgrade protection on the remote's copies"
run_ms -c "$T/c.conf" create --dest "$DEST" --pre-upgrade --no-deep
expect_rc 0
P=$(basename "$(tail -n 1 "$T/out")")
run_ms -c "$T/c.conf" create --dest "$DEST"
expect_rc 0
L=$(basename "$(tail -n 1 "$T/out")")
check "the marker records id, time and tags" bash -c "grep -qx 'tag pre-upgrade' '$T/remote/$P.age.ok' && \
	grep -q '^snapshot [0-9]\{8\}T[0-9]\{6\}Z-' '$T/remote/$P.age.ok' && grep -q '^created ' '$T/remote/$P.age.ok'"
run_ms -c "$T/c.conf" prune --remote off --keep-last 1 --dry-run
expect_rc 0
check "the plan, newest first" diff -u - "$T/out" <<PLAN
keep   $L.age  (last)
keep   $P.age  (pre-upgrade,verified-pre-upgrade)
remove $NAME.age
2 kept, 1 would be removed on remote 'off'
PLAN
check "the dry run removed nothing" test -s "$T/remote/$NAME.age.ok"
run_ms -c "$T/c.conf" prune --remote off --keep-last 1 --json
expect_rc 0
check "JSON: the decisions" jq -e --arg n "$NAME.age" '[.[] | select(.keep == false) | .name] == [$n]' "$T/out"
check "the pruned copy and its marker are gone" test ! -e "$T/remote/$NAME.age" -a ! -e "$T/remote/$NAME.age.ok"
run_ms -c "$T/c.conf" list --remote off
check "two copies left" test "$(grep -c '\.age ' "$T/out")" = 2

case_begin "create --output - streams the archive, plain or encrypted, and nothing else"
conf "$T/s.conf" "loc:$T/remote"
sed -i '/^\[monitor\]/,$d' "$T/s.conf" # no pings here
before=$(find "$DEST" -type f | wc -l)
"$MODOSNAP" -c "$T/s.conf" create --output - 2>"$T/err" | tar --zstd -tf - >"$T/stream.list"
check "tar lists the stream (exit 0)" test "${PIPESTATUS[1]}" = 0
check "create exit 0, stderr empty" test ! -s "$T/err"
check "the stream holds the header first and the manifest" \
	bash -c "head -n 1 '$T/stream.list' | grep -qx modosnap.json && grep -qx MANIFEST.json '$T/stream.list'"
tar --zstd -tf "$A" >"$T/local.list"
check "as many members as a snapshot of the same installation" \
	test "$(wc -l <"$T/stream.list")" = "$(wc -l <"$T/local.list")"
"$MODOSNAP" -c "$T/s.conf" create --output - --encrypt 2>"$T/err" |
	age -d -i "$T/admin.key" | tar --zstd -tf - >"$T/stream2.list"
check "age -d | tar lists the encrypted stream" test "$(wc -l <"$T/stream2.list")" = "$(wc -l <"$T/local.list")"
check "create --encrypt: stderr empty" test ! -s "$T/err"
check "nothing was written in the destination" test "$(find "$DEST" -type f | wc -l)" = "$before"
run_ms -c "$T/s.conf" create --output - --verify
expect_rc 2
expect_stderr "modosnap: error: --output - writes the archive to standard output only: no --pre-upgrade, --nightly, --verify, --json or --dest with it; try 'modosnap help create'"
run_ms -c "$T/s.conf" create --output "$T/file"
expect_rc 2
expect_stderr "modosnap: error: invalid --output '$T/file' (only -: standard output); try 'modosnap help create'"

case_begin "an SFTP remote (rclone serve sftp on localhost): push, list, restore from it"
ms_t_serve_sftp sf
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; kill "$LISTENER" "$SFTP_PID" 2>/dev/null; ms_t_cleanup' EXIT
check "the SFTP server listens" test -n "$SFTP_PORT"
conf "$T/sftp.conf" "sf:backups/mail1"
sed -i '/^\[monitor\]/,$d' "$T/sftp.conf"
run_ms -c "$T/sftp.conf" create --dest "$DEST"
expect_rc 0
expect_stdout_has "pushed      off (sf:backups/mail1)"
S=$(basename "$(tail -n 1 "$T/out")")
check "the SFTP server holds the encrypted copy and its marker" \
	test -s "$T/sftp-root/backups/mail1/$S.age" -a -s "$T/sftp-root/backups/mail1/$S.age.ok"
run_ms -c "$T/sftp.conf" list --remote off
expect_stdout_has "$S.age"
su_psql -d "$MS_FX_DEFAULT_DB" -c "DELETE FROM core_log"
run_ms -c "$T/sftp.conf" restore "off:$S" --identity "$T/admin.key" --dest "$T/fresh6" --yes --only db:default
expect_rc 0
expect_stdout_has "  ok: db:default: "
check "the deleted rows are back" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT count(*) > 0 FROM core_log')" = t
# (what rclone's children get in argv and environ: unit.test_rclone)
expect_no_secret "$SFTP_PASS" "the SFTP password"

case_begin "the SFTP server stops in the middle of an upload: create fails naming the remote"
conf "$T/sftp2.conf" "sf:backups/mail2"
sed -i '/^\[monitor\]/,$d' "$T/sftp2.conf"
# the upload slowed (test seam) to about 8 s, so that it is under way when the server stops
BW=$(( $(stat -c %s "$DEST/$S") / 8 / 1024 + 1 ))k
MODOSNAP_TEST_RCLONE_BWLIMIT=$BW "$MODOSNAP" -c "$T/sftp2.conf" create --dest "$T/dest-mid" >"$T/out" 2>"$T/err" </dev/null &
CREATE=$!
for _ in $(seq 600); do [ -n "$(find "$T/sftp-root/backups/mail2" -type f 2>/dev/null)" ] && break; sleep 0.1; done
check "the upload started" test -n "$(find "$T/sftp-root/backups/mail2" -type f 2>/dev/null)"
sleep 1
kill "$SFTP_PID"
wait "$SFTP_PID" 2>/dev/null
wait "$CREATE"
RC=$?
expect_rc 1
check "the error names the remote and keeps the snapshot" \
	grep -q "^modosnap: error: remote 'off': the push of '$T/dest-mid/.*' failed; the local snapshot is kept$" "$T/err"
M2=$(ls "$T/dest-mid"/*.tar.zst)
check "the local snapshot is intact" "$MODOSNAP" -c "$T/sftp2.conf" verify "$M2"
check "no marker was written" test -z "$(find "$T/sftp-root/backups/mail2" -name '*.ok')"
expect_no_secret "$SFTP_PASS" "the SFTP password"

case_begin "a remote that fails: create fails, the local snapshot stays"
conf "$T/bad.conf" "nosuchremote:bucket"
: >"$T/pings"
run_ms -c "$T/bad.conf" create --dest "$DEST"
expect_rc 1
check "the error names the remote" grep -q "^modosnap: error: remote 'off': the push of '.*' failed; the local snapshot is kept$" "$T/err"
B=$(grep -o "the push of '[^']*'" "$T/err" | head -n 1 | sed "s/the push of '//; s/'\$//")
check "the local snapshot is there and verifies" "$MODOSNAP" -c "$T/bad.conf" verify "$B"
check "the on_error hook ran" test -s "$T/on_error"
check "the monitor saw the failure" grep -q "^POST /$TOKEN/fail " "$T/pings"
check "the failure ping carries the error" grep -q "^| modosnap: error: remote 'off'" "$T/pings"
expect_no_secret "$TOKEN" "the ping URL's token"

case_begin "[encrypt] local: an encrypted pre-upgrade snapshot passes guard and restores"
conf "$T/local.conf" "loc:$T/remote-local"
sed -i '/^\[encrypt\]$/a local = yes' "$T/local.conf"
run_ms -c "$T/local.conf" create --dest "$T/dest-enc" --pre-upgrade
expect_rc 0
E=$(tail -n 1 "$T/out")
check "the local snapshot is encrypted" bash -c "case '$E' in *.tar.zst.age) test -s '$E.ok' -a -s '$E.header' -a -s '$E.verified';; *) false;; esac"
check "no plaintext is left" test -z "$(ls "$T/dest-enc" | grep '\.tar\.zst$')"
check "the remote holds the same ciphertext (encrypted once)" cmp -s "$E" "$T/remote-local/$(basename "$E")"
run_ms -c "$T/local.conf" guard --dest "$T/dest-enc"
expect_rc 0
expect_stdout_has "$(basename "$E")"
su_psql -d "$MS_FX_DEFAULT_DB" -c "DELETE FROM core_log"
run_ms -c "$T/local.conf" restore tag:pre-upgrade --dest "$T/dest-enc" --identity "$T/admin.key" --yes --only db:default
expect_rc 0
expect_stdout_has "  ok: db:default: "
check "the deleted rows are back" test "$(su_psql -d "$MS_FX_DEFAULT_DB" -c 'SELECT count(*) > 0 FROM core_log')" = t
check "nothing decrypted is left" test -z "$(ls -A "$T/dest-enc" | grep '^\.modosnap-decrypt')"
expect_no_secret "$IDENTITY" "the age identity"

case_begin "MariaDB: create pushes, restore REMOTE:NAME brings deleted rows back"
"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/mysite" --servers "$MS_TESTSRV_ENV" --engine mariadb --no-amavis \
	--prefix "offmy$$" >"$T/mkfixture-my.log" 2>&1 || not_ok "mkfixture --engine mariadb" "$(tail -n 20 "$T/mkfixture-my.log")"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; "$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/mysite" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; kill "$LISTENER" "$SFTP_PID" 2>/dev/null; ms_t_cleanup' EXIT
unset "${!MS_FX_@}" # the PostgreSQL site's are not needed any more
{
	# shellcheck disable=SC1091
	. "$T/mysite/fixture.env"
	my_q() { mariadb --no-defaults -u"$MS_MY_SUPERUSER" -S "$MS_MY_SOCKET" -N -B -e "$1" "$MS_FX_DEFAULT_DB"; }
	{
		printf '[modosnap]\ninstance = %s\npostfix_dir = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX"
		ms_t_key_lines
		printf '[db:default]\nadmin_user = root\n'
		printf '[remote]\nrclone_config = %s\n[remote:off]\nurl = loc:%s\n' "$T/rclone.conf" "$T/remote-my"
		printf '[encrypt]\nrecipient = %s\n' "$RECIPIENT"
	} >"$T/my.conf"
	chmod 600 "$T/my.conf"
	run_ms -c "$T/my.conf" create --dest "$T/dest-my"
	expect_rc 3 # MariaDB's MyISAM tables: a warning
	expect_stdout_has "pushed      off (loc:$T/remote-my)"
	M=$(basename "$(tail -n 1 "$T/out")")
	check "the remote holds the encrypted copy" test -s "$T/remote-my/$M.age" -a -s "$T/remote-my/$M.age.ok"
	my_q "DELETE FROM core_log"
	run_ms -c "$T/my.conf" restore "off:$M" --identity "$T/admin.key" --dest "$T/fresh-my" --yes --only db:default
	expect_rc 3
	expect_stdout_has "  ok: db:default: "
	check "the deleted rows are back" test "$(my_q 'SELECT count(*) > 0 FROM core_log')" = 1
	expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "the database password"
}

finish
