# A Secret issued by meshtls records its CA, so namespace/secret_name is enough.
terraform import 'meshtls_certificate.svc["db"]' yelb/yelb-tls-db

# A Secret made by another tool (cert-manager, by hand): name the CA that signed it.
terraform import 'meshtls_certificate.svc["db"]' yelb/yelb-tls-db:yelb/ca-key-pair
