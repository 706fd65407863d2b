#!/usr/bin/env bash
# Installs Quantix's systemd units on this host (README.md, "Installing a host"): the units
# of manifests/systemd/ into /etc/systemd/system, the `quantix` system user (sysusers.d,
# applied with systemd-sysusers), and the example env files into /etc/quantix/ (a file that
# is already there is kept). Enables and starts nothing. The tree itself is expected at
# /opt/quantix, where the units run it from. Idempotent.
#   --root DIR   install into DIR instead of / (manifests/systemd/units.int.test.ts)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../manifests/systemd" && pwd)
ROOT=/
while (($#)); do
  case $1 in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    *) echo "usage: $0 [--root DIR]" >&2; exit 2 ;;
  esac
done

install -d -m 0755 "$ROOT/etc/systemd/system" "$ROOT/etc/sysusers.d"
install -m 0644 "$SRC"/*.service "$ROOT/etc/systemd/system/"
install -m 0644 "$SRC/sysusers.d/quantix.conf" "$ROOT/etc/sysusers.d/quantix.conf"
systemd-sysusers --root "$ROOT" quantix.conf
# Flags and the agent's join token live here: readable by root only (systemd reads them).
install -d -m 0750 "$ROOT/etc/quantix"
for env in "$SRC"/env/*.env; do
  dest="$ROOT/etc/quantix/$(basename "$env")"
  [[ -e "$dest" ]] || install -m 0640 "$env" "$dest"
done
[[ -x "$ROOT/opt/quantix/bin/quantix-apiserver" ]] || echo "install-host: note: no Quantix tree at $ROOT/opt/quantix yet (README.md, Installing a host)" >&2
# Only on a host that runs systemd (not in --root trees or containers without it).
if [[ "$ROOT" == / && -d /run/systemd/system ]]; then systemctl daemon-reload; fi
