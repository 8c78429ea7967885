// Package gcs stands in for Terraform's gcs state backend, which the Go module proxy does not
// serve: a backend block naming it gets local state.
package gcs

import (
	"github.com/hashicorp/terraform/internal/backend"
	"github.com/hashicorp/terraform/internal/backend/local"
)

func New() backend.Backend { return local.New() }
