#!/usr/bin/env bash
# Runs a real istiod (pilot-discovery) against the environment's kube-apiserver, as the Istio
# scenarios and `make demo MESH=istio` need it. Source .meshtls-env first.
#
#   istiod.sh start   starts istiod, waits until it is ready, writes $MESHTLS_ENV_DIR/istiod.env
#   istiod.sh stop    stops it (env-down.sh does too)
#
# istiod takes its plug-in CA the way a remote istiod does (USE_REMOTE_CERTS): it reads the
# `cacerts` Secret of its namespace from the API server into ROOT_CA_DIR, where a pod would
# have it mounted. So a `meshtls_ca` written to istio-system/cacerts must exist before the
# start, as in a cluster, where istiod is installed (or restarted) after the CA is plugged in.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MESHTLS_ENV_DIR:?source .meshtls-env first}" "${KUBECONFIG:?source .meshtls-env first}"
state=$MESHTLS_ENV_DIR/istiod
namespace=${ISTIOD_NAMESPACE:-istio-system}

log() { printf 'istiod: %s\n' "$*" >&2; }

stop() {
  [[ -f $state/pid ]] || return 0
  local pid
  pid=$(cat "$state/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/pid" "$MESHTLS_ENV_DIR/istiod.env"
  if [[ -f $MESHTLS_ENV_DIR/pids ]]; then
    grep -v "^istiod $pid\$" "$MESHTLS_ENV_DIR/pids" > "$MESHTLS_ENV_DIR/pids.next" || true
    mv "$MESHTLS_ENV_DIR/pids.next" "$MESHTLS_ENV_DIR/pids"
  fi
}

start() {
  stop
  local python istiod
  python=$("$here/tools.sh" path python)
  istiod=$("$here/tools.sh" path istiod)
  [[ -x $istiod ]] || { log "istiod is not built; run acceptance-tests/env/tools.sh istio"; exit 1; }
  rm -rf "$state"
  mkdir -p "$state"
  # Where a pod would mount the cacerts Secret; it holds a CA key, so only we may read it.
  install -d -m 0700 "$state/cacerts"
  # Its injection templates, where a pod would have them mounted (relative to its working
  # directory): the kube-gateway template renders a Gateway API gateway's Deployment.
  mkdir -p "$state/var/lib/istio"
  cp -r "$("$here/tools.sh" path istio-inject)" "$state/var/lib/istio/inject"
  cat > "$state/mesh.yaml" <<MESH
trustDomain: cluster.local
rootNamespace: $namespace
MESH
  free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  local http grpc secure monitoring
  http=$(free_port); grpc=$(free_port); secure=$(free_port); monitoring=$(free_port)
  (
    cd "$state"
    # No admission webhooks: the API server cannot call back to a process outside a pod.
    exec env POD_NAMESPACE="$namespace" POD_NAME=istiod-local REVISION=default \
      ROOT_CA_DIR="$state/cacerts" USE_REMOTE_CERTS=true \
      VALIDATION_WEBHOOK_CONFIG_NAME= INJECTION_WEBHOOK_CONFIG_NAME= \
      ISTIOD_CUSTOM_HOST=istiod.$namespace.svc \
      "$istiod" discovery --kubeconfig "$KUBECONFIG" --meshConfig "$state/mesh.yaml" \
      --httpAddr "127.0.0.1:$http" --grpcAddr "127.0.0.1:$grpc" --secureGRPCAddr "127.0.0.1:$secure" \
      --monitoringAddr "127.0.0.1:$monitoring" --domain cluster.local --log_output_level default:info
  ) > "$state/istiod.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$state/pid"
  echo "istiod $pid" >> "$MESHTLS_ENV_DIR/pids"
  local deadline=$((SECONDS + 120))
  until curl -sf "http://127.0.0.1:$http/ready" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "istiod exited; the end of its log:"; tail -n 30 "$state/istiod.log" >&2; exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "istiod was not ready within 120s; log in $state/istiod.log"; stop; exit 1
    fi
    sleep 0.2
  done
  cat > "$MESHTLS_ENV_DIR/istiod.env" <<ENV
export ISTIOD_HTTP='http://127.0.0.1:$http'
export ISTIOD_SECURE_GRPC='127.0.0.1:$secure'
export ISTIOD_NAMESPACE='$namespace'
export ISTIOD_LOG='$state/istiod.log'
ENV
  log "ready (http $http, secure gRPC $secure); log in $state/istiod.log"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) log "usage: istiod.sh start|stop"; exit 2 ;;
esac
