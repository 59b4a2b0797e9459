#!/usr/bin/env bash
# The layering rule of docs/dev/architecture.md, checked on every #include
# of the product's sources (src/*/, formats/, restore/):
#
#   base < formats < db < discover < snapshot < remote < restore < cli
#
# - a file includes project headers by folder ("db/pg_conn.h"), and only
#   from its own layer or a layer below it;
# - each external library is included only by the modules listed in
#   EXTERNAL below.
#
# layers.sh [ROOT]       check the tree at ROOT (default: this repository);
#                        prints one line per violation, exit 1 if any.
# layers.sh --self-test  check this repository, then copies of it with one
#                        wrong include each, which must fail with the
#                        expected message (so the check can fail).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# Library header -> extended regex of the files allowed to include it.
EXTERNAL=(
	'libpq-fe.h|^(src/db/pg_[a-z_]+|restore/pg_[a-z_]+)\.c$'
	'mysql.h|^(src/db/my_[a-z_]+|restore/my_[a-z_]+)\.c$'
	'mysql/.*|^(src/db/my_[a-z_]+|restore/my_[a-z_]+)\.c$'
	'jansson.h|^(formats/manifest|src/cli/output)\.c$'
	'archive.h|^formats/archive\.c$'
	'archive_entry.h|^formats/archive\.c$'
	'zstd.h|^formats/zstd_io\.c$'
	'openssl/.*|^(src/base/hash|src/base/text|formats/sign|formats/age)\.c$'
	'ini.h|^src/discover/config\.c$'
	'cmocka.h|^$'
	'curl/.*|^src/cli/monitor\.c$'
)

layer_rank() {
	case $1 in
	base) echo 0 ;; formats) echo 1 ;; db) echo 2 ;; discover) echo 3 ;;
	snapshot) echo 4 ;; remote) echo 5 ;; restore) echo 6 ;; cli) echo 7 ;;
	*) echo -1 ;;
	esac
}

# Layer of a source file given by its path relative to the root.
file_layer() {
	case $1 in
	src/*/*) local l=${1#src/}; echo "${l%%/*}" ;;
	formats/*) echo formats ;;
	restore/*) echo restore ;;
	*) echo "?" ;;
	esac
}

check() {
	local root=$1 bad=0 f rel layer rank line no inc target trank lib rule allowed
	while IFS= read -r f; do
		rel=${f#"$root"/}
		layer=$(file_layer "$rel")
		rank=$(layer_rank "$layer")
		if [ "$rank" -lt 0 ]; then
			echo "$rel: not in a layer folder (src/{base,db,discover,snapshot,cli}, formats, restore)"
			bad=1
			continue
		fi
		while IFS= read -r line; do
			no=${line%%:*} line=${line#*:}
			if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
				inc=${BASH_REMATCH[1]}
				if [[ $inc != */* ]]; then
					echo "$rel:$no: \"$inc\" does not name its folder (write \"LAYER/$inc\")"
					bad=1
					continue
				fi
				target=${inc%%/*}
				trank=$(layer_rank "$target")
				if [ "$trank" -lt 0 ]; then
					echo "$rel:$no: \"$inc\" is not in a layer folder"
					bad=1
				elif [ "$trank" -gt "$rank" ]; then
					echo "$rel:$no: $layer includes \"$inc\" from $target, a layer above it"
					bad=1
				elif [ ! -f "$root/src/$inc" ] && [ ! -f "$root/$inc" ]; then
					echo "$rel:$no: \"$inc\" does not exist"
					bad=1
				fi
			elif [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
				inc=${BASH_REMATCH[1]}
				for rule in "${EXTERNAL[@]}"; do
					lib=${rule%%|*} allowed=${rule#*|}
					[[ $inc =~ ^$lib$ ]] || continue
					if ! [[ $rel =~ $allowed ]]; then
						echo "$rel:$no: <$inc> is included only by ${allowed} (see EXTERNAL in tests/arch/layers.sh)"
						bad=1
					fi
				done
			fi
		done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include' "$f")
	done < <(find "$root/src" "$root/formats" "$root/restore" -name '*.[ch]' | LC_ALL=C sort)
	return "$bad"
}

# Copies the tree, applies one edit, and expects exactly `want` in the output.
expect_fail() {
	local file=$1 text=$2 want=$3 tmp out rc=0
	tmp=$(mktemp -d)
	cp -r "$repo/src" "$repo/formats" "$repo/restore" "$tmp/"
	printf '%s\n' "$text" >>"$tmp/$file"
	out=$(check "$tmp") || rc=$?
	rm -rf "$tmp"
	if [ "$rc" -eq 0 ]; then
		echo "self-test: '$text' in $file was not refused"
		return 1
	fi
	if [ "$out" != "$want" ]; then
		printf 'self-test: %s in %s\n  want: %s\n  got:  %s\n' "$text" "$file" "$want" "$out"
		return 1
	fi
	echo "refused as expected: $want"
}

repo=$(cd "$here/../.." && pwd)
if [ "${1:-}" = "--self-test" ]; then
	check "$repo" || { echo "layers: the repository breaks the rule (above)"; exit 1; }
	echo "layers: $(find "$repo/src" "$repo/formats" "$repo/restore" -name '*.[ch]' | wc -l) files follow the rule"
	n=$(wc -l <"$repo/src/db/db.c")
	expect_fail src/db/db.c '#include "cli/cli.h"' \
		"src/db/db.c:$((n + 1)): db includes \"cli/cli.h\" from cli, a layer above it"
	n=$(wc -l <"$repo/formats/manifest.c")
	expect_fail formats/manifest.c '#include "restore/plan.h"' \
		"formats/manifest.c:$((n + 1)): formats includes \"restore/plan.h\" from restore, a layer above it"
	n=$(wc -l <"$repo/src/snapshot/snapshot.c")
	expect_fail src/snapshot/snapshot.c '#include "util.h"' \
		"src/snapshot/snapshot.c:$((n + 1)): \"util.h\" does not name its folder (write \"LAYER/util.h\")"
	n=$(wc -l <"$repo/src/discover/instance.c")
	expect_fail src/discover/instance.c '#include <libpq-fe.h>' \
		"src/discover/instance.c:$((n + 1)): <libpq-fe.h> is included only by ^(src/db/pg_[a-z_]+|restore/pg_[a-z_]+)\.c$ (see EXTERNAL in tests/arch/layers.sh)"
	n=$(wc -l <"$repo/src/cli/cmd_list.c")
	expect_fail src/cli/cmd_list.c '#include <jansson.h>' \
		"src/cli/cmd_list.c:$((n + 1)): <jansson.h> is included only by ^(formats/manifest|src/cli/output)\.c$ (see EXTERNAL in tests/arch/layers.sh)"
	exit 0
fi
check "${1:-$repo}"
