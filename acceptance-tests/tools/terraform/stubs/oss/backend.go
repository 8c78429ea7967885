// Package oss stands in for Terraform's oss state backend, which the Go module proxy does not
// serve: a backend block naming it gets local state.
package oss

import (
	"github.com/hashicorp/terraform/internal/backend"
	"github.com/hashicorp/terraform/internal/backend/local"
)

func New() backend.Backend { return local.New() }
