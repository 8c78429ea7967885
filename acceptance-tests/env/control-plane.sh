# Sourced by env-up.sh and second-cluster.sh: starts one control plane (etcd and
# kube-apiserver on free loopback ports, with their own CA) and writes its kubeconfig.
# Expects `$here` (this folder) and `$state` (the environment's folder, with its `pids`).

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
tool() { "$here/tools.sh" path "$1"; }

free_port() { "$(tool python)" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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


# start_control_plane DIR SUFFIX: keys, data and kubeconfig go in DIR; the processes are
# named with SUFFIX (`` for the first cluster, `-b` for the second). Sets `kubeconfig`.
start_control_plane() {
  local dir=$1 suffix=$2
  local pki=$dir/pki
  mkdir -p "$pki"
  ossl() { openssl "$@" >/dev/null 2>&1; }
  # One CA signs the API server's serving certificate and the admin client certificate.
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=meshtls-acc-ca$suffix" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/server.key" -out "$pki/server.csr"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$pki/server.ext"
  ossl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/server.ext" -out "$pki/server.crt"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=meshtls-admin" -keyout "$pki/admin.key" -out "$pki/admin.csr"
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/admin.ext"
  ossl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/admin.ext" -out "$pki/admin.crt"
  ossl genrsa -out "$pki/sa.key" 2048
  ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

  local etcd_port etcd_peer api_port
  etcd_port=$(free_port); etcd_peer=$(free_port)
  start "etcd$suffix" "$(tool etcd)" --data-dir "$dir/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "default=http://127.0.0.1:$etcd_peer" --name default
  wait_for "etcd$suffix" 60 curl -sf "http://127.0.0.1:$etcd_port/health"

  api_port=$(free_port)
  # Everything but the port and the audit log, also used by fault scenarios that start a
  # second API server on the same etcd (acceptance-tests/src/apiserver.rs).
  local apiserver_args=(
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
  printf '%s\n' "${apiserver_args[@]}" > "$dir/kube-apiserver.args"
  start "kube-apiserver$suffix" "$(tool kube-apiserver)" "${apiserver_args[@]}" \
    --secure-port "$api_port" --audit-log-path "$dir/audit.log" \
    ${MESHTLS_APISERVER_FLAGS:-}
  kubeconfig=$dir/kubeconfig
  cat > "$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: meshtls-acc$suffix
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: meshtls-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: meshtls-acc$suffix
  context: { cluster: meshtls-acc$suffix, user: meshtls-admin }
current-context: meshtls-acc$suffix
KUBECONFIG
  wait_for "kube-apiserver$suffix" 120 curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz"
}

# install_cluster_objects KUBECONFIG: the CRDs, and what Istio's base chart creates besides
# them: the namespace istiod and its plug-in CA Secret live in. istiod itself is started on
# demand (istiod.sh), once that CA exists.
install_cluster_objects() {
  local python
  python=$(tool python)
  "$python" "$here/kubeapply.py" --kubeconfig "$1" --wait-crds "$here"/crds/*.yaml "$(tool istio-crds)" "$(tool gateway-api-crds)"
  "$python" "$here/kubeapply.py" --kubeconfig "$1" "$here/istio-system.yaml"
}
