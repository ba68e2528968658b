#!/bin/bash
# SPDX-License-Identifier: MIT
# The on-disk header on a big-endian host: ondisk_test.c, built with only
# lading/ondisk.h (LADING_ONDISK_ONLY), cross-compiled for s390x and run
# under qemu-user, must produce the same little-endian bytes.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cc=$(command -v s390x-linux-gnu-gcc || true)
qemu=$(command -v qemu-s390x || command -v qemu-s390x-static || true)
if [ -z "$cc" ] || [ -z "$qemu" ]; then
	echo "SKIP: ondisk_big_endian: needs s390x-linux-gnu-gcc and qemu-s390x" \
	     "(gcc-s390x-linux-gnu, qemu-user)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cc" -std=gnu11 -Wall -Wextra -Werror -O1 -static -DLADING_ONDISK_ONLY \
	-I"$repo/lib/include" "$repo/tests/unit/ondisk_test.c" -o "$work/ondisk_test"
# the binary really is big-endian (ELF EI_DATA == 2)
[ "$(od -An -tu1 -j5 -N1 "$work/ondisk_test" | tr -d ' ')" = 2 ] ||
	{ echo "FAIL: not a big-endian binary"; exit 1; }
out=$("$qemu" "$work/ondisk_test")
echo "$out"
grep -q ' 0 failed' <<<"$out"
