# Output to the systemd journal: when stderr is the stream JOURNAL_STREAM
# names ("<dev>:<inode>", decimal, systemd.exec(5)), every line of the real
# binary starts with its syslog priority (<3> error, <7> debug) so that
# `journalctl -p err` finds failures; without the variable, or when it
# names another file (inherited by a process whose stderr went elsewhere),
# the lines are exactly as before.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

mkdir -p "$T/dest"
: >"$T/err" # run_ms truncates it in place: its dev:inode stays the same
: >"$T/elsewhere"
STDERR_STREAM=$(stat -c '%d:%i' "$T/err")
OTHER_STREAM=$(stat -c '%d:%i' "$T/elsewhere")
unset JOURNAL_STREAM

case_begin error_to_journal
JOURNAL_STREAM=$STDERR_STREAM run_ms show nosuch --dest "$T/dest"
expect_rc 1
expect_stderr "<3>modosnap: error: no snapshot matches 'nosuch' in '$T/dest' (it holds none)"
check "stderr is still the same file" test "$(stat -c '%d:%i' "$T/err")" = "$STDERR_STREAM"

case_begin error_not_journal
run_ms show nosuch --dest "$T/dest"
expect_rc 1
expect_stderr "modosnap: error: no snapshot matches 'nosuch' in '$T/dest' (it holds none)"
JOURNAL_STREAM=$OTHER_STREAM run_ms show nosuch --dest "$T/dest"
expect_rc 1
expect_stderr "modosnap: error: no snapshot matches 'nosuch' in '$T/dest' (it holds none)"
JOURNAL_STREAM=garbage run_ms show nosuch --dest "$T/dest"
expect_rc 1
expect_stderr "modosnap: error: no snapshot matches 'nosuch' in '$T/dest' (it holds none)"

# debug lines, and libpq's two-line message: one journal line per message
mk_min_instance "$T/root"
INST=$T/root/srv/modoboa/instance
ENV=$T/root/srv/modoboa/env
case_begin levels_and_library_lines
JOURNAL_STREAM=$STDERR_STREAM run_ms -v inspect --instance "$INST" --postfix-dir "$T/root/etc/postfix"
expect_rc 1
expect_stderr "<7>modosnap: debug: virtualenv '$ENV' (found by manage.py), python 3.11.2
<7>modosnap: debug: '$ENV/lib/python3.11/site-packages': 3 installed distributions
<3>modosnap: error: unable to connect to database 'default' (postgresql, modoboa@/nonexistent-pg-socket-dir:5432/modoboa): connection to server on socket \"/nonexistent-pg-socket-dir/.s.PGSQL.5432\" failed: No such file or directory Is the server running locally and accepting connections on that socket?
<3>modosnap: error: unable to connect to database 'amavis' (mysql, amavis@/nonexistent-mysqld.sock/amavis): Can't connect to local server through socket '/nonexistent-mysqld.sock' (2)"
check "every line has a priority" test "$(grep -cv '^<[37]>modosnap: ' "$T/err")" = 0
run_ms -v inspect --instance "$INST" --postfix-dir "$T/root/etc/postfix"
expect_rc 1
check "no line has a priority without the journal" test "$(grep -c '^<' "$T/err")" = 0
check "the same lines otherwise" test "$(grep -c '^modosnap: ' "$T/err")" = 4

# the progress line is for a terminal only: nothing of it reaches the journal
case_begin no_progress_line_in_journal
JOURNAL_STREAM=$STDERR_STREAM run_ms -v create --no-db --instance "$INST" --postfix-dir "$T/root/etc/postfix" \
	--dest "$T/dest"
expect_rc 0
check "no carriage return or escape on stderr" bash -c "! LC_ALL=C grep -q \$'[\r\033]' '$T/err'"
check "every line has a priority" test "$(grep -cv '^<[3467]>modosnap: ' "$T/err")" = 0
check "the debug lines are there" grep -q '^<7>modosnap: debug: ' "$T/err"

finish
