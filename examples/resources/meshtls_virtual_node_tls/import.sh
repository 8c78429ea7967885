# App Mesh API side only:
terraform import meshtls_virtual_node_tls.db yelb/yelb-db_yelb

# Both sides: mesh/virtual_node_name/namespace/VirtualNode object name
terraform import meshtls_virtual_node_tls.db yelb/yelb-db_yelb/yelb/yelb-db
