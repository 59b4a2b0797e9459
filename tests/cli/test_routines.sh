# The pre-upgrade and nightly routines with the real binary (no database:
# create --no-db on a minimal instance): create --pre-upgrade (tag, target
# version, always verified) and `guard` in each documented case; create
# --nightly (quiet with -q, one line otherwise, -v adds one line per
# pruned snapshot) and --json (with `pruned`); a restore's safety snapshot
# kept for keep_safety; the APT hook's --pre-upgrade --tag apt; the hooks
# (before aborts without writing, after/on_error/pause/resume with their
# environment); the destination lock (a second run exits 4 naming the
# holder, waits with --wait, a killed holder frees it); the free-space
# refusal (through the MODOSNAP_TEST_FREE_BYTES test seam).
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

# an instance without databases: the --no-db snapshots below are complete
echo "DATABASES = {}" >"$T/databases.py"
mk_min_instance "$T/site"
rm "$T/databases.py"
mk_min_instance "$T/dbsite" # this one has databases (unreachable ones)
I=$T/site/srv/modoboa/instance
PF=$T/site/etc/postfix
D=$T/dest
C=(create --no-db --instance "$I" --postfix-dir "$PF" --dest "$D")
# guard has no --postfix-dir: the config names it, or guard would read the
# host's /etc/postfix (docs/testing.md, "No test touches the host")
printf 'postfix_dir = %s\n' "$PF" >>"$MS_T_CONF"
archives() { find "$1" -maxdepth 1 -name '*.tar.zst' 2>/dev/null | wc -l; }

case_begin pre_upgrade
run_ms "${C[@]}" --pre-upgrade --to 2.4.0
expect_rc 0
expect_stdout_has "verified    yes"
A=$(tail -n 1 "$T/out")
check "header: tag pre-upgrade and the target version" \
	bash -c "tar --zstd -xOf '$A' modosnap.json | jq -e '.tags == [\"pre-upgrade\"] and .upgrade_to == \"2.4.0\"' >/dev/null"
check "verification record written" test -f "$A.verified"
ID=$(tar --zstd -xOf "$A" modosnap.json | jq -r .snapshot_id)
run_ms "${C[@]}" --to 2.4.0
expect_rc 2
expect_stderr "modosnap: error: --to needs --pre-upgrade; try 'modosnap help create'"

case_begin apt_hook_snapshot
# the APT hook's own: verified like a pre-upgrade snapshot, tagged apt only
# (in a destination of its own: guard below wants $ID the newest in $D)
CA=(create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/apt")
run_ms "${CA[@]}" --pre-upgrade --tag apt
expect_rc 0
expect_stdout_has "verified    yes"
APT=$(tail -n 1 "$T/out")
check "header: tag apt, not pre-upgrade" \
	bash -c "tar --zstd -xOf '$APT' modosnap.json | jq -e '.tags == [\"apt\"]' >/dev/null"
check "verification record written" test -f "$APT.verified"
APTID=$(tar --zstd -xOf "$APT" modosnap.json | jq -r .snapshot_id)
run_ms guard --instance "$I" --dest "$T/apt" --tag apt --max-age 2h
expect_rc 0
expect_stdout_has "ok: $APTID (tag apt, "
run_ms "${CA[@]}" --pre-upgrade --tag release
expect_rc 0
check "another --tag keeps pre-upgrade" \
	bash -c "tar --zstd -xOf '$(tail -n 1 "$T/out")' modosnap.json | jq -e '.tags == [\"release\", \"pre-upgrade\"]' >/dev/null"
# the hook's own command line (docs/examples/apt-preinstall-hook), with
# this binary and a config naming this instance and a destination under $T
printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\n' "$I" "$PF" "$T/apthook" >"$T/apthook.conf"
ms_t_conf "$T/apthook.conf"
HOOK=$(sed -n 's/^\t"\(.*\)";$/\1/p' "$MS_SOURCE_DIR/docs/examples/apt-preinstall-hook")
HOOK=${HOOK//\/usr\/bin\/modosnap/$MODOSNAP}
check "the hook's command line found" test -n "$HOOK"
MODOSNAP_CONFIG=$T/apthook.conf sh -c "$HOOK" >"$T/out" 2>"$T/err"
check "the hook takes a snapshot and lets APT go on" test $? = 0
check "one archive, tagged apt, verified" bash -c "ls '$T'/apthook/*.tar.zst.verified >/dev/null && \
	tar --zstd -xOf '$T'/apthook/*.tar.zst modosnap.json | jq -e '.tags == [\"apt\"]' >/dev/null"
MODOSNAP_CONFIG=$T/apthook.conf sh -c "$HOOK" >"$T/out" 2>"$T/err"
check "run again: guard --tag apt is satisfied, APT goes on" test $? = 0
check "no second snapshot" test "$(archives "$T/apthook")" = 1

case_begin guard
run_ms guard --instance "$I" --dest "$D" --max-age 2h
expect_rc 0
expect_stdout_has "ok: $ID (tag pre-upgrade, "
expect_stdout_has ", verified, Modoboa 2.3.2): $A"
run_ms guard --instance "$I" --dest "$D" --tag nightly
expect_rc 1
expect_stderr "modosnap: error: no snapshot tagged 'nightly' of '$I' in '$D'"
run_ms guard --instance "$T/site/srv/modoboa/instance" --dest "$T/empty"
expect_rc 1
sleep 2
run_ms guard --instance "$I" --dest "$D" --max-age 1s
expect_rc 1
check "too old: says how old" grep -q "^modosnap: error: no usable 'pre-upgrade' snapshot of '$I': the newest, $ID, is [0-9]*s old, more than --max-age 1s$" "$T/err"
mv "$A.verified" "$T/verified.bak"
run_ms guard --instance "$I" --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: no usable 'pre-upgrade' snapshot of '$I': the newest, $ID, was not verified (run 'modosnap verify $ID')"
mv "$T/verified.bak" "$A.verified"
META=$(find "$T/site/srv/modoboa/env" -path '*modoboa-2.3.2.dist-info/METADATA')
sed -i 's/^Version: 2.3.2$/Version: 2.4.0/' "$META"
run_ms guard --instance "$I" --dest "$D"
expect_rc 1
expect_stderr "modosnap: error: no usable 'pre-upgrade' snapshot of '$I': the newest, $ID, was taken at Modoboa 2.3.2, 2.4.0 is installed"
sed -i 's/^Version: 2.4.0$/Version: 2.3.2/' "$META"
run_ms create --no-db --instance "$T/dbsite/srv/modoboa/instance" --postfix-dir "$PF" --dest "$T/dbdest" --pre-upgrade
expect_rc 0
DBID=$(tar --zstd -xOf "$(tail -n 1 "$T/out")" modosnap.json | jq -r .snapshot_id)
run_ms guard --instance "$T/dbsite/srv/modoboa/instance" --dest "$T/dbdest"
expect_rc 1
expect_stderr "modosnap: error: no usable 'pre-upgrade' snapshot of '$T/dbsite/srv/modoboa/instance': the newest, $DBID, holds no dump of database 'default'"
run_ms guard --instance "$I" --dest "$D" --max-age 5ms
expect_rc 2
run_ms guard --instance "$I" --dest "$D" --max-age soon
expect_rc 2
expect_stderr "modosnap: error: invalid --max-age 'soon' (e.g. 90m, 2h, 1d); try 'modosnap help guard'"

case_begin nightly
printf '[retention]\nkeep_last = 100\n' >"$T/keep100.conf"
ms_t_conf "$T/keep100.conf"
run_ms -q -c "$T/keep100.conf" "${C[@]}" --nightly
expect_rc 0
check "silent on success with -q" test ! -s "$T/out"
expect_stderr_empty
run_ms -c "$T/keep100.conf" "${C[@]}" --nightly
expect_rc 0
check "one line otherwise" test "$(wc -l <"$T/out")" = 1
check "the line says what and where" grep -qE '^snapshot [0-9T]+Z-[0-9a-f]{8}: [0-9]+ entries, .* in, .* out, [0-9.]+ s: /.*\.tar\.zst$' "$T/out"
check "tagged nightly" bash -c "tar --zstd -xOf \"\$(sed 's/.*: //' '$T/out')\" modosnap.json | jq -e '.tags == [\"nightly\"]' >/dev/null"
run_ms "${C[@]}" --nightly
expect_rc 3
expect_stderr "modosnap: warning: create --nightly: no [retention] rule in the config: nothing pruned, so snapshots accumulate in '$D'"
run_ms -q "${C[@]}" --json
expect_rc 0
check "--json for monitoring" bash -c "jq -e '.exit_status == 0 and (.snapshot_id | length) > 0 and .verified == false and .components == [\"instance\", \"postfix\"]' '$T/out' >/dev/null"
check "--json: pruned is always there, [] when nothing was" jq -e '.pruned == []' "$T/out"
run_ms -q -c "$T/keep100.conf" "${C[@]}" --nightly --json
expect_rc 0
check "--nightly --json: nothing pruned under keep_last = 100" jq -e '.pruned == [] and .exit_status == 0' "$T/out"

case_begin nightly_prunes
printf '[retention]\nkeep_last = 2\n' >"$T/keep2.conf"
ms_t_conf "$T/keep2.conf"
for _ in 1 2 3; do
	run_ms -q -c "$T/keep2.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/nightly" --nightly
	expect_rc 0
done
check "create --nightly pruned with the config's [retention]" test "$(archives "$T/nightly")" = 2
check "quiet even when pruning" test ! -s "$T/out"
# snaps: "PATH|ID  CREATED" of each archive in $T/nightly (ID and CREATED
# as prune prints them); gone: the one of $T/before no longer there (the
# oldest; ties within a second are ordered by id, so not guessed)
snaps() {
	local a
	for a in "$T"/nightly/*.tar.zst; do
		echo "$a|$(tar --zstd -xOf "$a" modosnap.json | jq -r '.snapshot_id + "  " + .created')"
	done
}
gone() { grep -v -F -f <(find "$T/nightly" -maxdepth 1 -name '*.tar.zst' -printf '%p|\n') "$T/before"; }
snaps >"$T/before"
run_ms -c "$T/keep2.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/nightly" --nightly
expect_rc 0
check "without -v: the one summary line, no word of the prune" test "$(wc -l <"$T/out")" = 1
check "one was pruned" test "$(gone | wc -l)" = 1
snaps >"$T/before"
run_ms -v -c "$T/keep2.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/nightly" --nightly
expect_rc 0
GONE=$(gone)
check "-v: the summary line, then one line per pruned snapshot" test "$(sed -n '2,$p' "$T/out")" = "remove ${GONE#*|}  nightly"
check "-v: the summary line first" grep -qE '^snapshot [0-9T]+Z-[0-9a-f]{8}: ' <(head -n 1 "$T/out")
snaps >"$T/before"
run_ms -q -c "$T/keep2.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/nightly" --nightly --json
expect_rc 0
GONE=$(gone)
GONE_ID=${GONE#*|}
check "--json: pruned names the removed snapshot's id and path" test \
	"$(jq -c '.pruned' "$T/out")" = "[{\"id\":\"${GONE_ID%%  *}\",\"path\":\"${GONE%%|*}\"}]"
check "two archives remain" test "$(archives "$T/nightly")" = 2

case_begin nightly_keeps_safety
# a restore's safety snapshot taken minutes before the nightly run stays
# for keep_safety (7 days by default), whatever keep_last says
mkdir -p "$T/safe"
run_ms -q create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/safe" --tag safety
expect_rc 0
SAFE=$(find "$T/safe" -maxdepth 1 -name '*.tar.zst')
printf '[retention]\nkeep_last = 1\n' >"$T/keep1.conf"
ms_t_conf "$T/keep1.conf"
run_ms -v -c "$T/keep1.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/safe" --nightly
expect_rc 0
check "the safety snapshot is kept" test -e "$SAFE"
check "nothing pruned, so no remove line" test "$(wc -l <"$T/out")" = 1
printf '[retention]\nkeep_last = 1\nkeep_safety = 0\n' >"$T/nosafety.conf"
ms_t_conf "$T/nosafety.conf"
run_ms -q -c "$T/nosafety.conf" create --no-db --instance "$I" --postfix-dir "$PF" --dest "$T/safe" --nightly --json
expect_rc 0
check "keep_safety = 0: the safety snapshot is pruned" test ! -e "$SAFE"
check "--json says so" jq -e --arg p "$SAFE" '[.pruned[].path] | index($p) != null' "$T/out"

case_begin hooks
cat >"$T/hooks.conf" <<EOF
[hooks]
before = echo "before \$MODOSNAP_HOOK \$MODOSNAP_DEST" >>$T/hooks.log
pause = echo "pause" >>$T/hooks.log
resume = echo "resume \$MODOSNAP_SNAPSHOT_ID" >>$T/hooks.log
after = echo "after \$MODOSNAP_EXIT_STATUS \$MODOSNAP_SNAPSHOT_PATH" >>$T/hooks.log
on_error = echo "on_error \$MODOSNAP_EXIT_STATUS" >>$T/hooks.log
EOF
ms_t_conf "$T/hooks.conf"
run_ms -c "$T/hooks.conf" "${C[@]}"
expect_rc 0
A=$(tail -n 1 "$T/out")
NEWID=$(tar --zstd -xOf "$A" modosnap.json | jq -r .snapshot_id)
check "hooks ran in order with their environment" test "$(cat "$T/hooks.log")" = "before before $D
pause
resume $NEWID
after 0 $A"
expect_stdout_has "paused      "
cat >"$T/failing.conf" <<EOF
[hooks]
before = echo ran >>$T/failing.log; exit 3
on_error = echo "on_error \$MODOSNAP_EXIT_STATUS" >>$T/failing.log
EOF
ms_t_conf "$T/failing.conf"
n=$(archives "$D")
run_ms -c "$T/failing.conf" "${C[@]}"
expect_rc 1
expect_stderr "modosnap: error: hook 'before' failed (exit 3): echo ran >>$T/failing.log; exit 3
modosnap: error: the 'before' hook failed: no snapshot taken"
check "a failing before hook wrote nothing" test "$(archives "$D")" = "$n"
check "no partial file" test -z "$(find "$D" -name '*.partial')"
check "on_error ran with the exit status" test "$(cat "$T/failing.log")" = "ran
on_error 1"
printf '[hooks]\npause = true\nresume = exit 1\n' >"$T/resume.conf"
ms_t_conf "$T/resume.conf"
run_ms -c "$T/resume.conf" "${C[@]}"
expect_rc 1
expect_stderr "modosnap: error: hook 'resume' failed (exit 1): exit 1
modosnap: error: the services paused by the 'pause' hook may still be stopped"

case_begin interrupt_while_paused
# a real SIGTERM inside the pause window (the hook says when it is there):
# no archive under a final name, an error, on_error, exit 1 (issue 11, 13)
printf '[hooks]\npause = echo pause >>%s/int.log; touch %s/paused; sleep 2\nresume = echo resume >>%s/int.log\non_error = echo "on_error $MODOSNAP_EXIT_STATUS" >>%s/int.log\n' \
	"$T" "$T" "$T" "$T" >"$T/int.conf"
ms_t_conf "$T/int.conf"
n=$(archives "$D")
"$MODOSNAP" -c "$T/int.conf" "${C[@]}" --pre-upgrade >"$T/int.out" 2>"$T/int.err" &
pid=$!
for _ in $(seq 100); do [ -e "$T/paused" ] && break; sleep 0.1; done
kill -TERM "$pid" # (background jobs of a script ignore SIGINT)
wait "$pid"
rc=$?
check "the interrupt ends the run as a failure (exit 1)" test "$rc" = 1
check "with one error" test "$(cat "$T/int.err")" = "modosnap: error: interrupted by SIGTERM before the snapshot was published: no archive written in '$D'"
check "the services were resumed, then on_error ran" test "$(cat "$T/int.log")" = "pause
resume
on_error 1"
check "no archive published" test "$(archives "$D")" = "$n"
check "no archive path on stdout" test ! -s "$T/int.out"
check "no partial file left" test -z "$(find "$D" -name '*.partial')"

case_begin hook_output_stays_off_stdout
printf '[hooks]\nbefore = echo chatty before\nafter = echo chatty after\n' >"$T/chatty.conf"
ms_t_conf "$T/chatty.conf"
run_ms -c "$T/chatty.conf" "${C[@]}" --json
expect_rc 0
check "--json output is still one JSON document" jq -e '.exit_status == 0' "$T/out"
check "the hooks' output went to stderr" test "$(cat "$T/err")" = "chatty before
chatty after"
printf '[hooks]\nafter = exit 2\n' >"$T/after-fails.conf"
ms_t_conf "$T/after-fails.conf"
run_ms -c "$T/after-fails.conf" "${C[@]}" --json
expect_rc 1
check "--json reports the final exit status" jq -e '.exit_status == 1' "$T/out"

case_begin lock
printf '[hooks]\nbefore = sleep 4\n' >"$T/slow.conf"
ms_t_conf "$T/slow.conf"
"$MODOSNAP" -c "$T/slow.conf" "${C[@]}" >"$T/first.out" 2>"$T/first.err" &
first=$!
sleep 1
run_ms "${C[@]}"
expect_rc 4
expect_stderr "modosnap: error: another modosnap run holds the lock on '$D' (pid $first: modosnap -c $T/slow.conf create --no-db --instance $I --postfix-dir $PF --dest $D)"
run_ms "${C[@]}" --wait 30
expect_rc 0
wait "$first"
check "the first run completed" test $? = 0
run_ms "${C[@]}" --wait 1x
expect_rc 2
printf '[hooks]\nbefore = sleep 30\n' >"$T/stuck.conf"
ms_t_conf "$T/stuck.conf"
"$MODOSNAP" -c "$T/stuck.conf" "${C[@]}" >/dev/null 2>&1 &
stuck=$!
sleep 1
run_ms "${C[@]}" --wait 1
expect_rc 4
check "the wait is reported" grep -q "^modosnap: error: another modosnap run still holds the lock on '$D' (pid $stuck: .*) after waiting 1 s$" "$T/err"
kill -9 "$stuck"
wait "$stuck" 2>/dev/null
run_ms "${C[@]}"
expect_rc 0

case_begin free_space
n=$(archives "$D")
MODOSNAP_TEST_FREE_BYTES=1048576 run_ms "${C[@]}"
expect_rc 1
check "the refusal says what is needed and what is free" \
	grep -q "^modosnap: error: not enough space in '$D': the snapshot needs about .* and .* must stay free (min_free), but only 1.0 MiB is free$" "$T/err"
check "nothing was written" test "$(archives "$D")" = "$n"
printf '[modosnap]\nmin_free = 0\n' >"$T/nofloor.conf"
ms_t_conf "$T/nofloor.conf"
MODOSNAP_TEST_FREE_BYTES=$((512 * 1024 * 1024)) run_ms -c "$T/nofloor.conf" "${C[@]}"
expect_rc 0

finish
