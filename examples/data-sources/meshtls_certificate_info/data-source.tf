terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

variable "certificate_file" {
  description = "Path of a PEM certificate to inspect, e.g. one copied from an Envoy sidecar."
  type        = string
  default     = "tls.crt"
}

variable "certificate_secret" {
  description = "A TLS Secret as namespace/name, e.g. a meshtls_certificate's id."
  type        = string
  default     = "yelb/yelb-tls-db"
}

# A certificate given as text.
data "meshtls_certificate_info" "envoy" {
  pem = file(var.certificate_file)
}

# A certificate read from its Secret: how to get a meshtls_certificate's PEM.
data "meshtls_certificate_info" "db" {
  secret = var.certificate_secret
}

output "names" {
  value = data.meshtls_certificate_info.envoy.dns_names
}

output "expires" {
  value = data.meshtls_certificate_info.envoy.not_after
}

output "db_certificate" {
  value = data.meshtls_certificate_info.db.pem
}
