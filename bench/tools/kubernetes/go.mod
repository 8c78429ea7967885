// Builds hashicorp/kubernetes, one of the providers the benchmark compares meshtls with.
module meshtls.dev/bench-tools/kubernetes

go 1.26.3

require github.com/hashicorp/terraform-provider-kubernetes v1.13.4-0.20260821094251-3a33fb6cc605
