#!/usr/bin/env bash
# Applies the certificate example (a CA and four service certificates) to the running local environment with tofu and prints what was made.
# The environment stays up until `make demo-down`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
source "$repo/.meshtls-env"
work=$repo/target/demo
# The state in $work is kept, so running the demo again converges instead of colliding with
# what the previous run created.
mkdir -p "$work"
rm -f "$work"/*.tf
cp "$repo"/examples/resources/meshtls_certificate/*.tf "$work/"

"$MESHTLS_PYTHON" "$here/kubeapply.py" --kubeconfig "$KUBECONFIG" /dev/stdin <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: yelb
YAML

cd "$work"
# dev_overrides (in TF_CLI_CONFIG_FILE) point at the freshly built provider: no init needed.
"$TOFU" apply -auto-approve -input=false -no-color

echo
echo "== Summary"
"$MESHTLS_PYTHON" "$here/summary.py" --kubeconfig "$KUBECONFIG" --namespace yelb \
  --handshake yelb-tls-db,yelb-tls-ui,yelb-db.yelb.svc.cluster.local
echo
echo "The environment is still running (kube-apiserver, etcd, moto). Use it with:"
echo "  source $repo/.meshtls-env && cd $work && \$TOFU plan"
echo "Stop it with: make demo-down"
