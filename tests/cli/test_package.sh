# The Debian package and the install rules: a Release tree of the project
# is configured and built in a temporary directory, `cpack -G DEB` makes the
# package, and the test checks its control fields (name, version, Depends on
# the runtime libraries, Recommends), its contents, that the binary it
# carries runs and that its man page renders without warnings; then that
# `cmake --install` installs the same files.
# Needs cmake/cpack, dpkg-dev (dpkg-shlibdeps), groff-base and man-db.
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
check "Maintainer" test "$(field Maintainer)" = "modosnap developers <modosnap@localhost>"
check "Architecture matches dpkg's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "Description has a summary line" test -n "$(field Description | head -n 1)"
check "Description has an extended part" test "$(field Description | wc -l)" -gt 1
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

case_begin contents
dpkg-deb --contents "$deb" >"$T/contents" 2>&1
# "MODE OWNER SIZE DATE TIME ./PATH" -> "MODE OWNER ./PATH"
awk '{ print $1, $2, $6 }' "$T/contents" >"$T/listing"
doc=./usr/share/doc/modosnap
check "usr/bin/modosnap, mode 0755, root" has_line "$T/listing" "-rwxr-xr-x root/root ./usr/bin/modosnap"
check "the man page, gzipped" has_line "$T/listing" "-rw-r--r-- root/root ./usr/share/man/man1/modosnap.1.gz"
for f in modosnap.conf modosnap-nightly.service modosnap-nightly.timer modosnap.cron apt-preinstall-hook; do
	check "example $f" has_line "$T/listing" "-rw-r--r-- root/root $doc/examples/$f"
done
check "README.md" has_line "$T/listing" "-rw-r--r-- root/root $doc/README.md"
for md in "$MS_SOURCE_DIR"/docs/*.md; do
	check "docs/$(basename "$md")" has_line "$T/listing" "-rw-r--r-- root/root $doc/$(basename "$md")"
done
check "nothing outside /usr" test -z "$(awk '$3 !~ /^\.\/(usr\/?)?$/ && $3 !~ /^\.\/usr\// { print }' "$T/listing")"

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
if cmake --install "$B" --prefix "$S" >"$T/install.log" 2>&1; then ok "cmake --install"; else
	not_ok "cmake --install failed" "$(tail -n 20 "$T/install.log")"
fi
(cd "$R/usr" && find . ! -type d | sort) >"$T/files.deb"
(cd "$S" && find . ! -type d | sort) >"$T/files.stage"
if cmp -s "$T/files.deb" "$T/files.stage"; then ok "the same files as the package"; else
	not_ok "the installed files differ from the package's" "$(diff "$T/files.deb" "$T/files.stage")"
fi
# The same content too (the packaged binary is stripped, so only the docs).
while read -r f; do
	[ "$f" = ./bin/modosnap ] && continue
	[ -f "$S/$f" ] || continue
	cmp -s "$R/usr/$f" "$S/$f" || not_ok "$f differs between the package and the install"
done <"$T/files.deb"
ok "the installed documentation is the packaged one"
check "installed binary runs" sh -c "'$S/bin/modosnap' --version | grep -qxF 'modosnap $version'"

finish
