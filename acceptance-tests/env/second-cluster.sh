#!/usr/bin/env bash
# A second cluster beside the environment's, for scenarios that span two clusters (one mesh
# root, an intermediate CA per cluster): its own etcd and kube-apiserver on loopback, with its
# own CA, the same CRDs and Istio's namespace. Source .meshtls-env first.
#
#   second-cluster.sh start   starts it (again), writes $MESHTLS_ENV_DIR/cluster-b.env with
#                             MESHTLS_KUBECONFIG_B
#   second-cluster.sh stop    stops it (env-down.sh does too)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MESHTLS_ENV_DIR:?source .meshtls-env first}"
state=$MESHTLS_ENV_DIR
dir=$state/cluster-b
# shellcheck source=control-plane.sh
source "$here/control-plane.sh"

stop() {
  [[ -f $state/pids ]] || return 0
  local name pid
  while read -r name pid; do
    case $name in
      etcd-b | kube-apiserver-b)
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        ;;
    esac
  done < <(tac "$state/pids")
  grep -v -E '^(etcd-b|kube-apiserver-b) ' "$state/pids" > "$state/pids.next" || true
  mv "$state/pids.next" "$state/pids"
  rm -f "$state/cluster-b.env"
}

case ${1:-} in
  start)
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    start_control_plane "$dir" -b
    install_cluster_objects "$kubeconfig"
    printf "export MESHTLS_KUBECONFIG_B='%s'\n" "$kubeconfig" > "$state/cluster-b.env"
    log "ready: $kubeconfig"
    ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
