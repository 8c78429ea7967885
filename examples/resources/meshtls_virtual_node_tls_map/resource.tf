terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {
  mesh_name = "yelb"
}

resource "meshtls_ca" "yelb" {
  namespace   = "yelb"
  secret_name = "ca-key-pair"
  common_name = "App Mesh Examples CA"
}

locals {
  services = toset(["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"])
}

resource "meshtls_certificate_map" "svc" {
  certificates = {
    for name in local.services : name => {
      ca          = meshtls_ca.yelb.id
      namespace   = "yelb"
      secret_name = "${name}-tls"
      dns_names   = ["${name}.yelb.svc.cluster.local"]
    }
  }
}

# Both sides of every virtual node's TLS, fed from the certificates by one for expression:
# the CLI reads the certificate map once, not once per virtual node.
resource "meshtls_virtual_node_tls_map" "svc" {
  virtual_nodes = {
    for name, cert in meshtls_certificate_map.svc.certificates : name => {
      virtual_node_name       = "${name}-yelb"
      certificate_secret      = cert.secret_name
      certificate_fingerprint = cert.fingerprint_sha256
      mount_path              = "/etc/keys/yelb"

      kubernetes = {
        namespace    = "yelb"
        virtual_node = name
        deployment   = name
      }

      listener = {
        mode = "STRICT"
        certificate = {
          file = {
            certificate_chain = "/etc/keys/yelb/tls.crt"
            private_key       = "/etc/keys/yelb/tls.key"
          }
        }
      }

      client_policy = {
        enforce = true
        trust = {
          file = {
            certificate_chain = "/etc/keys/yelb/ca.crt"
          }
        }
      }
    }
  }
}

output "status" {
  value = { for name, node in meshtls_virtual_node_tls_map.svc.virtual_nodes : name => node.cluster_status }
}
