# Signed snapshots end to end (docs/signing.md, FORMAT.md §10), without
# database servers (--no-db): the key created on first use, the signature
# member checked by OpenSSH's own ssh-keygen, and `verify` on archives
# forged the way an attacker would with stock tools (zstd, GNU tar, a byte
# patch of the tar stream, ssh-keygen -Y sign with another key): members
# and the manifest edited with their digests recomputed, the signature
# remade with another key, removed, or followed by another member. Each
# case checks the exit code and the exact message.
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

R=$T/site
INST=$R/srv/modoboa/instance
PF=$R/etc/postfix
D=$T/dest
KEY=$MS_T_KEYS/signing.key
TRUSTED=$MS_T_KEYS/trusted_keys
mk_min_instance "$R"
for tool in ssh-keygen zstd tar python3 jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "not ok - $tool is missing (scripts/install-deps installs it)"
		exit 1
	fi
done

# unpack A DIR : the tar stream of archive A as DIR.tar
unpack() { zstd -q -d -c "$1" >"$2.tar"; }
# repack DIR OUT : DIR.tar compressed as the archive OUT
repack() { zstd -q -f --check -o "$2" "$1.tar"; }
# jqok ARGS... : jq -e, quietly
jqok() { jq -e "$@" >/dev/null; }
# fingerprint PUBFILE : OpenSSH's SHA256:... of a public key file
fingerprint() { ssh-keygen -l -f "$1" | cut -d' ' -f2; }

case_begin key_created_on_first_use
check "no key before the first create" test ! -e "$KEY"
run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$D" --no-db
expect_rc 0
A=$(ls "$D"/*.tar.zst)
check "key mode 0600" test "$(stat -c %a "$KEY")" = 600
check "key directory mode 0700" test "$(stat -c %a "$MS_T_KEYS")" = 700
check "public key mode 0644" test "$(stat -c %a "$KEY.pub")" = 644
check "the public key is one OpenSSH line" grep -qxE "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=* modosnap@$(hostname)" "$KEY.pub"
check "the private key is PKCS#8 PEM" grep -qx -- '-----BEGIN PRIVATE KEY-----' "$KEY"
FP=$(fingerprint "$KEY.pub")
check "no key material on stdout or stderr" bash -c "! grep -qF -- \"\$(sed -n 2p '$KEY')\" '$T/out' '$T/err'"

case_begin archive_layout
check "the signature is the last member, right after the manifest" \
	test "$(tar --zstd -tf "$A" | tail -n 2 | tr '\n' ' ')" = "MANIFEST.json MANIFEST.json.sig "
check "the signature member is a 0644 regular file" bash -c "tar --zstd -tvf '$A' | tail -n 1 | grep -q '^-rw-r--r-- '"
check "header and manifest say format version 3" \
	test "$(tar --zstd -xOf "$A" modosnap.json | jq .format_version)$(tar --zstd -xOf "$A" MANIFEST.json | jq .format_version)" = 33

case_begin ssh_keygen_verifies
tar --zstd -xOf "$A" MANIFEST.json >"$T/manifest"
tar --zstd -xOf "$A" MANIFEST.json.sig >"$T/manifest.sig"
printf 'modosnap %s\n' "$(cut -d' ' -f1,2 "$KEY.pub")" >"$T/allowed_signers"
check "ssh-keygen -Y verify accepts it" bash -c "ssh-keygen -Y verify -f '$T/allowed_signers' -I modosnap -n modosnap \
	-s '$T/manifest.sig' <'$T/manifest' >'$T/ssh.out' 2>&1"
check "ssh-keygen names the key of signing.key.pub" grep -qF "with ED25519 key $FP" "$T/ssh.out"
check "ssh-keygen -Y check-novalidate accepts it" bash -c "ssh-keygen -Y check-novalidate -n modosnap \
	-s '$T/manifest.sig' <'$T/manifest' >/dev/null 2>&1"
check "ssh-keygen refuses another namespace" bash -c "! ssh-keygen -Y check-novalidate -n file \
	-s '$T/manifest.sig' <'$T/manifest' >/dev/null 2>&1"
check "ssh-keygen refuses an edited manifest" bash -c "! { sed 's/settings.py/settings.pz/' '$T/manifest' | \
	ssh-keygen -Y verify -f '$T/allowed_signers' -I modosnap -n modosnap -s '$T/manifest.sig' >/dev/null 2>&1; }"

case_begin verify_signed
run_ms verify "$A"
expect_rc 0
expect_stderr_empty
expect_stdout_has ", signed by $FP"
run_ms show "$A"
expect_rc 0
expect_stdout_has "signer       $FP"
run_ms show "$A" --json
check "show --json: the signer" jqok --arg fp "$FP" '.signature.status == "valid" and .signature.fingerprint == $fp' "$T/out"
run_ms list --dest "$D"
expect_rc 0
expect_stdout_has "  signer:$FP"
run_ms list --dest "$D" --json
check "list --json: the signer and its key" jqok --arg fp "$FP" --arg key "$(cut -d' ' -f1,2 "$KEY.pub")" \
	'.[0].signature.fingerprint == $fp and .[0].signature.public_key == $key' "$T/out"

# The attack: settings.py's content and its sha256 in the manifest patched
# in place (same lengths, so every tar header stays valid), the manifest
# signed again with the attacker's own key by ssh-keygen, and the
# signature member's bytes replaced: `zstd -t` and `tar` see nothing wrong.
case_begin forged_with_another_key
ssh-keygen -q -t ed25519 -N '' -C attacker@elsewhere -f "$T/attacker"
AFP=$(fingerprint "$T/attacker.pub")
unpack "$A" "$T/forged"
python3 - "$T/forged.tar" "$T" <<'PY'
import hashlib, io, subprocess, sys, tarfile
path, tmp = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
def member(data, name):
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.extractfile(name).read()
old = member(raw, "files/instance/instance/settings.py")
new = old.replace(b"k3y-very-secret-value", b"k3y-very-EVIL!!-value")
assert new != old and len(new) == len(old) and raw.count(old) == 1
raw = raw.replace(old, new)
osha, nsha = hashlib.sha256(old).hexdigest().encode(), hashlib.sha256(new).hexdigest().encode()
assert raw.count(osha) == 1
raw = raw.replace(osha, nsha)
manifest = member(raw, "MANIFEST.json")
open(tmp + "/forged.manifest", "wb").write(manifest)
subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", tmp + "/attacker", "-n", "modosnap",
                tmp + "/forged.manifest"], check=True, stderr=subprocess.DEVNULL)
oldsig, newsig = member(raw, "MANIFEST.json.sig"), open(tmp + "/forged.manifest.sig", "rb").read()
assert len(oldsig) == len(newsig) and raw.count(oldsig) == 1
open(path, "wb").write(raw.replace(oldsig, newsig))
PY
check "the forgery was built" test -s "$T/forged.manifest.sig"
F=$D/forged.tar.zst
repack "$T/forged" "$F"
check "zstd -t accepts the forgery" zstd -q -t "$F"
run_ms verify "$F"
expect_rc 5
expect_stderr "modosnap: error: '$F': signature by key $AFP, which is not trusted (add it to '$TRUSTED' or use --allow-unsigned)"
check "no verification record for it" test ! -e "$F.verified"
run_ms verify --allow-unsigned "$F"
expect_rc 3
expect_stderr "modosnap: warning: '$F': signature by key $AFP, which is not trusted; accepted because of --allow-unsigned"
expect_stdout_has ", signed by $AFP"

case_begin trusted_keys
{ echo "# the old server"; cat "$T/attacker.pub"; } >"$TRUSTED"
chmod 0644 "$TRUSTED"
run_ms verify "$F"
expect_rc 0
expect_stderr_empty
expect_stdout_has ", signed by $AFP"
run_ms verify "$A"
expect_rc 0
printf '# ok\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC x\n' >>"$TRUSTED"
run_ms verify "$F"
expect_rc 5
expect_stderr "modosnap: error: '$TRUSTED':4: not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)"
{ echo "# the old server"; cat "$T/attacker.pub"; } >"$TRUSTED"
chmod 0664 "$TRUSTED"
run_ms verify "$F"
expect_rc 5
expect_stderr "modosnap: error: trusted keys '$TRUSTED' is writable by other users (mode 0664); chmod go-w '$TRUSTED'"
rm -f "$TRUSTED"
printf '[modosnap]\nsigning_key = %s/elsewhere/signing.key\ntrusted_keys = %s/elsewhere/trusted_keys\n' "$T" "$T" \
	>"$T/other.conf"
run_ms -c "$T/other.conf" verify "$A"
expect_rc 5
expect_stderr "modosnap: error: '$A': signature by key $FP, which is not trusted (add it to '$T/elsewhere/trusted_keys' or use --allow-unsigned)"
check "verify created no key" test ! -e "$T/elsewhere"

# The manifest edited, the old signature kept: refused even with --allow-unsigned.
case_begin bad_signature
unpack "$A" "$T/bad"
python3 - "$T/bad.tar" <<'PY'
import hashlib, io, sys, tarfile
path = sys.argv[1]
raw = open(path, "rb").read()
with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
    old = tf.extractfile("files/postfix/main.cf").read()
new = old.replace(b"mail.example.org", b"evil.example.org")
assert new != old and len(new) == len(old) and raw.count(old) == 1
raw = raw.replace(old, new).replace(hashlib.sha256(old).hexdigest().encode(), hashlib.sha256(new).hexdigest().encode())
open(path, "wb").write(raw)
PY
B=$D/bad.tar.zst
repack "$T/bad" "$B"
run_ms verify "$B"
expect_rc 5
expect_stderr "modosnap: error: '$B': bad signature (it does not match MANIFEST.json)"
run_ms verify --allow-unsigned "$B"
expect_rc 5
expect_stderr "modosnap: error: '$B': bad signature (it does not match MANIFEST.json)"
run_ms show "$B"
expect_stdout_has "signer       bad (it does not match MANIFEST.json)"

# The signature member removed with GNU tar (512-byte records: nothing
# after the end marker); header, members and manifest untouched.
case_begin signature_removed
unpack "$A" "$T/unsigned"
tar -b1 --delete -f "$T/unsigned.tar" MANIFEST.json.sig
U=$D/unsigned.tar.zst
repack "$T/unsigned" "$U"
check "the last member is now the manifest" test "$(tar --zstd -tf "$U" | tail -n 1)" = MANIFEST.json
run_ms verify "$U"
expect_rc 5
expect_stderr "modosnap: error: '$U': snapshot is not signed (use --allow-unsigned to accept it)"
run_ms verify --allow-unsigned "$U"
expect_rc 3
expect_stderr "modosnap: warning: '$U': snapshot is not signed; accepted because of --allow-unsigned"
expect_stdout_has ", unsigned"
run_ms show "$U"
expect_rc 0
expect_stdout_has "signer       unsigned"

case_begin member_after_signature
unpack "$A" "$T/extra"
printf 'import os\n' >"$T/evil.py"
tar -b1 -rf "$T/extra.tar" -C "$T" evil.py
X=$D/extra.tar.zst
repack "$T/extra" "$X"
check "tar lists the extra member last" test "$(tar --zstd -tf "$X" | tail -n 1)" = evil.py
run_ms verify --allow-unsigned "$X"
expect_rc 5
expect_stderr "modosnap: error: '$X': entry 'evil.py': found after MANIFEST.json.sig"

case_begin list_shows_every_signature_state
L=$T/listdest
mkdir -m 0700 "$L"
cp "$A" "$L/mail1_20261201T000000Z_modoboa-2.3.2.tar.zst"
cp "$U" "$L/mail1_20261202T000000Z_modoboa-2.3.2.tar.zst"
cp "$B" "$L/mail1_20261203T000000Z_modoboa-2.3.2.tar.zst"
run_ms list --dest "$L"
expect_rc 0
expect_stderr_empty
check "three archives listed (and the header)" test "$(wc -l <"$T/out")" = 4
# (the three hold the same snapshot id: each state once)
check "signed" test "$(grep -c "  signer:$FP\$" "$T/out")" = 1
check "unsigned" test "$(grep -c '  signer:unsigned$' "$T/out")" = 1
check "bad" test "$(grep -c '  signer:bad (it does not match MANIFEST.json)$' "$T/out")" = 1

case_begin key_refused_when_readable
chmod 0644 "$KEY"
n=$(ls "$D" | grep -c '\.tar\.zst$')
run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$D" --no-db
expect_rc 1
expect_stderr "modosnap: error: signing key '$KEY' is accessible by other users (mode 0644); chmod 600 '$KEY'"
check "no archive written" test "$(ls "$D" | grep -c '\.tar\.zst$')" = "$n"
chmod 0600 "$KEY"

case_begin public_key_without_its_key
mv "$KEY" "$T/saved.key"
run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$D" --no-db
expect_rc 1
expect_stderr "modosnap: error: public key '$KEY.pub' exists but its signing key '$KEY' does not: put the private key back, or remove '$KEY.pub' to create a new key"
check "no new key was made" test ! -e "$KEY"
mv "$T/saved.key" "$KEY"
run_ms create --instance "$INST" --postfix-dir "$PF" --dest "$D" --no-db
expect_rc 0
check "the same key signs again" test "$(fingerprint "$KEY.pub")" = "$FP"

finish
