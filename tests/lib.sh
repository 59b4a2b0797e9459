# Shared helpers for tests/cli and tests/integration scripts (bash).
# Each script sources this file, runs cases with `case_begin NAME` and the
# expect_* checks, and ends with `finish`, which prints a closing
# "N passed, N failed" line and exits non-zero when any check failed.
# Environment (set by CTest, see tests/CMakeLists.txt):
#   MODOSNAP        path of the binary under test
#   MS_SOURCE_DIR   repository root
#   MS_TESTSRV_ENV  env file written by tests/harness/dbservers (integration)
#   MS_TEST_TMP     scratch root (each script gets its own directory below)
set -uo pipefail

: "${MODOSNAP:?MODOSNAP must name the modosnap binary}"
: "${MS_SOURCE_DIR:?MS_SOURCE_DIR must name the source tree}"

ms_t_pass=0
ms_t_fail=0
ms_t_case=""

if [ -n "${MS_TEST_TMP:-}" ]; then
	mkdir -p "$MS_TEST_TMP"
	chmod 0755 "$MS_TEST_TMP" # cases that run as an unprivileged user traverse it
fi
T=$(mktemp -d "${MS_TEST_TMP:-/tmp}/$(basename "$0" .sh).XXXXXX")
chmod 0755 "$T"
ms_t_cleanup() { [ -n "${MS_KEEP_TMP:-}" ] || rm -rf "$T"; }

# ms_t_flip_byte FILE OFFSET: inverts every bit of the byte at OFFSET, so
# that the file always changes (writing a fixed byte leaves it as it was
# when the byte already had that value: 1 run in 256).
ms_t_flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
trap ms_t_cleanup EXIT

# Signing keys (docs/signing.md): no test may create or read the host's
# /etc/modosnap. Every config a test runs create, verify, show or restore
# with names keys under $T: MS_T_CONF holds only these lines (exported as
# MODOSNAP_CONFIG below, so that no test reads the host's
# /etc/modosnap.conf), and ms_t_key_lines prints them for a script's own
# config files (inside its [modosnap] section). `finish` fails a script
# after which /etc/modosnap/signing.key appeared. Nothing here keeps a
# command off the host's /var/backups/modosnap: a test passes --dest (or a
# config with dest) under $T, and the CTest fixture `hostguard`
# (tests/harness/hostguard) fails the run when a host path changed.
# The same lines also make $T the system root: no test looks for service
# configuration in the host's /etc, and the paths a fixture's database
# names (under $T) lie below it (--system-root overrides it).
MS_T_KEYS=$T/keys
MS_T_CONF=$T/modosnap-test.conf
MS_T_SYSROOT=$T
ms_t_key_lines() {
	printf 'signing_key = %s/signing.key\ntrusted_keys = %s/trusted_keys\nsystem_root = %s\n' \
		"$MS_T_KEYS" "$MS_T_KEYS" "$MS_T_SYSROOT"
}
{ echo '[modosnap]'; ms_t_key_lines; } >"$MS_T_CONF"
export MODOSNAP_CONFIG=$MS_T_CONF
# ms_t_conf FILE : adds ms_t_key_lines to a script's own config file (into
# its [modosnap] section, or as one), keeping the file's mode.
ms_t_conf() {
	local text
	if grep -q '^\[modosnap\]' "$1"; then
		text=$(sed -n '1,/^\[modosnap\]/p' "$1"; ms_t_key_lines; sed '1,/^\[modosnap\]/d' "$1")
	else
		text=$(cat "$1"; echo '[modosnap]'; ms_t_key_lines)
	fi
	printf '%s\n' "$text" >"$1"
}
ms_t_host_key_existed=0
[ -e /etc/modosnap/signing.key ] && ms_t_host_key_existed=1

case_begin() { ms_t_case=$1; }

ok() { ms_t_pass=$((ms_t_pass + 1)); echo "ok - ${ms_t_case}: $1"; }
not_ok() {
	ms_t_fail=$((ms_t_fail + 1))
	echo "not ok - ${ms_t_case}: $1"
	shift
	for extra in "$@"; do printf '    %s\n' "$extra"; done
}

# run_ms ARGS... : runs the binary; stdout in $T/out, stderr in $T/err, exit code in $RC.
run_ms() {
	"$MODOSNAP" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	if [ "$RC" -ge 99 ]; then
		not_ok "sanitizer or crash (exit $RC) running: modosnap $*" "$(cat "$T/err")"
	fi
}

expect_rc() {
	if [ "$RC" = "$1" ]; then ok "exit code $1"; else
		not_ok "exit code $RC, expected $1" "stderr: $(head -c 2000 "$T/err")"
	fi
}

# expect_stderr TEXT : stderr must equal TEXT exactly (a trailing newline is implied).
expect_stderr() {
	local want
	want=$(printf '%s' "$1")
	if [ "$(cat "$T/err")" = "$want" ]; then ok "stderr is exact"; else
		not_ok "stderr differs" "want: $want" "got:  $(cat "$T/err")"
	fi
}

expect_stderr_empty() {
	if [ ! -s "$T/err" ]; then ok "stderr is empty"; else
		not_ok "stderr is not empty" "$(head -c 2000 "$T/err")"
	fi
}

# expect_stdout_has TEXT : stdout contains the fixed string TEXT.
expect_stdout_has() {
	if grep -qF -- "$1" "$T/out"; then ok "stdout has '$1'"; else
		not_ok "stdout lacks '$1'" "stdout: $(head -c 3000 "$T/out")"
	fi
}

expect_stdout_lacks() {
	if ! grep -qF -- "$1" "$T/out"; then ok "stdout lacks '$1'"; else
		not_ok "stdout unexpectedly has '$1'"
	fi
}

# expect_no_secret SECRET LABEL : SECRET appears in neither stdout nor stderr.
expect_no_secret() {
	if grep -qF -- "$1" "$T/out" "$T/err"; then not_ok "the $2 appears in the output"; else
		ok "the $2 appears nowhere in the output"
	fi
}

# check DESCRIPTION COMMAND... : passes when COMMAND succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# need_servers : sources the harness env file (integration tests only).
need_servers() {
	: "${MS_TESTSRV_ENV:?MS_TESTSRV_ENV must name the harness env file}"
	if [ ! -r "$MS_TESTSRV_ENV" ]; then
		echo "not ok - database servers are not running ($MS_TESTSRV_ENV missing)"
		exit 1
	fi
	# shellcheck disable=SC1090
	. "$MS_TESTSRV_ENV"
}

finish() {
	if [ "$ms_t_host_key_existed" = 0 ] && [ -e /etc/modosnap/signing.key ]; then
		ms_t_case=finish
		not_ok "a case created the host's /etc/modosnap/signing.key: give its config ms_t_key_lines"
	fi
	echo "${ms_t_pass} passed, ${ms_t_fail} failed"
	[ "$ms_t_fail" -eq 0 ] && [ "$ms_t_pass" -gt 0 ]
	exit $?
}

# finish_skipped WHY : ends a script whose remaining cases cannot run on this
# machine: a failure so far still fails it; otherwise exit 77, which CTest
# reports as "Skipped" (SKIP_RETURN_CODE, tests/CMakeLists.txt), never as
# passed.
finish_skipped() {
	echo "# skipped: $1 (${ms_t_pass} passed, ${ms_t_fail} failed before)"
	[ "$ms_t_fail" -eq 0 ] || finish
	exit 77
}

# mk_min_instance DIR : a minimal Modoboa-shaped installation without any
# database server (for CLI tests): DIR/srv/modoboa/{instance,env} and
# DIR/etc/postfix. settings.py's DATABASES is read from $T/databases.py
# when that file exists, else points at sockets that do not exist.
mk_min_instance() {
	local root=$1 inst=$1/srv/modoboa/instance env=$1/srv/modoboa/env
	local sp=$env/lib/python3.11/site-packages
	mkdir -p "$inst/instance" "$sp" "$env/bin" "$root/etc/postfix"
	printf '#!%s/bin/python\nimport os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "instance.settings")\n' "$env" >"$inst/manage.py"
	printf 'home = /usr/bin\nversion = 3.11.2\n' >"$env/pyvenv.cfg"
	local d
	for d in modoboa:2.3.2 Django:4.2.16 modoboa_contacts:1.1.0; do
		mkdir -p "$sp/${d%%:*}-${d#*:}.dist-info"
		printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nbody\n' "${d%%:*}" "${d#*:}" \
			>"$sp/${d%%:*}-${d#*:}.dist-info/METADATA"
	done
	{
		echo "import os"
		echo "SECRET_KEY = 'k3y-very-secret-value'"
		echo "MODOBOA_APPS = ('modoboa', 'modoboa.core', 'modoboa_contacts', 'modoboa_webmail',)"
		if [ -f "$T/databases.py" ]; then cat "$T/databases.py"; else
			cat <<'PY'
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
        'USER': 'modoboa',
        'PASSWORD': 'pg-pass-w0rd',
        'HOST': '/nonexistent-pg-socket-dir',
        'PORT': '5432',
    },
    'amavis': {
        'ENGINE': 'django.db.backends.mysql',
        'NAME': 'amavis',
        'USER': 'amavis',
        'PASSWORD': 'my-pass-w0rd',
        'HOST': '/nonexistent-mysqld.sock',
        'PORT': '',
    },
}
PY
		fi
	} >"$inst/instance/settings.py"
	printf 'user = modoboa\npassword = pg-pass-w0rd\ndbname = modoboa\nhosts = 127.0.0.1\nquery = SELECT 1\n' \
		>"$root/etc/postfix/sql-domains.cf"
	echo "sql-domains.cf:postgres:$(md5sum <"$root/etc/postfix/sql-domains.cf" | cut -d' ' -f1)" \
		>"$root/etc/postfix/modoboa-postfix-maps.chk"
	printf 'myhostname = mail.example.org\n' >"$root/etc/postfix/main.cf"
	printf 'smtp inet n - y - - smtpd\n' >"$root/etc/postfix/master.cf"
}

# Fixtures a script generates with scripts/mkfixture (integration tests):
# ms_t_site DIR registers one, and `trap ms_t_sites_cleanup EXIT` removes
# each (its databases and owners too) before the scratch tree.
MS_T_SITES=()
ms_t_site() { MS_T_SITES+=("$1"); }
ms_t_sites_cleanup() {
	local s
	for s in "${MS_T_SITES[@]}"; do
		"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$s" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1
	done
	ms_t_cleanup
}

# ms_t_serve_sftp NAME : an SFTP server on localhost for rclone remotes
# (`rclone serve sftp $T/sftp-root`, user modosnap, password SFTP_PASS,
# its log in $T/sftp.log), and a remote NAME for it appended to
# $T/rclone.conf (the password obscured, as `rclone config` writes it).
# Sets SFTP_PASS, SFTP_PID (kill it in the script's EXIT trap) and
# SFTP_PORT (empty, and a failed case, when it did not start within 10 s).
ms_t_serve_sftp() {
	mkdir -p "$T/sftp-root" "$T/sftp-cache"
	: >"$T/sftp-keys"
	SFTP_PASS=sftp-Pa55-$$
	rclone serve sftp "$T/sftp-root" --addr 127.0.0.1:0 --user modosnap --pass "$SFTP_PASS" \
		--cache-dir "$T/sftp-cache" --authorized-keys "$T/sftp-keys" --config /dev/null </dev/null 2>"$T/sftp.log" &
	SFTP_PID=$!
	SFTP_PORT=
	for _ in $(seq 100); do
		SFTP_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/sftp.log" | head -n 1)
		[ -n "$SFTP_PORT" ] && break
		sleep 0.1
	done
	if [ -z "$SFTP_PORT" ]; then
		not_ok "rclone serve sftp did not start" "$(cat "$T/sftp.log")"
		return 1
	fi
	printf '[%s]\ntype = sftp\nhost = 127.0.0.1\nport = %s\nuser = modosnap\npass = %s\nshell_type = none\n' \
		"$1" "$SFTP_PORT" "$(rclone obscure "$SFTP_PASS")" >>"$T/rclone.conf"
}
