#!/usr/bin/env bash
# The App Mesh TLS runbook in one apply: creates the Yelb fixture, applies examples/yelb with
# tofu, and prints what each side now holds, the load balancer Service, each certificate, and
# a real mutual-TLS handshake between two issued certificates. The environment stays up until
# `make demo-down`.
#
# MESH=istio does the same on Istio: examples/yelb-istio, then istiod started with the meshtls
# CA as its plug-in CA, each service's TLS mode as istiod holds it, the gateway as istiod
# reports on it, and a workload certificate istiod issues, checked against the meshtls CA.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
source "$repo/.meshtls-env"
export AWS_DEFAULT_REGION=$AWS_REGION

mesh=${MESH:-appmesh}
case $mesh in
  appmesh) example=yelb module=mesh-tls ;;
  istio) example=yelb-istio module=mesh-tls-istio ;;
  *) echo "demo: MESH is appmesh (the default) or istio, not $mesh" >&2; exit 2 ;;
esac

echo "== Yelb as the runbook finds it (namespace, mesh, Deployments, Services, VirtualNodes)"
"$repo/examples/yelb/fixture/apply.sh"
if [[ $mesh == istio ]]; then
  echo "== Yelb enrolled in Istio: the namespace labelled istio-injection=enabled"
  "$MESHTLS_PYTHON" - "$KUBECONFIG" "$here" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from kubeapply import Cluster
Cluster(sys.argv[1]).request("PATCH", "/api/v1/namespaces/yelb", {"metadata": {"labels": {"istio-injection": "enabled"}}}, "application/merge-patch+json")
PY
fi

# The configuration keeps its state here, so running the demo again converges.
work=$repo/target/demo
mkdir -p "$work/$example" "$work/modules"
cp "$repo/examples/$example/main.tf" "$work/$example/"
rm -rf "$work/modules/$module"
cp -r "$repo/examples/modules/$module" "$work/modules/"

echo "== tofu apply examples/$example"
cd "$work/$example"
"$TOFU" init -input=false -no-color >/dev/null
# The whole output is kept; a failed apply prints it and stops the demo with its exit code.
if ! "$TOFU" apply -auto-approve -input=false -no-color > "$work/apply.log" 2>&1; then
  cat "$work/apply.log"
  echo "demo: tofu apply failed; the output is above and in $work/apply.log" >&2
  exit 1
fi
grep -E '^(Apply complete|Plan:)' "$work/apply.log"

summary=("$MESHTLS_PYTHON" "$here/summary.py" --kubeconfig "$KUBECONFIG" --namespace yelb
  --handshake yelb-db-tls,yelb-ui-tls,yelb-db.yelb.svc.cluster.local)
if [[ $mesh == istio ]]; then
  # As in a cluster, istiod starts once its plug-in CA exists.
  echo "== istiod, with the meshtls CA (istio-system/cacerts) as its plug-in CA"
  "$here/istiod.sh" start
  # shellcheck disable=SC1091
  source "$MESHTLS_ENV_DIR/istiod.env"
  grep -E "Using kubernetes.io/tls secret type for signing ca files|Use local CA certificate" "$ISTIOD_LOG" | sed 's/^[^\t]*\t[a-z]*\t/  istiod: /' | sort -u
  # istiod reports on the gateway, and the configuration's status and conditions follow.
  "$MESHTLS_PYTHON" - "$KUBECONFIG" "$here" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[2])
from kubeapply import Cluster
cluster, deadline = Cluster(sys.argv[1]), time.monotonic() + 60
while True:
    g = cluster.request("GET", "/apis/gateway.networking.k8s.io/v1/namespaces/yelb/gateways/yelb-gw")
    if any(c["type"] == "Accepted" and c["status"] == "True" for c in g.get("status", {}).get("conditions", [])):
        break
    if time.monotonic() > deadline:
        sys.exit("demo: istiod did not accept Gateway yelb/yelb-gw within 60s")
    time.sleep(0.5)
PY
  "$TOFU" apply -refresh-only -auto-approve -input=false -no-color > "$work/refresh.log" 2>&1 || { cat "$work/refresh.log"; exit 1; }
  "$repo/target/debug/istio-workload-cert" yelb yelb-ui > "$work/workload-cert.pem"
  summary+=(--istio "$ISTIOD_HTTP" --workload-cert "$work/workload-cert.pem")
else
  summary+=(--mesh yelb)
fi
echo
echo "== Summary"
"${summary[@]}"
echo
echo "The environment is still running (kube-apiserver, etcd, moto$([[ $mesh == istio ]] && echo ", istiod")). Use it with:"
echo "  source $repo/.meshtls-env && cd $work/$example && \$TOFU plan"
echo "Stop it with: make demo-down"
