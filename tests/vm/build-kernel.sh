#!/bin/bash
# Builds the test kernel (tinyconfig of Debian's linux-source-6.1 plus
# kernel.config) once per (fragment, package version) and prints the path
# of its bzImage on stdout; all other output goes to stderr.
#   build-kernel.sh [--cached]   --cached: only look, fail if not built yet
#   LADING_VM_CACHE   cache directory (default /var/tmp/lading-vm)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
frag=$here/kernel.config
tarball=/usr/src/linux-source-6.1.tar.xz
cache=${LADING_VM_CACHE:-/var/tmp/lading-vm}

[ -r "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }
ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { cat "$frag"; echo "linux-source-6.1 $ver"; } | sha256sum | cut -c1-12)
out=$cache/kernel-$key

if [ -f "$out/bzImage" ]; then
	echo "$out/bzImage"
	exit 0
fi
[ "${1:-}" != --cached ] || exit 1

# Build in a scratch directory and rename the result into place, so an
# interrupted build never looks like a cached one.
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "build-kernel: building $out (linux-source-6.1 $ver) in $tmp" >&2
tar -xJf "$tarball" -C "$tmp"
src=$tmp/linux-source-6.1
mk() { make -C "$src" -s ARCH=x86_64 "$@" >&2; }

# Appended lines override tinyconfig's; olddefconfig resolves dependencies.
# Both steps warn about every override: keep that in a log unless they fail.
{ mk tinyconfig && cat "$frag" >>"$src/.config" && mk olddefconfig; } 2>"$tmp/config.log" ||
	{ cat "$tmp/config.log" >&2; exit 1; }

# Fail loudly on any fragment option that did not survive dependency checks.
bad=0
while read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$src/.config" || { echo "build-kernel: want $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$src/.config" || echo absent)" >&2; bad=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" "$src/.config" || { echo "build-kernel: want $sym unset, got: $(grep "^$sym=" "$src/.config")" >&2; bad=1; } ;;
	esac
done <"$frag"
[ "$bad" -eq 0 ] || { echo "build-kernel: kernel.config options not satisfied" >&2; exit 1; }

mk -j"$(nproc)" bzImage

# Keep only the image and its config; the ~1.5 GB tree goes with $tmp.
mkdir "$tmp/out"
cp "$src/arch/x86/boot/bzImage" "$src/.config" "$tmp/out/"
echo "linux-source-6.1 $ver" >"$tmp/out/version"
if ! mv -T "$tmp/out" "$out" 2>/dev/null && [ ! -f "$out/bzImage" ]; then
	echo "build-kernel: cannot move the result to $out" >&2
	exit 1
fi
echo "build-kernel: done in $(( $(date +%s) - start )) s, bzImage $(stat -c %s "$out/bzImage") bytes" >&2
echo "$out/bzImage"
