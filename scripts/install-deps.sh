#!/usr/bin/env bash
# Installs every Debian package ADD needs. Safe to run twice: it installs only
# what is missing, and does nothing (not even apt-get update) when all is there.
#
#   scripts/install-deps.sh          build + unit/integration tests + fuzzers
#   scripts/install-deps.sh --kmod   also the kernel module and its QEMU harness
set -euo pipefail

packages=(
  build-essential make pkg-config
  libssl-dev            # OpenSSL libcrypto: HMAC-SHA256
  libcriterion-dev      # unit tests
  clang llvm libclang-rt-14-dev  # libFuzzer + sanitizers
  python3
  prometheus            # promtool: lints the /metrics page (tests/suites/35-ops.sh)
  # NBD interoperability (tests/suites/35-nbd.sh, bench/nbd.sh): clients
  # nobody here wrote
  qemu-utils nbd-client libnbd-bin python3-libnbd fio nbdkit
)
if [[ "${1:-}" == "--kmod" ]]; then
  packages+=(
    linux-headers-amd64 linux-image-amd64
    qemu-system-x86 busybox-static cpio gzip xz-utils
    e2fsprogs
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
