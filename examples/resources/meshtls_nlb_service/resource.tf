terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {}

variable "lb_certificate_arn" {
  description = "ACM certificate served by the NLB."
  type        = string
  default     = "arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-1111-2222-3333-444455556666"
}

# An NLB terminating TLS with an ACM certificate and re-encrypting to the gateway on 8443.
resource "meshtls_nlb_service" "yelb" {
  namespace           = "yelb"
  name                = "yelb-gw"
  gateway             = "yelb-gw"
  port                = 443
  target_port         = 8443
  acm_certificate_arn = var.lb_certificate_arn
}

# The alternative: a plain TCP NLB that passes TLS through to the gateway.
resource "meshtls_nlb_service" "passthrough" {
  namespace       = "yelb"
  name            = "yelb-gw-passthrough"
  gateway         = "yelb-gw"
  tls_termination = "gateway"
}

output "endpoint" {
  value = meshtls_nlb_service.yelb.hostname
}
