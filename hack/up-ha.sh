#!/usr/bin/env bash
# `make up-ha`: a replicated Quantix on this one machine (docs/ha.md):
#   - etcd-1..3: a 3-member etcd cluster, TLS for clients and peers, certificates from etcd's CA;
#   - apiserver-1, apiserver-2 over that cluster, sharing the state dir's PKI and tokens;
#   - haproxy (manifests/haproxy/) in front of both: one API address and one gateway address;
#   - controller-manager-1, -2 with --leader-elect (one leads through a Lease);
#   - the local agent, joined through the balancer.
# Idempotent like `make up`: components already running are left alone. State in .quantix/
# (QUANTIX_STATE_DIR), one pid file per process in run/ (etcd-1.pid, apiserver-2.pid,
# controller-manager-1.pid, haproxy.pid, agent.pid). `make down` stops it all.
#
# Ports: the balancer on QUANTIX_API_PORT / QUANTIX_GATEWAY_PORT (6443 / 6444, so the admin
# kubeconfig and qxctl work as after `make up`); the members on QUANTIX_HA_PORT_BASE + N:
#   etcd-i client +i, peer +10+i; apiserver-i API +20+i, gateway +30+i;
#   controller-manager-i metrics +40+i; the agent's metrics +50.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="${QUANTIX_STATE_DIR:-$ROOT/.quantix}"
ADDRESS=127.0.0.1
API_PORT=${QUANTIX_API_PORT:-6443}
GATEWAY_PORT=${QUANTIX_GATEWAY_PORT:-6444}
BASE=${QUANTIX_HA_PORT_BASE:-7400}
ETCD_QUOTA_BYTES=${QUANTIX_ETCD_QUOTA_BYTES:-2147483648}
ETCD_COMPACTION_INTERVAL=${QUANTIX_ETCD_COMPACTION_INTERVAL:-5m}
# The agent's hypervisor: libvirt (qemu:///system) as `make up`; the e2e suite runs it on sim.
AGENT_DRIVER=${QUANTIX_AGENT_DRIVER:-libvirt}
NODE_NAME=${QUANTIX_NODE_NAME:-local}
mkdir -p "$STATE/logs" "$STATE/run"
chmod 700 "$STATE"

running() { [[ -f "$STATE/run/$1.pid" ]] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }
# A single-replica `make up` in the same state dir holds the same ports and data.
if running apiserver || running etcd; then
  echo "make up-ha: a single-replica 'make up' is running in $STATE; stop it first (make down)" >&2
  exit 1
fi

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
      echo "make up-ha: $what did not become ready within ${timeout}s; see $STATE/logs/" >&2
      [[ -f "$STATE/logs/$what.out" ]] && tail -n 15 "$STATE/logs/$what.out" >&2
      exit 1
    fi
    sleep 0.2
  done
}

node_modules/.bin/tsx hack/ensure-pki.ts "$STATE" --etcd-peer
PKI="$STATE/pki"

# etcd: all three members start together (each waits for a quorum of the initial cluster).
# Raft timing for a shared 2-core machine: a 200 ms heartbeat and a 2 s election timeout
# (defaults 100 ms / 1 s) keep a busy moment from deposing a healthy leader. --pre-vote (3.5's
# default, off in 3.4): a restarted member that has not heard from the leader yet asks before
# it campaigns, instead of raising the term and forcing an election on a healthy cluster.
ETCD_MEMBERS=(1 2 3)
INITIAL_CLUSTER=""
ETCD_SERVERS=""
for i in "${ETCD_MEMBERS[@]}"; do
  INITIAL_CLUSTER+="${INITIAL_CLUSTER:+,}etcd-$i=https://$ADDRESS:$((BASE + 10 + i))"
  ETCD_SERVERS+="${ETCD_SERVERS:+,}https://$ADDRESS:$((BASE + i))"
done
for i in "${ETCD_MEMBERS[@]}"; do
  mkdir -p "$STATE/etcd-$i"
  chmod 700 "$STATE/etcd-$i"
  start "etcd-$i" etcd --name "etcd-$i" --data-dir "$STATE/etcd-$i" --quota-backend-bytes "$ETCD_QUOTA_BYTES" --snapshot-count 10000 \
    --heartbeat-interval 200 --election-timeout 2000 --pre-vote \
    --listen-client-urls "https://$ADDRESS:$((BASE + i))" --advertise-client-urls "https://$ADDRESS:$((BASE + i))" \
    --cert-file "$PKI/etcd/server.crt" --key-file "$PKI/etcd/server.key" --trusted-ca-file "$PKI/etcd/ca.crt" --client-cert-auth \
    --listen-peer-urls "https://$ADDRESS:$((BASE + 10 + i))" --initial-advertise-peer-urls "https://$ADDRESS:$((BASE + 10 + i))" \
    --peer-cert-file "$PKI/etcd/peer.crt" --peer-key-file "$PKI/etcd/peer.key" --peer-trusted-ca-file "$PKI/etcd/ca.crt" --peer-client-cert-auth \
    --initial-cluster "$INITIAL_CLUSTER" --initial-cluster-state new --initial-cluster-token quantix-ha --log-level warn --logger zap
done
etcd_healthy() {
  curl -sf --cacert "$PKI/etcd/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key" \
    "https://$ADDRESS:$((BASE + $1))/health" | grep -q '"health":"true"'
}
for i in "${ETCD_MEMBERS[@]}"; do wait_for "etcd-$i" 60 etcd_healthy "$i"; done

export QUANTIX_LOG_FORMAT=json
LOG_ROTATION=(--log-max-size "${QUANTIX_LOG_MAX_SIZE:-10Mi}" --log-max-files "${QUANTIX_LOG_MAX_FILES:-5}")
APISERVER_NODE_OPTIONS=""
# The replicas share the state dir's PKI and tokens (the first start makes them; the second
# finds them), and write the kubeconfigs naming the balancer. Each has its own log dir (the
# component logs are named after the component) and audit log.
APISERVERS=(1 2)
start_apiserver() {
  local i=$1
  running "apiserver-$i" && return 0
  # V8 flags for this machine (apiserver/node-options.ts), computed once, only when a replica starts.
  [[ -n "$APISERVER_NODE_OPTIONS" ]] || APISERVER_NODE_OPTIONS="$(node_modules/.bin/tsx apiserver/node-options.ts)"
  mkdir -p "$STATE/logs/apiserver-$i"
  start "apiserver-$i" env NODE_OPTIONS="$APISERVER_NODE_OPTIONS ${NODE_OPTIONS:-}" node_modules/.bin/tsx apiserver/main.ts --data-dir "$STATE" \
    --etcd-servers "$ETCD_SERVERS" --etcd-cafile "$PKI/etcd/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --bind-address "$ADDRESS" --port "$((BASE + 20 + i))" --gateway-port "$((BASE + 30 + i))" --peer-url "https://$ADDRESS:$((BASE + 20 + i))" \
    --kubeconfig-server "https://$ADDRESS:$API_PORT" --etcd-compaction-interval "$ETCD_COMPACTION_INTERVAL" \
    --log-dir "$STATE/logs/apiserver-$i" "${LOG_ROTATION[@]}" \
    --audit-policy-file manifests/audit/policy.yaml --audit-log-path "$STATE/logs/apiserver-$i/audit.log"
  wait_for "apiserver-$i" 90 curl -sfk "https://$ADDRESS:$((BASE + 20 + i))/readyz"
}
for i in "${APISERVERS[@]}"; do start_apiserver "$i"; done
wait_for kubeconfig 10 test -f "$STATE/kubeconfig"
(umask 077 && awk -F, '$2 == "viewer" { print $1 }' "$STATE/tokens.csv" >"$STATE/prometheus.token")

# The balancer: the template with this set-up's addresses.
API_SERVERS="" GATEWAY_SERVERS=""
for i in "${APISERVERS[@]}"; do
  API_SERVERS+="  server apiserver-$i $ADDRESS:$((BASE + 20 + i)) check check-ssl verify none"$'\n'
  GATEWAY_SERVERS+="  server apiserver-$i $ADDRESS:$((BASE + 30 + i)) check port $((BASE + 20 + i)) check-ssl verify none"$'\n'
done
HAPROXY_CFG="$STATE/haproxy.cfg"
awk -v rundir="$STATE/run" -v address="$ADDRESS" -v api="$API_PORT" -v gw="$GATEWAY_PORT" -v apis="$API_SERVERS" -v gws="$GATEWAY_SERVERS" '
  { gsub(/@RUN_DIR@/, rundir); gsub(/@ADDRESS@/, address); gsub(/@API_PORT@/, api); gsub(/@GATEWAY_PORT@/, gw) }
  /^@API_SERVERS@$/ { printf "%s", apis; next }
  /^@GATEWAY_SERVERS@$/ { printf "%s", gws; next }
  { print }' manifests/haproxy/haproxy.cfg.template >"$HAPROXY_CFG.new"
haproxy -c -q -f "$HAPROXY_CFG.new"
mv "$HAPROXY_CFG.new" "$HAPROXY_CFG"
start haproxy haproxy -db -f "$HAPROXY_CFG"
wait_for balancer 30 curl -sfk "https://$ADDRESS:$API_PORT/readyz"

METRICS_TLS=(--metrics-tls-cert-file "$PKI/metrics-serving.crt" --metrics-tls-key-file "$PKI/metrics-serving.key")
for i in 1 2; do
  mkdir -p "$STATE/logs/controller-manager-$i"
  # The identity names the replica (the Lease's holderIdentity says which one leads) and is new
  # at each start, as Kubernetes' are.
  start "controller-manager-$i" node_modules/.bin/tsx controllers/main.ts --kubeconfig "$STATE/kubeconfig" --leader-elect \
    --identity "controller-manager-${i}_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" \
    --log-dir "$STATE/logs/controller-manager-$i" "${LOG_ROTATION[@]}" --metrics-listen "$ADDRESS:$((BASE + 40 + i))" "${METRICS_TLS[@]}"
done

mkdir -p "$STATE/agent"
if ! running agent; then
  JOIN_TOKEN=$(bin/qxctl --kubeconfig "$STATE/kubeconfig" token create --ttl 10m --single-use --description "make up-ha: the local agent" -o token)
  CA_HASH="sha256:$(openssl x509 -in "$PKI/ca.crt" -noout -pubkey | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)"
fi
# The agent reaches the control plane only through the balancer: when its replica dies, its
# gRPC channel reconnects there and lands on the other one.
start agent node_modules/.bin/tsx agent/main.ts join --server "https://$ADDRESS:$API_PORT" --gateway "$ADDRESS:$GATEWAY_PORT" \
  --token "${JOIN_TOKEN:-}" --ca-cert-hash "${CA_HASH:-}" --state-dir "$STATE/agent" --driver "$AGENT_DRIVER" \
  --acceleration "${QUANTIX_ACCELERATION:-auto}" --startup-jitter 0s --hostname "$NODE_NAME" \
  --log-dir "$STATE/logs" "${LOG_ROTATION[@]}" --metrics-listen "$ADDRESS:$((BASE + 50))" "${METRICS_TLS[@]}"
node_ready() {
  [[ "$(kubectl --kubeconfig "$STATE/kubeconfig" get nodes.quantix.io "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == "True" ]]
}
echo "make up-ha: waiting for node $NODE_NAME to be Ready..."
wait_for "node $NODE_NAME" 90 node_ready

cat <<INFO
Quantix (HA) is up.
  API:         https://$ADDRESS:$API_PORT (haproxy → apiserver-1 :$((BASE + 21)), apiserver-2 :$((BASE + 22)))
  gateway:     $ADDRESS:$GATEWAY_PORT (haproxy → :$((BASE + 31)), :$((BASE + 32)))
  kubeconfig:  $STATE/kubeconfig   (export KUBECONFIG=$STATE/kubeconfig)
  etcd:        $ETCD_SERVERS (TLS for clients and peers; data in $STATE/etcd-{1,2,3})
  controllers: controller-manager-1, -2 (leader: kubectl get leases.coordination.quantix.io -A)
  node:        $NODE_NAME (Ready; driver $AGENT_DRIVER, state in $STATE/agent)
  pids:        $STATE/run/{etcd-1,etcd-2,etcd-3,apiserver-1,apiserver-2,haproxy,controller-manager-1,controller-manager-2,agent}.pid
  logs:        $STATE/logs/ (apiserver-N/, controller-manager-N/, agent.log, *.out)
Stop with: make down
INFO
