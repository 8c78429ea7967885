// Builds the Terraform CLI used by the acceptance suite, from its Go module. Terraform's own
// go.mod points ten submodules of its repository (the remote state backends and
// internal/legacy) at local paths, which the module proxy does not serve; the stubs here
// stand in for them. The state backends they replace are not in the binary: the suite uses
// the default local backend only.
module meshtls.dev/acceptance-tools/terraform

go 1.25.10

require github.com/hashicorp/terraform v1.15.9

replace (
	github.com/hashicorp/terraform/internal/backend/remote-state/azure => ./stubs/azure
	github.com/hashicorp/terraform/internal/backend/remote-state/consul => ./stubs/consul
	github.com/hashicorp/terraform/internal/backend/remote-state/cos => ./stubs/cos
	github.com/hashicorp/terraform/internal/backend/remote-state/gcs => ./stubs/gcs
	github.com/hashicorp/terraform/internal/backend/remote-state/kubernetes => ./stubs/kubernetes
	github.com/hashicorp/terraform/internal/backend/remote-state/oci => ./stubs/oci
	github.com/hashicorp/terraform/internal/backend/remote-state/oss => ./stubs/oss
	github.com/hashicorp/terraform/internal/backend/remote-state/pg => ./stubs/pg
	github.com/hashicorp/terraform/internal/backend/remote-state/s3 => ./stubs/s3
	github.com/hashicorp/terraform/internal/legacy => ./stubs/legacy
)
