terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {}

# The certificate the gateway serves, from the CA istiod also signs with.
resource "meshtls_certificate" "gateway" {
  ca          = "istio-system/cacerts"
  namespace   = "yelb"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb.example.com"]
}

# TLS from the load balancer ends here; Istio's mutual TLS carries every hop behind it.
resource "meshtls_istio_gateway" "yelb" {
  namespace          = "yelb"
  name               = "yelb-gw"
  hostnames          = ["yelb.example.com"]
  certificate_secret = meshtls_certificate.gateway.secret_name

  route {
    prefix  = "/"
    service = "yelb-ui"
    port    = 80
  }
}

# The NLB in front, unchanged from App Mesh: it selects the gateway's pods (app=yelb-gw).
resource "meshtls_nlb_service" "yelb" {
  namespace       = "yelb"
  name            = "yelb-gw-nlb"
  gateway         = meshtls_istio_gateway.yelb.name
  target_port     = meshtls_istio_gateway.yelb.port
  tls_termination = "gateway"
}

output "conditions" {
  value = meshtls_istio_gateway.yelb.conditions
}
