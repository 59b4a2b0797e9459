# The documentation against the program (issue 16): each command's options
# as `modosnap help CMD` lists them (generated from the option table,
# src/cli/options.c) appear in that command's section of docs/modosnap.1,
# in its synopsis and as an item; every option of the man page's command
# sections is one the program takes there (the binary is run with it); every
# `modosnap CMD --option` written in README.md and docs/*.md names an
# option CMD takes; relative links of the installed pages resolve.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)
MAN=$MS_SOURCE_DIR/docs/modosnap.1
cd "$T" || exit 1

COMMANDS=$("$MODOSNAP" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/commands:/ {print $1}')

# program_options CMD : the options `help CMD` lists, one a line ("--dest
# DIR", "--verify[=deep]"); CMD "global": modosnap's own, long form.
program_options() {
	if [ "$1" = global ]; then
		"$MODOSNAP" --help | sed -n '/^global options:/,/^$/p' | sed -n 's/^  -., \(--[a-z-]*\( [A-Z]*\)\?\).*/\1/p'
	else
		"$MODOSNAP" help "$1" | sed -n '/^options:/,/^$/p' | sed -n 's/^  \(--[a-z-]*\(\[=[a-z]*\]\| -\| [A-Z]*\)\?\).*/\1/p'
	fi
}

# man_part CMD WHAT : option names of CMD's section of the man page
# (WHAT: synopsis, the .SY block; items, the lines after .TP).
man_part() {
	local section=$1
	[ "$1" = global ] && section="Global options"
	sed 's/\\-/-/g' "$MAN" | awk -v s=".SS $section" -v what="$2" '
		$0 == s || $0 == ".SS \"" substr(s, 5) "\"" { on = 1; next }
		on && /^\.S[SH]/ { on = 0 }
		!on { next }
		what == "synopsis" && /^\.SY/ { syn = 1 }
		what == "synopsis" && syn { print }
		/^\.YS/ { syn = 0 }
		what == "items" && item { print; item = 0 }
		what == "items" && /^\.TP/ { item = 1 }' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# sample ARG : a value the option's check takes
sample() {
	case $1 in
	N | SECONDS) echo 1 ;;
	DURATION) echo 1h ;;
	COMPONENT) echo instance ;;
	TAG) echo t ;;
	-) echo - ;;
	*) echo "$T/none" ;;
	esac
}

# accepted CMD OPTION [ARG] : the binary takes OPTION for CMD. The run
# stops at the surplus arguments (exit 2) before doing anything.
accepted() {
	local cmd=$1 opt=$2 arg=${3:-}
	if [ "$cmd" = global ]; then
		"$MODOSNAP" "$opt" ${arg:+"$(sample "$arg")"} frobcmd >"$T/out" 2>"$T/err" </dev/null
		RC=$?
		[ "$RC" = 0 ] || grep -qF "unknown command 'frobcmd'" "$T/err"
	else
		"$MODOSNAP" "$cmd" "$opt" ${arg:+"$(sample "$arg")"} x1 x2 x3 >"$T/out" 2>"$T/err" </dev/null
		RC=$?
		[ "$RC" = 2 ] && grep -qE "^modosnap: error: unexpected argument 'x[123]'" "$T/err"
	fi
}

for cmd in global $COMMANDS; do
	[ "$cmd" = help ] && continue
	case_begin "man_$cmd"
	program_options "$cmd" >"$T/prog.$cmd"
	check "help lists options" test -s "$T/prog.$cmd"
	sed 's/[ [].*//' "$T/prog.$cmd" | sort -u >"$T/names.$cmd"
	parts="synopsis items"
	[ "$cmd" = global ] && parts=items # the SYNOPSIS shows them in short form
	for part in $parts; do
		man_part "$cmd" "$part" >"$T/man.$cmd.$part"
		missing=$(comm -23 "$T/names.$cmd" "$T/man.$cmd.$part" | tr '\n' ' ')
		check "every option of 'help $cmd' is in the man page's $part [${missing}]" test -z "$missing"
	done
	# every option the man page gives the command, the program takes
	while read -r opt; do
		arg=$(awk -v o="$opt" '$1 == o && NF > 1 {print $2}' "$T/prog.$cmd")
		if accepted "$cmd" "$opt" "$arg"; then ok "the program takes the man page's $opt"; else
			not_ok "the man page gives $cmd $opt, the program refuses it" "$(cat "$T/err")"
		fi
	done < <(cat "$T/man.$cmd".* | sort -u)
	# and every option 'help CMD' lists (the option table's)
	while read -r opt arg; do
		opt=${opt%%\[*}
		if accepted "$cmd" "$opt" "$arg"; then ok "the program takes $opt"; else
			not_ok "help $cmd lists $opt, the program refuses it" "$(cat "$T/err")"
		fi
	done <"$T/prog.$cmd"
done

# Command lines in the Markdown documents: `modosnap [-q|-v|-c FILE] CMD
# ARGS` up to the end of the code span, a comment, a pipe or a list; each
# --option must be one CMD takes.
case_begin md_command_lines
cmd_re=$(echo $COMMANDS | tr ' ' '|')
n=0
while IFS= read -r line; do
	file=${line%%:*}
	text=${line#*:}
	cmd=$(sed -E 's/^modosnap( +(-[qv]+|-c +[^ ]+|--config[= ][^ ]+))* +//; s/ .*//' <<<"$text")
	for opt in $(grep -oE -- '(^| )--[a-z][a-z0-9-]*' <<<"$text" | tr -d ' '); do
		n=$((n + 1))
		if ! grep -qxF -- "$opt" "$T/names.$cmd" && ! grep -qxF -- "$opt" "$T/names.global"; then
			not_ok "$(basename "$file"): 'modosnap $cmd' does not take $opt" "$text"
		fi
	done
done < <(cd "$MS_SOURCE_DIR" && grep -oE "modosnap( +(-[qv]+|-c +[^ ]+|--config[= ][^ ]+))* +($cmd_re)( +[^ \`|;&#)\"<]+)*" \
	README.md docs/*.md)
check "the documents' command lines name options ($n checked)" test "$n" -gt 20

# README's "Using it" names every command, one line each (no options: it
# points to help and the man page instead of copying them).
case_begin readme_commands
for cmd in $COMMANDS; do
	[ "$cmd" = help ] && continue
	check "README lists $cmd" grep -qE "^    modosnap $cmd( |$)" "$MS_SOURCE_DIR/README.md"
done

# A synopsis copied into a document ("    modosnap CMD ... [--OPTION ...]",
# with its indented continuation lines, three options or more; fewer is
# one form of the command) names every option CMD takes: a copy may not
# fall behind the program (or let it say "modosnap CMD [options]").
case_begin md_synopses
while IFS='|' read -r file cmd opts; do
	want=$(tr '\n' ' ' <"$T/names.$cmd")
	got=$(tr ' ' '\n' <<<"$opts" | grep . | sort -u | tr '\n' ' ')
	if [ "$got" = "$want" ]; then ok "$file: the synopsis of $cmd is whole"; else
		not_ok "$file: the synopsis of $cmd differs from 'help $cmd'" "missing: $(comm -23 "$T/names.$cmd" <(tr ' ' '\n' <<<"$got" | grep .) | tr '\n' ' ')"
	fi
done < <(cd "$MS_SOURCE_DIR" && awk -v cmds=" $(echo $COMMANDS) " '
	function flush() { if (cmd != "" && gsub(/\[--/, "&", text) >= 3) print FILENAME "|" cmd "|" opts; cmd = "" }
	FNR == 1 { cmd = "" }
	cmd != "" && /^     +\[/ { opts = opts " " options($0); text = text $0; next }
	{ flush() }
	/^    modosnap [a-z]+ .*\[--/ && index(cmds, " " $2 " ") { cmd = $2; opts = options($0); text = $0 }
	function options(line,   out) {
		out = ""
		while (match(line, /--[a-z][a-z0-9-]*/)) {
			out = out " " substr(line, RSTART, RLENGTH)
			line = substr(line, RSTART + RLENGTH)
		}
		return out
	}
	END { flush() }' README.md docs/*.md)

# Relative links of README.md and docs/*.md resolve. docs/*.md are
# installed with FORMAT.md and examples/ (/usr/share/doc/modosnap), not
# with docs/dev/: a user's page may not send its reader there (testing.md
# is the developers').
case_begin md_links
while IFS=: read -r file link; do
	target=${link#*](}
	target=${target%)}
	target=${target%%#*}
	case $target in http*://* | mailto:* | "") continue ;; esac
	dir=$(dirname "$MS_SOURCE_DIR/$file")
	if [ -e "$dir/$target" ]; then ok "$file: $target exists"; else not_ok "$file: '$target' does not exist"; fi
	case $file:$target in docs/testing.md:*) ;; docs/*:dev/*)
		not_ok "$file: '$target' is not installed beside it" ;;
	esac
done < <(cd "$MS_SOURCE_DIR" && grep -oE '\]\([^)]+\)' README.md docs/*.md | sed 's/:\](/:](/')

finish
