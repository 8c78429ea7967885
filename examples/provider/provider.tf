terraform {
  required_providers {
    meshtls = {
      source = "registry.terraform.io/meshtls/meshtls"
    }
  }
}

provider "meshtls" {
  mesh_name = "yelb"

  kubernetes {
    config_path    = "~/.kube/config"
    config_context = "yelb"
  }

  aws {
    region = "us-west-2"

    # For a VPC endpoint or a local AWS API; AWS_ENDPOINT_URL works too.
    # endpoints {
    #   appmesh = "https://appmesh.us-west-2.amazonaws.com"
    #   acmpca  = "https://acm-pca.us-west-2.amazonaws.com"
    # }
  }
}
