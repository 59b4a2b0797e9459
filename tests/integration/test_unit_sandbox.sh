# The sandbox of the shipped modosnap-nightly.service, tested by running
# the nightly routine inside an imitation of it. systemd is not PID 1 here
# (systemd-run cannot run a unit, systemd-nspawn is not installed), so each
# option is rebuilt from what the machine has:
#   mount options    unshare --mount (private propagation): every mount
#                    read-only, the dest dir writable again, tmpfs over
#                    /tmp, /var/tmp, /home, /root, /dev (a few nodes bound
#                    back), a new /proc with hidepid=invisible, /proc/sys
#                    read-only; --uts for ProtectHostname
#   capabilities     setpriv --bounding-set (the unit's list), --no-new-privs
#   seccomp          a small helper compiled here (raw BPF, no libseccomp)
#                    loads the filters systemd would: SystemCallFilter= (the
#                    groups expanded by `systemd-analyze syscall-filter`, a
#                    call outside them kills the process, as systemd's
#                    default), SystemCallArchitectures=native,
#                    RestrictAddressFamilies=, RestrictNamespaces=,
#                    RestrictRealtime=, RestrictSUIDSGID=, LockPersonality=,
#                    MemoryDenyWriteExecute= (the argument rules of systemd's
#                    seccomp-util.c, simplified where noted in the helper)
# Every [Service] directive of the unit must be in the table below, imitated
# or with the reason it is not, so a new option cannot go untested. The
# database servers stand in for the host's: their socket directory is bound
# into the private /tmp at its own path, as /run/postgresql and /run/mysqld
# stay visible to the real service. PostgreSQL is reached over TCP (AF_INET),
# MariaDB over its socket (AF_UNIX). Needs root (mount namespaces).
. "$MS_SOURCE_DIR/tests/lib.sh"
need_servers
UNIT=$MS_SOURCE_DIR/docs/examples/modosnap-nightly.service

case_begin exposure
if ! command -v systemd-analyze >/dev/null; then
	echo "# skip - exposure: systemd-analyze is not installed"
else
	systemd-analyze security --offline=true "$UNIT" >"$T/security" 2>&1
	score=$(sed -n 's/^.*Overall exposure level for modosnap-nightly\.service: \([0-9.]*\) .*$/\1/p' "$T/security")
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.5) }'; then
		ok "systemd-analyze security: exposure $score <= 3.5"
		check "docs/nightly.md gives that score" grep -qF "**$score \"" "$MS_SOURCE_DIR/docs/nightly.md"
	else
		not_ok "systemd-analyze security: exposure '${score}' is not <= 3.5" "$(tail -n 3 "$T/security")"
	fi
fi

case_begin directives
# Each [Service] directive of the unit: 'imitated' or why it needs no sandbox.
known='Type=oneshot	runs to completion: the test runs the command and waits
ExecStartPre=	outside the sandbox (+): the test makes the dest dir beforehand
ExecStart=	the command run
Nice=	scheduling only
IOSchedulingClass=	scheduling only
CapabilityBoundingSet=	imitated
NoNewPrivileges=yes	imitated
RestrictSUIDSGID=yes	imitated
UMask=0077	imitated
ProtectSystem=strict	imitated
ReadWritePaths=/var/backups/modosnap	imitated (the dest dir under $T)
ProtectHome=yes	imitated
PrivateTmp=yes	imitated
PrivateDevices=yes	imitated
ProtectKernelTunables=yes	imitated
ProtectKernelModules=yes	imitated
ProtectKernelLogs=yes	imitated
ProtectControlGroups=yes	imitated
ProtectClock=yes	imitated (@clock is in @privileged, CAP_SYS_TIME not in the bounding set)
ProtectHostname=yes	imitated
ProtectProc=invisible	imitated
PrivateMounts=yes	imitated (the mount namespace)
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6	imitated
RestrictNamespaces=yes	imitated
RestrictRealtime=yes	imitated
LockPersonality=yes	imitated
MemoryDenyWriteExecute=yes	imitated
SystemCallArchitectures=native	imitated
SystemCallFilter=	imitated'
sed -n '/^\[Service\]/,/^\[/p' "$UNIT" | grep -E '^[A-Za-z]+=' >"$T/directives"
unknown=""
while IFS= read -r d; do
	found=0
	while IFS=$'\t' read -r k _; do
		case $k in
		*=) [ "${d%%=*}=" = "$k" ] && found=1 ;;
		*) [ "$d" = "$k" ] && found=1 ;;
		esac
	done <<<"$known"
	[ "$found" = 1 ] || unknown="$unknown $d"
done <"$T/directives"
if [ -z "$unknown" ]; then ok "every directive of the unit is imitated or needs no sandbox"; else
	not_ok "directives this test does not imitate:$unknown"
fi

need() {
	if [ "$(id -u)" != 0 ]; then echo "needs root (mount namespaces)"; return 1; fi
	local c
	for c in unshare setpriv findmnt "${CC:-cc}" systemd-analyze; do
		command -v "$c" >/dev/null || { echo "$c is not installed"; return 1; }
	done
	unshare --mount --uts --propagation private true 2>/dev/null ||
		{ echo "unshare --mount is refused here"; return 1; }
}
if ! why=$(need); then finish_skipped "the sandbox: $why"; fi

# --- the seccomp helper ----------------------------------------------------
cat >"$T/seccomp-exec.c" <<'C'
/* seccomp-exec [--probe-wx] -- CMD...: loads the seccomp filters
 * modosnap-nightly.service asks systemd for (raw BPF, one program; where
 * systemd loads several, the strictest action wins, as in the kernel), then
 * runs CMD. --probe-wx tries a writable and executable mapping instead:
 * exit 0 if refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE AUDIT_ARCH_AARCH64
#else
#error "add this machine's AUDIT_ARCH"
#endif

static const long allowed[] = {
#include "allowed.h"
};
static struct sock_filter prog[BPF_MAXINSNS];
static unsigned short n;

static void op(unsigned short code, unsigned int k, unsigned char jt, unsigned char jf)
{
	if (n == BPF_MAXINSNS) {
		fprintf(stderr, "seccomp-exec: filter too long\n");
		_exit(126);
	}
	prog[n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}
#define LD_NR() op(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0)
/* the low 32 bits of an argument (little endian) */
#define LD_ARG(i) op(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]), 0, 0)
#define RET(v) op(BPF_RET | BPF_K, (v), 0, 0)
#define JEQ(k, t, f) op(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JSET(k, t, f) op(BPF_JMP | BPF_JSET | BPF_K, (k), (t), (f))
#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))

static int is_allowed(long nr)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i] == nr)
			return 1;
	return 0;
}

/* The next len instructions apply to nr only. A call the allow list
 * refuses gets no argument rule: the allow list kills it, and a kill
 * wins over an errno in the kernel too. */
static int when(long nr, unsigned char len)
{
	if (!is_allowed(nr))
		return 0;
	LD_NR();
	JEQ(nr, 0, len);
	return 1;
}
static void deny(long nr, int e)
{
	if (when(nr, 1))
		RET(ERRNO(e));
}
/* nr fails with e when args[i] has any bit of mask */
static void deny_any(long nr, int i, unsigned int mask, int e)
{
	if (!when(nr, 3))
		return;
	LD_ARG(i);
	JSET(mask, 0, 1);
	RET(ERRNO(e));
}
/* nr fails with e when args[i] has every bit of mask */
static void deny_all(long nr, int i, unsigned int mask, int e)
{
	if (!when(nr, 4))
		return;
	LD_ARG(i);
	op(BPF_ALU | BPF_AND | BPF_K, mask, 0, 0);
	JEQ(mask, 0, 1);
	RET(ERRNO(e));
}
/* nr fails with e unless args[i] is one of ok[0..k) */
static void deny_unless(long nr, int i, const unsigned int *ok, unsigned char k, int e)
{
	if (!when(nr, (unsigned char)(k + 2)))
		return;
	LD_ARG(i);
	for (unsigned char j = 0; j < k; j++)
		JEQ(ok[j], (unsigned char)(k - j), 0);
	RET(ERRNO(e));
}
/* open(2)-like nr fails with EPERM when creating (O_CREAT) a setuid or
 * setgid file */
static void deny_suid_create(long nr, int flags, int mode)
{
	if (!when(nr, 5))
		return;
	LD_ARG(flags);
	JSET(O_CREAT, 0, 3);
	LD_ARG(mode);
	JSET(S_ISUID | S_ISGID, 0, 1);
	RET(ERRNO(EPERM));
}

static void build(void)
{
	static const unsigned int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	static const unsigned int policies[] = { SCHED_OTHER, SCHED_BATCH, SCHED_IDLE };
	static const unsigned int personas[] = { PER_LINUX, 0xffffffffu };
	const unsigned int ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
				CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
	const unsigned int sugid = S_ISUID | S_ISGID;

	/* SystemCallArchitectures=native */
	op(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	JEQ(NATIVE, 1, 0);
	RET(SECCOMP_RET_KILL_PROCESS);
#ifdef __X32_SYSCALL_BIT
	LD_NR();
	op(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	RET(SECCOMP_RET_KILL_PROCESS);
#endif
	/* MemoryDenyWriteExecute=yes */
	deny_all(__NR_mmap, 2, PROT_WRITE | PROT_EXEC, EPERM);
	deny_any(__NR_mprotect, 2, PROT_EXEC, EPERM);
#ifdef __NR_pkey_mprotect
	deny_any(__NR_pkey_mprotect, 2, PROT_EXEC, EPERM);
#endif
	deny_any(__NR_shmat, 2, SHM_EXEC, EPERM);
	/* RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 */
	deny_unless(__NR_socket, 0, families, 3, EAFNOSUPPORT);
	/* RestrictNamespaces=yes; clone3's flags are in memory: ENOSYS, so
	 * that glibc falls back to clone */
	deny_any(__NR_clone, 0, ns, EPERM);
	deny_any(__NR_unshare, 0, ns, EPERM);
	deny(__NR_setns, EPERM);
#ifdef __NR_clone3
	deny(__NR_clone3, ENOSYS);
#endif
	/* RestrictRealtime=yes */
	deny_unless(__NR_sched_setscheduler, 1, policies, 3, EPERM);
	/* LockPersonality=yes: the current persona or the query only */
	deny_unless(__NR_personality, 0, personas, 2, EPERM);
	/* RestrictSUIDSGID=yes (O_TMPFILE with a setuid mode is not covered) */
	deny_any(__NR_chmod, 1, sugid, EPERM);
	deny_any(__NR_fchmod, 1, sugid, EPERM);
	deny_any(__NR_fchmodat, 2, sugid, EPERM);
	deny_any(__NR_creat, 1, sugid, EPERM);
	deny_suid_create(__NR_open, 1, 2);
	deny_suid_create(__NR_openat, 2, 3);
#ifdef __NR_openat2
	deny(__NR_openat2, ENOSYS);
#endif
	/* SystemCallFilter=: the allow list; anything else kills */
	LD_NR();
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		JEQ((unsigned int)allowed[i], 0, 1);
		RET(SECCOMP_RET_ALLOW);
	}
	RET(SECCOMP_RET_KILL_PROCESS);
}

int main(int argc, char **argv)
{
	struct sock_fprog fprog;
	int probe_wx = argc > 1 && strcmp(argv[1], "--probe-wx") == 0;
	int first = probe_wx ? 2 : 1;

	if (argc <= first + 1 || strcmp(argv[first], "--") != 0) {
		fprintf(stderr, "usage: seccomp-exec [--probe-wx] -- CMD...\n");
		return 126;
	}
	build();
	fprog.len = n;
	fprog.filter = prog;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
		fprintf(stderr, "seccomp-exec: loading the filter: %s\n", strerror(errno));
		return 126;
	}
	if (probe_wx)
		return mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? 0 : 1;
	execvp(argv[first + 1], argv + first + 1);
	fprintf(stderr, "seccomp-exec: %s: %s\n", argv[first + 1], strerror(errno));
	return 127;
}
C
# build_helper OUT UNIT... : the helper for the SystemCallFilter= lines of
# the unit files (the unit, then its drop-ins), in order: the first without
# ~ is the allow list, later ones add to it, ~ lines remove from it.
expand() {
	systemd-analyze syscall-filter "$1" | sed '1d; s/^[[:space:]]*//; /^#/d; /^$/d' | while read -r s; do
		case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
	done
}
build_helper() {
	local out=$1 line v deny g s
	shift
	: >"$T/allowed"
	while IFS= read -r line; do
		v=${line#SystemCallFilter=}
		deny=0
		case $v in "~"*) deny=1; v=${v#\~} ;; esac
		for g in $v; do if [ "${g#@}" != "$g" ]; then expand "$g"; else echo "$g"; fi; done | sort -u >"$T/group"
		if [ "$deny" = 1 ]; then comm -23 "$T/allowed" "$T/group" >"$T/allowed.new"
		else sort -u "$T/allowed" "$T/group" >"$T/allowed.new"; fi
		mv "$T/allowed.new" "$T/allowed"
	done < <(cat "$@" | grep '^SystemCallFilter=')
	while read -r s; do printf '#ifdef __NR_%s\n__NR_%s,\n#endif\n' "$s" "$s"; done <"$T/allowed" >"$T/allowed.h"
	"${CC:-cc}" -O -Wall -o "$out" "$T/seccomp-exec.c" -I"$T" >"$T/cc.out" 2>&1
}
if build_helper "$T/seccomp-exec" "$UNIT"; then
	ok "the seccomp helper compiles"
else
	not_ok "the seccomp helper does not compile" "$(head -n 20 "$T/cc.out")"
	finish
fi
check "SystemCallFilter= allows the calls of @system-service" test "$(wc -l <"$T/allowed")" -gt 200
helper=$T/seccomp-exec

# --- the mount namespace -----------------------------------------------------
# sandbox.sh DEST SRVDIR HOLD -- CMD...: run by `unshare --mount --uts
# --ipc --propagation private`; sets up the mounts, then runs CMD with the
# unit's umask, bounding set and no_new_privs, under the seccomp helper.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
cat >"$T/sandbox.sh" <<'SH'
set -e
dest=$1 srv=$2 hold=$3 caps=$4 helper=$5
shift 5
[ "$1" = -- ] && shift
mount -n --bind "$srv" "$hold"             # the database sockets, see PrivateTmp
# The test's own tree and the binary ($SANDBOX_KEEP, one per line) may lie
# under a directory the unit replaces (a clone in /tmp or /root): each is
# held on a private tmpfs at /mnt (mounts stay in this namespace; nothing
# is created on the host's disks) and bound back after the replacement.
keeps=()
while IFS= read -r k; do
	case $k in /tmp/*|/var/tmp/*|/home/*|/root/*) keeps+=("$k") ;; esac
done <<<"${SANDBOX_KEEP:-}"
skip='^/(proc|dev)(/|$)'
if [ "${#keeps[@]}" -gt 0 ]; then
	mount -n -t tmpfs -o mode=0700 tmpfs /mnt
	skip='^/(proc|dev|mnt)(/|$)'   # what was under /mnt is hidden now
	for i in "${!keeps[@]}"; do
		mkdir "/mnt/k$i"
		mount -n --rbind "${keeps[$i]}" "/mnt/k$i"
	done
fi
# what the mounts below bind, made while $hold's file system is writable:
# an empty file, the host's harmless device nodes
: >"$hold.empty"
chmod 0 "$hold.empty"
mkdir -p "$hold.dev"
for d in null zero full random urandom tty; do
	: >"$hold.dev/$d"
	mount -n --bind "/dev/$d" "$hold.dev/$d"
done
# ProtectSystem=strict, with ProtectKernelTunables (/sys) and
# ProtectControlGroups (/sys/fs/cgroup): every mount read-only, /dev and
# /proc aside (below)
findmnt -rn -o TARGET | grep -vE "$skip" | while read -r m; do
	mount -n -o remount,bind,ro "$(printf '%b' "$m")"
done
# ProtectProc=invisible: a new /proc instance, other users' processes hidden
mount -n -t proc -o nosuid,nodev,noexec,hidepid=invisible proc /proc
# ProtectKernelTunables: /proc/sys and the like read-only
for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
	[ -e "$p" ] || continue
	mount -n --bind "$p" "$p"
	mount -n -o remount,bind,ro "$p"
done
# ProtectKernelLogs: /proc/kmsg an empty, unreadable file (/dev/kmsg is not
# in the private /dev)
[ ! -e /proc/kmsg ] || mount -n --bind "$hold.empty" /proc/kmsg
# PrivateDevices: a /dev with the harmless nodes only
mount -n -t tmpfs -o nosuid,noexec,mode=0755 tmpfs /dev
for d in null zero full random urandom tty; do
	: >"/dev/$d"
	mount -n --bind "$hold.dev/$d" "/dev/$d"
done
mkdir /dev/shm /dev/pts
mount -n -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
# ProtectHome=yes, ProtectKernelModules=yes: empty, inaccessible
for p in /home /root /run/user /usr/lib/modules /lib/modules; do
	[ -d "$p" ] && ! [ -L "$p" ] || continue
	mount -n -t tmpfs -o mode=0 tmpfs "$p"   # read-only once the kept trees are back
done
# PrivateTmp=yes: new /tmp and /var/tmp; the servers' directory (under the
# host's /tmp) moved into the new /tmp at its own path, standing in for
# /run/postgresql and /run/mysqld, which the real service keeps seeing
mount -n -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
mount -n -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /var/tmp
for i in "${!keeps[@]}"; do
	mkdir -p "${keeps[$i]}"
	mount -n --rbind "/mnt/k$i" "${keeps[$i]}"
	mount -n -o remount,bind,ro "${keeps[$i]}"   # ProtectSystem=strict for them too
done
for p in /home /root /run/user /usr/lib/modules /lib/modules; do
	[ -d "$p" ] && ! [ -L "$p" ] || continue
	mount -n -o remount,ro "$p"
done
case $srv in /tmp/*)
	mkdir -p "$srv"
	mount -n --bind "$hold" "$srv" ;;
esac
# ReadWritePaths=: the dest dir writable again
mount -n --bind "$dest" "$dest"
mount -n -o remount,bind,rw "$dest"
# UMask=0077, CapabilityBoundingSet=, NoNewPrivileges=yes, then seccomp
umask 0077
exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set="-all,$caps" -- "$helper" -- "$@"
SH
mkdir -p "$T/srv-hold" "$T/dest"
D=$T/dest
chmod 0700 "$D"
# in_sandbox CMD... : CMD inside the imitation of the unit, stdout in
# $T/out, stderr in $T/err, exit status in $RC. Under the sanitizers,
# LeakSanitizer's check at exit would ptrace (outside @system-service: the
# filter kills its tracer and the binary waits for it forever), so leaks
# are left to the other tests here.
in_sandbox() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	SANDBOX_KEEP=$(printf '%s\n' "$T" "$(dirname "$MODOSNAP")") \
	unshare --mount --uts --ipc --propagation private -- \
		bash "$T/sandbox.sh" "$D" "$MS_SRV_DIR" "$T/srv-hold" "$caps" "$helper" -- "$@" \
		>"$T/out" 2>"$T/err" </dev/null
	RC=$?
}

case_begin sandbox_is_real
in_sandbox sh -c "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status; umask"
if [ "$RC" = 0 ]; then ok "the sandbox starts"; else
	not_ok "the sandbox does not start" "$(head -n 20 "$T/err")"
	finish
fi
want_bnd=$(printf '%016x' $((1 << 2))) # CAP_DAC_READ_SEARCH
check "bounding set is the unit's (CAP_DAC_READ_SEARCH)" grep -qx "CapBnd:[[:space:]]*$want_bnd" "$T/out"
check "effective capabilities: the same" grep -qx "CapEff:[[:space:]]*$want_bnd" "$T/out"
check "no_new_privs" grep -qx "NoNewPrivs:[[:space:]]*1" "$T/out"
check "seccomp filter mode" grep -qx "Seccomp:[[:space:]]*2" "$T/out"
check "umask 0077" grep -qx "0077" "$T/out"
# each refusal below is checked after the command started in the sandbox
in_sandbox sh -c "echo started; echo x >'$T/outside'"
check "a write outside the dest dir fails (read-only file system)" \
	sh -c "grep -qx started '$T/out' && grep -q 'Read-only file system' '$T/err' && test ! -e '$T/outside'"
probe=/tmp/$(basename "$T").probe
in_sandbox sh -c "echo x >'$D/inside' && echo x >'$probe'"
check "a write into the dest dir and the private /tmp succeeds" test "$RC" = 0 -a -f "$D/inside"
check "the private /tmp is not the host's" test ! -e "$probe"
rm -f "$D/inside" "$probe"
# (asked with access(2), so that a broken sandbox writes nothing on the host)
in_sandbox sh -c "echo started; test -w /etc || echo /etc read-only"
check "/etc is read-only" grep -qx "/etc read-only" "$T/out"
in_sandbox sh -c "ls -A /root /home 2>&1; ls /dev"
check "/root and /home are empty" sh -c "! grep -v '^/.*:$' '$T/out' | grep -vE '^(null|zero|full|random|urandom|tty|shm|pts|fd|stdin|stdout|stderr)$' | grep -q ."
in_sandbox hostname sandbox-probe
check "sethostname kills the process (SIGSYS, as the unit's filter)" test "$RC" = $((128 + 31))
in_sandbox unshare --user true
check "a user namespace is refused (RestrictNamespaces)" grep -q "Operation not permitted" "$T/err"
if command -v ip >/dev/null; then
	in_sandbox ip link show
	check "a netlink socket is refused (RestrictAddressFamilies)" grep -q "Address family not supported" "$T/err"
fi
in_sandbox "$T/seccomp-exec" --probe-wx -- true
check "a writable and executable mapping is refused (MemoryDenyWriteExecute)" test "$RC" = 0
in_sandbox sh -c "touch '$D/s' && chmod 4755 '$D/s'"
check "a setuid mode is refused (RestrictSUIDSGID)" \
	sh -c "test -f '$D/s' && grep -q 'Operation not permitted' '$T/err' && test \"\$(stat -c %a '$D/s')\" = 600"
rm -f "$D/s"

# --- the nightly routine -----------------------------------------------------
"$MS_SOURCE_DIR/scripts/mkfixture" --root "$T/site" --servers "$MS_TESTSRV_ENV" --engine mixed --pg-tcp \
	--prefix "usb$$" >"$T/mkfixture.log" 2>&1 || { cat "$T/mkfixture.log"; exit 1; }
# shellcheck disable=SC1091
. "$T/site/fixture.env"
trap '"$MS_SOURCE_DIR/scripts/mkfixture" --remove --root "$T/site" --servers "$MS_TESTSRV_ENV" >/dev/null 2>&1; ms_t_cleanup' EXIT
# the instance belongs to another user, readable by its owner only: root
# reads it through CAP_DAC_READ_SEARCH
chown -R nobody "$MS_FX_INSTANCE"
chmod -R go-rwx "$MS_FX_INSTANCE"
conf=$T/nightly.conf
{
	printf '[modosnap]\ninstance = %s\npostfix_dir = %s\ndest = %s\n' "$MS_FX_INSTANCE" "$MS_FX_POSTFIX" "$D"
	ms_t_key_lines
	printf '[retention]\nkeep_last = 2\n'
	printf '[db:amavis]\nadmin_user = root\n'
	printf '[hooks]\n'
	for h in before pause resume after; do printf '%s = echo "hook %s ran" >&2\n' "$h" "$h"; done
} >"$conf"
chmod 600 "$conf"
export MODOSNAP_CONFIG=$conf

case_begin first_run_outside
# The first create makes the signing key (in /etc/modosnap, read-only for
# the unit: docs/nightly.md says to run it once by hand first).
run_ms -q create --nightly
base_rc=$RC
check "create --nightly outside the sandbox: exit 0 or 3" test "$RC" = 0 -o "$RC" = 3
check "the signing key exists" test -f "$T/keys/signing.key"

case_begin nightly
in_sandbox "$MODOSNAP" -q create --nightly
check "create --nightly in the sandbox: the exit status outside it ($base_rc)" test "$RC" = "$base_rc"
check "no error" sh -c "! grep -q 'error' '$T/err'"
[ "$RC" = "$base_rc" ] || sed 's/^/    /' "$T/err"
for h in before pause resume after; do check "hook $h ran" grep -qx "hook $h ran" "$T/err"; done
check "two snapshots in the dest dir" test "$(find "$D" -maxdepth 1 -name '*.tar.zst' | wc -l)" = 2
# the newest archive, the one made in the sandbox (names sort by time)
newest=$(find "$D" -maxdepth 1 -name '*.tar.zst' | sort | tail -n 1)
check "the archive is private (UMask=0077)" test "$(stat -c %a "$newest" 2>&1)" = 600
in_sandbox "$MODOSNAP" -q create --nightly
in_sandbox "$MODOSNAP" -q create --nightly
check "the third run prunes to keep_last = 2" test "$(find "$D" -maxdepth 1 -name '*.tar.zst' | wc -l)" = 2

case_begin needs_dac_read_search
# The one capability is needed: without it root cannot read the instance.
caps_unit=$caps
caps=-dac_read_search
in_sandbox "$MODOSNAP" -q create --nightly
caps=$caps_unit
check "without CAP_DAC_READ_SEARCH create --nightly fails" test "$RC" = 1
check "... on the instance's files" grep -q "Permission denied" "$T/err"

case_begin verify_deep
# the scratch database on PostgreSQL is made by the instance's role (over
# TCP, its password in settings.py); on MariaDB by root over the socket
"$MS_PG_BINDIR/psql" -h "$MS_PG_SOCKDIR" -p "$MS_PG_PORT" -U "$MS_PG_SUPERUSER" -d postgres -qAt \
	-c "ALTER ROLE \"$MS_FX_DEFAULT_USER\" CREATEDB" >"$T/psql.out" 2>&1 ||
	not_ok "ALTER ROLE ... CREATEDB failed" "$(cat "$T/psql.out")"
in_sandbox "$MODOSNAP" verify latest --deep
check "verify --deep in the sandbox: exit 0" test "$RC" = 0
[ "$RC" = 0 ] || sed 's/^/    /' "$T/err"
check "both databases loaded into scratch databases and checked" \
	test "$(grep -c 'restored into a scratch database and checked' "$T/out")" = 2

case_begin no_key
# Without a signing key, the unit cannot make one: an error naming it.
mv "$T/keys" "$T/keys.moved"
in_sandbox "$MODOSNAP" -q create --nightly
check "create --nightly without a key fails in the sandbox" test "$RC" = 1
check "the error names the key" grep -qF "$T/keys" "$T/err"
mv "$T/keys.moved" "$T/keys"

case_begin dropin
# docs/nightly.md's drop-in for a hook that runs a command as another user
# (runuser): refused as shipped, allowed with the drop-in.
in_sandbox runuser -u nobody -- id -u
check "as shipped, runuser in a hook is refused" test "$RC" != 0
printf '[Service]\nCapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SETUID CAP_SETGID\nSystemCallFilter=@setuid @resources\n' \
	>"$T/dropin.conf"
if build_helper "$T/seccomp-exec-dropin" "$UNIT" "$T/dropin.conf"; then ok "the helper for the drop-in compiles"; else
	not_ok "the helper for the drop-in does not compile" "$(head -n 20 "$T/cc.out")"
fi
caps_unit=$caps helper_unit=$helper
caps=+dac_read_search,+setuid,+setgid helper=$T/seccomp-exec-dropin
in_sandbox runuser -u nobody -- id -u
caps=$caps_unit helper=$helper_unit
if [ "$RC" = 0 ] && [ "$(cat "$T/out")" = "$(id -u nobody)" ]; then ok "with the drop-in, runuser works"; else
	not_ok "with the drop-in, runuser fails (exit $RC)" "$(head -n 5 "$T/err")"
fi

finish
