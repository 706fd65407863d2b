#!/usr/bin/env bash
# `make down`: stops what `make up` or `make up-ha` started (data in .quantix/ is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${QUANTIX_STATE_DIR:-$(pwd)/.quantix}"
stopped=()
# Reverse start order: clients first, etcd last.
for name in image-server agent controller-manager controller-manager-1 controller-manager-2 haproxy apiserver apiserver-1 apiserver-2 \
  etcd etcd-1 etcd-2 etcd-3; do
  pidfile="$STATE/run/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    stopped+=("$name")
  fi
  rm -f "$pidfile"
done
if ((${#stopped[@]})); then echo "Stopped: ${stopped[*]}"; else echo "Nothing was running."; fi
