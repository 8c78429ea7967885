#!/usr/bin/env bash
# Runs a real istiod (pilot-discovery) against the environment's kube-apiserver, as the Istio
# scenarios and `make demo MESH=istio` need it. Source .meshtls-env first.
#
#   istiod.sh start   starts istiod, waits until it is ready, writes $MESHTLS_ENV_DIR/istiod.env
#   istiod.sh stop    stops it (env-down.sh does too)
#
# istiod takes its plug-in CA (the `cacerts` Secret of its namespace) in one of two ways:
# - ISTIOD_CACERTS=remote (the default), as a remote istiod does (USE_REMOTE_CERTS): it reads
#   the Secret from the API server once, at start, into ROOT_CA_DIR. So a `meshtls_ca` written
#   to istio-system/cacerts must exist before the start, as in a cluster, where istiod is
#   installed (or restarted) after the CA is plugged in.
# - ISTIOD_CACERTS=mounted, as a Helm-installed istiod does: ROOT_CA_DIR is a folder that
#   secret_volume.py keeps in step with the Secret the way the kubelet keeps a Secret volume,
#   and istiod watches it.
#
# ISTIOD_REVISION (default `default`) is the revision istiod runs as, as the `istiod` chart's
# `revision` value sets it. Like the chart, the start writes the revision's mesh-config
# ConfigMap (`istio`, or `istio-<revision>`) labelled `istio.io/rev`, which is how meshtls and
# istioctl tell that a revision is installed.
#
# ISTIOD_INSTANCE names a second istiod (e.g. `b`, for the second cluster, with KUBECONFIG
# set to it): its own folder, ports and `istiod-<instance>.env`.
#
# ISTIOD_MULTIROOT=true lets istiod take a change of roots while it runs
# (ISTIO_MULTIROOT_MESH), as a root rotation needs.
#
# ISTIOD_AMBIENT=true turns ambient mode on (PILOT_ENABLE_AMBIENT, off by default in the
# binary, on in the chart's ambient profile): istiod then derives ztunnel's workloads and
# policies from the Pods, which /debug/ambientz shows.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MESHTLS_ENV_DIR:?source .meshtls-env first}" "${KUBECONFIG:?source .meshtls-env first}"
suffix=${ISTIOD_INSTANCE:+-$ISTIOD_INSTANCE}
state=$MESHTLS_ENV_DIR/istiod$suffix
env_out=$MESHTLS_ENV_DIR/istiod$suffix.env
namespace=${ISTIOD_NAMESPACE:-istio-system}

log() { printf 'istiod: %s\n' "$*" >&2; }

stop() {
  if [[ -f $state/volume.pid ]]; then
    local volume
    volume=$(cat "$state/volume.pid")
    kill "$volume" 2>/dev/null || true
    rm -f "$state/volume.pid"
    if [[ -f $MESHTLS_ENV_DIR/pids ]]; then
      grep -v "^secret-volume$suffix $volume\$" "$MESHTLS_ENV_DIR/pids" > "$MESHTLS_ENV_DIR/pids.next" || true
      mv "$MESHTLS_ENV_DIR/pids.next" "$MESHTLS_ENV_DIR/pids"
    fi
  fi
  [[ -f $state/pid ]] || return 0
  local pid
  pid=$(cat "$state/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/pid" "$env_out"
  if [[ -f $MESHTLS_ENV_DIR/pids ]]; then
    grep -v "^istiod$suffix $pid\$" "$MESHTLS_ENV_DIR/pids" > "$MESHTLS_ENV_DIR/pids.next" || true
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
  local cacerts=${ISTIOD_CACERTS:-remote} remote_certs=true
  case $cacerts in
    remote) ;;
    mounted)
      remote_certs=false
      "$python" "$here/secret_volume.py" --kubeconfig "$KUBECONFIG" --namespace "$namespace" --name cacerts \
        --dir "$state/cacerts" --log "$state/volume.log" > "$state/volume.err" 2>&1 &
      echo $! > "$state/volume.pid"
      echo "secret-volume$suffix $!" >> "$MESHTLS_ENV_DIR/pids"
      # A pod starts once its volumes are set up: the first read has happened.
      local volume_deadline=$((SECONDS + 30))
      until [[ -s $state/volume.log ]]; do
        ((SECONDS < volume_deadline)) || { log "the cacerts volume was not set up within 30s"; stop; exit 1; }
        sleep 0.1
      done
      ;;
    *) log "ISTIOD_CACERTS must be remote or mounted, not $cacerts"; exit 2 ;;
  esac
  # Its injection templates, where a pod would have them mounted (relative to its working
  # directory): the kube-gateway template renders a Gateway API gateway's Deployment.
  mkdir -p "$state/var/lib/istio"
  cp -r "$("$here/tools.sh" path istio-inject)" "$state/var/lib/istio/inject"
  cat > "$state/mesh.yaml" <<MESH
trustDomain: cluster.local
rootNamespace: $namespace
MESH
  local revision=${ISTIOD_REVISION:-default} config_map=istio
  [[ $revision == default ]] || config_map=istio-$revision
  "$python" - "$state/mesh.yaml" "$namespace" "$config_map" "$revision" > "$state/mesh-configmap.json" <<'PY'
import json, sys
mesh, namespace, name, revision = sys.argv[1:]
print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": name, "namespace": namespace, "labels": {"istio.io/rev": revision}},
                  "data": {"mesh": open(mesh).read()}}))
PY
  "$python" "$here/kubeapply.py" --kubeconfig "$KUBECONFIG" "$state/mesh-configmap.json" >&2
  free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  local http grpc secure monitoring https ctrlz
  http=$(free_port); grpc=$(free_port); secure=$(free_port); monitoring=$(free_port); https=$(free_port); ctrlz=$(free_port)
  (
    cd "$state"
    # No admission webhooks: the API server cannot call back to a process outside a pod.
    exec env POD_NAMESPACE="$namespace" POD_NAME=istiod-local REVISION="$revision" \
      ROOT_CA_DIR="$state/cacerts" USE_REMOTE_CERTS=$remote_certs PILOT_ENABLE_AMBIENT="${ISTIOD_AMBIENT:-false}" \
      ISTIO_MULTIROOT_MESH="${ISTIOD_MULTIROOT:-false}" \
      VALIDATION_WEBHOOK_CONFIG_NAME= INJECTION_WEBHOOK_CONFIG_NAME= \
      ISTIOD_CUSTOM_HOST=istiod.$namespace.svc \
      "$istiod" discovery --kubeconfig "$KUBECONFIG" --meshConfig "$state/mesh.yaml" \
      --httpAddr "127.0.0.1:$http" --grpcAddr "127.0.0.1:$grpc" --secureGRPCAddr "127.0.0.1:$secure" \
      --monitoringAddr "127.0.0.1:$monitoring" --httpsAddr "127.0.0.1:$https" --ctrlz_port "$ctrlz" --domain cluster.local --log_output_level default:info
  ) > "$state/istiod.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$state/pid"
  echo "istiod$suffix $pid" >> "$MESHTLS_ENV_DIR/pids"
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
  cat > "$env_out" <<ENV
export ISTIOD_HTTP='http://127.0.0.1:$http'
export ISTIOD_SECURE_GRPC='127.0.0.1:$secure'
export ISTIOD_NAMESPACE='$namespace'
export ISTIOD_LOG='$state/istiod.log'
export ISTIOD_CACERTS='$cacerts'
export ISTIOD_REVISION='$revision'
export ISTIOD_CACERTS_DIR='$state/cacerts'
export ISTIOD_VOLUME_LOG='$state/volume.log'
ENV
  log "ready (http $http, secure gRPC $secure); log in $state/istiod.log"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) log "usage: istiod.sh start|stop"; exit 2 ;;
esac
