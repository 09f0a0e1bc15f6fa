#!/usr/bin/env bash
# Reads the vision benchmark's photos on the box's architecture and compares with this machine.
#
# The box is a Raspberry Pi: aarch64, Debian 12's Python 3.11. This builds that software stack
# on an x86-64 Debian machine without a Pi: Debian's own arm64 Python packages unpacked into a
# sysroot, the project's runtime dependencies as the aarch64 wheels pip would install on the box
# (same versions as .venv), run by qemu-user. It checks that every dependency has an aarch64
# wheel (or is pure Python) and that the box reads the photos as this machine does; emulated
# timings say nothing about a Pi's speed.
#
# Usage: bash firmware_config/check-aarch64.sh [PHOTOS]     (`make check-aarch64`; needs root
# or sudo for apt-get and for a private mount namespace, and network access for the packages)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$here/.aarch64"
photos="${1:-150}"
venv="$here/.venv/bin"
sysroot="$work/sysroot"
site="$work/site"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

if ! command -v qemu-aarch64-static >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-user-static
fi

# Debian 12's arm64 Python 3.11 and the libraries it and the wheels load, as on the box:
# downloaded and unpacked here, never installed (apt learns the arm64 architecture for that).
if [ ! -x "$sysroot/usr/bin/python3.11" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
  fi
  $sudo apt-get update -qq
  mkdir -p "$work/debs" "$sysroot"
  (cd "$work/debs" && apt-get download -qq $(printf '%s:arm64 ' \
    python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 libc6 \
    libexpat1 zlib1g libffi8 libssl3 libsqlite3-0 libbz2-1.0 liblzma5 libncursesw6 libtinfo6 \
    libreadline8 libuuid1 libdb5.3 libgdbm6 libcrypt1 libstdc++6 libgcc-s1 libnsl2 libtirpc3 \
    libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 \
    libzstd1 liblz4-1 libgomp1))
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
fi

# The runtime dependencies as aarch64 wheels, at the versions this machine's .venv runs.
if [ ! -d "$site" ]; then
  "$venv/pip" freeze --exclude-editable > "$work/constraints.txt"
  platforms=(--platform manylinux2014_aarch64)
  for glibc in 17 24 27 28 31 34 35 36; do platforms+=(--platform "manylinux_2_${glibc}_aarch64"); done
  mapfile -t wheels < <("$venv/python" -c '
import tomllib
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    print(dep)' | grep -v '^sdnotify')
  "$venv/pip" install -q --only-binary=:all: "${platforms[@]}" --python-version 3.11 \
    --implementation cp --abi cp311 -c "$work/constraints.txt" --target "$site" "${wheels[@]}"
  # sdnotify ships no wheel: it is pure Python, installed from its source on any machine.
  "$venv/pip" install -q --no-deps --target "$site" 'sdnotify>=0.3,<1'
fi

# qemu-user shows the program this machine's /proc/cpuinfo; LiteRT's CPU detection (cpuinfo)
# parses it as an ARM one and crashes (LiteRT >= 2.2). The box has a Pi 4's: give it that.
# One entry per CPU this machine has (what /sys, which qemu does not hide, lists).
for cpu in $(seq 0 $(($(nproc --all) - 1))); do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
  printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n'
  printf 'CPU part\t: 0xd08\nCPU revision\t: 3\n\n'
done > "$work/cpuinfo"
printf 'Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n' >> "$work/cpuinfo"

cd "$here"
"$venv/python" -m bench.aarch64 prepare "$work/photos" "$photos"
"$venv/python" -m bench.aarch64 read "$work/photos" "$work/native.jsonl"
$sudo unshare -m sh -c "mount --bind '$work/cpuinfo' /proc/cpuinfo && \
  PYTHONPATH='$site:$here' qemu-aarch64-static -cpu cortex-a72 -L '$sysroot' \
  '$sysroot/usr/bin/python3.11' -m bench.aarch64 read '$work/photos' '$work/aarch64.jsonl'"
"$venv/python" -m bench.aarch64 compare "$work/native.jsonl" "$work/aarch64.jsonl"
