#!/bin/sh
# Installs everything lading needs to build and test, from Debian packages.
#   scripts/install-deps.sh          build dependencies only
#   scripts/install-deps.sh --test   plus the tools the test suite drives
set -eu

BUILD_PKGS="build-essential cmake pkg-config
  zlib1g-dev liblz4-dev liblzma-dev libssl-dev libarchive-dev libzstd-dev
  libjansson-dev libisal-dev libcurl4-openssl-dev"
# gcc-s390x-linux-gnu, qemu-user: tests/unit/ondisk_big_endian.sh (a big-endian host)
TEST_PKGS="erofs-utils attr acl libcap2-bin libarchive-tools tar gzip xz-utils
  zstd lz4 bzip2 python3 util-linux clang libclang-rt-14-dev umoci skopeo
  docker-registry apache2-utils isal curl pigz
  gcc-s390x-linux-gnu qemu-user
  linux-source-6.1 flex bison bc libelf-dev qemu-system-x86 busybox-static
  e2fsprogs cpio"	# tests/vm: build and boot a kernel with cachefiles on-demand

pkgs=$BUILD_PKGS
if [ "${1:-}" = "--test" ]; then
	pkgs="$pkgs $TEST_PKGS"
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -qv 'install ok installed' &&
   [ "$(dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | wc -l)" -eq "$(echo $pkgs | wc -w)" ]; then
	exit 0	# all present: no network needed
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
