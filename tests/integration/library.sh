#!/bin/bash
# liblading as an outside program sees it: installed with cmake --install,
# found with pkg-config, only the installed headers on the include path,
# linked against liblading.so.  The program builds an image with the
# public API and verifies it; the kernel then mounts it and it is compared
# with its source.
. "$(dirname "$0")/lib.sh"
require_cmd pkg-config
[ -n "${LADING_BUILD_DIR:-}" ] || skip "LADING_BUILD_DIR is not set"
cc=${LADING_CC:-cc}
require_cmd "$cc"

prefix=$WORK/prefix
cmake --install "$LADING_BUILD_DIR" --prefix "$prefix" >/dev/null ||
	fail "cmake --install failed"
pcdir=$(dirname "$(find "$prefix" -name lading.pc | head -1)")
[ -f "$pcdir/lading.pc" ] || fail "no lading.pc installed"
so=$(find "$prefix" -name 'liblading.so.0' | head -1)
[ -n "$so" ] || fail "no liblading.so.0 (SOVERSION) installed"
for h in "$prefix"/include/lading/*.h; do
	case $(basename "$h") in
	common.h|types.h|ondisk.h|build.h|verify.h|cache.h|convert.h|fill.h|trace.h) ;;
	*) fail "a private header is installed: $h" ;;
	esac
done

flags=()
if grep -q '^LADING_SANITIZE:BOOL=ON' "$LADING_BUILD_DIR/CMakeCache.txt"; then
	flags=(-fsanitize=address,undefined)	# the library is instrumented
fi
cat >"$WORK/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <lading/build.h>
#include <lading/cache.h>
#include <lading/convert.h>
#include <lading/fill.h>
#include <lading/verify.h>

int main(int argc, char **argv)
{
	struct lading_build_params bp;
	struct lading_build_report br;
	struct lading_verify_params vp;
	struct lading_verify_report vr;
	struct lading_error err = { 0 };
	int ret;

	if (argc != 3)
		return 2;
	lading_build_params_init(&bp);
	bp.source = argv[1];
	bp.bootstrap = argv[2];
	ret = lading_build(&bp, &br, &err);
	if (ret) {
		fprintf(stderr, "build: %s\n", lading_error_message(&err, ret));
		return 1;
	}
	lading_verify_params_init(&vp);
	vp.bootstrap = argv[2];
	memset(&vr, 0, sizeof(vr));
	ret = lading_verify(&vp, &vr, &err);
	printf("%s %llu\n", ret ? "bad" : "ok", (unsigned long long)vr.regular);
	lading_verify_report_free(&vr);
	return ret ? 1 : 0;
}
C
# shellcheck disable=SC2046
PKG_CONFIG_PATH=$pcdir "$cc" -std=c11 -Wall -Werror "${flags[@]}" "$WORK/prog.c" \
	-o "$WORK/prog" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs lading) ||
	fail "an outside program does not compile or link against the installed API"
deps=$(ldd "$WORK/prog" || true)
grep -q "liblading.so.0" <<<"$deps" || fail "prog is not linked to liblading.so.0"

src=$WORK/src
mkdir -p "$src/d"
echo hello >"$src/d/a"
head -c 200000 /dev/urandom >"$src/big"
out=$(LD_LIBRARY_PATH=$(dirname "$so") "$WORK/prog" "$src" "$WORK/img.erofs") ||
	fail "prog failed: $out"
[ "$out" = "ok 2" ] || fail "prog said '$out', not 'ok 2'"
IMG_BOOT=$WORK/img.erofs
IMG_BLOB_DIR=$WORK
IMG_BLOB=$(find "$WORK" -maxdepth 1 -name "[0-9a-f]*" -size +0 | head -1)
mount_and_compare "$src"
log "ok: an outside program builds and verifies through liblading.so.0"
