# The option table and its one getopt_long loop (src/cli/options.c),
# through the binary: every command's options parsed from sample argv (the
# values reach the command: its first error names them, or its output shows
# them), unknown options, missing arguments, another command's options,
# abbreviations, `--`, repeated options and the value checks, each with its
# exact message and exit code.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)
N=$T/none # never created
mkdir -p "$T/empty"

# usage NAME MESSAGE ARGS... : exit 2, stderr exactly "modosnap: error: MESSAGE"
usage() {
	local name=$1 want=$2
	shift 2
	case_begin "$name"
	run_ms "$@"
	expect_rc 2
	expect_stderr "modosnap: error: $want"
}

# parsed NAME RC MESSAGE ARGS... : the options were taken; the command then
# stopped with RC and exactly MESSAGE on stderr (empty: nothing)
parsed() {
	local name=$1 rc=$2 want=$3
	shift 3
	case_begin "$name"
	run_ms "$@"
	expect_rc "$rc"
	if [ -n "$want" ]; then expect_stderr "modosnap: error: $want"; else expect_stderr_empty; fi
}

# --- modosnap's own options ----------------------------------------------------
parsed global_config 1 "unable to open '$N.conf': No such file or directory" -c "$N.conf" list
parsed global_config_long 1 "unable to open '$N.conf': No such file or directory" --config="$N.conf" list
parsed global_config_abbrev 1 "unable to open '$N.conf': No such file or directory" --conf "$N.conf" list
# one rule: an option refused is named as typed, a short one by its letter
usage global_config_missing "unknown or incomplete option '--config'; try 'modosnap --help'" --config
usage global_config_missing_short "unknown or incomplete option '-c'; try 'modosnap --help'" -qc
usage global_unknown_short "unknown or incomplete option '-x'; try 'modosnap --help'" -x list
usage global_unknown_cluster "unknown or incomplete option '-x'; try 'modosnap --help'" -qxv list
usage global_unknown_long "unknown or incomplete option '--frob'; try 'modosnap --help'" --frob list
usage global_ambiguous "unknown or incomplete option '--ver'; try 'modosnap --help'" --ver list
usage global_help_argument "unknown or incomplete option '--help=x'; try 'modosnap --help'" --help=x
# -q sets the level, each -v adds one: the order counts
usage global_quiet "-q hides the plan it would ask about: add --yes; try 'modosnap help restore'" -q restore s
usage global_verbose_quiet "-q hides the plan it would ask about: add --yes; try 'modosnap help restore'" -v -q restore s
parsed global_quiet_verbose 1 "unable to read directory '$N': No such file or directory" -qv restore s --dest "$N"
# -h and -V end the parsing where they stand
case_begin global_help_stops
run_ms -h --frob
expect_rc 0
expect_stdout_has "usage: modosnap [-c FILE] [-q | -v] COMMAND [ARGS]"
usage global_help_after_error "unknown or incomplete option '--frob'; try 'modosnap --help'" --frob -h
case_begin global_version_abbrev
run_ms --vers
expect_rc 0
check "prints the version" grep -qE '^modosnap [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
# the command's options are the command's: they stop the global parsing
usage global_stops_at_command "unknown or incomplete option '--config'; try 'modosnap help list'" list --config x

# --- inspect -------------------------------------------------------------------
parsed inspect_options 1 "instance directory '$N' not found: No such file or directory" \
	inspect --no-db --json --postfix-dir "$N" --instance "$N"
parsed inspect_abbrev 1 "instance directory '$N' not found: No such file or directory" inspect --no --inst="$N"
usage inspect_missing_argument "unknown or incomplete option '--instance'; try 'modosnap help inspect'" inspect --instance
usage inspect_unknown "unknown or incomplete option '--frob'; try 'modosnap help inspect'" inspect --frob
usage inspect_other_command "unknown or incomplete option '--dest'; try 'modosnap help inspect'" inspect --dest "$T"
usage inspect_flag_argument "unknown or incomplete option '--json=1'; try 'modosnap help inspect'" inspect --json=1
usage inspect_short "unknown or incomplete option '-j'; try 'modosnap help inspect'" inspect -j
usage inspect_cluster "unknown or incomplete option '-x'; try 'modosnap help inspect'" inspect -xy
usage inspect_cluster_after_long "unknown or incomplete option '-x'; try 'modosnap help inspect'" inspect --no-db -xy
usage inspect_global_short "unknown or incomplete option '-c'; try 'modosnap help inspect'" inspect -c x
usage inspect_argument "unexpected argument '/srv'; try 'modosnap help inspect'" inspect /srv
usage inspect_dashdash "unexpected argument '--no-db'; try 'modosnap help inspect'" inspect -- --no-db
parsed inspect_system_root 1 "instance directory '$N' not found: No such file or directory" inspect --instance "$N" --system-root "$T/r"

# --- create --------------------------------------------------------------------
# --json prints the tags the options made even when the run fails
case_begin create_options
run_ms create --instance "$N" --postfix-dir "$N" --dest "$T/d" --tag a --tag b --note n --level 5 \
	--exclude '*.log' --exclude x --no-db --nightly --json --wait 0 --verify=deep --verify \
	--with venv --with db:x --without mail --system-root "$T/r"
expect_rc 1
check "tags from --tag and --nightly" test "$(tr -d ' \n' <"$T/out" | grep -o '"tags":\[[^]]*\]')" = '"tags":["a","b","nightly"]'
case_begin create_pre_upgrade
run_ms create --instance="$N" --pre-upgrade --to 2.0 --no-deep --json --dest "$T/d"
expect_rc 1
check "tag from --pre-upgrade" test "$(tr -d ' \n' <"$T/out" | grep -o '"tags":\[[^]]*\]')" = '"tags":["pre-upgrade"]'
usage create_level_low "invalid level '0' (expected 1-19); try 'modosnap help create'" create --level 0
usage create_level_high "invalid level '20' (expected 1-19); try 'modosnap help create'" create --level 20
usage create_level_word "invalid level 'abc' (expected 1-19); try 'modosnap help create'" create --level abc
usage create_wait_high "invalid --wait '86401' (seconds, 0-86400); try 'modosnap help create'" create --wait 86401
usage create_wait_repeated "invalid --wait 'x' (seconds, 0-86400); try 'modosnap help create'" create --wait 1 --wait x
usage create_tag "invalid tag (use letters, digits and . _ - : +); try 'modosnap help create'" create --tag ok --tag 'b@d'
usage create_verify_word "invalid --verify='shallow' (only --verify=deep); try 'modosnap help create'" create --verify=shallow
usage create_verify_apart "unexpected argument 'deep'; try 'modosnap help create'" create --verify deep
# the first problem in argv order is the one reported
usage create_first_error "unknown or incomplete option '--frob'; try 'modosnap help create'" create --frob --level 0
usage create_ambiguous "unknown or incomplete option '--no'; try 'modosnap help create'" create --no
usage create_to "--to needs --pre-upgrade; try 'modosnap help create'" create --to 1.0
usage create_no_deep "--no-deep needs --pre-upgrade; try 'modosnap help create'" create --no-deep
usage create_exclusive "--pre-upgrade and --nightly exclude each other; try 'modosnap help create'" create --pre-upgrade --nightly
usage create_argument_first "unexpected argument 'extra'; try 'modosnap help create'" create --pre-upgrade --nightly extra
usage create_other_command "unknown or incomplete option '--only'; try 'modosnap help create'" create --only instance
WC="(instance, postfix, db, db:ALIAS, venv, dkim, system or mail)"
usage create_with "invalid component 'mailbox' $WC; try 'modosnap help create'" create --with venv --with mailbox
usage create_without "invalid component 'mail:alice@example.org' $WC; try 'modosnap help create'" create --without mail:alice@example.org
usage create_with_missing "unknown or incomplete option '--with'; try 'modosnap help create'" create --with
usage create_system_root_missing "unknown or incomplete option '--system-root'; try 'modosnap help create'" create --system-root

# --- verify, list, show ------------------------------------------------------------
parsed verify_options 1 "unable to read directory '$N': No such file or directory" \
	verify s --deep --instance "$N" --allow-unsigned --dest "$N"
usage verify_missing "missing SNAPSHOT argument; try 'modosnap help verify'" verify --deep
usage verify_two "unexpected argument 'b'; try 'modosnap help verify'" verify a b
usage verify_other_command "unknown or incomplete option '--no-db'; try 'modosnap help verify'" verify --no-db s
usage verify_other_abbrev "unknown or incomplete option '--lev'; try 'modosnap help verify'" verify --lev 3 s
usage verify_ambiguous "unknown or incomplete option '--de'; try 'modosnap help verify'" verify --de s
parsed list_options 1 "unable to read directory '$N': No such file or directory" list --json --dest "$N"
usage list_deep "unknown or incomplete option '--deep'; try 'modosnap help list'" list --deep
usage list_allow_abbrev "unknown or incomplete option '--allow'; try 'modosnap help list'" list --allow
usage list_instance_apart "unknown or incomplete option '--instance'; try 'modosnap help list'" list --instance /x
usage list_instance_joined "unknown or incomplete option '--instance=/x'; try 'modosnap help list'" list --instance=/x
usage list_instance_missing "unknown or incomplete option '--instance'; try 'modosnap help list'" list --instance
usage list_argument "unexpected argument 's'; try 'modosnap help list'" list s
usage list_dashdash "unexpected argument '--dest'; try 'modosnap help list'" list -- --dest
parsed show_options 1 "unable to read directory '$N': No such file or directory" show --json s --dest "$N"
usage show_missing "missing SNAPSHOT argument; try 'modosnap help show'" show --json
usage show_deep "unknown or incomplete option '--deep'; try 'modosnap help show'" show --deep s

# --- restore -------------------------------------------------------------------
parsed restore_options 1 "unable to read directory '$N': No such file or directory" \
	restore --dry-run --no-safety-snapshot --yes --instance "$N" --postfix-dir "$N" --allow-unsigned \
	--accept-snapshot-targets --only postfix --only db:x --root "$T/r" s --dest "$N"
parsed restore_dashdash 1 "unable to read directory '$N': No such file or directory" restore --dest "$N" --yes -- --only
usage restore_missing "missing SNAPSHOT argument; try 'modosnap help restore'" restore --yes
usage restore_two "unexpected argument 'b'; try 'modosnap help restore'" restore a b
usage restore_only "invalid component 'db:' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --only instance --only db:
usage restore_only_first "invalid component 'x' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --root / --only x
# one mailbox: USER@DOMAIN, neither part empty, '.', '..' or holding '/'
usage restore_only_mailbox_bare "invalid component 'mail:alice' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --only mail:alice
usage restore_only_mailbox_dots "invalid component 'mail:..@example.org' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --only mail:..@example.org
usage restore_only_mailbox_slash "invalid component 'mail:a/b@example.org' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --only mail:a/b@example.org
usage restore_only_mailbox_domain "invalid component 'mail:alice@..' (instance, postfix, db:ALIAS, venv, dkim, system, mail or mail:USER@DOMAIN); try 'modosnap help restore'" restore s --only mail:alice@..
parsed restore_only_new 1 "unable to read directory '$N': No such file or directory" \
	restore s --only venv --only dkim --only system --only mail --only mail:alice@example.org --system-root "$T/r" --dest "$N"
usage restore_root "--root needs an absolute directory; try 'modosnap help restore'" restore s --root rel
usage restore_root_slash "--root / is the live system: leave --root out; try 'modosnap help restore'" restore s --root ///
usage restore_other_command "unknown or incomplete option '--keep-last'; try 'modosnap help restore'" restore s --keep-last 1

# --- prune ---------------------------------------------------------------------
case_begin prune_options
run_ms prune --keep-last 1 --keep-daily 2 --keep-weekly 3 --keep-monthly 4 --keep-pre-upgrade 5 --keep-tag t \
	--keep-tag u --dry-run --json --dest "$T/empty"
expect_rc 0
expect_stderr_empty
check "an empty plan" test "$(cat "$T/out")" = "[]"
parsed prune_abbrev 1 "unable to read directory '$N': No such file or directory" prune --keep-l 1 --dry-run --dest "$N"
usage prune_no_rule "no retention rule given (--keep-last, --keep-daily, ...) and none in the config; try 'modosnap help prune'" \
	prune --keep-pre-upgrade 2 --dest "$N"
usage prune_count "invalid value '1000001' for --keep-daily (expected 0-1000000); try 'modosnap help prune'" prune --keep-daily 1000001
usage prune_count_negative "invalid value '-1' for --keep-monthly (expected 0-1000000); try 'modosnap help prune'" prune --keep-monthly -1
usage prune_empty_tag "empty --keep-tag; try 'modosnap help prune'" prune --keep-tag ''
usage prune_ambiguous "unknown or incomplete option '--keep'; try 'modosnap help prune'" prune --keep 1
usage prune_argument "unexpected argument 'extra'; try 'modosnap help prune'" prune --keep-last 1 extra

# --- diff ----------------------------------------------------------------------
parsed diff_options 1 "unable to read directory '$N': No such file or directory" diff a --json b --dest "$N"
usage diff_missing "missing SNAPSHOT argument (two are needed); try 'modosnap help diff'" diff a
usage diff_three "unexpected argument 'c'; try 'modosnap help diff'" diff a b c
usage diff_other_command "unknown or incomplete option '--deep'; try 'modosnap help diff'" diff --deep a b

# --- guard ---------------------------------------------------------------------
parsed guard_options 1 "instance directory '$N' not found: No such file or directory" \
	guard --max-age 5w --tag t --instance "$N" --dest "$N"
parsed guard_abbrev 1 "instance directory '$N' not found: No such file or directory" guard --m 1h --instance "$N"
usage guard_max_age "invalid --max-age 'soon' (e.g. 90m, 2h, 1d); try 'modosnap help guard'" guard --max-age soon
usage guard_max_age_zero "invalid --max-age '0' (e.g. 90m, 2h, 1d); try 'modosnap help guard'" guard --max-age 0
usage guard_max_age_unit "invalid --max-age '1x' (e.g. 90m, 2h, 1d); try 'modosnap help guard'" guard --max-age 1x
usage guard_tag_missing "unknown or incomplete option '--tag'; try 'modosnap help guard'" guard --tag
usage guard_other_command "unknown or incomplete option '--level'; try 'modosnap help guard'" guard --level 3

finish
