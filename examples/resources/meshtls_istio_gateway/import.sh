terraform import meshtls_istio_gateway.yelb yelb/yelb-gw
