# The mesh-tls module's interface, on Istio: for a map of mesh services, a certificate each
# signed by one CA (kept, so a move from App Mesh re-issues nothing and non-mesh clients keep
# them), and STRICT mutual TLS on each service's pods with callers using Istio's mutual TLS.
# Consumed from examples/yelb-istio.

terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "namespace" {
  description = "Namespace of the services and their certificate Secrets."
  type        = string
}

variable "ca_id" {
  description = "The signing CA: a meshtls_ca's id."
  type        = string
}

variable "services" {
  description = "Mesh services by key: the App Mesh node name and VirtualNode object (unused on Istio, kept so configurations move unchanged), the Deployment and the service's hostname."
  type = map(object({
    aws_name     = string
    virtual_node = string
    deployment   = string
    hostname     = string
  }))
}

variable "mount_path" {
  description = "Unused on Istio, where istiod delivers each sidecar's certificate over SDS; kept for the same interface as mesh-tls."
  type        = string
  default     = "/etc/keys/mesh"
}

variable "destination_rules" {
  description = "Whether callers use Istio's mutual TLS through a DestinationRule (ISTIO_MUTUAL) per service. Sidecars need it; in ambient mode ztunnel carries mutual TLS itself and a DestinationRule does nothing without a waypoint, so leave it false there."
  type        = bool
  default     = true
}

variable "validity_days" {
  description = "Lifetime of each service certificate."
  type        = number
  default     = 365
}

resource "meshtls_certificate" "svc" {
  for_each = var.services

  ca            = var.ca_id
  namespace     = var.namespace
  secret_name   = "${each.value.virtual_node}-tls"
  dns_names     = [each.value.hostname]
  validity_days = var.validity_days
}

resource "meshtls_istio_mtls" "svc" {
  for_each = var.services

  namespace  = var.namespace
  deployment = each.value.deployment
  mode       = "STRICT"

  dynamic "destination_rule" {
    for_each = var.destination_rules ? [each.value.hostname] : []
    content {
      host = destination_rule.value
    }
  }
}

output "secrets" {
  description = "Certificate Secret name by service key."
  value       = { for k, c in meshtls_certificate.svc : k => c.secret_name }
}

output "fingerprints" {
  description = "Certificate SHA-256 fingerprint by service key."
  value       = { for k, c in meshtls_certificate.svc : k => c.fingerprint_sha256 }
}

output "status" {
  description = "Per service: whether the cluster holds its Istio policy as configured."
  value       = { for k, p in meshtls_istio_mtls.svc : k => { istio = p.status } }
}
