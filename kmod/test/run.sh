#!/usr/bin/env bash
# `make kmod-test`: boots Debian's kernel in QEMU with the atdd module, ADD
# processes and a test script in an initramfs, and reports the guest's tests.
#
#   KVER       kernel version (make passes the one it built the module for)
#   BUILD      build directory (default build); output goes to $BUILD/kmod
#   KMOD_SERVERS=addd|testsrv   the servers in the guest: three real addd
#              (default when runtime-real/addd_main.c builds statically) or
#              three kmod/test/atdd_testsrv sharing one in-memory disk
#   KMOD_TIMEOUT  seconds before the guest is killed (default 420)
#   KMOD_GUEST    the guest's /init (default kmod/test/guest-init.sh)
#   KMOD_APPEND   extra kernel command line (e.g. idle=poll)
#
# QEMU: TCG (software emulation; KVM does not work on these machines), -cpu
# max (RDRAND, so the guest's getrandom() does not stall), the uncompressed
# ELF vmlinux booted through PVH (much faster under TCG than a bzImage).
# The console goes to $BUILD/kmod/console.log, kept for CI on failure.
# Prints "PASS/FAIL name" per guest test, the figures, and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=$BUILD/kmod
KVER=${KVER:?KVER is not set (run through make kmod-test)}
VMLINUZ=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
TIMEOUT=${KMOD_TIMEOUT:-420}
passed=0 failed=0

finish() {
	echo "$passed passed, $failed failed"
	((failed == 0))
	exit
}
harness_fail() {
	echo "FAIL $1"
	failed=$((failed + 1))
	finish
}

for tool in qemu-system-x86_64 cpio busybox python3; do
	command -v $tool > /dev/null || harness_fail "harness: $tool missing (scripts/install-deps.sh --kmod)"
done
[[ -r $VMLINUZ ]] || harness_fail "harness: $VMLINUZ missing (linux-image-amd64)"
[[ -r $OUT/atdd.ko && -x $OUT/atdd_testsrv ]] || harness_fail "harness: run make kmod-test"

# The uncompressed kernel, extracted once per kernel image.
vmlinux=$OUT/vmlinux-$KVER
if [[ ! -s $vmlinux || $vmlinux -ot $VMLINUZ ]]; then
	python3 kmod/test/extract-vmlinux.py "$VMLINUZ" "$vmlinux.tmp" && mv "$vmlinux.tmp" "$vmlinux" ||
		harness_fail "harness: cannot extract vmlinux from $VMLINUZ"
fi

# A static addd for the guest, from a build directory of its own.
servers=${KMOD_SERVERS:-addd}
addd=""
if [[ $servers == addd ]]; then
	if [[ -e runtime-real/addd_main.c ]] &&
		make --no-print-directory BUILD="$BUILD/static" LDFLAGS=-static "$BUILD/static/addd" \
			> "$OUT/addd-static-build.log" 2>&1; then
		addd=$BUILD/static/addd
	else
		echo "harness: no static addd (see $OUT/addd-static-build.log): using atdd_testsrv"
		servers=testsrv
	fi
fi
echo "harness: kernel $KVER, servers: $servers"

# The initramfs: busybox, the module and what ext2 needs, the servers, /init.
root=$OUT/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$OUT/atdd.ko" "$root/lib/modules/"
cp "$OUT/atdd_testsrv" "$root/bin/"
[[ -n $addd ]] && cp "$addd" "$root/bin/addd"
for m in lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4; do
	[[ -e $MODDIR/kernel/$m.ko ]] && cp "$MODDIR/kernel/$m.ko" "$root/lib/modules/"
done
# For the NBD test: the kernel's nbd.ko, and Debian's nbd-client, mkfs.ext4
# and e2fsck with the libraries they link (nbd-client, e2fsprogs).
[[ -e $MODDIR/kernel/drivers/block/nbd.ko ]] && cp "$MODDIR/kernel/drivers/block/nbd.ko" "$root/lib/modules/"
copy_dynamic() { # copy_dynamic PROGRAM: into /bin, with its shared libraries
	local lib
	[[ -x $1 ]] || { echo "harness: $1 missing: the NBD guest test is skipped"; return 0; }
	cp "$1" "$root/bin/"
	for lib in $(ldd "$1" | grep -oE '/[^ ]+\.so[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
for p in /usr/sbin/nbd-client /sbin/mkfs.ext4 /sbin/e2fsck; do copy_dynamic "$p"; done
cp "${KMOD_GUEST:-kmod/test/guest-init.sh}" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$OUT/initramfs.cpio" ||
	harness_fail "harness: cpio failed"

echo "harness: booting (TCG, timeout ${TIMEOUT}s); console: $OUT/console.log"
start=$(date +%s)
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
	-display none -monitor none -serial stdio -no-reboot \
	-kernel "$vmlinux" -initrd "$OUT/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet ${KMOD_APPEND:-}" < /dev/null > "$OUT/console.log" 2>&1
rc=$?
echo "harness: guest ran $(($(date +%s) - start)) s (qemu exit $rc)"

tr -d '\r' < "$OUT/console.log" > "$OUT/console.txt"
grep -E '^KTEST: (servers|warning)' "$OUT/console.txt" | sed 's/^KTEST: /guest: /'
while IFS= read -r line; do
	case $line in
	"KTEST: PASS "*) echo "PASS ${line#KTEST: PASS }"; passed=$((passed + 1)) ;;
	"KTEST: FAIL "*) echo "FAIL ${line#KTEST: FAIL }"; failed=$((failed + 1)) ;;
	"KTEST: FIGURE "*) echo "figure: ${line#KTEST: FIGURE }" ;;
	esac
done < <(grep -E '^KTEST: (PASS|FAIL|FIGURE) ' "$OUT/console.txt")
if ! grep -q '^KTEST: DONE' "$OUT/console.txt"; then
	echo "FAIL guest_completed: the guest did not finish (timeout, panic or hang); tail of the console:"
	tail -n 40 "$OUT/console.txt"
	failed=$((failed + 1))
elif ((failed)); then
	echo "harness: failures; the atdd kernel log is at the end of $OUT/console.log"
fi
finish
