# The Yelb application secured on Istio, the same goal as examples/yelb after App Mesh: the
# same CA (also istiod's plug-in CA), the same certificates, STRICT mutual TLS on every hop,
# and the gateway terminating TLS behind the same NLB Service.
# Run examples/yelb/fixture/apply.sh first, and enroll the namespace: for sidecars, label it
# istio-injection=enabled; for ambient mode (dataplane_mode = "ambient"), label it
# istio.io/dataplane-mode=ambient. istiod reads the plug-in CA when it starts.

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

variable "dataplane_mode" {
  description = "How the workloads join the mesh: \"sidecar\" (an Envoy per pod) or \"ambient\" (ztunnel per node; STRICT is enforced by ztunnel, and no DestinationRule is written, since it needs a waypoint there)."
  type        = string
  default     = "sidecar"

  validation {
    condition     = contains(["sidecar", "ambient"], var.dataplane_mode)
    error_message = "The dataplane_mode must be \"sidecar\" or \"ambient\"."
  }
}

variable "gateway_port" {
  description = "The gateway's listener port, and the NLB Service's target port. 443, the NLB's own port, so the two Services over the gateway's pods agree (Istio's analyzer, IST0137); 8443 while moving from App Mesh, whose gateway listens there and takes traffic from the same NLB until it is removed."
  type        = number
  default     = 443
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

# Per service: its certificate, and STRICT mutual TLS on its pods, with a DestinationRule for
# sidecars.
module "mesh_tls" {
  source = "../modules/mesh-tls-istio"
  providers = {
    meshtls = meshtls
  }

  namespace         = "yelb"
  ca_id             = meshtls_ca.yelb.id
  mount_path        = "/etc/keys/yelb"
  destination_rules = var.dataplane_mode == "sidecar"
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
  port               = var.gateway_port
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
