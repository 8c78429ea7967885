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

resource "meshtls_certificate" "gateway" {
  ca          = meshtls_ca.yelb.id
  namespace   = "yelb"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb-gw.yelb.svc.cluster.local"]
}

# Step 5 of the App Mesh TLS runbook: a gateway terminating TLS on 8443 and re-encrypting to
# the services it routes to.
resource "meshtls_gateway" "yelb" {
  namespace          = "yelb"
  name               = "yelb-gw"
  certificate_secret = meshtls_certificate.gateway.secret_name
  mount_path         = "/etc/keys/yelb"

  client_policy {
    enforce = true
    trust {
      file {
        certificate_chain = "/etc/keys/yelb/ca.crt"
      }
    }
  }

  route {
    prefix          = "/"
    virtual_service = "yelb-ui"
  }
}
