# prune on a destination of tiny real archives with chosen creation times
# (written by a small python3 generator: pax tar in zstd with a header and
# a manifest whose digests are right, accepted by `modosnap verify`):
# the plan, --dry-run, --json, real deletion with verification records, a
# leftover from an interrupted prune, the verified pre-upgrade protection,
# a recent safety snapshot kept for keep_safety, apt ones by keep_apt,
# config defaults, a held lock, unreadable archives and usage errors.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)
# the periods are local time: the plans below are written in UTC days,
# the case local_time sets its own zone
export TZ=UTC0

for tool in python3 zstd jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "not ok - $tool is required by this test and is missing"
		exit 1
	fi
done

# gen_archives DEST SPEC... : SPEC is STAMP[:TAG,TAG]; the i-th archive
# (from 0) gets the id STAMP-0000100i (hex). Prints the paths.
gen_archives() {
	python3 - "$@" <<'PY'
import calendar, hashlib, io, json, subprocess, sys, tarfile, time

def make(dest, stamp, tags, rnd):
    t = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    sid = "%s-%08x" % (stamp, rnd)
    hdr = {"format_version": 1, "snapshot_id": sid,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
           "host": "mail1", "tool_version": "0.3.0", "instance": "/srv/modoboa/instance", "tags": tags,
           "note": None, "components": [],
           "versions": {"modoboa": "2.3.2", "django": None, "python": None, "extensions": {}, "databases": []}}
    hb = (json.dumps(hdr, indent=2) + "\n").encode()
    ent = {"path": "modosnap.json", "type": "file", "size": len(hb), "sha256": hashlib.sha256(hb).hexdigest(),
           "mode": 384, "uid": 0, "gid": 0, "uname": None, "gname": None, "mtime": t, "mtime_nsec": 0}
    man = {"format_version": 1, "snapshot_id": sid, "entries": [ent], "skipped": []}
    mb = (json.dumps(man, indent=2) + "\n").encode()
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    for name, data in (("modosnap.json", hb), ("MANIFEST.json", mb)):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = len(data), 0o600, t, 0, 0, "", ""
        tf.addfile(ti, io.BytesIO(data))
    end = tf.offset
    tf.close()
    raw = buf.getvalue()[:end + 1024]  # FORMAT.md §3: nothing after the end-of-archive marker
    path = "%s/mail1_%s_modoboa-2.3.2.tar.zst" % (dest, stamp)
    subprocess.run(["zstd", "-q", "-f", "--check", "-o", path], input=raw, check=True)
    print(path)

for i, spec in enumerate(sys.argv[2:]):
    stamp, _, tags = spec.partition(":")
    make(sys.argv[1], stamp, [x for x in tags.split(",") if x], 0x1000 + i)
PY
}

SPECS=(
	20250110T080000Z:pre-upgrade # 0 verified
	20250115T080000Z:release     # 1
	20250201T080000Z             # 2
	20250210T080000Z:pre-upgrade # 3 verified: the newest verified pre-upgrade
	20250220T080000Z:safety      # 4 verified, removed with its record
	20250301T080000Z             # 5
	20250301T200000Z             # 6
	20250302T080000Z:pre-upgrade # 7 not verified
	20250303T080000Z             # 8
	20250303T090000Z             # 9
	20250304T080000Z             # 10
	20250305T080000Z             # 11
)
name_of() { echo "mail1_${SPECS[$1]%%:*}_modoboa-2.3.2.tar.zst"; }
id_of() { printf '%s-%08x' "${SPECS[$1]%%:*}" $((0x1000 + $1)); }

# mk_dest DIR : the twelve archives, three of them verified.
mk_dest() {
	mkdir -p "$1"
	gen_archives "$1" "${SPECS[@]}" >/dev/null || return 1
	local i
	for i in 0 3 4; do
		# unsigned (made above): accepted with a warning, exit 3
		MODOSNAP_CONFIG= "$MODOSNAP" -q verify --allow-unsigned "$(id_of $i)" --dest "$1"
		[ $? -eq 3 ] || return 1
	done
}

listing() { (cd "$1" && ls -A | LC_ALL=C sort); }

D=$T/dest
case_begin generated_archives_verify
check "twelve archives generated, three verified" mk_dest "$D"
run_ms verify --allow-unsigned "$(id_of 11)" --dest "$D"
expect_rc 3
check "four verification records (two removed later)" test "$(ls "$D" | grep -c '\.verified$')" = 4

EXPECTED_PLAN="keep   $(id_of 11)  2025-03-05T08:00:00Z  -  (daily)
keep   $(id_of 10)  2025-03-04T08:00:00Z  -  (daily)
keep   $(id_of 9)  2025-03-03T09:00:00Z  -  (daily)
remove $(id_of 8)  2025-03-03T08:00:00Z  -
keep   $(id_of 7)  2025-03-02T08:00:00Z  pre-upgrade  (pre-upgrade)
remove $(id_of 6)  2025-03-01T20:00:00Z  -
remove $(id_of 5)  2025-03-01T08:00:00Z  -
remove $(id_of 4)  2025-02-20T08:00:00Z  safety
keep   $(id_of 3)  2025-02-10T08:00:00Z  pre-upgrade  (pre-upgrade,verified-pre-upgrade)
remove $(id_of 2)  2025-02-01T08:00:00Z  -
keep   $(id_of 1)  2025-01-15T08:00:00Z  release  (tag:release)
keep   $(id_of 0)  2025-01-10T08:00:00Z  pre-upgrade  (pre-upgrade)"

case_begin dry_run
listing "$D" >"$T/before"
run_ms prune --dest "$D" --keep-daily 3 --keep-tag release --dry-run
expect_rc 0
expect_stderr_empty
printf '%s\n7 kept, 5 would be removed\n' "$EXPECTED_PLAN" >"$T/want"
if cmp -s "$T/want" "$T/out"; then ok "the plan is exact"; else
	not_ok "the plan differs" "$(diff "$T/want" "$T/out")"
fi
listing "$D" >"$T/after"
check "--dry-run changed nothing" cmp -s "$T/before" "$T/after"

case_begin dry_run_ignores_lock
exec 9>"$D/.modosnap.lock"
flock -n 9
run_ms prune --dest "$D" --keep-daily 3 --dry-run
expect_rc 0
exec 9>&-

case_begin config_defaults
printf '[retention]\nkeep_daily = 3\nkeep_tag = release\nkeep_last = 1\n' >"$T/ret.conf"
run_ms -c "$T/ret.conf" prune --dest "$D" --keep-last 0 --dry-run
expect_rc 0
check "the config's rules, --keep-last 0 overriding keep_last" cmp -s "$T/want" "$T/out"
printf '[retention]\nkeep_last = 2\nkeep_pre_upgrade = 0\n' >"$T/ret2.conf"
run_ms -c "$T/ret2.conf" prune --dest "$D" --keep-pre-upgrade 1 --dry-run
expect_rc 0
expect_stdout_has "keep   $(id_of 7)  2025-03-02T08:00:00Z  pre-upgrade  (pre-upgrade)"
expect_stdout_has "remove $(id_of 0)  2025-01-10T08:00:00Z  pre-upgrade"
expect_stdout_has "4 kept, 8 would be removed"

case_begin json
run_ms prune --dest "$D" --keep-daily 3 --keep-tag release --dry-run --json
expect_rc 0
expect_stderr_empty
check "--json is a JSON array of 12" test "$(jq length "$T/out")" = 12
check "removed ids" test "$(jq -c '[.[] | select(.keep == false) | .id]' "$T/out")" = \
	"[\"$(id_of 8)\",\"$(id_of 6)\",\"$(id_of 5)\",\"$(id_of 4)\",\"$(id_of 2)\"]"
check "reasons of the verified pre-upgrade" test \
	"$(jq -c --arg id "$(id_of 3)" '.[] | select(.id == $id) | [.reasons, .tags, .created, .path]' "$T/out")" = \
	"[[\"pre-upgrade\",\"verified-pre-upgrade\"],[\"pre-upgrade\"],\"2025-02-10T08:00:00Z\",\"$D/$(name_of 3)\"]"

case_begin lock_held
exec 9>"$D/.modosnap.lock"
flock -n 9
listing "$D" >"$T/before"
run_ms prune --dest "$D" --keep-daily 3
expect_rc 4
expect_stderr "modosnap: error: another modosnap run holds the lock on '$D'"
exec 9>&-
listing "$D" >"$T/after"
check "nothing removed while locked" cmp -s "$T/before" "$T/after"

case_begin real_prune_and_leftover
: >"$D/mail1_20241201T000000Z_modoboa-2.3.2.tar.zst.deleting"
echo "2024-12-01T00:00:00Z 1 1" >"$D/mail1_20241201T000000Z_modoboa-2.3.2.tar.zst.verified"
run_ms prune --dest "$D" --keep-daily 3 --keep-tag release
expect_rc 0
LEFT=$D/mail1_20241201T000000Z_modoboa-2.3.2.tar.zst.deleting
expect_stderr "modosnap: removed '$LEFT', left by an interrupted prune"
printf '%s\n7 kept, 5 removed\n' "$EXPECTED_PLAN" >"$T/want"
check "the printed plan is the dry run's" cmp -s "$T/want" "$T/out"
{
	echo .modosnap.lock
	for i in 0 1 3 7 9 10 11; do name_of $i; done
	for i in 0 3 11; do echo "$(name_of $i).verified"; done
} | LC_ALL=C sort >"$T/want_files"
listing "$D" >"$T/after"
if cmp -s "$T/want_files" "$T/after"; then ok "exactly the expected files remain"; else
	not_ok "the files differ" "$(diff "$T/want_files" "$T/after")"
fi
run_ms prune --dest "$D" --keep-daily 3 --keep-tag release
expect_rc 0
expect_stdout_has "7 kept, 0 removed"

case_begin verified_pre_upgrade_survives_keep_last_1
run_ms prune --dest "$D" --keep-last 1 --keep-pre-upgrade 0
expect_rc 0
printf '%s\n' "keep   $(id_of 11)  2025-03-05T08:00:00Z  -  (last)" \
	"remove $(id_of 10)  2025-03-04T08:00:00Z  -" \
	"remove $(id_of 9)  2025-03-03T09:00:00Z  -" \
	"remove $(id_of 7)  2025-03-02T08:00:00Z  pre-upgrade" \
	"keep   $(id_of 3)  2025-02-10T08:00:00Z  pre-upgrade  (verified-pre-upgrade)" \
	"remove $(id_of 1)  2025-01-15T08:00:00Z  release" \
	"remove $(id_of 0)  2025-01-10T08:00:00Z  pre-upgrade" \
	"2 kept, 5 removed" >"$T/want"
if cmp -s "$T/want" "$T/out"; then ok "the plan is exact"; else
	not_ok "the plan differs" "$(diff "$T/want" "$T/out")"
fi
printf '%s\n' .modosnap.lock "$(name_of 3)" "$(name_of 3).verified" "$(name_of 11)" "$(name_of 11).verified" |
	LC_ALL=C sort >"$T/want_files"
listing "$D" >"$T/after"
if cmp -s "$T/want_files" "$T/after"; then ok "only the newest and the verified pre-upgrade remain"; else
	not_ok "the files differ" "$(diff "$T/want_files" "$T/after")"
fi

case_begin unreadable_archive_kept
BAD=$D/mail1_20250306T000000Z_modoboa-2.3.2.tar.zst
head -c 2048 /dev/urandom >"$BAD"
run_ms prune --dest "$D" --keep-last 1 --keep-pre-upgrade 0
expect_rc 3
expect_stderr "modosnap: warning: '$BAD': header unreadable; kept (check it with 'modosnap verify')"
expect_stdout_has "keep   mail1_20250306T000000Z_modoboa-2.3.2.tar.zst  -  -  (unreadable)"
expect_stdout_has "keep   $(id_of 11)  2025-03-05T08:00:00Z  -  (last)"
check "the broken archive is still there" test -f "$BAD"
run_ms prune --dest "$D" --keep-last 1 --keep-pre-upgrade 0 --dry-run --json
expect_rc 3
check "json: unreadable, kept, id null" test \
	"$(jq -c '.[0] | [.id, .keep, .reasons]' "$T/out")" = '[null,true,["unreadable"]]'

case_begin quiet
run_ms -q prune --dest "$T/dest" --keep-last 5
expect_rc 3
check "nothing on stdout with -q" test ! -s "$T/out"

case_begin no_rule
NORULE="modosnap: error: no retention rule given (--keep-last, --keep-daily, ...) and none in the config"
run_ms prune --dest "$D"
expect_rc 2
expect_stderr "$NORULE; try 'modosnap help prune'"
run_ms prune --dest "$D" --keep-pre-upgrade 5 --keep-last 0
expect_rc 2
expect_stderr "$NORULE; try 'modosnap help prune'"
printf '[retention]\nkeep_pre_upgrade = 2\n' >"$T/ret3.conf"
run_ms -c "$T/ret3.conf" prune --dest "$D"
expect_rc 2
expect_stderr "$NORULE; try 'modosnap help prune'"

case_begin bad_values
run_ms prune --dest "$D" --keep-last x
expect_rc 2
expect_stderr "modosnap: error: invalid value 'x' for --keep-last (expected 0-1000000); try 'modosnap help prune'"
run_ms prune --dest "$D" --keep-weekly -1
expect_rc 2
expect_stderr "modosnap: error: invalid value '-1' for --keep-weekly (expected 0-1000000); try 'modosnap help prune'"
run_ms prune --dest "$D" --keep-last 1 extra
expect_rc 2
expect_stderr "modosnap: error: unexpected argument 'extra'; try 'modosnap help prune'"

case_begin safety_and_apt
# relative to now: a safety snapshot of an hour ago (kept for keep_safety,
# 7 days by default, whatever keep_last says), one of 8 days ago (not),
# four apt snapshots (the newest 3 kept by keep_apt's default) and one
# pre-upgrade snapshot older than all of them (kept: apt ones never count
# against keep_pre_upgrade)
NOW=$(date +%s)
SA_AGO=(900000 800000 700000 600000 500000 400000 3600 60) # seconds
SA_TAGS=(pre-upgrade apt safety apt apt apt safety "")
at() { date -u -d "@$((NOW - SA_AGO[$1]))" "+$2"; }
SA=$T/sa
mkdir -p "$SA"
SA_SPECS=()
for i in "${!SA_AGO[@]}"; do SA_SPECS+=("$(at "$i" %Y%m%dT%H%M%SZ):${SA_TAGS[$i]}"); done
gen_archives "$SA" "${SA_SPECS[@]}" >/dev/null
sa() { printf '%s-%08x  %s' "$(at "$1" %Y%m%dT%H%M%SZ)" $((0x1000 + $1)) "$(at "$1" %Y-%m-%dT%H:%M:%SZ)"; }
run_ms prune --dest "$SA" --keep-last 1 --dry-run
expect_rc 0
printf '%s\n' "keep   $(sa 7)  -  (last)" \
	"keep   $(sa 6)  safety  (safety:7d)" \
	"keep   $(sa 5)  apt  (apt)" \
	"keep   $(sa 4)  apt  (apt)" \
	"keep   $(sa 3)  apt  (apt)" \
	"remove $(sa 2)  safety" \
	"remove $(sa 1)  apt" \
	"keep   $(sa 0)  pre-upgrade  (pre-upgrade)" \
	"6 kept, 2 would be removed" >"$T/want"
if cmp -s "$T/want" "$T/out"; then ok "the plan is exact"; else
	not_ok "the plan differs" "$(diff "$T/want" "$T/out")"
fi
printf '[retention]\nkeep_last = 1\nkeep_safety = 12h\nkeep_apt = 1\n' >"$T/sa.conf"
run_ms -c "$T/sa.conf" prune --dest "$SA" --dry-run --json
expect_rc 0
check "--json: the reasons name the configured window" test \
	"$(jq -c '[.[] | select(.keep) | .reasons | join(",")]' "$T/out")" = '["last","safety:12h","apt","pre-upgrade"]'
printf '[retention]\nkeep_last = 1\nkeep_safety = 0\nkeep_apt = 0\nkeep_pre_upgrade = 0\n' >"$T/sa0.conf"
run_ms -c "$T/sa0.conf" prune --dest "$SA"
expect_rc 0
expect_stdout_has "1 kept, 7 removed"
check "only the newest remains" test "$(find "$SA" -name '*.tar.zst' | wc -l)" = 1
printf '[retention]\nkeep_safety = 1y\n' >"$T/bad.conf"
run_ms -c "$T/bad.conf" prune --dest "$SA" --keep-last 1
expect_rc 1
expect_stderr "modosnap: error: '$T/bad.conf':2: invalid keep_safety '1y' (expected a duration such as 7d, 12h or 30m, or 0)"

case_begin local_time
# keep_hourly, keep_yearly and keep_within; the periods are those of TZ (a
# POSIX zone string, no tzdata needed): at UTC+02:00 the snapshot of
# 2025-03-01 23:30 UTC is on 2 March, the one of 2023-12-31 22:00 UTC in 2024
LT=$T/lt
mkdir -p "$LT"
gen_archives "$LT" 20231231T220000Z 20240601T080000Z 20250301T233000Z 20250302T003000Z \
	20250302T013000Z >/dev/null
kept() { jq -r '[.[] | select(.keep) | .created[0:16] + " " + (.reasons | join(","))] | join("; ")' "$T/out"; }
TZ=UTC0 run_ms prune --dest "$LT" --keep-daily 2 --dry-run --json
expect_rc 0
check "UTC days" test "$(kept)" = "2025-03-02T01:30 daily; 2025-03-01T23:30 daily"
TZ=EET-2 run_ms prune --dest "$LT" --keep-daily 2 --dry-run --json
expect_rc 0
check "local days (UTC+2)" test "$(kept)" = "2025-03-02T01:30 daily; 2024-06-01T08:00 daily"
TZ=UTC0 run_ms prune --dest "$LT" --keep-yearly 3 --keep-hourly 2 --dry-run --json
expect_rc 0
check "UTC years and hours" test "$(kept)" = \
	"2025-03-02T01:30 hourly,yearly; 2025-03-02T00:30 hourly; 2024-06-01T08:00 yearly; 2023-12-31T22:00 yearly"
TZ=EET-2 run_ms prune --dest "$LT" --keep-yearly 3 --dry-run --json
expect_rc 0
check "local years (UTC+2)" test "$(kept)" = "2025-03-02T01:30 yearly; 2024-06-01T08:00 yearly"
run_ms prune --dest "$LT" --keep-within 2h --dry-run
expect_rc 0
expect_stdout_has "keep   20250302T003000Z-00001003  2025-03-02T00:30:00Z  -  (within:2h)"
expect_stdout_has "2 kept, 3 would be removed"
printf '[retention]\nkeep_within = 1w\nkeep_hourly = 1\n' >"$T/lt.conf"
run_ms -c "$T/lt.conf" prune --dest "$LT" --dry-run
expect_rc 0
expect_stdout_has "keep   20250302T013000Z-00001004  2025-03-02T01:30:00Z  -  (hourly,within:7d)"
expect_stdout_has "3 kept, 2 would be removed"
run_ms -c "$T/lt.conf" prune --dest "$LT" --keep-within 0 --keep-hourly 0 --keep-last 1 --dry-run
expect_rc 0
expect_stdout_has "1 kept, 4 would be removed"
run_ms prune --dest "$LT" --keep-within 2x
expect_rc 2
expect_stderr "modosnap: error: invalid --keep-within '2x' (e.g. 12h, 2d, 1w, or 0); try 'modosnap help prune'"
run_ms prune --dest "$LT" --keep-hourly -1
expect_rc 2
expect_stderr "modosnap: error: invalid value '-1' for --keep-hourly (expected 0-1000000); try 'modosnap help prune'"
run_ms prune --dest "$LT" --keep-yearly 1000001
expect_rc 2
expect_stderr "modosnap: error: invalid value '1000001' for --keep-yearly (expected 0-1000000); try 'modosnap help prune'"
printf '[retention]\nkeep_within = 36\n' >"$T/lt2.conf"
run_ms -c "$T/lt2.conf" prune --dest "$LT" --keep-last 1
expect_rc 1
expect_stderr "modosnap: error: '$T/lt2.conf':2: invalid keep_within '36' (expected a duration such as 7d, 12h or 30m, or 0)"

case_begin missing_dest
run_ms prune --dest "$T/nodest" --keep-last 1 --dry-run
expect_rc 1
expect_stderr "modosnap: error: unable to read directory '$T/nodest': No such file or directory"

finish
