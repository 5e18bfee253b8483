#!/usr/bin/env bash
# The atdd kernel module in a real kernel: installs the kernel image, headers,
# QEMU and busybox (scripts/install-deps.sh --kmod), builds the module and
# boots Debian's kernel under QEMU/TCG with three ADD processes in the guest
# (kmod/test/run.sh). About 2 to 4 minutes on a 2-core machine. On failure
# the guest's console is in build/kmod/console.log.
cd "$(dirname "$0")/../.." || exit 1
if ! scripts/install-deps.sh --kmod; then
	echo "0 passed, 1 failed"
	exit 1
fi
make --no-print-directory kmod-test
