#!/usr/bin/env bash
# Prepares libvirt as DESIGN.md describes: the libvirt-qemu user, qemu.conf running
# QEMU as root without dynamic ownership, and libvirtd + virtlogd started as daemons.
# Idempotent and quiet when all is in place.
set -euo pipefail

if ! id libvirt-qemu >/dev/null 2>&1; then
  echo "libvirt-setup: creating user libvirt-qemu"
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu
fi
getent group libvirt >/dev/null || groupadd --system libvirt

QEMU_CONF=/etc/libvirt/qemu.conf
want_conf() { grep -Eq "^[[:space:]]*$1[[:space:]]*=[[:space:]]*$2[[:space:]]*$" "$QEMU_CONF" 2>/dev/null; }
if ! { want_conf user '"root"' && want_conf group '"root"' && want_conf dynamic_ownership 0; }; then
  echo "libvirt-setup: writing $QEMU_CONF (user/group root, dynamic_ownership 0)"
  mkdir -p /etc/libvirt
  touch "$QEMU_CONF"
  sed -i -E '/^[[:space:]]*(user|group|dynamic_ownership)[[:space:]]*=/d' "$QEMU_CONF"
  printf 'user = "root"\ngroup = "root"\ndynamic_ownership = 0\n' >> "$QEMU_CONF"
  # A running libvirtd must reread qemu.conf.
  if pgrep -x libvirtd >/dev/null; then pkill -x libvirtd; sleep 1; fi
fi

mkdir -p /var/lib/libvirt/images /var/run/libvirt /var/log/libvirt/qemu
pgrep -x virtlogd >/dev/null || virtlogd -d
if ! pgrep -x libvirtd >/dev/null; then
  libvirtd -d
fi
# Wait (bounded) until the daemon answers.
for _ in $(seq 1 100); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then exit 0; fi
  sleep 0.1
done
echo "libvirt-setup: libvirtd did not answer on qemu:///system" >&2
exit 1
