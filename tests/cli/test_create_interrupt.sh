# create interrupted or failing before its snapshot counts (issue 11,
# findings 13 and 14): a real SIGTERM at any point before publication
# leaves no archive under a final name, says so, runs on_error and exits 1;
# one between publication and the end of verification sets a pre-upgrade
# snapshot aside; a pre-upgrade snapshot that does not verify is named in
# the error as the .unverified file it became (never by its old name, on
# stdout neither); the .unverified files do not pile up (3 newest kept).
# Kill points: MODOSNAP_TEST_STALL=create-snapshot|create-verify (the stall
# ends as soon as the signal is received) or a hook that says when it runs.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=${MS_T_CONF:-} # only the signing keys, under $T (tests/lib.sh)

echo "DATABASES = {}" >"$T/databases.py"
mk_min_instance "$T/site"
rm "$T/databases.py"
I=$T/site/srv/modoboa/instance
PF=$T/site/etc/postfix
C=(create --no-db --instance "$I" --postfix-dir "$PF")
archives() { find "$1" -maxdepth 1 -name '*.tar.zst' 2>/dev/null | wc -l; }
asides() { find "$1" -maxdepth 1 -name '*.tar.zst.unverified' 2>/dev/null | wc -l; }

# conf FILE HOOK-LINES... : a config with these [hooks] lines and on_error
# logging to $T/hooks.log (plus the test signing keys)
conf() {
	local f=$1
	shift
	{
		echo '[hooks]'
		printf '%s\n' "$@"
		echo "on_error = echo \"on_error \$MODOSNAP_EXIT_STATUS \${MODOSNAP_SNAPSHOT_PATH:-no-path}\" >>$T/hooks.log"
	} >"$f"
	if type ms_t_conf >/dev/null 2>&1; then ms_t_conf "$f"; fi
}

# run_bg ARGS... : starts modosnap in the background (pid in $pid)
run_bg() {
	"$MODOSNAP" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
}

# wait_for FILE-OR-TEXT : until $T/err says the stall point was reached,
# or FILE exists
wait_stalled() {
	for _ in $(seq 100); do
		grep -q "^modosnap: test: stalled at $1$" "$T/err" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
wait_file() {
	for _ in $(seq 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

finish_bg() {
	kill -TERM "$pid"
	wait "$pid"
	RC=$?
	sed -i '/^modosnap: test: stalled at /d' "$T/err"
}

conf "$T/plain.conf"

case_begin sigterm_while_writing
D=$T/d1
: >"$T/hooks.log"
MODOSNAP_TEST_STALL=create-snapshot run_bg -c "$T/plain.conf" "${C[@]}" --dest "$D"
check "stalled before the archive is written" wait_stalled create-snapshot
finish_bg
expect_rc 1
expect_stderr "modosnap: error: interrupted by SIGTERM before the snapshot was published: no archive written in '$D'"
check "no archive" test "$(archives "$D")" = 0
check "no partial file" test -z "$(find "$D" -name '*.partial')"
check "on_error ran with exit status 1" test "$(cat "$T/hooks.log")" = "on_error 1 no-path"
check "nothing on stdout" test ! -s "$T/out"

case_begin sigterm_in_before_hook
D=$T/d2
: >"$T/hooks.log"
conf "$T/before.conf" "before = touch $T/before-ran; sleep 2"
run_bg -c "$T/before.conf" "${C[@]}" --dest "$D"
check "the before hook runs" wait_file "$T/before-ran"
finish_bg
expect_rc 1
expect_stderr "modosnap: error: interrupted by SIGTERM: no snapshot taken"
check "no archive" test "$(archives "$D")" = 0
check "on_error ran" test "$(cat "$T/hooks.log")" = "on_error 1 no-path"

case_begin sigterm_while_waiting_for_the_lock
D=$T/d2b
: >"$T/hooks.log"
conf "$T/holder.conf" "before = touch $T/holding; sleep 3"
"$MODOSNAP" -c "$T/holder.conf" "${C[@]}" --dest "$D" >/dev/null 2>&1 &
holder=$!
check "the first run holds the lock" wait_file "$T/holding"
run_bg -c "$T/plain.conf" "${C[@]}" --dest "$D" --wait 30
sleep 0.5
finish_bg
expect_rc 1
expect_stderr "modosnap: error: interrupted by SIGTERM: no snapshot taken"
wait "$holder"
check "only the first run's archive" test "$(archives "$D")" = 1
check "on_error ran" test "$(cat "$T/hooks.log")" = "on_error 1 no-path"

case_begin sigterm_in_pause_window
D=$T/d3
: >"$T/hooks.log"
conf "$T/pause.conf" "pause = touch $T/paused; sleep 2" "resume = echo resume >>$T/hooks.log"
run_bg -c "$T/pause.conf" "${C[@]}" --dest "$D" --pre-upgrade
check "the pause hook runs" wait_file "$T/paused"
finish_bg
expect_rc 1
expect_stderr "modosnap: error: interrupted by SIGTERM before the snapshot was published: no archive written in '$D'"
check "no archive under a final name, none set aside" test "$(archives "$D")-$(asides "$D")" = 0-0
check "resumed, then on_error" test "$(cat "$T/hooks.log")" = "resume
on_error 1 no-path"

case_begin sigterm_before_verification
D=$T/d4
: >"$T/hooks.log"
MODOSNAP_TEST_STALL=create-verify run_bg -c "$T/plain.conf" "${C[@]}" --dest "$D" --pre-upgrade
check "stalled between publication and verification" wait_stalled create-verify
finish_bg
expect_rc 1
A=$(find "$D" -name '*.tar.zst.unverified')
expect_stderr "modosnap: error: interrupted by SIGTERM: the snapshot was published, its verification may be incomplete
modosnap: error: the pre-upgrade snapshot was interrupted before it was verified: do not upgrade; it was set aside as '$A', which no selector, guard or prune sees"
check "no archive under a final name" test "$(archives "$D")" = 0
check "no verification record" test -z "$(find "$D" -name '*.verified')"
check "on_error ran, without a snapshot path" test "$(cat "$T/hooks.log")" = "on_error 1 no-path"
check "nothing on stdout" test ! -s "$T/out"

case_begin second_signal_before_verification
# the first signal is recorded, the second ends the process at once: the
# unverified pre-upgrade archive still leaves its final name
D=$T/d4b
: >"$T/hooks.log"
MODOSNAP_TEST_STALL=create-verify-hold run_bg -c "$T/plain.conf" "${C[@]}" --dest "$D" --pre-upgrade
check "stalled between publication and verification" wait_stalled create-verify-hold
kill -TERM "$pid"
sleep 0.5
check "the first signal does not end it" kill -0 "$pid"
finish_bg
check "the second one does (by the signal)" test "$RC" = 143
check "no archive under a final name" test "$(archives "$D")" = 0
check "set aside as .unverified" test "$(asides "$D")" = 1
check "no partial file" test -z "$(find "$D" -name '*.partial')"

case_begin failed_verification_names_the_real_file
D=$T/d5
: >"$T/hooks.log"
# the resume hook runs after publication and before verification
conf "$T/corrupt.conf" \
	'resume = printf XXXXXXXX | dd of="$MODOSNAP_SNAPSHOT_PATH" bs=1 seek=300 conv=notrunc 2>/dev/null'
run_ms -c "$T/corrupt.conf" "${C[@]}" --dest "$D" --pre-upgrade
expect_rc 5
A=$(find "$D" -name '*.tar.zst.unverified')
check "set aside" test -f "$A"
check "the last error names the .unverified file" test "$(tail -n 1 "$T/err")" = \
	"modosnap: error: the pre-upgrade snapshot did not verify: do not upgrade; it was set aside as '$A', which no selector, guard or prune sees"
check "no line but verify's own names the final name" \
	test "$(grep -cF "'${A%.unverified}'" "$T/err")" = "$(grep -c "^modosnap: error: '${A%.unverified}': " "$T/err")"
check "stdout is empty" test ! -s "$T/out"
check "on_error ran with exit status 5" test "$(cat "$T/hooks.log")" = "on_error 5 no-path"
run_ms -c "$T/corrupt.conf" "${C[@]}" --dest "$D" --pre-upgrade --json
expect_rc 5
check "--json: no path, the unverified one instead" \
	jq -e --arg a "$(find "$D" -name '*.tar.zst.unverified' | sort | tail -n 1)" \
	'.path == null and .unverified_path == $a and .exit_status == 5' "$T/out"

case_begin unverified_do_not_pile_up
D=$T/d6
for _ in 1 2 3 4 5; do
	run_ms -c "$T/corrupt.conf" "${C[@]}" --dest "$D" --pre-upgrade
	sleep 1 # one snapshot name per second
done
expect_rc 5
check "3 kept plus the newest" test "$(asides "$D")" = 4
check "the last run removed the oldest, saying so" \
	grep -qE "^modosnap: removed old unverified snapshot '$D/[^']+\.tar\.zst\.unverified' \(the newest 3 are kept\)$" "$T/err"
echo "not ours" >"$T/other"
ln -s "$T/other" "$D/mail_20000101T000000Z_modoboa-2.3.2.tar.zst.unverified"
echo "keep" >"$D/notes.unverified"
run_ms -q -c "$T/corrupt.conf" "${C[@]}" --dest "$D" --pre-upgrade
expect_rc 5
check "still 3 kept plus the newest" test "$(find "$D" -maxdepth 1 -type f -name '*.tar.zst.unverified' | wc -l)" = 4
check "the oldest removed quietly under -q" bash -c "! grep -q 'removed old' '$T/err'"
check "a symlink is left alone" test -L "$D/mail_20000101T000000Z_modoboa-2.3.2.tar.zst.unverified"
check "its target untouched" test "$(cat "$T/other")" = "not ours"
check "a file not named after a snapshot is left alone" test -f "$D/notes.unverified"
run_ms -c "$T/plain.conf" "${C[@]}" --dest "$D" --pre-upgrade
expect_rc 0
check "a good pre-upgrade snapshot is published as before" test "$(archives "$D")" = 1

finish
