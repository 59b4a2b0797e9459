# Snapshot archives end to end with the real binary: create (files) on a
# generated installation, extraction with GNU tar and comparison of content
# and metadata, zstd -t, manifest digests against sha256sum, corruption and
# truncation caught by verify, SIGKILL during create, a file that keeps
# changing, an unreadable file, and list/show/selectors.
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine pg \
	--prefix "snap$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; ms_t_cleanup' EXIT
I=$MS_FX_INSTANCE
PF=$MS_FX_POSTFIX
D=$T/dest

# Shapes the fixture does not have: a hardlink, a symlink out of the tree,
# a dangling symlink, an xattr, odd modes, a FIFO (skipped).
ln "$I/media/logo.png" "$I/media/logo-hardlink.png" 2>/dev/null || {
	head -c 5000 /dev/urandom >"$I/media/logo.png"; ln "$I/media/logo.png" "$I/media/logo-hardlink.png"; }
ln -s /etc/hostname "$I/outside-link"
ln -s does-not-exist "$I/dangling-link"
chmod 0751 "$I/media"
mkfifo "$I/a-fifo"
xattr_ok=0
if command -v setfattr >/dev/null && setfattr -n user.modosnap -v test-value "$I/manage.py" 2>/dev/null; then xattr_ok=1; fi

case_begin create
run_ms create --instance "$I" --postfix-dir "$PF" --dest "$D" --tag first --note "before upgrade"
expect_rc 0
ARCHIVE=$(tail -n 1 "$T/out")
check "last stdout line is the archive" test -f "$ARCHIVE"
check "archive name shape" bash -c "basename '$ARCHIVE' | grep -qE '^[A-Za-z0-9.+-]+_[0-9]{8}T[0-9]{6}Z_modoboa-2\.3\.2\.tar\.zst$'"
check "archive mode 0600" test "$(stat -c %a "$ARCHIVE")" = 600
check "dest mode 0700" test "$(stat -c %a "$D")" = 700
expect_stdout_has "components  instance, postfix, db:default, db:amavis"
expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "database password"
expect_no_secret "$MS_FX_SECRET_KEY" "SECRET_KEY"
check "zstd -t accepts it" zstd -q -t "$ARCHIVE"
check "no partial left" bash -c "! ls '$D' | grep -q partial"

case_begin extract_and_compare
X=$T/extract
mkdir -p "$X"
check "GNU tar extracts it" tar --zstd --xattrs --xattrs-include='*' -xpf "$ARCHIVE" -C "$X"
check "first member is modosnap.json" test "$(tar --zstd -tf "$ARCHIVE" | head -n 1)" = modosnap.json
check "the manifest, then its signature, last" \
	test "$(tar --zstd -tf "$ARCHIVE" | tail -n 2 | tr '\n' ' ')" = "MANIFEST.json MANIFEST.json.sig "
# Content, symlinks as links, no FIFO: diff -r compares everything but the FIFO.
check "content identical" diff -r --no-dereference -x a-fifo "$I" "$X/files/instance"
meta() { (cd "$1" && find . ! -name a-fifo -printf '%P %y %m %U %G %T@ %l %n\n' | sort); }
if diff <(meta "$I") <(meta "$X/files/instance") >"$T/meta.diff"; then ok "metadata identical (type, mode, owner, mtime ns, link, link count)"
else not_ok "metadata differs" "$(head -20 "$T/meta.diff")"; fi
check "hardlink kept" test "$(stat -c %i "$X/files/instance/media/logo.png")" = "$(stat -c %i "$X/files/instance/media/logo-hardlink.png")"
check "symlink out of the tree stored as a link" test "$(readlink "$X/files/instance/outside-link")" = /etc/hostname
if [ "$xattr_ok" = 1 ]; then
	check "xattr restored by GNU tar" test "$(getfattr --only-values -n user.modosnap "$X/files/instance/manage.py" 2>/dev/null)" = test-value
else echo "# xattr not checked: setfattr missing or user xattrs unsupported here"; fi
for f in main.cf master.cf modoboa-postfix-maps.chk sql-domains.cf; do
	check "postfix $f identical" cmp "$PF/$f" "$X/files/postfix/$f"
done
jq -r '.entries[] | select(.type == "file") | "\(.sha256)  \(.path)"' "$X/MANIFEST.json" >"$T/sums"
check "manifest lists files" test "$(wc -l <"$T/sums")" -gt 20
if (cd "$X" && sha256sum --quiet -c "$T/sums" >"$T/sumcheck" 2>&1); then ok "every manifest sha256 matches sha256sum"
else not_ok "sha256sum disagrees with the manifest" "$(head "$T/sumcheck")"; fi
check "FIFO listed as skipped" jq -e '.skipped | map(.reason) | index("fifo") != null' "$X/MANIFEST.json"
check "header tags and note" jq -e '.tags == ["first"] and .note == "before upgrade"' "$X/modosnap.json"
check "header versions" jq -e '.versions.modoboa == "2.3.2" and .versions.django == "4.2.16" and (.versions.python | startswith("3.11"))' "$X/modosnap.json"
check "header migrations of the default database" jq -e '.versions.databases[0].migrations_applied > 0' "$X/modosnap.json"
check "manifest records both databases with their tables" jq -e '(.databases | map(.alias)) == ["default", "amavis"] and (.databases[1].tables | map(.name) | index("msgs") != null) and all(.databases[].tables[]; (.digest | length) == 64)' "$X/MANIFEST.json"
check "every table with rows has its chunks" jq -e 'all(.databases[].tables[]; (.rows == 0) == (.chunks == 0))' "$X/MANIFEST.json"
check "schema sections present" test -s "$X/db/default/schema-pre.sql" -a -s "$X/db/default/schema-post.sql" -a -e "$X/db/amavis/sequences.sql"
check "msgs rows dumped" test "$(cat "$X"/db/amavis/data/public.msgs/*.copy | wc -l)" = "$(jq '.databases[1].tables[] | select(.name == "msgs") | .rows' "$X/MANIFEST.json")"
check "header ids agree" test "$(jq -r .snapshot_id "$X/modosnap.json")" = "$(jq -r .snapshot_id "$X/MANIFEST.json")"
check "extracted secrets stay private" test "$(stat -c %a "$X/files/instance/.env")" = 600

case_begin verify_good
run_ms verify "$ARCHIVE"
expect_rc 0
expect_stdout_has "ok: $ARCHIVE"
check "verification recorded beside the archive" test -f "$ARCHIVE.verified"

case_begin verify_deep
su_psql() { "$MS_PG_BINDIR/psql" -X -q -At -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" -d postgres "$@"; }
run_ms verify "$ARCHIVE" --deep --instance "$I"
expect_rc 1
check "without CREATEDB the error says what to grant" grep -q "grant CREATEDB to the role" "$T/err"
su_psql -c "ALTER ROLE \"$MS_FX_DEFAULT_USER\" CREATEDB" -c "ALTER ROLE \"$MS_FX_AMAVIS_USER\" CREATEDB"
run_ms verify "$ARCHIVE" --deep --instance "$I"
expect_rc 0
expect_stdout_has "ok: database 'default':"
expect_stdout_has "ok: database 'amavis':"
check "the ok line says deep" grep -q "^ok: $ARCHIVE: .*, deep$" "$T/out"
# on a terminal, the same run draws its progress line (src/cli/progress.c)
printf -v cmd '%q ' "$MODOSNAP" verify "$ARCHIVE" --deep --instance "$I"
script -qfec "$cmd" /dev/null </dev/null >"$T/deep.tty" 2>&1
check "verify --deep on a terminal draws its progress line" grep -qE $'\r\033\\[K.*MiB of [0-9.]+ MiB' "$T/deep.tty"
check "and still says ok" grep -q "ok: database 'default':" "$T/deep.tty"
check "the record says deep" grep -qE ' deep$' "$ARCHIVE.verified"
run_ms list --dest "$(dirname "$ARCHIVE")" --json
check "list: verified_deep" jq -e --arg a "$ARCHIVE" '.[] | select(.path == $a) | .verified_deep == true' "$T/out"
run_ms verify "$ARCHIVE" --deep --instance "$I" --json
expect_rc 0
check "--json: deep, ok, and nothing else on stdout" jq -e '.deep == true and .status == "ok"' "$T/out"
run_ms restore "$ARCHIVE" --dest "$D" --dry-run --json --instance "$I" --postfix-dir "$PF"
expect_rc 0
check "restore --dry-run --json: each database with its tables" jq -e \
	'([.plan.components[].component] == ["instance", "postfix", "db:default", "db:amavis", "dkim", "system"])
	 and (.plan.components[4] | (.targets | length) > 0 and .added == 0 and .replaced == 0)
	 and (.plan.components[2] | .reachable == true and .engine == "postgresql" and (.tables | length) > 0
	      and all(.tables[]; .rows_now != null and (.change | IN("unchanged", "rows", "content"))))
	 and .result.restored == false' "$T/out"
check "scratch databases dropped" test "$(su_psql -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'msverify%snap$$%'")" = 0
expect_no_secret "$MS_FX_DEFAULT_PASSWORD" "database password"

case_begin corruption
size=$(stat -c %s "$ARCHIVE")
bad=0 total=0
for pos in 0 1 5 13 100 $((size / 7)) $((size / 5)) $((size / 3)) $((size / 2)) $((size * 2 / 3)) \
	$((size * 4 / 5)) $((size - 200)) $((size - 40)) $((size - 9)) $((size - 4)) $((size - 1)); do
	cp "$ARCHIVE" "$T/c.tar.zst"
	orig=$(od -An -tu1 -j "$pos" -N1 "$T/c.tar.zst" | tr -d ' ')
	printf "$(printf '\\%03o' $(((orig + 1) % 256)))" | dd of="$T/c.tar.zst" bs=1 seek="$pos" conv=notrunc status=none
	"$MODOSNAP" verify "$T/c.tar.zst" >"$T/out" 2>"$T/err"
	rc=$?
	total=$((total + 1))
	if [ "$rc" = 5 ] && grep -q "^modosnap: error: '$T/c.tar.zst'" "$T/err"; then
		# Past the zstd frame header the damaged entry is named (or the
		# damage is placed relative to one, or shown to be in the checksum).
		if [ "$pos" -ge 64 ] && ! grep -qE "entry '|truncated archive|every entry matches the manifest" "$T/err"; then
			bad=$((bad + 1)); echo "# byte $pos: no entry named: $(head -c 300 "$T/err")"; fi
	elif [ "$rc" = 0 ] && cmp -s <(zstd -qdc "$ARCHIVE") <(zstd -qdc "$T/c.tar.zst"); then
		# Some zstd frame-header bits (e.g. the window size) change nothing
		# that is decoded: the content is intact and checksum-verified.
		echo "# byte $pos: harmless (identical decoded content)"
	else
		bad=$((bad + 1)); echo "# byte $pos: exit $rc: $(head -c 300 "$T/err")"; fi
done
check "all $total single-byte corruptions exit 5 naming the archive and the damaged entry" test "$bad" = 0
for cut in 10 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$ARCHIVE" >"$T/t.tar.zst"
	run_ms verify "$T/t.tar.zst"
	expect_rc 5
	check "truncation at $cut reported as truncated" grep -q "truncated archive" "$T/err"
done

case_begin list_show_select
sleep 1
run_ms -q create --instance "$I" --postfix-dir "$PF" --dest "$D" --tag second --no-db
expect_rc 0
expect_stderr_empty
check "-q prints nothing" test ! -s "$T/out"
run_ms list --dest "$D"
expect_rc 0
check "a header and two snapshots listed" test "$(wc -l <"$T/out")" = 3
check "the header names the columns" bash -c "head -1 '$T/out' | grep -qE '^snapshot +created +version +size  components  tags  verified  signer$'"
check "newest first" bash -c "sed -n 2p '$T/out' | grep -q 'tags:second'"
check "verified status shown" bash -c "tail -1 '$T/out' | grep -qE 'verified:[0-9]{4}-'"
check "unverified shown as never" bash -c "sed -n 2p '$T/out' | grep -q 'verified:never'"
run_ms list --dest "$D" --json
check "list --json" jq -e 'length == 2 and .[0].header.tags == ["second"] and (.[1].verified_at | type == "string")' "$T/out"
run_ms show latest --dest "$D"
expect_rc 0
expect_stdout_has "tags         second"
expect_stdout_has "modoboa      2.3.2"
expect_stdout_lacks "note " # no empty line for what is not there
run_ms show tag:first --dest "$D" --json
expect_rc 0
check "show tag:first --json" jq -e '.header.tags == ["first"] and (.manifest.entries | length > 20)' "$T/out"
id=$(jq -r .header.snapshot_id "$T/out")
# The text shows every extension and database version of the header (the
# restore runbook reads them there), one line each.
jq -r '.header.versions.extensions | to_entries[] | "extension    \(.key) \(.value // "unknown")"' \
	"$T/out" >"$T/want"
jq -r '.header.versions.databases[] | "database     \(.alias): \(.engine) \(.server_version)"
	+ (if .migrations_applied == 1 then ", 1 migration applied"
	   elif .migrations_applied >= 0 then ", \(.migrations_applied) migrations applied" else "" end)' \
	"$T/out" >>"$T/want"
check "the header names databases" test "$(grep -c '^database ' "$T/want")" -ge 1
run_ms show tag:first --dest "$D"
expect_rc 0
check "show prints each extension and database version" bash -c "grep -E '^(extension|database) ' '$T/out' | diff -u '$T/want' -"
expect_stdout_has "note         before upgrade"
run_ms verify "${id:0:22}" --dest "$D"
expect_rc 0
run_ms verify 2 --dest "$D"
expect_rc 1
check "ambiguous selector lists candidates" grep -qE "^modosnap: error: '2' is ambiguous in '$D': it matches [0-9T]+Z-[0-9a-f]{8}, [0-9T]+Z-[0-9a-f]{8}$" "$T/err"
run_ms verify tag:nope --dest "$D"
expect_rc 1
check "unknown tag lists the candidates" grep -qE "^modosnap: error: no snapshot matches 'tag:nope' in '$D'; newest: [0-9T]+Z-[0-9a-f]{8}, [0-9T]+Z-[0-9a-f]{8}$" "$T/err"

case_begin sigkill
big=$T/big
mkdir -p "$big/instance"
cp -a "$I/manage.py" "$big/"
cp -a "$I/instance/settings.py" "$big/instance/"
for i in 1 2 3; do seq 1 4000000 >"$big/data$i.txt"; done
printf '[modosnap]\nvenv = %s\n' "$MS_FX_VENV" >"$T/big.conf"
ms_t_conf "$T/big.conf"
KD=$T/killdest
for delay in 0.2 0.6 1.2; do
	"$MODOSNAP" -c "$T/big.conf" create --instance "$big" --postfix-dir "$PF" --dest "$KD" --no-db --level 19 >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	check "killed after ${delay}s: no archive under a final name" bash -c "! ls '$KD' 2>/dev/null | grep -qE '\.tar\.zst$'"
done
check "a partial file was left by the kill" bash -c "ls '$KD' | grep -q '\.partial$'"
run_ms -c "$T/big.conf" create --instance "$big" --postfix-dir "$PF" --dest "$KD" --no-db --level 1
expect_rc 0
check "next run removed the stale partial files" bash -c "! ls '$KD' | grep -q partial"
check "next run reported the clean-up" grep -q "removed stale partial snapshot" "$T/err"

case_begin changing_file
# A writer rewrites and resizes a 20-24 MiB file (above the 16 MiB
# read-into-memory limit, so it is streamed) as fast as it can; create runs
# at idle priority so the writer gets the CPU during the read. Scheduling is
# not ours to control, so up to 5 attempts may be needed to see a change.
touch "$T/keep-writing"
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
end = time.time() + 120
i = 0
while time.time() < end and os.path.exists(sys.argv[2]):
    os.ftruncate(fd, (24 if i % 2 else 20) << 20)
    os.pwrite(fd, bytes([i % 256]) * 4096, (i * 4096) % (20 << 20))
    i += 1
' "$I/media/hot-file.bin" "$T/keep-writing" &
writer=$!
sleep 0.3
for attempt in 1 2 3 4 5; do
	run_ms_idle() { chrt --idle 0 "$MODOSNAP" "$@" >"$T/out" 2>"$T/err" </dev/null; RC=$?; }
	run_ms_idle create --instance "$I" --postfix-dir "$PF" --dest "$T/cdest" --no-db
	[ "$RC" = 3 ] && break
	echo "# attempt $attempt: the file did not change during the read (exit $RC); trying again"
done
rm -f "$T/keep-writing"
wait "$writer"
expect_rc 3
check "warning names the file" grep -qF "modosnap: warning: '$I/media/hot-file.bin' changed while being read" "$T/err"
A2=$(tail -n 1 "$T/out")
check "manifest marks it" bash -c "tar --zstd -xOf '$A2' MANIFEST.json | jq -e '.entries[] | select(.path == \"files/instance/media/hot-file.bin\") | (.flags // []) | index(\"changed\") != null' >/dev/null"
run_ms verify "$A2"
expect_rc 0
rm -f "$I/media/hot-file.bin"

case_begin unreadable_file
if [ "$(id -u)" -eq 0 ]; then
	U=$T/ur
	mkdir -p "$U/inst/instance" "$U/dest"
	cp "$I/manage.py" "$U/inst/"
	cp "$I/instance/settings.py" "$U/inst/instance/"
	echo secret >"$U/inst/private.key"
	chmod 0600 "$U/inst/private.key"
	chmod -R o+rX "$U/inst" "$MS_FX_ROOT"
	chmod 0644 "$U/inst/instance/settings.py"
	chmod 0600 "$U/inst/private.key"
	chown 65534:65534 "$U/dest"
	chmod o+x "$T"
	printf '[modosnap]\nvenv = %s\n' "$MS_FX_VENV" >"$U/conf"
	printf 'signing_key = %s/keys/signing.key\ntrusted_keys = %s/keys/trusted_keys\n' "$U" "$U" >>"$U/conf"
	mkdir -m 0700 "$U/keys" && chown 65534:65534 "$U/keys" # the key this user creates
	chmod 0644 "$U/conf"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$MODOSNAP" -c "$U/conf" create --instance "$U/inst" \
		--postfix-dir "$PF" --dest "$U/dest" --no-db >"$T/out" 2>"$T/err"
	RC=$?
	expect_rc 1
	expect_stderr "modosnap: error: unable to open '$U/inst/private.key': Permission denied"
	check "nothing left in dest" test -z "$(ls "$U/dest")"
else
	chmod 000 "$I/.env"
	run_ms create --instance "$I" --postfix-dir "$PF" --dest "$T/udest" --no-db
	chmod 600 "$I/.env"
	expect_rc 1
	expect_stderr "modosnap: error: unable to open '$I/.env': Permission denied"
fi

finish
