#!/usr/bin/env bash
# `make bench`: builds the release provider and the Go providers it is compared with (from
# their Go modules, cached by version), starts an environment of its own, runs bench/run.py,
# which appends each run to bench/results.jsonl, and stops the environment again. Arguments
# go to run.py (e.g. --sizes 50 --runs 1). `bench.sh --report` only writes the page.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
env_dir=$repo/acceptance-tests/env
cache=${MESHTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshtls}
export GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local

# Pinned by bench/tools/*/go.mod; the mirror serves them as version 0.0.1.
TLS_MODULE_VERSION=$(awk '/terraform-provider-tls /{print $NF}' "$here/tools/tls/go.mod")
KUBERNETES_MODULE_VERSION=$(awk '/terraform-provider-kubernetes /{print $NF}' "$here/tools/kubernetes/go.mod")
MATPLOTLIB_VERSION=3.10.7

log() { printf 'bench: %s\n' "$*" >&2; }

build_provider() { # NAME MODULE_VERSION
  local name=$1 version=$2 out="$cache/bench-$1-$2/terraform-provider-$1"
  if [[ ! -x $out ]]; then
    log "building terraform-provider-$name $version"
    mkdir -p "$(dirname "$out")"
    (cd "$here/tools/$name" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.partial" "github.com/hashicorp/terraform-provider-$name")
    mv "$out.partial" "$out"
  fi
  echo "$out"
}

python=$("$env_dir/tools.sh" path python)
"$env_dir/tools.sh" python
pylib="$cache/bench-matplotlib-$MATPLOTLIB_VERSION"
if [[ ! -f $pylib/.complete ]]; then
  log "installing matplotlib $MATPLOTLIB_VERSION for the chart"
  rm -rf "$pylib"
  # python-dateutil stays below 3, the range botocore (in the same interpreter) accepts.
  "$python" -m pip install --quiet --target "$pylib" "matplotlib==$MATPLOTLIB_VERSION" "python-dateutil<3"
  touch "$pylib/.complete"
fi
# `--report [--commit C]`: the page and chart from bench/results.jsonl, nothing else.
if [[ ${1:-} == --report ]]; then
  shift
  cd "$repo"
  PYTHONPATH=$pylib exec "$python" "$here/report.py" "$@"
fi
"$env_dir/tools.sh" all
tls_bin=$(build_provider tls "$TLS_MODULE_VERSION")
kubernetes_bin=$(build_provider kubernetes "$KUBERNETES_MODULE_VERSION")
log "building the release provider"
(cd "$repo" && cargo build --release --quiet)

state=$repo/target/bench-env
export MESHTLS_ENV_DIR=$state MESHTLS_ENV_FILE=$repo/target/bench-env.sh MESHTLS_PROVIDER_DIR=$repo/target/release
trap '"$env_dir/env-down.sh"' EXIT
"$env_dir/env-up.sh"
# shellcheck disable=SC1091
source "$MESHTLS_ENV_FILE"

# Every provider comes from one local mirror, so `init` runs as it does for users.
mirror=$state/bench-mirror/registry.terraform.io
link() { mkdir -p "$(dirname "$2")" && ln -sf "$1" "$2"; }
link "$tls_bin" "$mirror/hashicorp/tls/0.0.1/linux_amd64/terraform-provider-tls_v0.0.1"
link "$kubernetes_bin" "$mirror/hashicorp/kubernetes/0.0.1/linux_amd64/terraform-provider-kubernetes_v0.0.1"
link "$repo/target/release/terraform-provider-meshtls" "$mirror/meshtls/meshtls/0.1.0/linux_amd64/terraform-provider-meshtls_v0.1.0"
cat > "$state/bench.tfrc" <<TFRC
provider_installation {
  filesystem_mirror {
    path    = "$state/bench-mirror"
    include = ["registry.terraform.io/hashicorp/*", "registry.terraform.io/meshtls/*"]
  }
}
TFRC
export TF_CLI_CONFIG_FILE=$state/bench.tfrc
cd "$repo"
PYTHONPATH=$pylib "$python" "$here/run.py" "$@"
