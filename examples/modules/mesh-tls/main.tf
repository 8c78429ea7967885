# A reusable module: certificates and virtual-node TLS for a map of mesh services, signed by
# one CA. Consumed from examples/yelb.

terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "namespace" {
  description = "Namespace of the services, their VirtualNodes and their certificate Secrets."
  type        = string
}

variable "ca_id" {
  description = "The signing CA: a meshtls_ca's id."
  type        = string
}

variable "services" {
  description = "Mesh services by key: the App Mesh node name, the VirtualNode object, the Deployment and the service-discovery hostname."
  type = map(object({
    aws_name     = string
    virtual_node = string
    deployment   = string
    hostname     = string
  }))
}

variable "mount_path" {
  description = "Where each Envoy sidecar mounts its certificate Secret."
  type        = string
  default     = "/etc/keys/mesh"
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

# The virtual nodes read the certificates through this map rather than indexing
# meshtls_certificate.svc each: the CLI decodes every instance of a resource for each
# instance that indexes it, which grows with the square of the number of services
# (docs/guides/large-meshes.md).
locals {
  certificates = {
    for key, cert in meshtls_certificate.svc : key => {
      secret_name = cert.secret_name
      fingerprint = cert.fingerprint_sha256
    }
  }
}

resource "meshtls_virtual_node_tls" "svc" {
  for_each = var.services

  virtual_node_name       = each.value.aws_name
  certificate_secret      = local.certificates[each.key].secret_name
  certificate_fingerprint = local.certificates[each.key].fingerprint
  mount_path              = var.mount_path

  kubernetes {
    namespace    = var.namespace
    virtual_node = each.value.virtual_node
    deployment   = each.value.deployment
  }

  listener {
    mode = "STRICT"
    certificate {
      file {
        certificate_chain = "${var.mount_path}/tls.crt"
        private_key       = "${var.mount_path}/tls.key"
      }
    }
  }

  client_policy {
    enforce = true
    trust {
      file {
        certificate_chain = "${var.mount_path}/ca.crt"
      }
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
  description = "Per service: whether the cluster and the App Mesh API hold the TLS settings."
  value       = { for k, n in meshtls_virtual_node_tls.svc : k => { cluster = n.cluster_status, api = n.api_status } }
}
