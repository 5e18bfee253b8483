#!/usr/bin/env bash
# Keeps core/ pure (ARCHITECTURE.md): no syscalls, clocks, randomness or
# threads except through the I/O interface. Two checks:
#  1. core sources include only libc's pure headers, OpenSSL and core headers;
#  2. the core library's undefined symbols are all on an allowlist of pure
#     libc functions and OpenSSL (so a stray time()/read()/rand() fails).
set -euo pipefail
lib=${1:-build/libaddcore.a}
cd "$(dirname "$0")/.."
bad=0
allowed_headers='^(assert|ctype|errno|inttypes|limits|stdalign|stdarg|stdbool|stddef|stdint|stdio|stdlib|string|stdnoreturn)\.h$|^openssl/'
while IFS= read -r line; do
  file=${line%%:*}; hdr=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")
  if [[ -f "core/$hdr" ]]; then continue; fi
  if ! grep -Eq "$allowed_headers" <<<"$hdr"; then
    echo "check-core: $file includes <$hdr>, which is not allowed in core/" >&2; bad=1
  fi
done < <(grep -HE '^[[:space:]]*#[[:space:]]*include' core/*.c core/*.h)

allowed_syms='^(malloc|calloc|realloc|free|memcpy|memmove|memset|memcmp|memchr|strlen|strcmp|strncmp|strchr|strrchr|strnlen|strstr|strtoul|strtoull|strtol|strtoll|snprintf|vsnprintf|abort|qsort|bsearch|__assert_fail|__stack_chk_fail|__memcpy_chk|__memset_chk|__memmove_chk|__snprintf_chk|__vsnprintf_chk|__ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc|__errno_location|__isoc99_sscanf|__isoc23_strtoul|__isoc23_strtoull|__isoc23_strtol|__isoc23_strtoll|CRYPTO_memcmp|(EVP|HMAC|OSSL|ERR|OPENSSL|SHA256|CRYPTO)_[A-Za-z0-9_]+|_GLOBAL_OFFSET_TABLE_|__ubsan_[a-z0-9_]+|__asan_[a-z0-9_]+|__sanitizer_[a-z0-9_]+|__cpu_model|__cpu_indicator_init)$'
if [[ -f "$lib" ]]; then
  defined=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3{print $3}' | sort -u)
  while IFS= read -r sym; do
    [[ -z "$sym" ]] && continue
    grep -qxF "$sym" <<<"$defined" && continue
    if ! grep -Eq "$allowed_syms" <<<"$sym"; then
      echo "check-core: core uses '$sym', which is not allowed (go through core/io.h or core/disk.h)" >&2; bad=1
    fi
  done < <(nm -u "$lib" 2>/dev/null | awk '$1 == "U" {print $2}' | sort -u)
fi
exit $bad
