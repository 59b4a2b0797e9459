# The Debian package and the install rules: a Release tree of the project
# is configured and built in a temporary directory exactly as
# docs/quickstart.md says (plus -Werror), `cpack -G DEB` makes the package,
# and the test checks its control fields (name, version, Depends on the
# runtime libraries, Recommends, conffiles, maintainer scripts), its
# contents, that lintian finds nothing in it, that the binary it carries is
# hardened (dpkg-buildflags) and runs, its man pages, units, cron.d file,
# bash completion, copyright and changelog; a dpkg install, remove and
# purge into a throwaway root; then that `cmake --install` installs the
# same files. Nothing is installed on the host: the package is read with
# dpkg-deb and extracted under $T.
# Needs cmake/cpack, dpkg-dev (dpkg-shlibdeps, dpkg-buildflags), groff-base,
# man-db, binutils (readelf), lintian and bash-completion.
# It builds its own binary: $MODOSNAP is not used.
MODOSNAP=${MODOSNAP:-unused}
. "$MS_SOURCE_DIR/tests/lib.sh"
export MODOSNAP_CONFIG=$MS_T_CONF # only the signing keys, under $T (tests/lib.sh)

B=$T/build      # build tree
P=$T/pkg        # cpack output
R=$T/root       # the package extracted
S=$T/stage      # cmake --install --prefix
version=$(sed -n 's/^project(modosnap VERSION \([0-9][0-9.]*\).*/\1/p' "$MS_SOURCE_DIR/CMakeLists.txt")

# need TOOL PACKAGE : the test cannot run without TOOL.
need() {
	if command -v "$1" >/dev/null; then ok "$1 is installed"; else
		not_ok "$1 not found: install the Debian package '$2'"
		finish
	fi
}

# has_line FILE TEXT : FILE has a line equal to TEXT.
has_line() { grep -qxF -- "$2" "$1"; }

case_begin tools
need cmake cmake
need cpack cmake
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
need groff groff-base
need man man-db
need readelf binutils
# lintian is checked in its own case: without it that check fails, the
# others still run.
check "the project version is found in CMakeLists.txt" test -n "$version"

case_begin build
# The documented package build (docs/quickstart.md: Release, i.e. -O3),
# with -Werror so that a warning only GCC's -O3 reports (maybe-uninitialized)
# fails here rather than in an administrator's build.
if cmake -S "$MS_SOURCE_DIR" -B "$B" -DCMAKE_BUILD_TYPE=Release -DMODOSNAP_TESTS=OFF \
	-DMODOSNAP_WERROR=ON >"$T/configure.log" 2>&1; then ok "configure"; else
	not_ok "configure failed" "$(tail -n 20 "$T/configure.log")"
	finish
fi
if cmake --build "$B" -j "$(nproc 2>/dev/null || echo 2)" >"$T/build.log" 2>&1; then ok "build"; else
	not_ok "build failed" "$(grep -m 20 -E 'error|Error' "$T/build.log")"
	finish
fi

case_begin cpack
if (cd "$B" && cpack -G DEB -B "$P") >"$T/cpack.log" 2>&1; then ok "cpack -G DEB"; else
	not_ok "cpack failed" "$(tail -n 20 "$T/cpack.log")"
	finish
fi
deb=$(find "$P" -maxdepth 1 -name 'modosnap_*.deb' | head -n 1)
if [ -n "$deb" ]; then ok "package written: $(basename "$deb")"; else
	not_ok "no modosnap_*.deb in $P" "$(ls "$P")"
	finish
fi
check "file name is modosnap_${version}_ARCH.deb" \
	test "$(basename "$deb")" = "modosnap_${version}_$(dpkg --print-architecture).deb"

case_begin control
dpkg-deb --info "$deb" >"$T/info" 2>&1
check "dpkg-deb --info reads it" grep -q "Package:" "$T/info"
field() { dpkg-deb --field "$deb" "$1"; }
check "Package: modosnap" test "$(field Package)" = modosnap
check "Version: $version" test "$(field Version)" = "$version"
check "Section: admin" test "$(field Section)" = admin
check "Maintainer" test "$(field Maintainer)" = "modosnap developers <modosnap@example.org>"
check "Architecture matches dpkg's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "Description has a summary line" test -n "$(field Description | head -n 1)"
check "Description has an extended part" test "$(field Description | wc -l)" -gt 1
check "Maintainer has a real mail domain (lintian: bogus-mail-host)" \
	sh -c "! dpkg-deb --field '$deb' Maintainer | grep -q '@localhost'"
depends=$(field Depends)
for lib in libc6 libarchive13 libzstd1 libpq5 libmariadb3 libssl3 libjansson4 libinih1; do
	if printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qxF "$lib"; then
		ok "Depends lists $lib"
	else
		not_ok "Depends lacks $lib" "Depends: $depends"
	fi
done
recommends=$(field Recommends)
for p in postgresql-client mariadb-client zstd; do
	if printf '%s\n' "$recommends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qxF "$p"; then
		ok "Recommends lists $p"
	else
		not_ok "Recommends lacks $p" "Recommends: $recommends"
	fi
done

case_begin maintainer_scripts
C=$T/control
mkdir -p "$C"
dpkg-deb -e "$deb" "$C"
check "conffiles lists /etc/cron.d/modosnap only" test "$(cat "$C/conffiles" 2>/dev/null)" = /etc/cron.d/modosnap
# Installed disabled: no script enables or starts a unit.
for script in preinst postinst prerm; do
	check "no $script (nothing is enabled or started)" test ! -e "$C/$script"
done
check "postrm is executable" test -x "$C/postrm"
check "postrm enables and starts nothing" \
	sh -c "! grep -v '^[[:space:]]*#' '$C/postrm' | grep -qE 'systemctl +[a-z-]*(enable|start)|deb-systemd-(invoke|helper)'"
check "postrm removes nothing but the timer's enabling link" \
	test "$(grep -E '(^|[[:space:]])rm ' "$C/postrm" | sed 's/^[[:space:]]*//')" = 'rm -f "$link"'
check "postrm passes sh -n" sh -n "$C/postrm"

case_begin lintian
# lintian on the .deb: no error, no warning (informational tags aside).
# Overrides (usr/share/lintian/overrides/modosnap) carry their reason.
if command -v lintian >/dev/null; then
	lintian --fail-on error,warning "$deb" >"$T/lintian.out" 2>&1
	lrc=$?
	grep -v '^running with root privileges' "$T/lintian.out" >"$T/lintian.tags"
	if [ "$lrc" -eq 0 ] && ! grep -qE '^[EW]: ' "$T/lintian.tags"; then
		ok "lintian: no errors, no warnings"
	else
		not_ok "lintian reports (exit $lrc)" "$(head -n 30 "$T/lintian.tags")"
	fi
else
	not_ok "lintian not found: install the Debian package 'lintian' (scripts/install-deps)"
fi

case_begin contents
dpkg-deb --contents "$deb" >"$T/contents" 2>&1
# "MODE OWNER SIZE DATE TIME ./PATH" -> "MODE OWNER ./PATH"
awk '{ print $1, $2, $6 }' "$T/contents" >"$T/listing"
doc=./usr/share/doc/modosnap
check "usr/bin/modosnap, mode 0755, root" has_line "$T/listing" "-rwxr-xr-x root/root ./usr/bin/modosnap"
check "the man page, gzipped" has_line "$T/listing" "-rw-r--r-- root/root ./usr/share/man/man1/modosnap.1.gz"
check "modosnap.conf(5), gzipped" has_line "$T/listing" "-rw-r--r-- root/root ./usr/share/man/man5/modosnap.conf.5.gz"
for f in modosnap.conf apt-preinstall-hook; do
	check "example $f" has_line "$T/listing" "-rw-r--r-- root/root $doc/examples/$f"
done
for f in modosnap-nightly.service modosnap-nightly.timer; do
	check "unit /lib/systemd/system/$f" has_line "$T/listing" "-rw-r--r-- root/root ./lib/systemd/system/$f"
done
check "/etc/cron.d/modosnap" has_line "$T/listing" "-rw-r--r-- root/root ./etc/cron.d/modosnap"
check "bash completion" has_line "$T/listing" \
	"-rw-r--r-- root/root ./usr/share/bash-completion/completions/modosnap"
check "README.md" has_line "$T/listing" "-rw-r--r-- root/root $doc/README.md"
for f in copyright changelog.gz FORMAT.md; do
	check "$f" has_line "$T/listing" "-rw-r--r-- root/root $doc/$f"
done
check "no link enables a unit (nothing under /etc/systemd)" sh -c "! grep -q '/etc/systemd' '$T/listing'"
for md in "$MS_SOURCE_DIR"/docs/*.md; do
	check "docs/$(basename "$md")" has_line "$T/listing" "-rw-r--r-- root/root $doc/$(basename "$md")"
done
check "nothing outside /usr, /etc/cron.d and /lib/systemd/system" test -z "$(awk '
	$3 ~ /^\.\/(usr|etc|lib|lib\/systemd)?\/?$/ { next }
	$3 ~ /^\.\/(usr\/|etc\/cron\.d\/|lib\/systemd\/system\/)/ { next }
	{ print }' "$T/listing")"

case_begin extracted
if dpkg-deb -x "$deb" "$R"; then ok "dpkg-deb -x"; else not_ok "dpkg-deb -x failed"; fi
MODOSNAP=$R/usr/bin/modosnap
run_ms --version
expect_rc 0
check "prints 'modosnap $version'" test "$(cat "$T/out")" = "modosnap $version"
expect_stderr_empty
run_ms help
expect_rc 0
expect_stdout_has "usage: modosnap [-c FILE] [-q | -v] COMMAND [ARGS]"
check "the binary carries no debug information" sh -c "! readelf -S '$MODOSNAP' | grep -q '\.debug_info'"
check "the man page is gzip" gzip -t "$R/usr/share/man/man1/modosnap.1.gz"
check "the man page is docs/modosnap.1" \
	sh -c "zcat '$R/usr/share/man/man1/modosnap.1.gz' | cmp -s - '$MS_SOURCE_DIR/docs/modosnap.1'"

case_begin hardening
# dpkg-buildflags' hardening, read from the packaged (stripped) binary:
# PIE, full RELRO (GNU_RELRO + BIND_NOW), fortified libc calls, the stack
# protector.
readelf -h -l -d -W --dyn-syms "$MODOSNAP" >"$T/readelf" 2>&1
check "PIE (ELF type DYN, FLAGS_1 PIE)" sh -c "grep -qE 'Type:[[:space:]]+DYN' '$T/readelf' && grep -qE 'FLAGS_1.*PIE' '$T/readelf'"
check "RELRO (GNU_RELRO segment)" grep -q GNU_RELRO "$T/readelf"
check "BIND_NOW" grep -qE 'BIND_NOW|FLAGS_1.*NOW' "$T/readelf"
check "fortified functions (__*_chk)" grep -qE '__[a-z_]+_chk' "$T/readelf"
check "stack protector (__stack_chk_fail)" grep -q __stack_chk_fail "$T/readelf"
if command -v hardening-check >/dev/null; then
	if hardening-check -q -c --nocfprotection "$MODOSNAP" >"$T/hardening" 2>&1; then ok "hardening-check passes"; else
		not_ok "hardening-check" "$(cat "$T/hardening")"
	fi
fi

case_begin doc_files
D=$R/usr/share/doc/modosnap
check "copyright: machine-readable format 1.0" \
	test "$(head -n 1 "$D/copyright" 2>/dev/null)" = \
	"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
check "copyright: License: ISC" grep -qx "License: ISC" "$D/copyright"
# The license text in copyright is LICENSE's (indented, "." for blank lines).
sed -n '/^Permission to use/,$p' "$MS_SOURCE_DIR/LICENSE" >"$T/license.text"
sed -n '/^ Permission to use/,/^[^ ]/p' "$D/copyright" | sed 's/^ //; s/^\.$//' >"$T/copyright.text"
check "copyright carries LICENSE's text" cmp -s "$T/license.text" "$T/copyright.text"
check "LICENSE is the ISC license" grep -qx "ISC License" "$MS_SOURCE_DIR/LICENSE"
check "changelog.gz is gzip" gzip -t "$D/changelog.gz"
check "changelog: first entry is modosnap ($version)" \
	sh -c "zcat '$D/changelog.gz' | head -n 1 | grep -q '^modosnap ($version) '"
if command -v dpkg-parsechangelog >/dev/null; then
	zcat "$D/changelog.gz" >"$T/changelog"
	check "dpkg-parsechangelog reads it, version $version" \
		test "$(dpkg-parsechangelog -l "$T/changelog" -S Version 2>/dev/null)" = "$version"
fi
check "FORMAT.md is formats/FORMAT.md" cmp -s "$D/FORMAT.md" "$MS_SOURCE_DIR/formats/FORMAT.md"

case_begin units
U=$R/lib/systemd/system
for f in modosnap-nightly.service modosnap-nightly.timer; do
	check "$f is docs/examples/$f" cmp -s "$U/$f" "$MS_SOURCE_DIR/docs/examples/$f"
done
check "the service runs modosnap -q create --nightly" \
	grep -qx "ExecStart=/usr/bin/modosnap -q create --nightly" "$U/modosnap-nightly.service"
check "the timer is enabled into timers.target (by the administrator)" \
	grep -qx "WantedBy=timers.target" "$U/modosnap-nightly.timer"
if command -v systemd-analyze >/dev/null; then
	# The timer and the service it starts (syntax, directives, dependencies).
	if systemd-analyze verify --man=no "$U/modosnap-nightly.timer" >"$T/analyze" 2>&1; then
		ok "systemd-analyze verify"
	else
		not_ok "systemd-analyze verify" "$(head -n 10 "$T/analyze")"
	fi
fi

case_begin cron
# The cron line runs modosnap only where systemd does not run, and not at
# all once the package is removed. It is run here with its paths moved
# under $T: /usr/bin/modosnap -> a stub that records its arguments,
# /run/systemd/system -> a directory the case creates or not.
cron=$R/etc/cron.d/modosnap
line=$(grep -E '^[0-9*]' "$cron")
check "one job line" test "$(grep -cE '^[0-9*]' "$cron")" -eq 1
check "as root, nightly at 03:17" test "$(echo "$line" | awk '{ print $1, $2, $3, $4, $5, $6 }')" = "17 3 * * * root"
cmd=$(echo "$line" | cut -f 3-)
check "guarded by /run/systemd/system" grep -qF -- '! -d /run/systemd/system' <<<"$cmd"
mkdir -p "$T/cron/bin"
printf '#!/bin/sh\necho "$@" >>%s/cron/ran\n' "$T" >"$T/cron/bin/modosnap"
chmod 0755 "$T/cron/bin/modosnap"
job=$(printf '%s' "$cmd" | sed "s#/usr/bin/modosnap#$T/cron/bin/modosnap#g; s#/run/systemd/system#$T/cron/systemd#g")
rm -f "$T/cron/ran"
sh -c "$job" >/dev/null 2>&1
check "without systemd: runs modosnap -q create --nightly" test "$(cat "$T/cron/ran" 2>/dev/null)" = "-q create --nightly"
mkdir -p "$T/cron/systemd"
rm -f "$T/cron/ran"
sh -c "$job" >"$T/cron/out" 2>&1
check "with systemd running: does nothing" test ! -e "$T/cron/ran"
check "with systemd running: prints nothing (no cron mail)" test ! -s "$T/cron/out"
rmdir "$T/cron/systemd"
chmod 0644 "$T/cron/bin/modosnap"
sh -c "$job" >"$T/cron/out" 2>&1
check "package removed: does nothing, prints nothing" sh -c "test ! -e '$T/cron/ran' && test ! -s '$T/cron/out'"

case_begin completion
# The packaged completion, sourced into bash with bash-completion's
# helpers, asked as bash would ask it (COMP_WORDS/COMP_CWORD), on a
# destination with one snapshot tagged 'release' and 'pre-upgrade'.
BC=/usr/share/bash-completion/bash_completion
if [ ! -r "$BC" ]; then
	not_ok "bash-completion not found: install the Debian package 'bash-completion' (scripts/install-deps)"
else
	mk_min_instance "$T/inst"
	"$MODOSNAP" -q create --instance "$T/inst/srv/modoboa/instance" --postfix-dir "$T/inst/etc/postfix" \
		--dest "$T/dest" --no-db --tag release --tag pre-upgrade >"$T/create.out" 2>&1
	snapid=$("$MODOSNAP" list --dest "$T/dest" --json 2>/dev/null | sed -n 's/.*"snapshot_id": "\([^"]*\)".*/\1/p')
	check "a snapshot to complete ($snapid)" test -n "$snapid"
	# complete WORDS... : the completions bash would offer for the last word.
	complete_words() {
		PATH="$R/usr/bin:$PATH" bash -c '
			. "$1"; . "$2"; shift 2
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
			_modosnap modosnap "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
			printf "%s\n" "${COMPREPLY[@]}"' complete "$BC" \
			"$R/usr/share/bash-completion/completions/modosnap" "$@" 2>"$T/complete.err" | sort
	}
	check "complete -p: _modosnap is registered for modosnap" bash -c \
		". '$BC'; . '$R/usr/share/bash-completion/completions/modosnap'; complete -p modosnap | grep -q '_modosnap modosnap'"
	complete_words modosnap "" >"$T/c.commands"
	for c in inspect create verify list show restore prune diff guard help; do
		check "commands: $c" grep -qx "$c" "$T/c.commands"
	done
	complete_words modosnap cr >"$T/c.cr"
	check "'cr' completes to create" test "$(cat "$T/c.cr")" = create
	complete_words modosnap -- >"$T/c.global"
	check "global options: --config --quiet --verbose --version" \
		sh -c "grep -qx -- --config '$T/c.global' && grep -qx -- --quiet '$T/c.global' && grep -qx -- --verbose '$T/c.global' && grep -qx -- --version '$T/c.global'"
	complete_words modosnap create --n >"$T/c.create"
	check "create --n: --nightly --note --no-db" \
		sh -c "grep -qx -- --nightly '$T/c.create' && grep -qx -- --note '$T/c.create' && grep -qx -- --no-db '$T/c.create'"
	complete_words modosnap prune --keep- >"$T/c.prune"
	check "prune --keep-: --keep-last ... --keep-pre-upgrade" \
		sh -c "grep -qx -- --keep-last '$T/c.prune' && grep -qx -- --keep-pre-upgrade '$T/c.prune'"
	complete_words modosnap show --dest "$T/dest" "" >"$T/c.show"
	check "show: the snapshot id" grep -qxF "$snapid" "$T/c.show"
	check "show: latest" grep -qx latest "$T/c.show"
	check "show: tag:release and tag:pre-upgrade" \
		sh -c "grep -qx tag:release '$T/c.show' && grep -qx tag:pre-upgrade '$T/c.show'"
	complete_words modosnap verify --dest "$T/dest" tag: >"$T/c.tag"
	# ':' breaks words in bash: the completions are what follows "tag:".
	check "verify tag:: release and pre-upgrade, nothing else" \
		test "$(tr '\n' ' ' <"$T/c.tag")" = "pre-upgrade release "
	complete_words modosnap restore --dest "$T/dest" "${snapid:0:8}" >"$T/c.prefix"
	check "an id prefix completes to the id" grep -qxF "$snapid" "$T/c.prefix"
	complete_words modosnap list --dest "$T/de" >"$T/c.dir"
	check "--dest DIR completes directories" grep -qxF "$T/dest" "$T/c.dir"
	check "the completion printed no errors" test ! -s "$T/complete.err"
fi

case_begin man5
M5=$R/usr/share/man/man5/modosnap.conf.5.gz
check "modosnap.conf.5.gz is docs/modosnap.conf.5" \
	sh -c "zcat '$M5' | cmp -s - '$MS_SOURCE_DIR/docs/modosnap.conf.5'"
zcat "$M5" | groff -man -Tutf8 -ww -z >"$T/groff5.out" 2>&1
check "groff -man -ww: no warnings" test ! -s "$T/groff5.out"
MANWIDTH=80 man -l "$M5" >"$T/man5.out" 2>"$T/man5.err"
check "man -l renders it (exit 0)" test $? -eq 0
check "man -l: nothing on stderr" test ! -s "$T/man5.err"
for section in NAME SYNOPSIS DESCRIPTION SYNTAX "SECTION [modosnap]" "SECTION [db:ALIAS]" \
	"SECTION [retention]" "SECTION [hooks]" FILES EXAMPLES "SEE ALSO"; do
	check "section $section" grep -qxF "$section" "$T/man5.out"
done
# Every key the parser accepts (src/discover/config.c's table) has its
# entry (".TP" then ".B KEY"), and every entry is a key the parser accepts.
sed -n 's/^[[:space:]]*\(MAIN\|DB\|KEEP\|HOOK\)_KEY(\([a-z_]*\).*/\2/p; s/^[[:space:]]*{ SEC_[A-Z]*, "\([a-z_]*\)".*/\1/p' \
	"$MS_SOURCE_DIR/src/discover/config.c" | sort -u >"$T/keys.parser"
awk 'prev == ".TP" && /^\.B [a-z_]+$/ { print $2 } { prev = $0 }' "$MS_SOURCE_DIR/docs/modosnap.conf.5" |
	sort -u >"$T/keys.man"
check "the parser has keys ($(wc -l <"$T/keys.parser"))" test "$(wc -l <"$T/keys.parser")" -gt 20
if cmp -s "$T/keys.parser" "$T/keys.man"; then ok "modosnap.conf(5) documents exactly the parser's keys"; else
	not_ok "modosnap.conf(5) and the parser's keys differ (< parser, > man page)" \
		"$(diff "$T/keys.parser" "$T/keys.man" | grep '^[<>]')"
fi

case_begin dpkg_install
# A real installation with dpkg into a throwaway root that has its own,
# empty dpkg database: the package's files land where dpkg puts them and
# dpkg records it as installed. The runtime libraries of the Depends come
# from this host (a root without them would need a full debootstrap), so
# the dependency check is relaxed; the Depends field is checked above.
I=$T/dpkgroot
mkdir -p "$I/var/lib/dpkg/info" "$I/var/lib/dpkg/updates"
: >"$I/var/lib/dpkg/status"
: >"$I/var/lib/dpkg/available"
if dpkg --root="$I" --force-depends --force-not-root --force-script-chrootless -i "$deb" >"$T/dpkg.out" 2>&1; then
	ok "dpkg --root -i installs it"
else
	not_ok "dpkg --root -i failed" "$(head -n 20 "$T/dpkg.out")"
fi
check "dpkg records it as installed" \
	sh -c "dpkg --root='$I' -s modosnap 2>/dev/null | grep -qx 'Status: install ok installed'"
check "dpkg lists its files" sh -c "dpkg --root='$I' -L modosnap | grep -qx /usr/bin/modosnap"
check "the installed binary runs" sh -c "'$I/usr/bin/modosnap' --version | grep -qx 'modosnap $version'"
if dpkg --root="$I" --force-depends --force-not-root --force-script-chrootless -r modosnap >>"$T/dpkg.out" 2>&1; then
	ok "dpkg --root -r removes it"
else
	not_ok "dpkg --root -r failed" "$(tail -n 20 "$T/dpkg.out")"
fi
check "no file of it is left" test ! -e "$I/usr/bin/modosnap"
check "remove keeps the conffile /etc/cron.d/modosnap" test -f "$I/etc/cron.d/modosnap"
# An administrator enabled the timer (the link `systemctl enable` makes)
# and keeps another timer enabled: purge removes modosnap's link only.
W=$I/etc/systemd/system/timers.target.wants
mkdir -p "$W"
ln -s /lib/systemd/system/modosnap-nightly.timer "$W/modosnap-nightly.timer"
ln -s /lib/systemd/system/other.timer "$W/other.timer"
if dpkg --root="$I" --force-depends --force-not-root --force-script-chrootless -P modosnap >>"$T/dpkg.out" 2>&1; then
	ok "dpkg --root -P purges it"
else
	not_ok "dpkg --root -P failed" "$(tail -n 20 "$T/dpkg.out")"
fi
check "purge removes /etc/cron.d/modosnap" test ! -e "$I/etc/cron.d/modosnap"
check "purge leaves the timer enabled nowhere" test ! -L "$W/modosnap-nightly.timer"
check "purge keeps another package's link" test -L "$W/other.timer"
check "dpkg forgets it" sh -c "! dpkg --root='$I' -s modosnap >/dev/null 2>&1"

case_begin man
zcat "$R/usr/share/man/man1/modosnap.1.gz" | groff -man -Tutf8 -ww -z >"$T/groff.out" 2>&1
check "groff -man -ww: no warnings" test ! -s "$T/groff.out"
if [ -s "$T/groff.out" ]; then head -n 20 "$T/groff.out" | sed 's/^/    /'; fi
MANWIDTH=80 man -l "$R/usr/share/man/man1/modosnap.1.gz" >"$T/man.out" 2>"$T/man.err"
check "man -l renders it (exit 0)" test $? -eq 0
check "man -l: nothing on stderr" test ! -s "$T/man.err"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS CONFIGURATION "SNAPSHOT SELECTORS" "EXIT STATUS" \
	FILES ENVIRONMENT EXAMPLES "SEE ALSO"; do
	check "section $section" grep -qx "$section" "$T/man.out"
done
# Every command of `modosnap help` has its subsection.
"$MODOSNAP" help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/commands:/ { print $1 }' >"$T/commands"
check "modosnap help lists commands" test -s "$T/commands"
while read -r cmd; do
	check "the man page has a subsection '$cmd'" grep -qxE " +$cmd" "$T/man.out"
done <"$T/commands"

case_begin cmake_install
# Into DESTDIR=$S with the package's prefix: /etc/cron.d and
# /lib/systemd/system are absolute and would otherwise land on the host.
if DESTDIR=$S cmake --install "$B" --prefix /usr >"$T/install.log" 2>&1; then ok "cmake --install"; else
	not_ok "cmake --install failed" "$(tail -n 20 "$T/install.log")"
fi
(cd "$R" && find . ! -type d | sort) >"$T/files.deb"
(cd "$S" && find . ! -type d | sort) >"$T/files.stage"
if cmp -s "$T/files.deb" "$T/files.stage"; then ok "the same files as the package"; else
	not_ok "the installed files differ from the package's" "$(diff "$T/files.deb" "$T/files.stage")"
fi
# The same content too (the packaged binary is stripped, so only the docs).
while read -r f; do
	[ "$f" = ./usr/bin/modosnap ] && continue
	[ -f "$S/$f" ] || continue
	cmp -s "$R/$f" "$S/$f" || not_ok "$f differs between the package and the install"
done <"$T/files.deb"
ok "the installed documentation is the packaged one"
check "installed binary runs" sh -c "'$S/usr/bin/modosnap' --version | grep -qxF 'modosnap $version'"

finish
