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

data "meshtls_certificate_info" "envoy" {
  pem = file(var.certificate_file)
}

output "names" {
  value = data.meshtls_certificate_info.envoy.dns_names
}

output "expires" {
  value = data.meshtls_certificate_info.envoy.not_after
}
