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

# The runbook's second option: the root of trust in AWS Private CA, no CA key in the cluster.
# Adopt an existing private CA with acm_pca { arn = "arn:aws:acm-pca:..." }, or create one:
#
# resource "meshtls_ca" "private" {
#   namespace   = "yelb"
#   secret_name = "private-ca"
#   common_name = "Yelb Private Root"
#
#   acm_pca {
#     create {
#       permanent_deletion_days = 7
#     }
#   }
# }

# Or write the CA the runbook made with openssl (`openssl genrsa -out ca.key 2048`, then
# `openssl req -x509 -new -key ca.key ... -out ca.crt`). The key is write-only (Terraform 1.11+,
# OpenTofu 1.11+): it goes to the Secret and never into state or plan.
#
# resource "meshtls_ca" "existing" {
#   namespace = "yelb"
#
#   key_pair {
#     certificate_pem            = file("${path.module}/ca.crt")
#     private_key_pem_wo         = file("${path.module}/ca.key")
#     private_key_pem_wo_version = 1
#   }
# }
