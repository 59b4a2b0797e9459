# Conventional help (issue 16): `modosnap CMD --help` and `CMD -h`, wherever
# they stand among the command's options, print exactly `modosnap help CMD`
# and exit 0 with nothing on stderr, for every command; not when --help is
# another option's argument or follows `--`. The help of a command lists
# every option in its usage and in its option list (both generated from the
# option table), and names no option the command does not take.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)
N=$T/none # never created
cd "$T" || exit 1

COMMANDS=$("$MODOSNAP" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/commands:/ {print $1}')
case_begin commands
check "the command list is read from --help" test "$(echo $COMMANDS | wc -w)" -ge 10

# same_help NAME CMD ARGS... : `modosnap CMD ARGS...` prints `help CMD`
same_help() {
	local name=$1 cmd=$2
	shift 2
	case_begin "$name"
	"$MODOSNAP" help "$cmd" >"$T/want" 2>/dev/null
	run_ms "$cmd" "$@"
	expect_rc 0
	expect_stderr_empty
	if cmp -s "$T/want" "$T/out"; then ok "stdout is 'help $cmd'"; else
		not_ok "stdout is not 'help $cmd'" "$(diff "$T/want" "$T/out" | head -20)"
	fi
}

for cmd in $COMMANDS; do
	same_help "${cmd}_long" "$cmd" --help
	same_help "${cmd}_short" "$cmd" -h
done
# wherever among the command's options and arguments
same_help restore_after_argument restore latest --help
same_help restore_between restore latest -h --yes
same_help diff_after_arguments diff a b --help
same_help create_after_options create --tag x --no-db -h
same_help verify_with_bad_option verify --frob s --help
same_help prune_abbreviated prune --keep-last 1 --he
same_help list_cluster list -h
same_help help_itself help create --help

case_begin global_options_then_command
run_ms -q create --help
expect_rc 0
expect_stdout_has "usage: modosnap create "

# --help as an option's argument is that argument; after `--` an argument
case_begin help_as_argument
run_ms guard --tag --help --instance "$N"
expect_rc 1
expect_stderr "modosnap: error: instance directory '$N' not found: No such file or directory"
case_begin help_after_dashdash
run_ms list --dest "$N" -- --help
expect_rc 2
expect_stderr "modosnap: error: unexpected argument '--help'; try 'modosnap help list'"
case_begin help_with_argument
run_ms list --help=x
expect_rc 2
expect_stderr "modosnap: error: unknown or incomplete option '--help=x'; try 'modosnap help list'"

# The help of each command: usage and option list name the same options,
# and every option named anywhere in it is one of them.
for cmd in $COMMANDS; do
	case_begin "text_$cmd"
	"$MODOSNAP" help "$cmd" >"$T/h" 2>&1
	sed -n '1,/^$/p' "$T/h" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u >"$T/usage"
	sed -n '/^options:/,/^$/p' "$T/h" | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p' | sort -u >"$T/list"
	# ("create --nightly" in another command's help is create's)
	others=$(echo $COMMANDS | tr ' ' '\n' | grep -vxF "$cmd" | tr '\n' '|')
	sed -E "s/(${others%|}) (--[a-z0-9-]+ ?)+//g" "$T/h" | grep -oE -- '(^|[^a-z-])--[a-z][a-z0-9-]*' |
		grep -oE -- '--[a-z0-9-]+' | sort -u >"$T/named"
	check "usage and option list agree" cmp -s "$T/usage" "$T/list"
	extra=$(comm -23 "$T/named" "$T/list" | grep -vxF -- --help | tr '\n' ' ')
	check "names no option it does not take [${extra}]" test -z "$extra"
	check "every line fits 80 columns" test -z "$(awk 'length > 79' "$T/h")"
done
case_begin create_instance_options
"$MODOSNAP" help create >"$T/h"
check "help create lists --instance" grep -q '^  --instance DIR  ' "$T/h"
check "help create lists --postfix-dir" grep -q '^  --postfix-dir DIR  ' "$T/h"

finish
