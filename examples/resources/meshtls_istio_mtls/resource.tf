terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {}

# Istio's plug-in CA: istiod signs every workload certificate with it.
resource "meshtls_ca" "mesh" {
  namespace     = "istio-system"
  secret_name   = "cacerts"
  common_name   = "Mesh Root CA"
  key_algorithm = "ECDSA_P256"
}

# STRICT mutual TLS for the whole namespace (PeerAuthentication yelb/default).
resource "meshtls_istio_mtls" "yelb" {
  namespace = "yelb"
}

# And for one service: its Deployment's pods, with callers told to use Istio's mutual TLS.
resource "meshtls_istio_mtls" "yelb_ui" {
  namespace  = "yelb"
  deployment = "yelb-ui"
  mode       = "STRICT"

  destination_rule {
    host = "yelb-ui.yelb.svc.cluster.local"
  }
}

output "status" {
  value = meshtls_istio_mtls.yelb_ui.status
}
