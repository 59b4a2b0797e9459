# Process hardening and bounded messages (issue 11, finding 15): core
# dumps are off from the start (RLIMIT_CORE 0, non-dumpable: no core file
# and no ptrace or /proc/PID/mem for other processes of the same user);
# an error about a huge settings.py expression is one short line.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=${MS_T_CONF:-} # only the signing keys, under $T (tests/lib.sh)

# stalled PID : waits until the process stopped at the startup test point
stalled() {
	local i
	for i in $(seq 100); do
		grep -q "stalled at startup" "$T/stall.err" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

case_begin core_dumps_off
MODOSNAP_TEST_STALL=startup "$MODOSNAP" --version >/dev/null 2>"$T/stall.err" &
pid=$!
if stalled "$pid"; then
	check "RLIMIT_CORE soft and hard limits are 0" \
		grep -Eq '^Max core file size +0 +0 +bytes' "/proc/$pid/limits"
else
	not_ok "modosnap did not reach the startup stall point" "$(cat "$T/stall.err")"
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

case_begin not_dumpable
# /proc/PID of a non-dumpable process belongs to root, whoever runs it:
# visible only when it runs as another user
if [ "$(id -u)" != 0 ]; then
	echo "# skip - not_dumpable: needs root to run modosnap as nobody"
else
	MODOSNAP_TEST_STALL=startup setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$MODOSNAP" --version >/dev/null 2>"$T/stall.err" &
	pid=$!
	if stalled "$pid"; then
		check "it runs as nobody" grep -Eq "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]" "/proc/$pid/status"
		check "its /proc entries belong to root (PR_SET_DUMPABLE 0)" test "$(stat -c %u "/proc/$pid/status")" = 0
	else
		not_ok "modosnap did not reach the startup stall point as nobody" "$(cat "$T/stall.err")"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# the reference: an ordinary process of nobody owns its /proc entries
	setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 5 &
	pid=$!
	sleep 0.3
	check "(a dumpable process of nobody owns them)" test "$(stat -c %u "/proc/$pid/status")" = "$(id -u nobody)"
	kill "$pid"
	wait "$pid" 2>/dev/null
fi

case_begin huge_expression_one_short_line
mk_min_instance "$T/site"
I=$T/site/srv/modoboa/instance
python3 - "$I/instance/settings.py" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("import os\nSECRET_KEY = 'x'\nDATABASES = {'default': {\n"
            "    'ENGINE': 'django.db.backends.postgresql',\n"
            "    'NAME': f(" + "+".join(["1"] * 500000) + "),\n"
            "    'USER': 'u', 'HOST': '/tmp',\n}}\n")
PY
check "settings.py holds a 1 MB expression" test "$(stat -c %s "$I/instance/settings.py")" -gt 1000000
run_ms inspect --instance "$I" --postfix-dir "$T/site/etc/postfix" --no-db
expect_rc 1
check "stderr is one line" test "$(wc -l <"$T/err")" = 1
check "of fewer than 400 bytes" test "$(wc -c <"$T/err")" -lt 400
check "quoting 80 bytes of the expression, then '...'" \
	grep -qF "'$I/instance/settings.py':5: cannot resolve DATABASES['default']['NAME'] = f($(printf '1+%.0s' $(seq 39))... without running Python" "$T/err"

finish
