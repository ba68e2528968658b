#!/bin/sh
# Install dependencies, build, run the whole test suite.
#   scripts/test.sh              regular build in build/
#   scripts/test.sh --sanitize   ASan+UBSan build in build-asan/
# Kernel-backed tests (mount(2), fsck.erofs) need root: a user runs the
# script again under sudo where sudo is installed; without root the tests
# print SKIP with the reason.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	exec sudo "$0" "$@"
fi

dir=build
flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo"
if [ "${1:-}" = "--sanitize" ]; then
	dir=build-asan
	flags="-DCMAKE_BUILD_TYPE=Debug -DLADING_SANITIZE=ON"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

scripts/install-deps.sh --test
# shellcheck disable=SC2086
cmake -S . -B "$dir" -DLADING_WERROR=ON $flags >/dev/null
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
