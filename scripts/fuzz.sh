#!/bin/sh
# Bounded libFuzzer run of the bootstrap reader (clang, ASan+UBSan),
# seeded from images lading-mkimage builds.  CI runs it for 60 s.
#   scripts/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DLADING_FUZZ=ON -DLADING_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target reader_fuzz lading-mkimage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tests/fuzz/make-seeds.sh "$work/seeds" "$dir/mkimage/lading-mkimage" >/dev/null
mkdir -p "$work/corpus"
"$dir/tests/fuzz/reader_fuzz" -max_total_time="$secs" -max_len=65536 \
	-use_value_profile=1 -print_final_stats=1 "$work/corpus" "$work/seeds" \
	2>"$work/fuzz.log" || { tail -40 "$work/fuzz.log"; exit 1; }
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$work/fuzz.log" || true
tail -n 2 "$work/fuzz.log"
