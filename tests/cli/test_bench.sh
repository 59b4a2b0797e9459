# scripts/bench db at a tiny scale (500 msgs rows, one run per side) with
# the binary under test: it exits 0, prints the markdown table, writes a
# JSON summary whose every row of the issue's table has numeric medians,
# ratios, peak RSS and sizes, and stops the throwaway servers it started.
# Bad options are refused before anything starts. Timing is never asserted
# here (docs/performance.md).
. "$MS_SOURCE_DIR/tests/lib.sh"
BENCH=$MS_SOURCE_DIR/scripts/bench

# run_bench ARGS... : scripts/bench with the binary under test; stdout in
# $T/out, stderr in $T/err, exit code in $RC. Its scratch directory goes
# under $T/tmp.
run_bench() {
	mkdir -p "$T/tmp"
	TMPDIR=$T/tmp bash "$BENCH" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
}

case_begin "bad options"
run_bench db --engine sqlite
expect_rc 1
expect_stderr "bench: error: --engine must be pg, mariadb or both, not 'sqlite'"
run_bench db --scale 0.0000001 --bin "$MODOSNAP"
expect_rc 1
expect_stderr "bench: error: --scale 0.0000001 gives 0 msgs rows; it must give 1 to 1e8"
run_bench db --runs 0 --bin "$MODOSNAP"
expect_rc 1
expect_stderr "bench: error: --runs must be 1 to 99, not '0'"
check "nothing was left in the scratch root" test -z "$(ls -A "$T/tmp")"

if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -x /usr/sbin/mariadbd ]; then
	finish_skipped "no PostgreSQL 15 or MariaDB server binaries (scripts/install-deps)"
fi

case_begin "both engines at scale 0.0005"
run_bench db --engine both --scale 0.0005 --runs 1 --json "$T/bench.json" --bin "$MODOSNAP" --keep
expect_rc 0
expect_stdout_has "| operation | reference s | modosnap s | modosnap / reference | target | met | modosnap peak RSS MiB | size MiB (reference / modosnap) |"
expect_stdout_has "peak RSS of modosnap: create "
check "one progress line per step on stderr" \
	test "$(grep -c '^bench: \(pg\|mariadb\): \(create\|verify\|restore\) 1/1: ' "$T/err")" = 13
check "the JSON names every row of the issue's table" \
	test "$(jq -r '[.rows[].key] | join(" ")' "$T/bench.json")" = \
	"pg.create.zstd pg.create.fc pg.restore pg.verify mariadb.create mariadb.restore mariadb.verify"
check "every row has numeric medians, a ratio, a peak RSS and sizes" \
	jq -e '.rows | length == 7 and all(
		(.reference.median_s, .modosnap.median_s, .ratio, .target, .modosnap.peak_rss_kib,
		 .reference.bytes, .modosnap.bytes, .reference.cpu_s, .modosnap.server_cpu_s) | type == "number")
		and all(.reference.median_s > 0 and .modosnap.median_s > 0 and .modosnap.peak_rss_kib > 0)' "$T/bench.json" >/dev/null
check "the fixture's row counts are recorded" \
	jq -e '.fixtures.pg.msgs == 500 and .fixtures.mariadb.msgs == 500 and .msgs == 500' "$T/bench.json" >/dev/null
check "the peak RSS is checked against the bound" jq -e '.rss_bound_mib == 128 and (.rss_ok | type == "boolean")' "$T/bench.json" >/dev/null
kept=$(sed -n 's/^bench: kept //p' "$T/err")
check "--keep kept the scratch directory" test -s "$kept/results.tsv"
srv=$(sed -n 's|^postgresql .* running: socket \(/tmp/modosnap-srv\.[^/]*\)/pg/run.*|\1|p' "$kept/dbservers.log" 2>/dev/null)
check "the servers' directory is named in their log" test -n "$srv"
check "the servers were stopped and their directory removed" test ! -e "$srv"

finish
