#!/usr/bin/env bash
# Installs what Quantix needs on a fresh Debian machine. Idempotent and quiet when
# everything is already present. Called by `make up` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  etcd-server etcd-client                     # the API's storage (etcd 3.4)
  libvirt-daemon libvirt-daemon-driver-qemu   # hypervisor management daemon
  libvirt-clients                             # virsh (tests and debugging)
  qemu-system-x86 qemu-utils                  # the hypervisor and qemu-img
  nfs-common                                  # mount helper for nfs pools (libvirt netfs)
  chromium                                    # web UI tests (driven by playwright-core)
  openssl                                     # CA and serving certificates
  genisoimage                                 # cloud-init NoCloud seed ISOs (agent/cloudinit)
  iptables dnsmasq-base                       # libvirt-managed networks (nat, isolated)
  openssh-client                              # the guest tests log in over SSH (127.0.0.1 only)
  systemd                                     # systemd-analyze: the checks of manifests/systemd/ units
  prometheus                                  # the metrics end-to-end test scrapes every component (manifests/prometheus/)
  haproxy                                     # make up-ha: the balancer in front of the apiservers (manifests/haproxy/)
  # the guest image (make image, hack/guest-image/build.sh): a Debian tree, an MBR disk with
  # an ext4 root and a FAT boot partition made without mounts, booted by SYSLINUX
  debootstrap fdisk e2fsprogs dosfstools mtools syslinux syslinux-common
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  [[ "$pkg" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: exactly what package-lock.json pins (`npm ci` never rewrites the lock, so
# set-up leaves the tree clean), reinstalled only when the lock changed since the last install.
# The lock lists every platform's optional binaries (@swc/core-*, …); `npm ci` refuses a lock
# written without them, so keep them when updating it.
#
# A fresh clone copies node_modules from the machine's cache when `npm ci` already ran for the
# same lock, Node version and architecture: 2 s instead of 26 s (and 34 CPU seconds) here.
# node_modules holds no absolute path (npm's .bin links are relative). Entries are complete or
# absent (copied to a temporary name, then renamed); the two newest are kept.
NPM_CACHE_ROOT=${QX_CACHE_DIR:-/var/cache/quantix}/node-modules
npm_cache_key() { { sha256sum package-lock.json; node --version; uname -m; } | sha256sum | cut -c1-16; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  cached_modules=$NPM_CACHE_ROOT/$(npm_cache_key)
  if [[ ! -d node_modules && -f $cached_modules/.package-lock.json ]]; then
    echo "install-deps: copying npm packages from $cached_modules (installed by npm ci for this lock)"
    rm -rf node_modules.copying
    cp -a "$cached_modules" node_modules.copying
    mv node_modules.copying node_modules
  else
    echo "install-deps: installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    if mkdir -p "$NPM_CACHE_ROOT" 2>/dev/null && [[ -w $NPM_CACHE_ROOT && ! -d $cached_modules ]]; then
      # what a killed copy left behind
      find "$NPM_CACHE_ROOT" -mindepth 1 -maxdepth 1 -name '.staging-*' -mmin +60 -exec rm -rf {} +
      staging=$(mktemp -d "$NPM_CACHE_ROOT/.staging-XXXXXX")
      if cp -a --no-preserve=ownership node_modules/. "$staging/" && rm -rf "$staging/.cache" && mv -T "$staging" "$cached_modules" 2>/dev/null; then
        # shellcheck disable=SC2012 # names are hex keys
        ls -1dt "$NPM_CACHE_ROOT"/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
      else
        rm -rf "$staging"
      fi
    fi
  fi
  touch node_modules/.package-lock.json
fi

hack/libvirt-setup.sh
