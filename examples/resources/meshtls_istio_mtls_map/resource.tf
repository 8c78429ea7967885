terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {}

locals {
  services = toset(["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"])
}

# STRICT mutual TLS for every service's workload, with callers told to use Istio's mutual
# TLS: a PeerAuthentication and a DestinationRule per entry, in one resource instance.
resource "meshtls_istio_mtls_map" "yelb" {
  services = {
    for name in local.services : name => {
      namespace  = "yelb"
      deployment = name
      mode       = "STRICT"
      destination_rule = {
        host = "${name}.yelb.svc.cluster.local"
      }
    }
  }
}

output "status" {
  value = { for name, svc in meshtls_istio_mtls_map.yelb.services : name => svc.status }
}
