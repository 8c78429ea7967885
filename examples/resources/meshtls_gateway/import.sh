terraform import meshtls_gateway.yelb yelb/yelb-gw
