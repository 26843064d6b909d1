#!/usr/bin/env bash
# Installs what fnguard needs to build, test and run on a Debian 12 host and
# mounts the kernel file systems it uses. Idempotent: fast when all is there.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (sudo make ...): installs packages and mounts bpffs" >&2
  exit 1
fi

packages=(clang llvm bpftool libelf-dev zlib1g-dev pkg-config make gcc libc6-dev
          runc busybox-static iproute2 python3 qemu-system-x86 cpio podman containerd)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "install-deps: cargo is missing; install a Rust toolchain (rustup)" >&2; exit 1; }

if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
  echo "install-deps: mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
if ! grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts; then
  echo "install-deps: mounting tracefs at /sys/kernel/tracing"
  mount -t tracefs tracefs /sys/kernel/tracing || echo "install-deps: tracefs could not be mounted (not needed by the egress policy)" >&2
fi
if ! awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then
  # Hybrid hosts keep cgroup2 beside the v1 controllers; runc joins it there.
  echo "install-deps: mounting cgroup2 at /sys/fs/cgroup/unified"
  mkdir -p /sys/fs/cgroup/unified
  mount -t cgroup2 none /sys/fs/cgroup/unified
fi
