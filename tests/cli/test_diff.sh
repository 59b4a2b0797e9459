# diff on real archives, without database servers (--no-db): a baseline
# snapshot, one after adding, removing, modifying and chmod-ing files, one
# with nothing changed, and one after a Modoboa upgrade. Checks the exact
# text (with and without -v), the JSON (jq), "no differences", usage and
# selector errors, and a damaged archive (exit 5, as verify).
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

R=$T/site
INST=$R/srv/modoboa/instance
PF=$R/etc/postfix
SP=$R/srv/modoboa/env/lib/python3.11/site-packages
D=$T/dest
mk_min_instance "$R"

# snap : takes a snapshot into $D; sets SNAP (archive path), ID and CREATED.
snap() {
	run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$D" --no-db
	if [ "$RC" != 0 ]; then
		not_ok "create failed (exit $RC)" "$(cat "$T/err")"
		finish
	fi
	SNAP=$(tail -n 1 "$T/out")
	"$MODOSNAP" show "$SNAP" --json >"$T/show.json"
	ID=$(jq -r .header.snapshot_id "$T/show.json")
	CREATED=$(jq -r .header.created "$T/show.json")
}

echo "to be removed" >"$INST/old.txt"
snap
A=$SNAP IDA=$ID CA=$CREATED

echo "added" >"$INST/new.txt"
rm "$INST/old.txt"
echo "# changed" >>"$INST/manage.py"
chmod 0600 "$PF/main.cf"
snap
B=$SNAP IDB=$ID CB=$CREATED

snap
C=$SNAP IDC=$ID CC=$CREATED

# jqc FILTER FILE... : jq -e, quietly (for check).
jqc() { jq -e "$@" >/dev/null; }

case_begin text_summary
run_ms diff "$IDA" "$IDB" --dest "$D"
expect_rc 0
expect_stderr_empty
check "stdout is exact" diff -u - "$T/out" <<EOF
from $IDA ($CA) to $IDB ($CB)
files:
  instance: 1 added, 1 removed, 1 changed, 1 metadata only
  postfix: 0 added, 0 removed, 0 changed, 1 metadata only
EOF

case_begin text_verbose_lists_paths
run_ms -v diff "$A" "$B"
expect_rc 0
check "stdout is exact" diff -u - "$T/out" <<EOF
from $IDA ($CA) to $IDB ($CB)
files:
  instance: 1 added, 1 removed, 1 changed, 1 metadata only
    metadata .
    changed  manage.py
    added    new.txt
    removed  old.txt
  postfix: 0 added, 0 removed, 0 changed, 1 metadata only
    metadata main.cf
EOF

case_begin reversed
run_ms diff "$B" "$A"
expect_rc 0
check "added and removed swap" grep -qx '  instance: 1 added, 1 removed, 1 changed, 1 metadata only' "$T/out"
check "header names B first" grep -qx "from $IDB ($CB) to $IDA ($CA)" "$T/out"

case_begin json
run_ms diff "$IDA" "$IDB" --dest "$D" --json
expect_rc 0
expect_stderr_empty
J=$T/out
check "valid JSON with the six keys" jqc 'has("from") and has("to") and has("versions") and has("files")
	and has("databases") and has("components")' "$J"
check "from and to" jqc --arg a "$IDA" --arg b "$IDB" --arg pa "$A" \
	'.from.snapshot_id == $a and .to.snapshot_id == $b and .from.path == $pa' "$J"
check "not identical" jqc '.identical == false' "$J"
check "instance counts" jqc '.files.instance | .added == 1 and .removed == 1 and .changed == 1 and .metadata == 1' "$J"
check "instance paths without -v" jqc '.files.instance.paths == {"added": ["new.txt"], "removed": ["old.txt"],
	"changed": ["manage.py"], "metadata": ["."]}' "$J"
check "postfix metadata only" jqc '.files.postfix.paths.metadata == ["main.cf"] and .files.postfix.changed == 0' "$J"
check "no version, package, database or component change" jqc '.versions.modoboa == null and .versions.extensions == [] and .packages == []
	and .versions.databases == [] and .databases == {} and .components == {"added": [], "removed": []}' "$J"

case_begin identical
run_ms diff "$IDB" "$IDC" --dest "$D"
expect_rc 0
expect_stderr_empty
check "stdout is exact" diff -u - "$T/out" <<EOF
from $IDB ($CB) to $IDC ($CC)
no differences
EOF
run_ms diff latest latest --dest "$D" --json
expect_rc 0
check "JSON says identical" jqc '.identical == true and .files.instance.added == 0
	and .files.postfix.metadata == 0' "$T/out"

case_begin missing_argument
run_ms diff "$IDA" --dest "$D"
expect_rc 2
expect_stderr "modosnap: error: missing SNAPSHOT argument (two are needed); try 'modosnap help diff'"

case_begin extra_argument
run_ms diff "$IDA" "$IDB" "$IDC" --dest "$D"
expect_rc 2
expect_stderr "modosnap: error: unexpected argument '$IDC'; try 'modosnap help diff'"

case_begin unknown_option
run_ms diff "$IDA" "$IDB" --dest "$D" --deep
expect_rc 2
expect_stderr "modosnap: error: unknown or incomplete option '--deep'; try 'modosnap help diff'"

case_begin bad_selector
run_ms diff nothing-like-this latest --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: no snapshot matches 'nothing-like-this' in '$D'; newest: $IDC, $IDB, $IDA"
check "nothing on stdout" test ! -s "$T/out"
run_ms diff latest "$T/none.tar.zst" --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: snapshot '$T/none.tar.zst' not found"

case_begin damaged_archive
cp "$A" "$T/bad.tar.zst"
size=$(stat -c %s "$T/bad.tar.zst")
off=$((size / 2))
byte=$(od -An -tu1 -j "$off" -N1 "$T/bad.tar.zst" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$T/bad.tar.zst" bs=1 seek="$off" conv=notrunc status=none
check "one byte flipped" bash -c "! cmp -s '$A' '$T/bad.tar.zst'"
run_ms diff "$T/bad.tar.zst" "$B"
expect_rc 5
check "names the damaged archive" grep -q "^modosnap: error: '$T/bad.tar.zst': " "$T/err"
check "nothing on stdout" test ! -s "$T/out"
run_ms diff "$B" "$T/bad.tar.zst"
expect_rc 5
check "as the second snapshot too" grep -q "^modosnap: error: '$T/bad.tar.zst': " "$T/err"

case_begin versions
mv "$SP/modoboa-2.3.2.dist-info" "$SP/modoboa-2.4.0.dist-info"
sed -i 's/^Version: 2.3.2$/Version: 2.4.0/' "$SP/modoboa-2.4.0.dist-info/METADATA"
mkdir -p "$SP/modoboa_webmail-1.0.0.dist-info"
printf 'Metadata-Version: 2.1\nName: modoboa_webmail\nVersion: 1.0.0\n\nbody\n' \
	>"$SP/modoboa_webmail-1.0.0.dist-info/METADATA"
snap
run_ms diff "$IDC" latest --dest "$D"
expect_rc 0
check "stdout is exact" diff -u - "$T/out" <<EOF
from $IDC ($CC) to $ID ($CREATED)
versions:
  modoboa: 2.3.2 -> 2.4.0
  extension modoboa_webmail: unknown -> 1.0.0
packages:
  modoboa 2.3.2 -> 2.4.0
  modoboa-webmail 1.0.0 (added)
EOF
run_ms diff "$IDC" latest --dest "$D" --json
check "JSON versions" jqc '.versions.modoboa == {"from": "2.3.2", "to": "2.4.0"} and .versions.django == null
	and .versions.extensions == [{"name": "modoboa_webmail", "change": "changed", "from": null, "to": "1.0.0"}]' \
	"$T/out"
# every installed distribution (the header's package list), PEP 503 names
check "JSON packages" jqc '.packages == [{"name": "modoboa", "change": "changed", "from": "2.3.2", "to": "2.4.0"},
	{"name": "modoboa-webmail", "change": "added", "from": null, "to": "1.0.0"}]' "$T/out"

case_begin json_path_not_utf8
# A file name that is not UTF-8 is kept byte for byte: {"base64": ...},
# the manifest's rule for byte strings (before: "caf\xe9.txt", which a
# file really named that way could not be told apart from).
snap
IDE=$ID
printf 'x' >"$INST/caf"$'\xe9'".txt"
snap
run_ms diff "$IDE" "$ID" --dest "$D" --json
expect_rc 0
check "added path as base64" jqc --arg b "$(printf 'caf\xe9.txt' | base64 -w0)" \
	'.files.instance.paths.added == [{"base64": $b}]' "$T/out"
rm "$INST/caf"$'\xe9'".txt"

case_begin help
run_ms help diff
expect_rc 0
expect_stdout_has "usage: modosnap diff SNAPSHOT SNAPSHOT [--dest DIR] [--json]"
expect_stdout_lacks "DIFF-"

finish
