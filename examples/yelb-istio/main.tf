# The Yelb application secured on Istio, the same goal as examples/yelb after App Mesh: the
# same CA (also istiod's plug-in CA), the same certificates, STRICT mutual TLS on every hop,
# and the gateway terminating TLS behind the same NLB Service.
# Run examples/yelb/fixture/apply.sh first, and label the namespace for sidecar injection
# (istio-injection=enabled); istiod reads the plug-in CA when it starts.

terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "lb_certificate_arn" {
  description = "ACM certificate for TLS at the NLB. Null passes TLS through to the gateway instead."
  type        = string
  default     = null
}

# The kubeconfig comes from KUBECONFIG. No App Mesh API: Istio keeps everything in the cluster.
provider "meshtls" {}

# The runbook's CA, in Secret yelb/ca-key-pair with its cert-manager Issuer, and copied to
# istio-system/cacerts as istiod's plug-in CA.
resource "meshtls_ca" "yelb" {
  namespace     = "yelb"
  secret_name   = "ca-key-pair"
  common_name   = "App Mesh Examples CA"
  key_algorithm = "RSA_2048"

  cert_manager_issuer {
    kind = "Issuer"
    name = "ca-issuer"
  }

  istio_plugin {
    namespace = "istio-system"
  }
}

# STRICT for the whole namespace, so a workload added later is covered too.
resource "meshtls_istio_mtls" "namespace" {
  namespace = "yelb"
}

# Per service: its certificate, and STRICT mutual TLS on its pods with a DestinationRule.
module "mesh_tls" {
  source = "../modules/mesh-tls-istio"
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

# The gateway terminating TLS from the load balancer; Istio's mutual TLS carries it to yelb-ui.
resource "meshtls_certificate" "gateway" {
  ca          = meshtls_ca.yelb.id
  namespace   = "yelb"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb-gw.yelb.svc.cluster.local"]
}

resource "meshtls_istio_gateway" "yelb" {
  namespace          = "yelb"
  name               = "yelb-gw"
  port               = 8443
  certificate_secret = meshtls_certificate.gateway.secret_name

  route {
    prefix  = "/"
    service = "yelb-ui"
    port    = 80
  }
}

resource "meshtls_nlb_service" "yelb" {
  namespace           = "yelb"
  name                = "yelb-gw"
  gateway             = meshtls_istio_gateway.yelb.name
  port                = 443
  target_port         = meshtls_istio_gateway.yelb.port
  tls_termination     = var.lb_certificate_arn == null ? "gateway" : "nlb"
  acm_certificate_arn = var.lb_certificate_arn
}

output "endpoint" {
  value = meshtls_nlb_service.yelb.hostname
}

output "certificates" {
  value = merge(module.mesh_tls.fingerprints, { gateway = meshtls_certificate.gateway.fingerprint_sha256 })
}

# istiod's own report on the gateway changes as it reconciles; it is meshtls_istio_gateway's
# `conditions`, kept out of this output so a plan stays empty.
output "tls_status" {
  value = merge(module.mesh_tls.status, {
    namespace = { istio = meshtls_istio_mtls.namespace.status }
    gateway   = { istio = meshtls_istio_gateway.yelb.status }
  })
}
