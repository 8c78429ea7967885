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

locals {
  services = {
    ui    = "yelb-ui.yelb.svc.cluster.local"
    app   = "yelb-appserver.yelb.svc.cluster.local"
    db    = "yelb-db.yelb.svc.cluster.local"
    redis = "redis-server.yelb.svc.cluster.local"
  }
}

# Every service's certificate in one resource instance: each entry is what a
# meshtls_certificate would be, keyed like for_each.
resource "meshtls_certificate_map" "svc" {
  certificates = {
    for name, host in local.services : name => {
      ca          = meshtls_ca.yelb.id
      namespace   = "yelb"
      secret_name = "yelb-tls-${name}"
      dns_names   = [host]
    }
  }
}

output "fingerprints" {
  value = { for name, cert in meshtls_certificate_map.svc.certificates : name => cert.fingerprint_sha256 }
}
