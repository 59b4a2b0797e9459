#!/usr/bin/env bash
# Regenerates the seed corpora under tests/fuzz/corpus/ from the repository's
# fixtures (regression inputs, corpus/*/regress-*, are kept as they are):
#   fuzz_pysettings  settings.py of tests/lib.sh's mk_min_instance and of
#                    scripts/mkfixture, and the snippets of test_pysettings.c
#   fuzz_config      docs/examples/modosnap.conf and the snippets of test_config.c
#   fuzz_manifest    modosnap.json and MANIFEST.json of a signed `create --no-db`
#                    archive of a mk_min_instance installation
#   fuzz_archive     that archive's tar stream, and small tar streams
#   fuzz_select      selectors, snapshot names, times and retention histories
# Usage: tests/fuzz/mkseeds.sh MODOSNAP_BINARY (a build of the current tree)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "$1")
corpus=$src/tests/fuzz/corpus
work=$(mktemp -d /tmp/modosnap-mkseeds.XXXXXX)
trap 'rm -rf "$work"' EXIT

# fresh TARGET : empties the seeds of a target, keeping regress-* inputs.
fresh() {
	mkdir -p "$corpus/$1"
	find "$corpus/$1" -maxdepth 1 -type f ! -name 'regress-*' -delete
}

# C string literals of a test file (adjacent literals joined, escapes
# decoded), those containing NEEDLE, one seed file each.
c_snippets() {
	python3 - "$1" "$2" "$3" "$4" <<'PY'
import re, sys, hashlib, os
path, needle, out, prefix = sys.argv[1:5]
text = open(path, encoding='utf-8').read()
lit = r'"(?:[^"\\\n]|\\.)*"'
for m in re.finditer(r'(?:%s\s*)+' % lit, text):
    parts = re.findall(lit, m.group(0))
    raw = ''.join(p[1:-1] for p in parts)
    try:
        data = raw.encode('latin-1', 'backslashreplace').decode('unicode_escape').encode('latin-1')
    except Exception:
        continue
    if needle.encode() not in data or len(data) < 8:
        continue
    name = prefix + hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
PY
}

# --- settings.py ------------------------------------------------------------
fresh fuzz_pysettings
export MODOSNAP=$bin MS_SOURCE_DIR=$src MS_TEST_TMP=$work
(
	# shellcheck source=../lib.sh
	. "$src/tests/lib.sh"
	mk_min_instance "$work/min"
	cp "$work/min/srv/modoboa/instance/instance/settings.py" "$corpus/fuzz_pysettings/min-instance.py"
)
# scripts/mkfixture's settings.py, for both engines, without any server.
sed -n '/^db_host()/,/^}$/p; /^db_port()/p; /^django_engine()/,/^}$/p; /^db_entry()/,/^}$/p; /^write_settings()/,/^}$/p' \
	"$src/scripts/mkfixture" >"$work/mkfixture-funcs.sh"
for eng in pg mariadb; do
	(
		PG_TCP=0 MS_MY_SOCKET=/run/mysqld/mysqld.sock MS_PG_SOCKDIR=/run/postgresql MS_PG_PORT=5432
		DEF_ENGINE=$eng DEF_DB=modoboa DEF_USER=modoboa DEF_PASS=secret
		AMA_ENGINE=$eng AMA_DB=amavis AMA_USER=amavis AMA_PASS=secret2
		SETTINGS=$corpus/fuzz_pysettings/mkfixture-$eng.py INST=$work SECRET_KEY=not-a-real-secret-key
		# shellcheck disable=SC1090,SC1091
		. "$work/mkfixture-funcs.sh"
		write_settings
	)
done
c_snippets "$src/tests/unit/test_pysettings.c" "=" "$corpus/fuzz_pysettings" unit-

# --- config -----------------------------------------------------------------
fresh fuzz_config
cp "$src/docs/examples/modosnap.conf" "$corpus/fuzz_config/example.conf"
c_snippets "$src/tests/unit/test_config.c" "[" "$corpus/fuzz_config" unit-

# --- a real archive: header, manifest, tar stream -----------------------------
(
	# shellcheck source=../lib.sh
	. "$src/tests/lib.sh"
	mk_min_instance "$work/arc"
	# A symlink and a subdirectory, so that every entry type the reader knows appears.
	mkdir -p "$work/arc/srv/modoboa/instance/media/x"
	printf 'hello\n' >"$work/arc/srv/modoboa/instance/media/x/a.txt"
	ln -s a.txt "$work/arc/srv/modoboa/instance/media/x/link"
	# A signing key of its own (never /etc/modosnap): the archive carries
	# MANIFEST.json.sig after the manifest.
	printf '[modosnap]\nsigning_key = %s\ntrusted_keys = %s\n' "$work/signing.key" "$work/trusted_keys" \
		>"$work/modosnap.conf"
	chmod 0600 "$work/modosnap.conf"
	"$bin" -c "$work/modosnap.conf" create --instance "$work/arc/srv/modoboa/instance" \
		--postfix-dir "$work/arc/etc/postfix" --dest "$work/dest" --no-db --tag seed --note "fuzz seed" \
		>/dev/null 2>"$work/create.err" || { cat "$work/create.err" >&2; exit 1; }
)
archive=$(ls "$work"/dest/*.tar.zst)
zstd -q -d -c "$archive" >"$work/archive.tar"
mkdir -p "$work/x"
tar -C "$work/x" -xf "$work/archive.tar" modosnap.json MANIFEST.json MANIFEST.json.sig

fresh fuzz_manifest
cp "$work/x/modosnap.json" "$corpus/fuzz_manifest/header.json"
cp "$work/x/MANIFEST.json" "$corpus/fuzz_manifest/manifest.json"
printf '{}' >"$corpus/fuzz_manifest/empty-object.json"

fresh fuzz_archive
# The first byte is the harness's flags (tests/fuzz/fuzz_archive.c): 0 as
# is, 1 with the tar header checksums recomputed.
{ printf '\001'; cat "$work/archive.tar"; } >"$corpus/fuzz_archive/create-no-db.tar"
# Only the header member, then the end marker.
head -c 1536 "$work/archive.tar" >"$work/head.tar"
{ printf '\001'; cat "$work/head.tar"; head -c 1024 /dev/zero; } >"$corpus/fuzz_archive/header-only.tar"
# A plain tar with each entry type (file, dir, symlink, hard link) in pax format.
mkdir -p "$work/plain/d"
printf 'data\n' >"$work/plain/d/f"
ln -s f "$work/plain/d/s"
ln "$work/plain/d/f" "$work/plain/d/h"
tar --format=pax -C "$work/plain" -cf "$work/plain.tar" d
{ printf '\001'; cat "$work/plain.tar"; } >"$corpus/fuzz_archive/plain-pax.tar"
{ printf '\000'; head -c 1024 /dev/zero; } >"$corpus/fuzz_archive/empty.tar"

# --- selectors, names, times, histories ----------------------------------------
# Fields are NUL-separated: selector, label, version, then history bytes
# (tests/fuzz/fuzz_select.c); the last byte chooses whether the selector is
# resolved against the harness's destination (a multiple of 4: yes).
fresh fuzz_select
sel() { printf '%s\0%s\0%s\0' "$2" "$3" "$4" >"$corpus/fuzz_select/$1"; printf "$5" >>"$corpus/fuzz_select/$1"; }
sel latest latest mail1 2.3.2 '\007\016\010\014\003\017\001\001\002\021\003\000\020\020\004\000'
sel tag tag:pre-upgrade mail1 2.3.2 '\003\003\003\003\003\001\200\001\010\000\177\021\004'
sel id-prefix 20260102T mail1 2.3.2 '\001\002\003\004\005\006\010'
sel id-full 20260103T020000Z-deadbeef mail.example.org 2.3.2rc1 '\000\000\000\000\000\000\004'
sel file-name mail1_20260101T020000Z_modoboa-2.3.2.tar.zst 'a b/c_d' '' '\010'
sel time 2026-02-28T23:59:59Z '' '' '\014\014\014\014\014\017\101\002\101\002\101\002\101\020\004'
sel leap 2024-02-29T00:00:00Z x y '\004'
sel nightly tag:nightly mail1 2.3.2 '\000\001\000\000\002\010\040\010\040\010\040\010\100\010\100\010\004'

# --- SQL scripts ---------------------------------------------------------------
# The cases of test_sqlcheck.c, behind the harness's flag byte (bit 0: the
# dialect; tests/fuzz/fuzz_sqlcheck.c).
fresh fuzz_sqlcheck
python3 - "$src/tests/unit/test_sqlcheck.c" "$corpus/fuzz_sqlcheck" <<'PY'
import re, sys, hashlib, os
path, out = sys.argv[1:3]
text = open(path, encoding='utf-8').read()
lit = r'"(?:[^"\\\n]|\\.)*"'
for m in re.finditer(r'\b(PG|MY),\s*((?:%s\s*)+)' % lit, text):
    raw = ''.join(p[1:-1] for p in re.findall(lit, m.group(2)))
    data = raw.encode('latin-1', 'backslashreplace').decode('unicode_escape').encode('latin-1')
    data = (b'\x00' if m.group(1) == 'PG' else b'\x01') + data
    with open(os.path.join(out, m.group(1).lower() + '-' + hashlib.sha1(data).hexdigest()[:12]), 'wb') as f:
        f.write(data)
PY

# --- signatures --------------------------------------------------------------------
# SSHSIG signatures by `ssh-keygen -Y sign -n modosnap` over the archive's
# manifest (the format modosnap writes), behind the harness's flag byte and
# 2-byte signature length (tests/fuzz/fuzz_sign.c); key lines and a
# trusted-keys file with flag bit 0.
fresh fuzz_sign
ssh-keygen -q -t ed25519 -N '' -C modosnap@fuzz -f "$work/key" >/dev/null
cp "$work/x/MANIFEST.json" "$work/msg"
ssh-keygen -q -Y sign -n modosnap -f "$work/key" "$work/msg" 2>/dev/null
sign_seed() { # NAME FLAGS SIGFILE MSGFILE
	local n
	n=$(stat -c %s "$3")
	{ printf "\\$(printf %03o "$2")\\$(printf %03o $((n & 255)))\\$(printf %03o $((n >> 8)))"; cat "$3" "$4"; } \
		>"$corpus/fuzz_sign/$1"
}
sign_seed valid-manifest 0 "$work/msg.sig" "$work/msg"
sign_seed modosnap-signed 0 "$work/x/MANIFEST.json.sig" "$work/x/MANIFEST.json"
printf 'short message' >"$work/short"
ssh-keygen -q -Y sign -n modosnap -f "$work/key" "$work/short" 2>/dev/null
sign_seed valid-short 0 "$work/short.sig" "$work/short"
cp "$work/short" "$work/other"
ssh-keygen -q -Y sign -n other -f "$work/key" "$work/other" 2>/dev/null
sign_seed other-namespace 0 "$work/other.sig" "$work/short"
sign_seed key-line 1 "$work/key.pub" /dev/null
{ echo "# trusted keys"; cat "$work/key.pub"; echo; echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl old-server"; } >"$work/trusted"
sign_seed trusted-keys 1 "$work/trusted" /dev/null
