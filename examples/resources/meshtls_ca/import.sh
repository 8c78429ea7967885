# A CA Secret made by hand (or by cert-manager) is imported by namespace/secret_name.
terraform import meshtls_ca.yelb yelb/ca-key-pair
