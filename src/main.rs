//! terraform-provider-meshtls: started by terraform/tofu, never by hand.

mod backends;
mod ca_store;
mod cert_manager;
mod clients;
mod config;
mod names;
mod ownership;
mod pca;
mod pki;
mod provider;
mod resources;
mod secret_access;
mod tls_secret;

use std::process::ExitCode;

fn main() -> ExitCode {
    // kube and the AWS SDK both use rustls; one process-wide crypto backend avoids ambiguity.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tfplugin::plugin::main(
        provider::MeshTls::new(),
        tfplugin::ServeOptions {
            address: "registry.terraform.io/meshtls/meshtls",
            binary_name: "terraform-provider-meshtls",
            version: env!("CARGO_PKG_VERSION"),
            held_log_targets: clients::kubernetes::HELD_LOG_TARGETS,
        },
    )
}
