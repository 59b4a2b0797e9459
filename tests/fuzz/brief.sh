#!/usr/bin/env bash
# One short fuzzing run for CTest: brief.sh BINARY CORPUS_DIR SECONDS.
# Every seed (regression inputs included) is run first; new inputs go to a
# scratch directory that is removed afterwards, so the corpus in git never
# changes. Fails on any crash, leak, sanitizer report or timeout.
# The seed is fixed (MS_FUZZ_SEED, default 1) so that every machine tries
# the same inputs in the same order (how many depends on its speed);
# scripts/fuzz explores with random seeds.
set -euo pipefail
bin=$1 corpus=$2 seconds=$3
[ -d "$corpus" ] || { echo "no seed corpus '$corpus'" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/modosnap-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/new"
rc=0
"$bin" -seed="${MS_FUZZ_SEED:-1}" -max_total_time="$seconds" -runs=100000000 -timeout=10 -rss_limit_mb=2048 \
	-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$scratch/" "$scratch/new" "$corpus" 2>&1 | tail -n 40 || rc=$?
for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-*; do
	[ -e "$f" ] || continue
	echo "finding: $(basename "$f") (base64):"
	base64 "$f" | head -n 20
done
exit "$rc"
