# A reusable module for one mesh service: its certificate and its virtual node's TLS, signed
# by a given CA. Called once per service with `for_each`, it keeps a large mesh's plan and
# apply linear in the number of services: each virtual node refers to the one certificate
# in its own module instance, so the CLI never decodes every certificate for every node
# (docs/guides/large-meshes.md).

terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "namespace" {
  description = "Namespace of the service, its VirtualNode and its certificate Secret."
  type        = string
}

variable "ca_id" {
  description = "The signing CA: a meshtls_ca's id."
  type        = string
}

variable "aws_name" {
  description = "The virtual node's name in the App Mesh API."
  type        = string
}

variable "virtual_node" {
  description = "Name of the VirtualNode object in the cluster."
  type        = string
}

variable "deployment" {
  description = "The Deployment whose Envoy sidecar mounts the certificate."
  type        = string
}

variable "hostname" {
  description = "The service-discovery hostname: the certificate's DNS name."
  type        = string
}

variable "mount_path" {
  description = "Where the Envoy sidecar mounts the certificate Secret."
  type        = string
  default     = "/etc/keys/mesh"
}

variable "validity_days" {
  description = "Lifetime of the certificate."
  type        = number
  default     = 365
}

resource "meshtls_certificate" "this" {
  ca            = var.ca_id
  namespace     = var.namespace
  secret_name   = "${var.virtual_node}-tls"
  dns_names     = [var.hostname]
  validity_days = var.validity_days
}

resource "meshtls_virtual_node_tls" "this" {
  virtual_node_name       = var.aws_name
  certificate_secret      = meshtls_certificate.this.secret_name
  certificate_fingerprint = meshtls_certificate.this.fingerprint_sha256
  mount_path              = var.mount_path

  kubernetes {
    namespace    = var.namespace
    virtual_node = var.virtual_node
    deployment   = var.deployment
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

output "secret_name" {
  description = "Name of the certificate Secret."
  value       = meshtls_certificate.this.secret_name
}

output "fingerprint" {
  description = "SHA-256 fingerprint of the certificate."
  value       = meshtls_certificate.this.fingerprint_sha256
}

output "status" {
  description = "Whether the cluster and the App Mesh API hold the TLS settings."
  value       = { cluster = meshtls_virtual_node_tls.this.cluster_status, api = meshtls_virtual_node_tls.this.api_status }
}
