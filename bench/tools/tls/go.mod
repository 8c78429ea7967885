// Builds hashicorp/tls, one of the providers the benchmark compares meshtls with.
module meshtls.dev/bench-tools/tls

go 1.25.9

require github.com/hashicorp/terraform-provider-tls v1.2.1-0.20260819085117-d044ca7c6f52
