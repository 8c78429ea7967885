#!/usr/bin/env bash
# Starts the local acceptance environment in the background: etcd + kube-apiserver (with the
# App Mesh, cert-manager, Istio and Gateway API CRDs, and Istio's namespace) and moto for
# App Mesh / ACM PCA, all on free loopback ports. istiod is started on demand (istiod.sh).
# Writes $MESHTLS_ENV_FILE (default: <repo>/.meshtls-env) with the shell exports to use them.
#
# With MESHTLS_ACC_KUBECONFIG set, no control plane is started: the CRDs are applied to that
# cluster and its kubeconfig is used instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
env_file=${MESHTLS_ENV_FILE:-$repo/.meshtls-env}
state=${MESHTLS_ENV_DIR:-$repo/target/meshtls-env}

log() { printf 'env-up: %s\n' "$*" >&2; }

if [[ -f $state/pids ]]; then
  log "an environment seems to be running ($state/pids); stopping it first"
  "$here/env-down.sh"
fi

"$here/tools.sh" all
python=$("$here/tools.sh" path python)

rm -rf "$state"
mkdir -p "$state"
: > "$state/pids"
# Anything started below is stopped again if a later step fails.
trap 'log "failed; stopping what was started"; "$here/env-down.sh" >/dev/null 2>&1 || true' ERR

# shellcheck source=control-plane.sh
source "$here/control-plane.sh"

if [[ -n ${MESHTLS_ACC_KUBECONFIG:-} ]]; then
  log "using the cluster of MESHTLS_ACC_KUBECONFIG=$MESHTLS_ACC_KUBECONFIG"
  kubeconfig=$MESHTLS_ACC_KUBECONFIG
else
  start_control_plane "$state" ""
fi

log "installing CRDs"
install_cluster_objects "$kubeconfig"

moto_port=$(free_port)
start moto "$python" "$here/moto_server.py" --port "$moto_port"
wait_for moto 60 curl -sf "http://127.0.0.1:$moto_port/moto-api/"

# Fault scenarios put proxies of their own in front of kube-apiserver and moto through it.
toxiproxy_port=$(free_port)
start toxiproxy "$(tool toxiproxy)" -host 127.0.0.1 -port "$toxiproxy_port"
wait_for toxiproxy 30 curl -sf "http://127.0.0.1:$toxiproxy_port/version"

tofu=$(tool tofu)
terraform=$(tool terraform)
terraform_current=$(tool terraform-current)
provider_dir=${MESHTLS_PROVIDER_DIR:-$repo/target/debug}
# dev_overrides run the freshly built provider with no init; the mirror beside it lets `init`
# (needed for modules) resolve the provider without a registry.
mirror=$state/mirror/registry.terraform.io/meshtls/meshtls/0.1.0/linux_amd64
mkdir -p "$mirror"
ln -sf "$provider_dir/terraform-provider-meshtls" "$mirror/terraform-provider-meshtls_v0.1.0"
cat > "$state/cli.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/meshtls/meshtls" = "$provider_dir"
  }
  filesystem_mirror {
    path    = "$state/mirror"
    include = ["registry.terraform.io/meshtls/meshtls"]
  }
  direct {
    exclude = ["registry.terraform.io/meshtls/meshtls"]
  }
}
TFRC

cat > "$env_file" <<ENV
# Written by acceptance-tests/env/env-up.sh; remove with env-down.sh.
export KUBECONFIG='$kubeconfig'
export AWS_ENDPOINT_URL='http://127.0.0.1:$moto_port'
export AWS_REGION='us-west-2'
export AWS_DEFAULT_REGION='us-west-2'
export AWS_ACCESS_KEY_ID='testing'
export AWS_SECRET_ACCESS_KEY='testing'
export AWS_EC2_METADATA_DISABLED='true'
export TOFU='$tofu'
export TERRAFORM='$terraform'
export TERRAFORM_CURRENT='$terraform_current'
export TF_CLI_CONFIG_FILE='$state/cli.tfrc'
export MESHTLS_ENV_DIR='$state'
export MESHTLS_PYTHON='$python'
export MESHTLS_TOXIPROXY='http://127.0.0.1:$toxiproxy_port'
export MESHTLS_KUBE_APISERVER='$(tool kube-apiserver)'
ENV
trap - ERR
log "ready: source $env_file (stop with env-down.sh)"
