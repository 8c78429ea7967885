terraform import meshtls_nlb_service.yelb yelb/yelb-gw
