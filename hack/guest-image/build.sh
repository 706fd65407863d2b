#!/usr/bin/env bash
# Builds the Debian 12 guest disk image used by tests and the quickstart (docs/guest-image.md)
# and prints its absolute path as the last line of stdout; progress goes to stderr.
#
# The image is cached in ${QX_CACHE_DIR:-/var/cache/quantix}/guest-image/<recipe-hash>/, where
# the hash covers this script, apt-sources.sh, packages.txt and the files under rootfs/.
# A cached image is returned at once; otherwise it is built in a temporary directory beside
# the cache and renamed into place only when complete, so a killed build never leaves
# something that looks valid. Builds are serialised by a lock; stale temporary directories
# left by a killed build are removed by the next one.
#
# No loop devices and no mounts of the image: debootstrap builds a tree, `mkfs.ext4 -d`
# writes it into the root partition of a raw file, mkfs.fat/mtools/`syslinux --offset`
# prepare the boot partition, and SYSLINUX's mbr.bin boots it (BIOS, like any cloud image).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE_NAME=debian-12-guest.qcow2
SUITE=bookworm
DISK_MIB=2048        # virtual size; cloud-init's growpart fills a larger disk
BOOT_START=2048      # sectors: partition 1 (FAT16, SYSLINUX, kernel and initramfs) at 1 MiB
BOOT_MIB=64
ROOT_LABEL=qx-root
# Kernel command line: the serial console last, so /dev/console (and the boot log) is ttyS0
# and systemd starts a login prompt there; eth0 for the first NIC whatever its PCI slot.
KERNEL_ARGS="ro console=tty0 console=ttyS0,115200n8 net.ifnames=0"

# Everything but the final path goes to stderr.
exec 3>&1 1>&2
log() { printf 'guest-image: [%3ds] %s\n' "$SECONDS" "$*"; }
die() { log "error: $*"; exit 1; }

CACHE_ROOT=${QX_CACHE_DIR:-/var/cache/quantix}/guest-image
# The recipe: the scripts, the package list and the files copied into the image, by path and
# content (check.ts and the docs are not part of it).
RECIPE_HASH=$(cd "$HERE" && find build.sh apt-sources.sh packages.txt rootfs -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
FINAL_DIR=$CACHE_ROOT/$RECIPE_HASH
FINAL_IMAGE=$FINAL_DIR/$IMAGE_NAME

cached() { [[ -s "$FINAL_IMAGE" && -s "$FINAL_IMAGE.sha256" ]]; }
if cached; then
  log "cached: $FINAL_IMAGE"
  echo "$FINAL_IMAGE" >&3
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "building the image needs root (debootstrap, chroot)"
  exec 1>&3 3>&-
  exec sudo --preserve-env=QX_CACHE_DIR bash "$0" "$@"
fi

for tool in debootstrap sfdisk mkfs.fat mcopy syslinux mkfs.ext4 qemu-img sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (run: make deps)"
done
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
[[ -f $MBR_BIN ]] || die "$MBR_BIN is missing (package syslinux-common; run: make deps)"

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/.lock; waiting"
  flock -w 900 9 || die "timed out waiting for $CACHE_ROOT/.lock"
fi
if cached; then # built by whoever held the lock
  log "cached: $FINAL_IMAGE"
  echo "$FINAL_IMAGE" >&3
  exit 0
fi

# Removes a build directory: first anything mounted below it (debootstrap mounts /proc and
# /sys in its target while it runs), then the files, never crossing into another filesystem.
remove_build_dir() {
  local dir=$1 mnt
  [[ -d "$dir" ]] || return 0
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($5 "/", d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  rm -rf --one-file-system "$dir"
}

# Scratch space for the tree and the raw disk (about 2.5 GB): /dev/shm when it has room, as
# unpacking thousands of files and writing the disk there is much faster than on a disk
# mounted with `discard`; otherwise beside the cache. QX_GUEST_IMAGE_SCRATCH overrides.
CACHE_KEY=$(printf '%s' "$CACHE_ROOT" | sha256sum | cut -c1-8)
SCRATCH_PREFIX=.qx-guest-image-$CACHE_KEY
SCRATCH_PARENT=${QX_GUEST_IMAGE_SCRATCH:-}
if [[ -z $SCRATCH_PARENT ]]; then
  SCRATCH_PARENT=$CACHE_ROOT
  if [[ -d /dev/shm && -w /dev/shm ]] && (($(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') > 4 * 1024 * 1024)); then
    SCRATCH_PARENT=/dev/shm
  fi
fi

# With the lock held, any build directory left here belongs to a build that was killed.
for stale in "$CACHE_ROOT"/.build-* "$CACHE_ROOT/$SCRATCH_PREFIX"-* /dev/shm/"$SCRATCH_PREFIX"-* "$SCRATCH_PARENT/$SCRATCH_PREFIX"-*; do
  [[ -e "$stale" ]] || continue
  log "removing stale $stale"
  remove_build_dir "$stale"
done

WORK=$(mktemp -d "$CACHE_ROOT/.build-$RECIPE_HASH-XXXXXX") # the result, renamed into place
SCRATCH=
trap 'remove_build_dir "$WORK"; [[ -z $SCRATCH ]] || remove_build_dir "$SCRATCH"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
SCRATCH=$(mktemp -d "$SCRATCH_PARENT/$SCRATCH_PREFIX-XXXXXX")
TREE=$SCRATCH/tree
OUT=$WORK/out
mkdir -p "$TREE" "$OUT"
log "building recipe $RECIPE_HASH (scratch space $SCRATCH)"

# ---- the root tree ------------------------------------------------------------------------

mapfile -t SOURCES < <("$HERE/apt-sources.sh" "$SUITE")
MIRROR=
for s in "${SOURCES[@]}"; do
  [[ ${s#* } == "$SUITE" ]] && { MIRROR=${s%% *}; break; }
done
[[ -n $MIRROR ]] || die "no '$SUITE' archive in this machine's apt configuration"
mapfile -t PACKAGES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$HERE/packages.txt")

log "debootstrap $SUITE (minbase) from this machine's apt archive"
debootstrap --variant=minbase --components=main "$SUITE" "$TREE" "$MIRROR" >>"$OUT/build.log" 2>&1 || {
  tail -n 30 "$OUT/build.log"
  die "debootstrap failed"
}

# The guest's apt sources: the same archives as this machine (written into the image only).
for s in "${SOURCES[@]}"; do echo "deb ${s%% *} ${s#* } main"; done >"$TREE/etc/apt/sources.list"
# Configuration files (initramfs module list, cloud-init, dpkg excludes) go in before the
# packages so the kernel's first initramfs is already the small one.
tar -C "$HERE/rootfs" --owner=0 --group=0 --mode=u=rwX,go=rX -c . | tar -C "$TREE" -x --no-overwrite-dir
# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$TREE/usr/sbin/policy-rc.d"
chmod 755 "$TREE/usr/sbin/policy-rc.d"
rm -f "$TREE/etc/resolv.conf"
cp /etc/resolv.conf "$TREE/etc/resolv.conf"

in_tree() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$TREE" "$@"; }
APT_OPTS=(-y -qq --no-install-recommends -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-unsafe-io)
apt_install() {
  in_tree apt-get "${APT_OPTS[@]}" install "$@" >>"$OUT/build.log" 2>&1 || {
    tail -n 30 "$OUT/build.log"
    die "apt-get install $* failed"
  }
}
# The kernel goes in last, in a run of its own: its postinst makes the initramfs once, where
# in one run with initramfs-tools, udev and zstd the initramfs trigger would make it again.
KERNEL_PACKAGES=() OTHER_PACKAGES=()
for p in "${PACKAGES[@]}"; do
  if [[ $p == linux-image-* ]]; then KERNEL_PACKAGES+=("$p"); else OTHER_PACKAGES+=("$p"); fi
done
log "downloading ${#PACKAGES[@]} packages: ${PACKAGES[*]}"
in_tree apt-get update -qq
apt_install --download-only "${PACKAGES[@]}"
log "installing"
apt_install "${OTHER_PACKAGES[@]}"
log "installing the kernel"
apt_install "${KERNEL_PACKAGES[@]}"
in_tree dpkg-query -W -f '${Package} ${Version}\n' >"$OUT/packages.manifest"

KVER=$(basename "$(ls -d "$TREE"/lib/modules/* | sort -V | tail -n 1)")
[[ -f "$TREE/boot/vmlinuz-$KVER" && -f "$TREE/boot/initrd.img-$KVER" ]] || die "no kernel or initramfs for $KVER"
log "kernel $KVER"

# ---- configuration ------------------------------------------------------------------------

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
# fsck pass 0: the journal makes an unclean stop consistent, and a check costs seconds under TCG.
printf 'UUID=%s / ext4 defaults,errors=remount-ro 0 0\n' "$ROOT_UUID" >"$TREE/etc/fstab"
echo debian >"$TREE/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$TREE/etc/hosts"

# systemd-networkd (cloud-init writes its .network files); resolved for DNS.
in_tree systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
ln -sf ../run/systemd/resolve/stub-resolv.conf "$TREE/etc/resolv.conf"
# Masked, not disabled: on first boot (empty machine-id) systemd applies presets and would
# enable them again. Periodic apt/scrub/trim jobs only slow a test guest down; the first-boot
# wizard would wait for answers on the console.
in_tree systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer systemd-firstboot.service >/dev/null 2>&1

# ---- cleaning -----------------------------------------------------------------------------

in_tree apt-get clean
rm -f "$TREE/usr/sbin/policy-rc.d"
rm -rf "$TREE"/var/lib/apt/lists/* "$TREE"/var/cache/apt/*.bin "$TREE"/var/cache/debconf/*-old \
  "$TREE"/var/lib/dpkg/*-old "$TREE"/var/log/*.log "$TREE"/var/log/apt/* "$TREE"/tmp/* "$TREE"/var/tmp/* \
  "$TREE"/var/lib/cloud "$TREE"/etc/ssh/ssh_host_*
find "$TREE/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$TREE/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$TREE"/usr/share/man/* "$TREE"/usr/share/info/* "$TREE"/usr/share/lintian
find "$TREE/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# Each guest gets its own machine id (and systemd its first-boot handling) at first boot.
: >"$TREE/etc/machine-id"
rm -f "$TREE/var/lib/dbus/machine-id"

# ---- the disk -----------------------------------------------------------------------------

RAW=$SCRATCH/disk.raw
BOOT_SECTORS=$((BOOT_MIB * 2048))
ROOT_START=$((BOOT_START + BOOT_SECTORS))
ROOT_SECTORS=$((DISK_MIB * 2048 - ROOT_START))
truncate -s "${DISK_MIB}M" "$RAW"
sfdisk --quiet "$RAW" <<EOF
label: dos
unit: sectors
start=$BOOT_START, size=$BOOT_SECTORS, type=e, bootable
start=$ROOT_START, size=$ROOT_SECTORS, type=83
EOF
dd if="$MBR_BIN" of="$RAW" bs=440 count=1 conv=notrunc status=none

log "root filesystem (ext4, UUID $ROOT_UUID)"
mkfs.ext4 -q -F -L "$ROOT_LABEL" -U "$ROOT_UUID" -d "$TREE" -E offset=$((ROOT_START * 512)) \
  "$RAW" $((ROOT_SECTORS / 2))k

log "boot partition (FAT16, SYSLINUX)"
BOOT_OFFSET=$((BOOT_START * 512))
export MTOOLS_SKIP_CHECK=1
# (mkfs.fat warns that the file is larger than the filesystem: that is the point.)
fatlog=$(mkfs.fat -F 16 -n QXBOOT --offset "$BOOT_START" -h "$BOOT_START" "$RAW" $((BOOT_SECTORS / 2)) 2>&1) || {
  echo "$fatlog"
  die "mkfs.fat failed"
}
syslinux --offset "$BOOT_OFFSET" --install "$RAW"
mdir -a -b -i "$RAW@@$BOOT_OFFSET" ::/ | grep -qi ldlinux.sys || die "syslinux did not install ldlinux.sys"
cat >"$SCRATCH/syslinux.cfg" <<EOF
SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT debian
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$ROOT_UUID $KERNEL_ARGS
EOF
mcopy -i "$RAW@@$BOOT_OFFSET" "$SCRATCH/syslinux.cfg" ::/syslinux.cfg
mcopy -i "$RAW@@$BOOT_OFFSET" "$TREE/boot/vmlinuz-$KVER" ::/vmlinuz
mcopy -i "$RAW@@$BOOT_OFFSET" "$TREE/boot/initrd.img-$KVER" ::/initrd.img

log "qcow2 (zstd-compressed clusters: QEMU 5.1 or later reads them)"
qemu-img convert -c -o compression_type=zstd -f raw -O qcow2 "$RAW" "$OUT/$IMAGE_NAME"
rm -f "$RAW"
(cd "$OUT" && sha256sum "$IMAGE_NAME" >"$IMAGE_NAME.sha256")
sync "$OUT/$IMAGE_NAME" "$OUT/$IMAGE_NAME.sha256"

rm -rf "$FINAL_DIR" # incomplete (cached() said so), e.g. a file deleted by hand
mv -T "$OUT" "$FINAL_DIR"
log "built: $(du -m "$FINAL_IMAGE" | cut -f1) MiB"
echo "$FINAL_IMAGE" >&3
