# `modosnap config` on temporary configs (never /etc/modosnap.conf) and a
# minimal instance: every key with its value and source (file and line,
# command line, discovered, default), the discovered databases, passwords
# never printed (neither the config's password_file nor settings.py's),
# --json, a refused config (the loader's exact message, exit 1) and the
# warnings for what would fail later (exit 3).
. "$MS_SOURCE_DIR/tests/lib.sh"

mk_min_instance "$T/root"
INST=$T/root/srv/modoboa/instance
mkdir -p "$T/dest" "$MS_T_KEYS"
printf 'pw-from-file-S3cret\n' >"$T/default.pass"
chmod 600 "$T/default.pass"
touch "$MS_T_KEYS/signing.key" "$MS_T_KEYS/trusted_keys"

# valid: everything set that would otherwise warn
C=$T/ok.conf
printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\n' "$INST" "$T/root/etc/postfix" "$T/dest" >"$C"
ms_t_key_lines >>"$C"
printf '[db:default]\npassword_file = %s\n[retention]\nkeep_daily = 7\nkeep_within = 2d\nkeep_tag = a\nkeep_tag = b\n' \
	"$T/default.pass" >>"$C"
chmod 600 "$C"

case_begin valid
run_ms -c "$C" config
expect_rc 0
expect_stderr_empty
expect_stdout_has "config file: $C"
expect_stdout_has "  instance = $INST  ('$C':2)"
expect_stdout_has "  dest = $T/dest  ('$C':4)"
expect_stdout_has "  venv = $T/root/srv/modoboa/env  (discovered (manage.py))"
expect_stdout_has "  lock_timeout = 60  (default)"
expect_stdout_has "  label = not set"
expect_stdout_has "  password = set (from password_file '$T/default.pass')"
expect_stdout_has "  keep_within = 2d  ('$C':12)"
expect_stdout_has "  keep_tag = b  ('$C':14)"
expect_stdout_has "  keep_safety = 7d  (default)"
# the keys of the whole-server components, [paths] and [mail] included
expect_stdout_has "  system_root = $T  ('$C':7)"
expect_stdout_has "  components = instance postfix db dkim system  (default)"
expect_stdout_has "  capture_venv = no  (default (yes in pre-upgrade snapshots))"
expect_stdout_has "[paths]"
expect_stdout_has "  include = not set"
expect_stdout_has "[mail]"
expect_stdout_has "  enabled = no  (default)"
expect_stdout_has "  database amavis: django.db.backends.mysql name=amavis user=amavis host=/nonexistent-mysqld.sock port=- password: set (from settings.py)"
expect_stdout_has "  SECRET_KEY: set (settings.py)"
expect_no_secret pw-from-file-S3cret "password_file's password"
expect_no_secret pg-pass-w0rd "settings.py's password"
expect_no_secret my-pass-w0rd "settings.py's MariaDB password"
expect_no_secret k3y-very-secret-value "SECRET_KEY"

case_begin command_line
run_ms -c "$C" config --dest "$T/dest" --instance "$INST"
expect_rc 0
expect_stdout_has "  dest = $T/dest  (command line)"
expect_stdout_has "  instance = $INST  (command line)"

case_begin json
run_ms -c "$C" config --json
expect_rc 0
check "valid, keys with their sources" test "$(jq -c '[.valid, (.keys[] | select(.key == "keep_daily") | .value, .source)]' "$T/out")" = \
	"[true,\"7\",\"'$C':11\"]"
check "discovered databases, password masked" test \
	"$(jq -r '.discovered.databases[] | select(.alias == "default") | .password' "$T/out")" = \
	"set (from password_file '$T/default.pass')"
expect_no_secret pw-from-file-S3cret "password_file's password"
expect_no_secret pg-pass-w0rd "settings.py's password"

case_begin password_in_config
P=$T/pw.conf
printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\n' "$INST" "$T/root/etc/postfix" "$T/dest" >"$P"
ms_t_key_lines >>"$P"
printf '[db:default]\npassword = inline-Pa55-word\n[retention]\nkeep_last = 3\n' >>"$P"
chmod 600 "$P"
run_ms -c "$P" config
expect_rc 0
expect_stdout_has "  password = set (from config)  ('$P':9)"
expect_no_secret inline-Pa55-word "config's password"
run_ms -c "$P" config --json
expect_rc 0
expect_no_secret inline-Pa55-word "config's password (--json)"

case_begin invalid
B=$T/bad.conf
printf '[modosnap]\ndest = %s\n[retention]\nkeep_within = 36\n' "$T/dest" >"$B"
run_ms -c "$B" config
expect_rc 1
expect_stderr "modosnap: error: '$B':4: invalid keep_within '36' (expected a duration such as 7d, 12h or 30m, or 0)"
printf '[modosnap]\nbogus = 1\n' >"$B"
run_ms -c "$B" config --json
expect_rc 1
expect_stderr "modosnap: error: '$B':2: unknown key 'bogus' in section [modosnap]"

case_begin warnings
W=$T/warn.conf
printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\nsigning_key = %s\n' "$INST" \
	"$T/root/etc/postfix" "$T/no/such/dir/dest" "$T/nokey" >"$W"
run_ms -c "$W" config
expect_rc 3
expect_stderr_has() {
	if grep -qF -- "$1" "$T/err"; then ok "stderr has '$1'"; else not_ok "stderr lacks '$1'" "$(cat "$T/err")"; fi
}
expect_stderr_has "modosnap: warning: signing key '$T/nokey' does not exist yet"
expect_stderr_has "modosnap: warning: destination '$T/no/such/dir/dest' does not exist and '$T/no/such/dir' is not writable: create will fail"
expect_stderr_has "modosnap: warning: no retention rule in [retention]: create --nightly will not prune"

case_begin usage
run_ms -c "$C" config extra
expect_rc 2
expect_stderr "modosnap: error: unexpected argument 'extra'; try 'modosnap help config'"

finish
