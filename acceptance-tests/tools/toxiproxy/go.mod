// Builds toxiproxy, which the fault scenarios place in front of kube-apiserver and moto.
module meshtls.dev/acceptance-tools/toxiproxy

go 1.25.9

require github.com/Shopify/toxiproxy/v2 v2.12.0
