#!/bin/sh
# Release builds with GCC and with Clang, warnings as errors, so that the
# warnings only -O3 finds (-Wnonnull, -Wformat-truncation, ...) are caught.
# A user's default build (LADING_WERROR=OFF) never fails on a warning.
set -eu
cd "$(dirname "$0")/.."
for cc in gcc clang; do
	command -v "$cc" >/dev/null 2>&1 || { echo "build-release: $cc not found" >&2; exit 1; }
	CC=$cc cmake -S . -B "build-release-$cc" -DCMAKE_BUILD_TYPE=Release \
		-DLADING_WERROR=ON >/dev/null
	cmake --build "build-release-$cc" -j"$(nproc)"
	echo "build-release: $cc Release build clean"
done
