#!/usr/bin/env bash
# Which acceleration this host can boot Linux guests with: prints `kvm` or `tcg` on the last
# line of stdout, and why on the line before (both go to the agent's --acceleration and its
# Node status through `make up`).
#
# No /dev/kvm: tcg. Otherwise the Debian test image (`make image`) is booted under KVM with
# a serial console, and kvm is chosen only when the kernel gets to a login prompt in time:
# some nested hosts have a /dev/kvm that runs firmware but hangs a Linux kernel right after
# "Probing EDD" (DESIGN.md, "Guests in tests"). Nothing is ever pretended: a boot that does
# not finish means tcg. Usage: hack/accel-probe.sh [IMAGE] [TIMEOUT_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -e /dev/kvm ]]; then
  echo "probe: /dev/kvm does not exist"
  echo tcg
  exit 0
fi

IMAGE=${1:-$(bash hack/guest-image/build.sh 2>/dev/null | tail -n 1)}
TIMEOUT=${2:-120}
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

qemu-img create -q -f qcow2 -b "$IMAGE" -F qcow2 "$work/disk.qcow2"
printf 'instance-id: accel-probe\nlocal-hostname: accel-probe\n' >"$work/meta-data"
printf '#cloud-config\n{}\n' >"$work/user-data"
genisoimage -quiet -output "$work/seed.iso" -volid cidata -joliet -rock "$work/user-data" "$work/meta-data"

# No network at all: the probe only needs the serial console.
qemu-system-x86_64 -accel kvm -m 512 -smp 1 -nographic -nodefaults -no-user-config \
  -serial "file:$work/serial.log" -display none -nic none \
  -drive "file=$work/disk.qcow2,if=virtio,format=qcow2" -cdrom "$work/seed.iso" &
pid=$!

deadline=$((SECONDS + TIMEOUT))
while ((SECONDS < deadline)); do
  if grep -q "login:" "$work/serial.log" 2>/dev/null; then
    echo "probe: the test image booted to a login prompt under KVM in $((SECONDS)) s"
    echo kvm
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 1
done
last=$(tail -c 200 "$work/serial.log" 2>/dev/null | tr -d '\r' | tr '\n' ' ' | cut -c1-160)
echo "probe: /dev/kvm exists but the test image did not boot under KVM within ${TIMEOUT} s (last console output: ${last:-none})"
echo tcg
