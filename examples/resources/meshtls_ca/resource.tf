terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

# The kubeconfig comes from KUBECONFIG (or ~/.kube/config) unless the provider block says otherwise.
provider "meshtls" {}

# Step 2.1 of the App Mesh TLS runbook: a CA in Secret yelb/ca-key-pair, and a cert-manager
# Issuer that signs with it.
resource "meshtls_ca" "yelb" {
  namespace     = "yelb"
  secret_name   = "ca-key-pair"
  common_name   = "App Mesh Examples CA"
  organization  = "Yelb"
  validity_days = 3650
  key_algorithm = "ECDSA_P256"

  cert_manager_issuer {
    kind = "Issuer"
    name = "ca-issuer"
  }
}

output "ca_fingerprint" {
  value = meshtls_ca.yelb.fingerprint_sha256
}
