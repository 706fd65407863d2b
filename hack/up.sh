#!/usr/bin/env bash
# `make up`: brings up a local Quantix. Idempotent: components already running are left
# alone. State lives in .quantix/ (etcd data, PKI, tokens, kubeconfig, logs, pids).
# Logs: the apiserver, controller-manager and agent write their JSON records to
# $STATE/logs/<component>.log, rotated (--log-dir; lib/logging/files.ts); every process's
# stdout/stderr (errors only, for those three) is kept as $STATE/logs/<name>.out, so that the
# *.log files there are all LogRecord files, which the logs API reads.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="${QUANTIX_STATE_DIR:-$ROOT/.quantix}"
ETCD_PORT=${QUANTIX_ETCD_PORT:-2379}
ETCD_PEER_PORT=${QUANTIX_ETCD_PEER_PORT:-2380}
API_PORT=${QUANTIX_API_PORT:-6443}
GATEWAY_PORT=${QUANTIX_GATEWAY_PORT:-6444}
IMAGE_PORT=${QUANTIX_IMAGE_PORT:-8089}
# /metrics of the controller-manager and the agent (HTTPS, bearer token checked by the apiserver;
# manifests/prometheus/prometheus.yml scrapes them and the apiserver).
CM_METRICS_PORT=${QUANTIX_CM_METRICS_PORT:-10257}
AGENT_METRICS_PORT=${QUANTIX_AGENT_METRICS_PORT:-10250}
# kvm, tcg or auto. auto: tcg without /dev/kvm; with it, hack/accel-probe.sh boots the test
# image under KVM and keeps kvm only if Linux comes up (some nested hosts cannot).
ACCELERATION=${QUANTIX_ACCELERATION:-auto}
# etcd's space quota (its default, 2 GiB): past it etcd raises NOSPACE and refuses writes.
ETCD_QUOTA_BYTES=${QUANTIX_ETCD_QUOTA_BYTES:-2147483648}
# The apiserver compacts etcd's history (kube-apiserver's default interval); 0 disables.
ETCD_COMPACTION_INTERVAL=${QUANTIX_ETCD_COMPACTION_INTERVAL:-5m}
ETCD_DEFRAG_INTERVAL=${QUANTIX_ETCD_DEFRAG_INTERVAL:-0}
mkdir -p "$STATE/logs" "$STATE/run" "$STATE/etcd"
chmod 700 "$STATE"

running() { [[ -f "$STATE/run/$1.pid" ]] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }

start() { # name, command...
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid nohup "$@" >>"$STATE/logs/$name.out" 2>&1 < /dev/null &
  echo $! >"$STATE/run/$name.pid"
}

wait_for() { # description, timeout seconds, command...
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "make up: $what did not become ready within ${timeout}s; see $STATE/logs/" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# The PKI (apiserver/pki/certificates.ts): the cluster CA and the apiserver's serving
# certificate, etcd's own CA, serving certificate and the apiserver's client certificate, and the
# serving certificate of the controller-manager's and agent's /metrics (metrics-serving.crt).
node_modules/.bin/tsx hack/ensure-pki.ts "$STATE"
PKI="$STATE/pki"
# etcd serves clients over TLS and admits only certificates its CA signed (the apiserver's);
# the peer URL is for a single member on the loopback. No --auto-compaction-*: the apiserver
# compacts etcd's history every $ETCD_COMPACTION_INTERVAL, keeping the last interval's
# (apiserver/storage/etcd-maintenance.ts). --snapshot-count 10000 (etcd 3.6's default; 3.4's
# is 100,000): etcd keeps its raft log in memory up to the next snapshot, and at a steady write
# rate 100,000 entries are hundreds of MB of RSS (hack/bench/soak measures both).
start etcd etcd --name quantix --data-dir "$STATE/etcd" --quota-backend-bytes "$ETCD_QUOTA_BYTES" --snapshot-count 10000 \
  --listen-client-urls "https://127.0.0.1:$ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$ETCD_PORT" \
  --cert-file "$PKI/etcd/server.crt" --key-file "$PKI/etcd/server.key" \
  --trusted-ca-file "$PKI/etcd/ca.crt" --client-cert-auth \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "quantix=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn --logger zap
wait_for etcd 30 curl -sf --cacert "$PKI/etcd/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key" \
  "https://127.0.0.1:$ETCD_PORT/health"

export QUANTIX_LOG_FORMAT=json
# Control-plane components on one host share one log dir (the apiserver answers for its files).
LOG_FLAGS=(--log-dir "$STATE/logs" --log-max-size "${QUANTIX_LOG_MAX_SIZE:-10Mi}" --log-max-files "${QUANTIX_LOG_MAX_FILES:-5}")
# V8 flags for this machine (young-generation size, helper threads): apiserver/node-options.ts
# says why; the benchmarks start the apiserver with the same.
APISERVER_NODE_OPTIONS="$(node_modules/.bin/tsx apiserver/node-options.ts)"
# The audit log (Kubernetes' audit.k8s.io/v1 Events; docs/audit.md) at Metadata level, and the
# UI action log (POST /logs/ui) in the log dir.
start apiserver env NODE_OPTIONS="$APISERVER_NODE_OPTIONS ${NODE_OPTIONS:-}" node_modules/.bin/tsx apiserver/main.ts --data-dir "$STATE" \
  --etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$PKI/etcd/ca.crt" \
  --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" --port "$API_PORT" --gateway-port "$GATEWAY_PORT" \
  --etcd-compaction-interval "$ETCD_COMPACTION_INTERVAL" --etcd-defrag-interval "$ETCD_DEFRAG_INTERVAL" "${LOG_FLAGS[@]}" \
  --audit-policy-file manifests/audit/policy.yaml --audit-log-path "$STATE/logs/audit.log"
wait_for apiserver 60 curl -sfk "https://127.0.0.1:$API_PORT/readyz"
wait_for kubeconfig 10 test -f "$STATE/kubeconfig"
# Prometheus reads the viewer's token from here (credentials_file in manifests/prometheus/prometheus.yml):
# viewers may read /metrics of every component, and nothing they could change.
(umask 077 && awk -F, '$2 == "viewer" { print $1 }' "$STATE/tokens.csv" >"$STATE/prometheus.token")

METRICS_TLS=(--metrics-tls-cert-file "$PKI/metrics-serving.crt" --metrics-tls-key-file "$PKI/metrics-serving.key")
start controller-manager node_modules/.bin/tsx controllers/main.ts --kubeconfig "$STATE/kubeconfig" --leader-elect "${LOG_FLAGS[@]}" \
  --metrics-listen "127.0.0.1:$CM_METRICS_PORT" "${METRICS_TLS[@]}"

# The agent for this host, on the real local libvirt (hack/libvirt-setup.sh started it).
# A quickstart names its node "local" (as kind names its node), so manifests/examples work
# as they are on any machine; QUANTIX_NODE_NAME=$(hostname) gives the production convention.
NODE_NAME=${QUANTIX_NODE_NAME:-local}
mkdir -p "$STATE/agent"
rm -f "$STATE/agent/join-token" # the static join token of earlier versions
ACCEL_REASON=""
if [[ "$ACCELERATION" == auto && -e /dev/kvm && -z "${QUANTIX_SKIP_IMAGE:-}" ]]; then
  echo "make up: /dev/kvm exists: checking that it boots Linux (hack/accel-probe.sh)..."
  PROBE=$(bash hack/accel-probe.sh 2>>"$STATE/logs/guest-image.out")
  ACCELERATION=$(tail -n 1 <<<"$PROBE")
  ACCEL_REASON=$(tail -n 2 <<<"$PROBE" | head -n 1)
fi
# The agent joins as any host does: a short-lived single-use bootstrap token, and the pin of
# the cluster CA (checked before it sends anything). Once registered it runs on its node
# credential; a later `make up` creates a fresh token only if the agent is not running.
if ! running agent; then
  JOIN_TOKEN=$(bin/qxctl --kubeconfig "$STATE/kubeconfig" token create --ttl 10m --single-use --description "make up: the local agent" -o token)
  CA_HASH="sha256:$(openssl x509 -in "$PKI/ca.crt" -noout -pubkey | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)"
fi
start agent node_modules/.bin/tsx agent/main.ts join --server "https://127.0.0.1:$API_PORT" --gateway "127.0.0.1:$GATEWAY_PORT" \
  --token "${JOIN_TOKEN:-}" --ca-cert-hash "${CA_HASH:-}" --state-dir "$STATE/agent" \
  --driver libvirt --acceleration "$ACCELERATION" ${ACCEL_REASON:+--acceleration-reason "$ACCEL_REASON"} --startup-jitter 0s --hostname "$NODE_NAME" "${LOG_FLAGS[@]}" \
  --metrics-listen "127.0.0.1:$AGENT_METRICS_PORT" "${METRICS_TLS[@]}"
node_ready() {
  [[ "$(kubectl --kubeconfig "$STATE/kubeconfig" get nodes.quantix.io "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == "True" ]]
}
echo "make up: waiting for node $NODE_NAME to be Ready..."
wait_for "node $NODE_NAME" 90 node_ready
ACCEL=$(kubectl --kubeconfig "$STATE/kubeconfig" get nodes.quantix.io "$NODE_NAME" -o 'jsonpath={.status.acceleration} ({.status.accelerationSource})' 2>/dev/null || true)

# The Debian test image for manifests/examples/guest/: built once by `make image` (cached
# outside the tree, rebuilt only when its recipe changes) and served on 127.0.0.1.
if [[ -z "${QUANTIX_SKIP_IMAGE:-}" ]]; then
  echo "make up: preparing the Debian test image (the first build takes a few minutes; log: $STATE/logs/guest-image.out)..."
  GUEST_IMAGE=$(bash hack/guest-image/build.sh 2>>"$STATE/logs/guest-image.out" | tail -n 1)
  start image-server node_modules/.bin/tsx hack/serve-images.ts "$(dirname "$GUEST_IMAGE")" "$IMAGE_PORT"
  wait_for "image server" 30 curl -sfI "http://127.0.0.1:$IMAGE_PORT/$(basename "$GUEST_IMAGE")"
  IMAGE_INFO="  test image:  http://127.0.0.1:$IMAGE_PORT/$(basename "$GUEST_IMAGE")  (sha256 $(cut -d' ' -f1 "$GUEST_IMAGE.sha256"))"
fi

UI=""
[[ -f web/dist/index.html ]] && UI="https://127.0.0.1:$API_PORT/ui/"
cat <<INFO
Quantix is up.
  API:         https://127.0.0.1:$API_PORT
  kubeconfig:  $STATE/kubeconfig   (export KUBECONFIG=$STATE/kubeconfig)
  viewer:      $STATE/viewer.kubeconfig
  tokens:      $STATE/tokens.csv
  gateway:     127.0.0.1:$GATEWAY_PORT (gRPC over TLS, for agents)
  etcd:        https://127.0.0.1:$ETCD_PORT  (client certificates only; data in $STATE/etcd, PKI in $PKI/etcd)
  metrics:     https://127.0.0.1:$API_PORT/metrics (apiserver), https://127.0.0.1:$CM_METRICS_PORT/metrics (controller-manager),
               https://127.0.0.1:$AGENT_METRICS_PORT/metrics (agent); bearer token: $STATE/prometheus.token, CA: $PKI/ca.crt
  prometheus:  prometheus --config.file manifests/prometheus/prometheus.yml --storage.tsdb.path $STATE/prometheus
  node:        $NODE_NAME (Ready; agent on qemu:///system, state in $STATE/agent)
  acceleration: $ACCEL
${IMAGE_INFO:+$IMAGE_INFO
}${UI:+  web UI:      $UI
}  logs:        $STATE/logs/{apiserver,controller-manager,agent}.log (JSON records, rotated), {etcd,apiserver,controller-manager,agent,image-server}.out (output)
  audit log:   $STATE/logs/audit.log (manifests/audit/policy.yaml; UI actions: $STATE/logs/ui.log)
Stop with: make down
INFO
