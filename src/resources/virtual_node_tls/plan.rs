//! The virtual node TLS resource's pure decisions: validation, planning, what a side's error
//! means for the plan, and import.

use super::*;
use crate::names::is_dns1123_subdomain;

/// Checks on the configuration alone.
pub(super) fn validate(config: &VirtualNodeTls) -> Diagnostics {
    let mut d = Diagnostics::new();
    if let Some(l) = &config.listener {
        check_port(&mut d, &l.port, AttributePath::attrs(&["listener", "port"]));
        match l.tls_mode() {
            // An unknown mode is the schema's validator's to refuse.
            Some(m) if m != TlsMode::Off && l.certificate.is_none() => d.error_at(
                AttributePath::attrs(&["listener", "mode"]),
                format!("{} needs a certificate", APP_MESH.spell(m)),
                "Add a listener certificate block, e.g. certificate { file { certificate_chain = \"/etc/keys/<node>/tls.crt\", private_key = \"/etc/keys/<node>/tls.key\" } }.",
            ),
            _ => {}
        }
    }
    if let Some(ports) = config.client_policy.as_ref().and_then(|c| c.ports.known()) {
        for (i, p) in ports.iter().enumerate() {
            check_port(&mut d, &Attr::Known(*p), AttributePath::attrs(&["client_policy", "ports"]).index(i));
        }
    }
    let certificates = [
        ("listener", config.listener.as_ref().and_then(|l| l.certificate.as_ref())),
        ("client_policy", config.client_policy.as_ref().and_then(|c| c.certificate.as_ref())),
    ];
    for (block, certificate) in certificates {
        if certificate.is_some_and(|c| c.sources_set() != 1) {
            d.error_at(
                AttributePath::attrs(&[block, "certificate"]),
                "Choose one certificate source",
                "Set exactly one of file, sds, acm.",
            );
        }
    }
    if config.listener.is_none() && config.client_policy.is_none() {
        d.error("Nothing to configure", "Set a listener block, a client_policy block, or both.");
    }
    check_names(&mut d, config);
    d
}

/// Longest mount path accepted: far past any real one, short of what breaks an annotation.
const MAX_MOUNT_PATH: usize = 1024;
/// App Mesh's limit on a virtual node's name.
const MAX_NODE_NAME: usize = 255;

/// Names end up in Kubernetes object names and in the `appmesh.k8s.aws/secretMounts`
/// annotation (`<secret>:<path>`, comma-separated), so a `,` or `:` in them would add or
/// change mounts.
fn check_names(d: &mut Diagnostics, config: &VirtualNodeTls) {
    if let Some(name) = config.virtual_node_name.known() {
        if name.is_empty() || name.len() > MAX_NODE_NAME || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
            d.error_at(
                at("virtual_node_name"),
                "Invalid virtual node name",
                format!("{name:?} is not an App Mesh virtual node name: 1 to {MAX_NODE_NAME} characters, with no spaces or commas, e.g. \"yelb-db\"."),
            );
        }
    }
    if let Some(path) = config.mount_path.known() {
        let problem = if !path.starts_with('/') {
            Some("must be absolute")
        } else if path.len() > MAX_MOUNT_PATH {
            Some("is longer than 1024 characters")
        } else if path.chars().any(|c| c == ',' || c == ':' || c.is_whitespace() || c.is_control()) {
            Some("may not hold ',', ':' or spaces, which the secretMounts annotation uses to separate mounts")
        } else {
            None
        };
        if let Some(problem) = problem {
            d.error_at(at("mount_path"), "Invalid mount path", format!("{path:?} {problem}; use a path such as \"/etc/keys/yelb-db\"."));
        }
    }
    if let Some(k) = &config.kubernetes {
        let path = |a: &str| AttributePath::attrs(&["kubernetes", a]);
        for (attr, value) in [("virtual_node", &k.virtual_node), ("deployment", &k.deployment)] {
            if let Some(name) = value.known().filter(|n| !is_dns1123_subdomain(n)) {
                d.error_at(
                    path(attr),
                    "Invalid object name",
                    format!("{name:?} is not a Kubernetes object name: lowercase letters, digits, '-' and '.', at most 253 characters."),
                );
            }
        }
    }
}

/// The plan's computed attributes and the warnings that need no cluster. `provider_mesh` is
/// the provider's `mesh_name`; `aws` says whether the App Mesh API side is managed.
pub(super) fn plan(
    prior: Option<&VirtualNodeTls>,
    config: &VirtualNodeTls,
    planned: &mut VirtualNodeTls,
    provider_mesh: &Attr<String>,
    aws: bool,
) -> Diagnostics {
    let mut d = Diagnostics::new();
    if config.mesh_name.is_null() {
        match provider_mesh {
            // Without AWS, only the cluster side is managed, and it needs no mesh name.
            Attr::Null if aws => d.error_at(at("mesh_name"), "No mesh", "Set mesh_name here or in the provider block."),
            Attr::Null => planned.mesh_name = Attr::Null,
            mesh => planned.mesh_name = mesh.clone(),
        }
    }
    if config.mount_path.is_null() {
        let node = config.kubernetes.as_ref().and_then(|k| k.virtual_node.known()).or(config.virtual_node_name.known());
        planned.mount_path = node.map_or(Attr::Unknown, |n| Attr::Known(format!("/etc/keys/{n}")));
    }
    planned.cluster_status = SideStatus::managed(config.kubernetes.is_some()).into();
    planned.api_status = SideStatus::managed(aws).into();
    planned.id = match (&planned.mesh_name, config.virtual_node_name.known()) {
        (Attr::Unknown, _) | (_, None) => Attr::Unknown,
        (mesh, Some(node)) => Attr::Known(node_id(mesh.as_deref(), node)),
    };
    let mode = |m: Option<&VirtualNodeTls>| m.and_then(|m| m.listener.as_ref()).and_then(Listener::tls_mode);
    d.push_all(off_to_strict_warning(mode(prior), mode(Some(config)), &APP_MESH, AttributePath::attrs(&["listener", "mode"])));
    // The mounted certificate's fingerprint rolls the pods on renewal: from the
    // configuration, else read from the Secret (unknown until then), else none.
    if config.certificate_fingerprint.is_null() {
        let mounted =
            config.certificate_secret.known().is_some() && config.kubernetes.as_ref().is_some_and(|k| k.namespace.known().is_some());
        planned.certificate_fingerprint = if mounted { Attr::Unknown } else { Attr::Null };
    }
    d
}

/// A side that cannot take the plan, as an error at the attribute to fix; a side that could
/// not be read is a warning (the apply will tell).
pub(super) fn side_problem(e: &SideError, node_path: AttributePath) -> Diagnostic {
    let port = || AttributePath::attrs(&["listener", "port"]);
    match e {
        SideError::NotFound { .. } => {
            Diagnostic::error("Virtual node not found", format!("{e}. Create it first, or fix the name.")).at(node_path)
        }
        SideError::AmbiguousListener { .. } => Diagnostic::error("Which listener?", e.to_string()).at(port()),
        SideError::NoListener { port: None, .. } => Diagnostic::error(
            "Virtual node has no listener",
            format!("{e}. TLS is set on a listener: add one (a portMapping) to the virtual node first."),
        )
        .at(node_path),
        SideError::NoListener { .. } => {
            Diagnostic::error("No listener on that port", format!("{e}. Set listener.port to one of the node's listener ports.")).at(port())
        }
        SideError::Backend(b) => Diagnostic::warning(format!("Could not read the {}", b.side), e.to_string()),
        SideError::Ownership(_) => Diagnostic::warning("Could not read the virtual node", e.to_string()),
    }
}

/// An error when the mounted certificate does not name the node's hostname: Envoy's
/// handshake would fail.
pub(super) fn hostname_problem(dns_names: &[String], host: &str, namespace: &str, secret: &str) -> Option<Diagnostic> {
    (!dns_names.iter().any(|n| dns_name_covers(n, host))).then(|| {
        Diagnostic::error(
            "Certificate does not cover the node's hostname",
            format!(
                "The certificate in Secret {namespace}/{secret} is for {dns_names:?}, but the virtual node's service-discovery hostname is {host:?}; Envoy's handshake would fail. Issue the certificate for {host:?} (or a wildcard covering it)."
            ),
        )
        .at(at("certificate_secret"))
    })
}

/// `mesh/virtual_node`, or `mesh/virtual_node/namespace/name` to manage the cluster side too.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ImportId<'a> {
    pub(super) mesh: &'a str,
    pub(super) node: &'a str,
    /// The VirtualNode object: namespace and name.
    pub(super) cluster: Option<(&'a str, &'a str)>,
}

pub(super) fn parse_import_id(id: &str) -> Result<ImportId<'_>, Diagnostic> {
    match id.split('/').collect::<Vec<_>>().as_slice() {
        [mesh, node] if !mesh.is_empty() && !node.is_empty() => Ok(ImportId { mesh, node, cluster: None }),
        [mesh, node, ns, name] if [mesh, node, ns, name].iter().all(|p| !p.is_empty()) => {
            Ok(ImportId { mesh, node, cluster: Some((ns, name)) })
        }
        _ => {
            Err(Diagnostic::error("Invalid import ID", format!("{id:?} is not `mesh/virtual_node` or `mesh/virtual_node/namespace/name`.")))
        }
    }
}

/// What import knows before it reads the node.
pub(super) fn import_skeleton(id: &ImportId<'_>) -> VirtualNodeTls {
    let ImportId { mesh, node, cluster: k8s } = *id;
    VirtualNodeTls {
        id: Attr::Known(node_id(Some(mesh), node)),
        mesh_name: mesh.into(),
        virtual_node_name: node.into(),
        restart_on_rotation: Attr::Known(true),
        mount_path: Attr::Known(format!("/etc/keys/{}", k8s.map_or(node, |(_, n)| n))),
        kubernetes: k8s.map(|(ns, name)| KubernetesTarget { namespace: ns.into(), virtual_node: name.into(), deployment: Attr::Null }),
        ..Default::default()
    }
}

/// Sets a side's status from the result of writing it.
pub(super) fn applied_status(result: Option<Result<(), SideError>>, diagnostics: &mut Diagnostics) -> Attr<String> {
    match result {
        None => SideStatus::NotManaged,
        Some(Ok(())) => SideStatus::InSync,
        Some(Err(e)) => {
            diagnostics.push(Diagnostic::error("Failed to apply TLS settings", e.to_string()));
            SideStatus::ApplyFailed(e.to_string())
        }
    }
    .into()
}
