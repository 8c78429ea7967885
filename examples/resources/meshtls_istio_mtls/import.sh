terraform import meshtls_istio_mtls.yelb_ui yelb/yelb-ui
