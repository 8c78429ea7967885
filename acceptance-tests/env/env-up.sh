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
tool() { "$here/tools.sh" path "$1"; }
python=$(tool python)

rm -rf "$state"
mkdir -p "$state"
: > "$state/pids"
# Anything started below is stopped again if a later step fails.
trap 'log "failed; stopping what was started"; "$here/env-down.sh" >/dev/null 2>&1 || true' ERR

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what did not become ready within ${seconds}s; logs in $state"
      return 1
    fi
    sleep 0.2
  done
}

start() { # NAME COMMAND...: runs in the background, logs to $state/NAME.log, records the pid
  local name=$1; shift
  "$@" > "$state/$name.log" 2>&1 &
  echo "$name $!" >> "$state/pids"
}

if [[ -n ${MESHTLS_ACC_KUBECONFIG:-} ]]; then
  log "using the cluster of MESHTLS_ACC_KUBECONFIG=$MESHTLS_ACC_KUBECONFIG"
  kubeconfig=$MESHTLS_ACC_KUBECONFIG
else
  pki=$state/pki
  mkdir -p "$pki"
  ossl() { openssl "$@" >/dev/null 2>&1; }
  # One CA signs the API server's serving certificate and the admin client certificate.
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=meshtls-acc-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/server.key" -out "$pki/server.csr"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$pki/server.ext"
  ossl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/server.ext" -out "$pki/server.crt"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=meshtls-admin" -keyout "$pki/admin.key" -out "$pki/admin.csr"
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/admin.ext"
  ossl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/admin.ext" -out "$pki/admin.crt"
  ossl genrsa -out "$pki/sa.key" 2048
  ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

  etcd_port=$(free_port); etcd_peer=$(free_port)
  start etcd "$(tool etcd)" --data-dir "$state/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "default=http://127.0.0.1:$etcd_peer" --name default
  wait_for etcd 60 curl -sf "http://127.0.0.1:$etcd_port/health"

  api_port=$(free_port)
  # Everything but the port and the audit log, also used by fault scenarios that start a
  # second API server on the same etcd (acceptance-tests/src/apiserver.rs).
  apiserver_args=(
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1
    --etcd-servers "http://127.0.0.1:$etcd_port"
    --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key"
    --client-ca-file "$pki/ca.crt" --authorization-mode RBAC
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true
    --service-account-issuer "https://127.0.0.1:$api_port"
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key"
    --disable-admission-plugins ServiceAccount
    --audit-policy-file "$here/audit-policy.yaml" --audit-log-format json
  )
  printf '%s\n' "${apiserver_args[@]}" > "$state/kube-apiserver.args"
  start kube-apiserver "$(tool kube-apiserver)" "${apiserver_args[@]}" \
    --secure-port "$api_port" --audit-log-path "$state/audit.log" \
    ${MESHTLS_APISERVER_FLAGS:-}
  kubeconfig=$state/kubeconfig
  cat > "$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: meshtls-acc
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: meshtls-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: meshtls-acc
  context: { cluster: meshtls-acc, user: meshtls-admin }
current-context: meshtls-acc
KUBECONFIG
  wait_for kube-apiserver 120 curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz"
fi

log "installing CRDs"
"$python" "$here/kubeapply.py" --kubeconfig "$kubeconfig" --wait-crds "$here"/crds/*.yaml "$(tool istio-crds)" "$(tool gateway-api-crds)"
# What Istio's base chart creates besides its CRDs: the namespace istiod and its plug-in CA
# Secret live in. istiod itself is started on demand (istiod.sh), once that CA exists.
"$python" "$here/kubeapply.py" --kubeconfig "$kubeconfig" "$here/istio-system.yaml"

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
