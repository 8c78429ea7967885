terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {}

resource "meshtls_ca" "yelb" {
  namespace   = "yelb"
  secret_name = "ca-key-pair"
  common_name = "App Mesh Examples CA"
}

# Step 2 of the App Mesh TLS runbook: one certificate per service, named exactly as App Mesh
# resolves it, in a Secret that the Envoy sidecar mounts.
locals {
  services = {
    ui    = "yelb-ui.yelb.svc.cluster.local"
    app   = "yelb-appserver.yelb.svc.cluster.local"
    db    = "yelb-db.yelb.svc.cluster.local"
    redis = "redis-server.yelb.svc.cluster.local"
  }
}

resource "meshtls_certificate" "svc" {
  for_each = local.services

  ca                = meshtls_ca.yelb.id
  namespace         = "yelb"
  secret_name       = "yelb-tls-${each.key}"
  dns_names         = [each.value]
  validity_days     = 365
  renew_before_days = 30

  secret_labels = {
    "app.kubernetes.io/part-of" = "yelb"
  }
}

output "certificate_expiry" {
  value = { for k, c in meshtls_certificate.svc : k => c.not_after }
}
