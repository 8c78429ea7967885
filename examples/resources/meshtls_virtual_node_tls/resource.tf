terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {
  mesh_name = "yelb"

  aws {
    region = "us-west-2"
  }
}

resource "meshtls_ca" "yelb" {
  namespace   = "yelb"
  common_name = "App Mesh Examples CA"
}

resource "meshtls_certificate" "db" {
  ca          = meshtls_ca.yelb.id
  namespace   = "yelb"
  secret_name = "yelb-tls-db"
  dns_names   = ["yelb-db.yelb.svc.cluster.local"]
}

# Steps 3 and 4 of the App Mesh TLS runbook: mount the Secret into Envoy, serve STRICT TLS on
# the listener, and trust the CA when calling backends. Kept true on the cluster's VirtualNode
# object and in the App Mesh API.
resource "meshtls_virtual_node_tls" "db" {
  virtual_node_name       = "yelb-db_yelb"
  certificate_secret      = meshtls_certificate.db.secret_name
  certificate_fingerprint = meshtls_certificate.db.fingerprint_sha256
  mount_path              = "/etc/keys/yelb"

  kubernetes {
    namespace    = "yelb"
    virtual_node = "yelb-db"
    deployment   = "yelb-db"
  }

  listener {
    mode = "STRICT"
    certificate {
      file {
        certificate_chain = "/etc/keys/yelb/tls.crt"
        private_key       = "/etc/keys/yelb/tls.key"
      }
    }
  }

  client_policy {
    enforce = true
    trust {
      file {
        certificate_chain = "/etc/keys/yelb/ca.crt"
      }
    }
  }
}

output "sides" {
  value = {
    cluster = meshtls_virtual_node_tls.db.cluster_status
    api     = meshtls_virtual_node_tls.db.api_status
  }
}
