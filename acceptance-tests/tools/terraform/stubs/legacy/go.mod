// Stands in for Terraform's internal/legacy module, which only tests outside the binary import.
module github.com/hashicorp/terraform/internal/legacy

go 1.25.10
