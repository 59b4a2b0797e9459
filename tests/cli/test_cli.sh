# The command-line contract: --version, --help, help COMMAND, and usage
# errors with exit code 2 and exact messages.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

case_begin version
run_ms --version
expect_rc 0
check "prints 'modosnap X.Y.Z'" grep -qE '^modosnap [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
expect_stderr_empty

case_begin help
run_ms --help
expect_rc 0
expect_stdout_has "usage: modosnap [-c FILE] [-q | -v] COMMAND [ARGS]"
expect_stdout_has "  inspect    show what a snapshot of this Modoboa server would contain"
expect_stdout_has "exit status: 0 ok, 1 failure, 2 usage error, 3 completed with warnings,"
# Only commands that work are listed.
check "lists exactly the working commands" \
	test "$(sed -n '/^commands:/,/^$/p' "$T/out" | awk 'NF && !/commands:/ {print $1}' | tr '\n' ' ')" = "inspect create verify list show restore prune diff guard config push fetch help "

case_begin help_command
run_ms help inspect
expect_rc 0
expect_stdout_has "usage: modosnap inspect [--instance DIR] [--postfix-dir DIR] [--no-db]"
expect_stdout_has "                        [--system-root DIR] [--json]"
expect_stdout_has "--no-db"

case_begin help_unknown_command
run_ms help frobnicate
expect_rc 2
expect_stderr "modosnap: error: unknown command 'frobnicate'; try 'modosnap --help'"

case_begin no_command
run_ms
expect_rc 2
expect_stdout_has "usage: modosnap"

case_begin unknown_command
run_ms frobnicate
expect_rc 2
expect_stderr "modosnap: error: unknown command 'frobnicate'; try 'modosnap --help'"

case_begin unknown_global_option
run_ms --frobnicate inspect
expect_rc 2
expect_stderr "modosnap: error: unknown or incomplete option '--frobnicate'; try 'modosnap --help'"

case_begin missing_option_argument
run_ms inspect --instance
expect_rc 2
expect_stderr "modosnap: error: unknown or incomplete option '--instance'; try 'modosnap help inspect'"

case_begin unknown_command_option
run_ms inspect --frobnicate
expect_rc 2
expect_stderr "modosnap: error: unknown or incomplete option '--frobnicate'; try 'modosnap help inspect'"

case_begin extra_argument
run_ms inspect /srv
expect_rc 2
expect_stderr "modosnap: error: unexpected argument '/srv'; try 'modosnap help inspect'"

case_begin missing_config_file
run_ms -c "$T/nope.conf" inspect
expect_rc 1
expect_stderr "modosnap: error: unable to open '$T/nope.conf': No such file or directory"

finish
