#!/usr/bin/env bash
# The App Mesh TLS runbook in one apply: creates the Yelb fixture, applies examples/yelb with
# tofu, and prints what each side now holds, each certificate, and a real mutual-TLS
# handshake between two issued certificates. The environment stays up until `make demo-down`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
source "$repo/.meshtls-env"
export AWS_DEFAULT_REGION=$AWS_REGION

echo "== Yelb as the runbook finds it (namespace, mesh, Deployments, Services, VirtualNodes)"
"$repo/examples/yelb/fixture/apply.sh"

# The configuration keeps its state here, so running the demo again converges.
work=$repo/target/demo
mkdir -p "$work/yelb" "$work/modules"
cp "$repo/examples/yelb/main.tf" "$work/yelb/"
rm -rf "$work/modules/mesh-tls"
cp -r "$repo/examples/modules/mesh-tls" "$work/modules/"

echo "== tofu apply examples/yelb"
cd "$work/yelb"
"$TOFU" init -input=false -no-color >/dev/null
# The whole output is kept; a failed apply prints it and stops the demo with its exit code.
if ! "$TOFU" apply -auto-approve -input=false -no-color > "$work/apply.log" 2>&1; then
  cat "$work/apply.log"
  echo "demo: tofu apply failed; the output is above and in $work/apply.log" >&2
  exit 1
fi
grep -E '^(Apply complete|Plan:)' "$work/apply.log"

echo
echo "== Summary"
"$MESHTLS_PYTHON" "$here/summary.py" --kubeconfig "$KUBECONFIG" --namespace yelb --mesh yelb \
  --handshake yelb-db-tls,yelb-ui-tls,yelb-db.yelb.svc.cluster.local
echo
echo "The environment is still running (kube-apiserver, etcd, moto). Use it with:"
echo "  source $repo/.meshtls-env && cd $work/yelb && \$TOFU plan"
echo "Stop it with: make demo-down"
