# The conventions of the tools users already know (issue 16), with the
# real binary and no database server (create --no-db): list --tag and
# --last (and what an empty filter says), verify --all (one line each, a
# summary, the worst exit code; an array with --json), verify and guard
# --json (one document on stdout, errors still on stderr, exit codes
# unchanged), restore --json (the plan with --dry-run, the plan and the
# result otherwise; only with --yes), and the verification record saying
# whether the check was deep (list's "(deep)" and verified_deep; an old
# record reads as not deep).
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

echo "DATABASES = {}" >"$T/databases.py"
mk_min_instance "$T/site"
rm "$T/databases.py"
I=$T/site/srv/modoboa/instance
PF=$T/site/etc/postfix
D=$T/dest
# guard has no --postfix-dir: the config names it (docs/testing.md)
printf 'postfix_dir = %s\n' "$PF" >>"$MS_T_CONF"
C=(create --no-db --instance "$I" --postfix-dir "$PF" --dest "$D")

# three snapshots, a second apart so that their order is certain:
# oldest tagged a, then b, then a
for tag in a b a; do
	run_ms "${C[@]}" --tag "$tag"
	[ "$RC" = 0 ] || not_ok "create --tag $tag: exit $RC" "$(cat "$T/err")"
	sleep 1
done
mapfile -t A < <(find "$D" -maxdepth 1 -name '*.tar.zst' | sort -r) # newest first
id_of() { tar --zstd -xOf "$1" modosnap.json | jq -r .snapshot_id; }

case_begin list_tag_last
run_ms list --dest "$D" --tag a
expect_rc 0
check "header and the two tagged a" test "$(wc -l <"$T/out")" = 3
check "the header first" grep -q '^snapshot ' <(head -n 1 "$T/out")
check "no b" bash -c "! grep -q 'tags:b' '$T/out'"
run_ms list --dest "$D" --tag a --last 1
expect_rc 0
check "only the newest tagged a" test "$(tail -n +2 "$T/out" | cut -d' ' -f1)" = "$(id_of "${A[0]}")"
run_ms list --dest "$D" --last 2 --json
expect_rc 0
check "--last 2: the two newest" jq -e --arg a "${A[0]}" --arg b "${A[1]}" \
	'length == 2 and .[0].path == $a and .[1].path == $b' "$T/out"
run_ms list --dest "$D" --last 5 --tag b --json
check "--tag before --last" jq -e --arg b "${A[1]}" 'length == 1 and .[0].path == $b' "$T/out"
run_ms list --dest "$D" --tag nope
expect_rc 0
expect_stderr_empty
check "an empty filter says so" test "$(cat "$T/out")" = "no snapshots tagged 'nope' in '$D'"
run_ms list --dest "$D" --tag nope --json
check "an empty JSON array" test "$(tr -d ' \n' <"$T/out")" = "[]"
run_ms list --dest "$D" --last 0
expect_rc 2
expect_stderr "modosnap: error: invalid value '0' for --last (expected 1-1000000); try 'modosnap help list'"

case_begin verify_json
run_ms verify --json --dest "$D" "$(id_of "${A[0]}")"
expect_rc 0
expect_stderr_empty
check "one document: path, id, ok, shallow, signed" jq -e --arg p "${A[0]}" --arg id "$(id_of "${A[0]}")" \
	'.path == $p and .snapshot_id == $id and .status == "ok" and .exit_code == 0 and .deep == false
	 and .signature.status == "valid" and (.signature.fingerprint | startswith("SHA256:")) and .entries > 0' "$T/out"

case_begin verified_record
check "the record says shallow" grep -qE ' shallow$' "${A[0]}.verified"
run_ms list --dest "$D" --json
check "verified_deep false, verified_at set" jq -e '.[0].verified_deep == false and (.[0].verified_at | type == "string")' "$T/out"
# a record of verify --deep, and one from before the fourth field
read -r when size mtime _ <"${A[0]}.verified"
printf '%s %s %s deep\n' "$when" "$size" "$mtime" >"${A[0]}.verified"
read -r when size mtime _ <"${A[0]}.verified"
cp "${A[0]}.verified" "${A[1]}.verified"
printf '%s %s %s\n' "$when" "$(stat -c %s "${A[1]}")" "$(stat -c %Y "${A[1]}")" >"${A[1]}.verified"
run_ms list --dest "$D"
check "deep shown as (deep)" grep -q "^$(id_of "${A[0]}") .*  verified:$when (deep)  signer:" "$T/out"
check "an old record: verified, not deep" grep -q "^$(id_of "${A[1]}") .*  verified:$when  signer:" "$T/out"
run_ms list --dest "$D" --json
check "verified_deep true, then false for the old record" \
	jq -e '.[0].verified_deep == true and .[1].verified_deep == false and (.[1].verified_at | type == "string")' "$T/out"

case_begin verify_all
run_ms verify --all --dest "$D"
expect_rc 0
check "one ok line each and the summary" test "$(grep -c '^ok: ' "$T/out")" = 3
check "summary" test "$(tail -n 1 "$T/out")" = "3 snapshots: 3 ok, 0 bad, 0 not checked"
check "verify (shallow) rewrote the deep record" grep -qE ' shallow$' "${A[0]}.verified"
# damage the middle one: it is bad, the others still checked, exit 5
cp "${A[1]}" "$T/saved"
size=$(stat -c %s "${A[1]}")
printf 'XXXX' | dd of="${A[1]}" bs=1 seek=$((size / 2)) conv=notrunc status=none
run_ms verify --all --dest "$D"
expect_rc 5
check "bad line for it" grep -qxF "bad: ${A[1]}" "$T/out"
check "the others ok" test "$(grep -c '^ok: ' "$T/out")" = 2
check "summary counts it" test "$(tail -n 1 "$T/out")" = "3 snapshots: 2 ok, 1 bad, 0 not checked"
check "its error on stderr" grep -q "^modosnap: error: '${A[1]}'" "$T/err"
run_ms verify --all --json --dest "$D"
expect_rc 5
check "an array, newest first, the bad one in it" jq -e --arg b "${A[1]}" \
	'length == 3 and .[1].path == $b and .[1].status == "bad" and .[1].exit_code == 5
	 and .[0].status == "ok" and .[2].status == "ok"' "$T/out"
run_ms verify --json --dest "$D" "${A[1]}"
expect_rc 5
check "single --json: status bad" jq -e '.status == "bad" and .exit_code == 5' "$T/out"
cp "$T/saved" "${A[1]}"
mkdir -m 0700 "$T/none"
run_ms verify --all --dest "$T/none"
expect_rc 0
check "an empty destination says so" test "$(cat "$T/out")" = "no snapshots in '$T/none'"
run_ms verify --all --json --dest "$T/none"
check "empty array" test "$(tr -d ' \n' <"$T/out")" = "[]"

case_begin verify_usage
run_ms verify --dest "$D"
expect_rc 2
expect_stderr "modosnap: error: missing SNAPSHOT argument; try 'modosnap help verify'"
run_ms verify --all latest --dest "$D"
expect_rc 2
expect_stderr "modosnap: error: give SNAPSHOT or --all, not both; try 'modosnap help verify'"

case_begin guard_json
run_ms "${C[@]}" --pre-upgrade --no-deep
expect_rc 0
P=$(tail -n 1 "$T/out")
check "create --no-deep: a shallow record" grep -qE ' shallow$' "$P.verified"
run_ms guard --instance "$I" --dest "$D" --json
expect_rc 0
expect_stderr_empty
check "ok, the snapshot, its age" jq -e --arg p "$P" --arg id "$(id_of "$P")" \
	'.ok == true and .tag == "pre-upgrade" and .snapshot.path == $p and .snapshot.id == $id
	 and .snapshot.age_seconds >= 0 and .snapshot.age_seconds < 600 and .reason == null' "$T/out"
run_ms guard --instance "$I" --dest "$D" --json --max-age 1s
sleep 2
run_ms guard --instance "$I" --dest "$D" --json --max-age 1s
expect_rc 1
check "not ok and why" jq -e '.ok == false and (.reason | startswith("is ")) and (.reason | contains("more than --max-age 1s"))
	and .snapshot.id != null' "$T/out"
check "the error still on stderr" grep -q "^modosnap: error: no usable 'pre-upgrade' snapshot of " "$T/err"
run_ms guard --instance "$I" --dest "$D" --json --tag nope
expect_rc 1
check "no candidate: snapshot null" jq -e '.ok == false and .snapshot == null and .reason == "no snapshot with that tag"' "$T/out"
check "the error still on stderr" grep -q "^modosnap: error: no snapshot tagged 'nope' of " "$T/err"

case_begin restore_json
R=$(id_of "${A[0]}")
run_ms restore "$R" --dest "$D" --dry-run --json --root "$T/rj"
expect_rc 0
check "the plan: the snapshot and both components, nothing restored" jq -e --arg id "$R" --arg p "${A[0]}" \
	'.dry_run == true and .plan.snapshot_id == $id and .plan.archive == $p
	 and ([.plan.components[].component] == ["instance", "postfix"])
	 and .plan.components[0].target_exists == false and .plan.components[0].added > 0
	 and .plan.components[0].removed == 0 and .plan.components[1].removed == null
	 and .result.exit_code == 0 and .result.restored == false and .result.safety_snapshot == null' "$T/out"
check "nothing written" test ! -e "$T/rj"
run_ms restore "$R" --dest "$D" --json --root "$T/rj"
expect_rc 2
expect_stderr "modosnap: error: --json prints the plan with the result, not before asking: add --yes (or --dry-run); try 'modosnap help restore'"
run_ms restore "$R" --dest "$D" --json --yes --no-safety-snapshot --root "$T/rj"
expect_rc 0
check "one document: the plan and the result" jq -e \
	'.dry_run == false and (.plan.components | length) == 2 and .result.exit_code == 0 and .result.restored == true' "$T/out"
check "the engine's lines went to stderr" grep -q "^restored instance: " "$T/err"
check "the files are back" test -f "$T/rj$I/manage.py"
run_ms restore "$R" --dest "$D" --json --yes --no-safety-snapshot --root "$T/rj" --only db:nope
expect_rc 2
check "a refused restore prints no document" test ! -s "$T/out"

finish
