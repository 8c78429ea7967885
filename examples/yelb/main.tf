# The App Mesh TLS runbook for the Yelb application, end to end, as one configuration.
# Run examples/yelb/fixture/apply.sh first: it creates the application the runbook starts from.

terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "region" {
  description = "AWS region of the mesh."
  type        = string
  default     = "us-west-2"
}

variable "lb_certificate_arn" {
  description = "ACM certificate for TLS at the NLB. Null passes TLS through to the gateway instead."
  type        = string
  default     = null
}

# The kubeconfig comes from KUBECONFIG; the App Mesh endpoint from AWS_ENDPOINT_URL if set.
provider "meshtls" {
  mesh_name = "yelb"

  aws {
    region = var.region
  }
}

# Step 2.1: the CA, in Secret yelb/ca-key-pair, with a cert-manager Issuer beside it.
resource "meshtls_ca" "yelb" {
  namespace     = "yelb"
  secret_name   = "ca-key-pair"
  common_name   = "App Mesh Examples CA"
  key_algorithm = "RSA_2048"

  cert_manager_issuer {
    kind = "Issuer"
    name = "ca-issuer"
  }
}

# Steps 2 to 4: a certificate per service, mounted into Envoy, STRICT listener TLS and a
# client policy trusting the CA, on the cluster and in the App Mesh API.
module "mesh_tls" {
  source = "../modules/mesh-tls"
  providers = {
    meshtls = meshtls
  }

  namespace  = "yelb"
  ca_id      = meshtls_ca.yelb.id
  mount_path = "/etc/keys/yelb"
  services = {
    ui    = { aws_name = "yelb-ui_yelb", virtual_node = "yelb-ui", deployment = "yelb-ui", hostname = "yelb-ui.yelb.svc.cluster.local" }
    app   = { aws_name = "yelb-appserver_yelb", virtual_node = "yelb-appserver", deployment = "yelb-appserver", hostname = "yelb-appserver.yelb.svc.cluster.local" }
    db    = { aws_name = "yelb-db_yelb", virtual_node = "yelb-db", deployment = "yelb-db", hostname = "yelb-db.yelb.svc.cluster.local" }
    redis = { aws_name = "redis-server_yelb", virtual_node = "redis-server", deployment = "redis-server", hostname = "redis-server.yelb.svc.cluster.local" }
  }
}

# Step 5: the gateway terminating TLS from the load balancer and re-encrypting to yelb-ui.
resource "meshtls_certificate" "gateway" {
  ca          = meshtls_ca.yelb.id
  namespace   = "yelb"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb-gw.yelb.svc.cluster.local"]
}

resource "meshtls_gateway" "yelb" {
  namespace          = "yelb"
  name               = "yelb-gw"
  port               = 8443
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

resource "meshtls_nlb_service" "yelb" {
  namespace           = "yelb"
  name                = "yelb-gw"
  gateway             = meshtls_gateway.yelb.name
  port                = 443
  target_port         = meshtls_gateway.yelb.port
  tls_termination     = var.lb_certificate_arn == null ? "gateway" : "nlb"
  acm_certificate_arn = var.lb_certificate_arn
}

output "endpoint" {
  value = meshtls_nlb_service.yelb.hostname
}

output "certificates" {
  value = merge(module.mesh_tls.fingerprints, { gateway = meshtls_certificate.gateway.fingerprint_sha256 })
}

output "tls_status" {
  value = merge(module.mesh_tls.status, { gateway = { cluster = meshtls_gateway.yelb.cluster_status, api = meshtls_gateway.yelb.api_status } })
}
