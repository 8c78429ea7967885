//! The CA's validation rules, plan decisions (a private CA's status, a Secret deleted or
//! changed outside Terraform) and what import reads from a Secret, with no cluster.

use super::*;

fn config() -> CertificateAuthority {
    CertificateAuthority {
        namespace: "yelb".into(),
        secret_name: "ca-key-pair".into(),
        common_name: "yelb CA".into(),
        validity_days: Attr::Known(3650),
        key_algorithm: "ECDSA_P256".into(),
        ..Default::default()
    }
}

fn adopting(arn: &str) -> CertificateAuthority {
    CertificateAuthority { common_name: Attr::Null, acm_pca: Some(AcmPca { arn: arn.into(), create: None }), ..config() }
}

fn creating(days: Attr<i64>) -> CertificateAuthority {
    CertificateAuthority {
        acm_pca: Some(AcmPca { arn: Attr::Null, create: Some(PcaCreate { permanent_deletion_days: days }) }),
        ..config()
    }
}

const ARN: &str = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/0b1e4c5d";

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

fn summaries(d: &Diagnostics) -> Vec<&str> {
    d.iter().map(|d| d.summary.as_str()).collect()
}

/// A CA's Secret as meshtls writes it.
fn secret_of(issued: &pki::Issued) -> tls_secret::ObservedSecret {
    tls_secret::ObservedSecret {
        secret_type: Some(tls_secret::TLS_SECRET_TYPE.into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ca_crt: Some(issued.certificate_pem.clone()),
        tls_crt: Some(issued.certificate_pem.clone()),
        key_public: pki::public_key_of(issued.private_key_pem.expose()),
        ..Default::default()
    }
}

fn generated() -> pki::Issued {
    pki::self_signed_ca(&pki::CaRequest {
        common_name: "yelb CA",
        organization: Some("yelb"),
        validity_days: 30,
        key_algorithm: KeyAlgorithm::EcdsaP256,
    })
    .expect("CA")
}

#[test]
fn good_configurations_pass() {
    for good in [config(), adopting(ARN), creating(Attr::Known(30)), creating(Attr::Null)] {
        assert!(validate(&good).is_empty(), "{good:?}");
    }
}

#[test]
fn each_bad_value_is_reported_at_its_attribute() {
    let bad = CertificateAuthority {
        namespace: "Yelb".into(),
        secret_name: "Bad Name".into(),
        common_name: " ".into(),
        organization: "o".repeat(65).as_str().into(),
        validity_days: Attr::Known(0),
        key_algorithm: "DSA".into(),
        cert_manager_issuer: Some(IssuerBlock { kind: "Certificate".into(), name: "Bad_Name".into() }),
        ..config()
    };
    // The schema's validators first (names, ranges, the algorithm), then validate's.
    assert_eq!(
        crate::resources::refusals(TYPE_NAME, &bad, &validate(&bad)),
        [
            "namespace",
            "secret_name",
            "common_name",
            "organization",
            "validity_days",
            "key_algorithm",
            "cert_manager_issuer.kind",
            "cert_manager_issuer.name"
        ]
    );
    assert_eq!(
        paths(&validate(&CertificateAuthority { common_name: Attr::Null, ..config() })),
        ["common_name"],
        "a CA in the cluster needs a subject"
    );
}

#[test]
fn a_private_ca_is_adopted_or_created_never_both_and_has_no_ca_issuer() {
    let both = CertificateAuthority { acm_pca: Some(AcmPca { arn: ARN.into(), create: Some(PcaCreate::default()) }), ..config() };
    assert_eq!(summaries(&validate(&both)), ["Choose adopt or create"]);
    let neither = CertificateAuthority { acm_pca: Some(AcmPca::default()), ..config() };
    assert_eq!(summaries(&validate(&neither)), ["Choose adopt or create"]);
    let unknown_arn = CertificateAuthority { acm_pca: Some(AcmPca { arn: Attr::Unknown, create: None }), ..config() };
    assert!(validate(&unknown_arn).is_empty());
    assert_eq!(paths(&validate(&adopting("arn:aws:iam::123456789012:role/x"))), ["acm_pca.arn"]);
    for days in [6, 31] {
        assert_eq!(paths(&validate(&creating(Attr::Known(days)))), ["acm_pca.create.permanent_deletion_days"], "{days}");
    }
    let with_issuer =
        CertificateAuthority { cert_manager_issuer: Some(IssuerBlock { kind: "Issuer".into(), name: "ca".into() }), ..adopting(ARN) };
    assert_eq!(paths(&validate(&with_issuer)), ["cert_manager_issuer"]);
}

#[test]
fn istios_plug_in_ca_needs_its_key_in_the_cluster() {
    let plug_in = CertificateAuthority { namespace: "istio-system".into(), secret_name: ISTIO_PLUGIN_SECRET.into(), ..config() };
    assert!(validate(&plug_in).is_empty(), "a generated CA can serve istiod");
    let from_pca = CertificateAuthority { namespace: "istio-system".into(), secret_name: ISTIO_PLUGIN_SECRET.into(), ..adopting(ARN) };
    let d = validate(&from_pca);
    assert_eq!(paths(&d), ["acm_pca"]);
    assert!(d.iter().all(|d| d.detail.contains("no key in the cluster") && d.detail.contains("key_pair")));
}

#[test]
fn a_plug_in_copy_needs_a_key_in_the_cluster_and_another_secret() {
    let plugin = |ns: Attr<String>| Some(IstioPlugin { namespace: ns });
    assert!(validate(&CertificateAuthority { istio_plugin: plugin(Attr::Null), ..config() }).is_empty());
    assert_eq!(IstioPlugin { namespace: Attr::Null }.namespace(), Some("istio-system"));
    let pca = CertificateAuthority { istio_plugin: plugin(Attr::Null), ..adopting(ARN) };
    assert_eq!(paths(&validate(&pca)), ["istio_plugin"]);
    let itself = CertificateAuthority {
        namespace: "istio-system".into(),
        secret_name: ISTIO_PLUGIN_SECRET.into(),
        istio_plugin: plugin(Attr::Null),
        ..config()
    };
    assert_eq!(summaries(&validate(&itself)), ["Already Istio's plug-in CA"]);
    let bad_ns = CertificateAuthority { istio_plugin: plugin("Istio System".into()), ..config() };
    assert_eq!(crate::resources::refusals(TYPE_NAME, &bad_ns, &validate(&bad_ns)), ["istio_plugin.namespace"]);
}

#[test]
fn replacing_a_ca_plugged_into_istiod_warns_that_istiod_keeps_the_old_one_until_restarted() {
    let plugged = CertificateAuthority { istio_plugin: Some(IstioPlugin { namespace: Attr::Null }), ..config() };
    let warning = plugin_replaced(Some(&plugged), &plugged, true).expect("a replaced plug-in CA warns");
    assert_eq!(warning.severity, tfplugin::diag::Severity::Warning);
    assert_eq!(warning.path.as_ref().map(ToString::to_string).as_deref(), Some("istio_plugin"));
    assert!(warning.detail.contains("istio-system/cacerts") && warning.detail.contains("rollout restart"), "{}", warning.detail);
    // No replacement, no plug-in copy before or after, or a first create: nothing to say.
    assert!(plugin_replaced(Some(&plugged), &plugged, false).is_none());
    assert!(plugin_replaced(Some(&config()), &plugged, true).is_none(), "a copy added with the new CA replaces nothing in istiod");
    assert!(plugin_replaced(Some(&plugged), &config(), true).is_none());
    assert!(plugin_replaced(None, &plugged, true).is_none());
}

#[test]
fn a_ca_near_its_expiry_warns_from_warn_before_days_on() {
    let now = time::OffsetDateTime::parse("2026-12-07T00:00:00Z", &time::format_description::well_known::Rfc3339).expect("time");
    let ca = |not_after: &str| CertificateAuthority { id: "yelb/ca-key-pair".into(), not_after: not_after.into(), ..config() };
    assert!(expiry_warning(&ca("2027-06-01T00:00:00Z"), 90, now).is_none(), "half a year left");
    let soon = expiry_warning(&ca("2027-01-21T00:00:00Z"), 90, now).expect("45 days left");
    assert_eq!(soon.summary, "CA yelb/ca-key-pair expires in 45 days");
    assert_eq!(soon.path.as_ref().map(ToString::to_string).as_deref(), Some("not_after"));
    assert!(expiry_warning(&ca("2027-01-21T00:00:00Z"), 30, now).is_none(), "outside a 30-day window");
    let gone = expiry_warning(&ca("2026-12-01T00:00:00Z"), 90, now).expect("expired");
    assert_eq!(gone.summary, "CA yelb/ca-key-pair has expired");
    let plugged = CertificateAuthority { istio_plugin: Some(IstioPlugin { namespace: Attr::Null }), ..ca("2027-01-01T00:00:00Z") };
    assert!(expiry_warning(&plugged, 90, now).expect("warning").detail.contains("istio-system/cacerts"));
    assert!(expiry_warning(&ca(""), 90, now).is_none(), "no expiry known, nothing to say");
    let refused = |c: CertificateAuthority| crate::resources::schema_refusals(TYPE_NAME, &c);
    assert_eq!(refused(CertificateAuthority { warn_before_days: Attr::Known(0), ..config() }), ["warn_before_days"]);
    assert_eq!(refused(CertificateAuthority { validity_days: Attr::Known(36_501), ..config() }), ["validity_days"]);
    assert!(refused(config()).is_empty());
}

#[test]
fn the_backing_and_deletion_window_follow_the_acm_pca_block() {
    assert_eq!(config().backing(), Backing::SelfSigned);
    assert_eq!(adopting(ARN).backing(), Backing::Pca(PcaSource::Adopt(ARN.into())));
    assert_eq!(creating(Attr::Null).backing(), Backing::Pca(PcaSource::Create));
    assert_eq!(creating(Attr::Null).deletion_days(), 7);
    assert_eq!(creating(Attr::Known(30)).deletion_days(), 30);
    assert_eq!(creating(Attr::Known(1 << 40)).deletion_days(), 30, "bounded whatever state holds");
}

#[test]
fn a_private_ca_is_planned_active_and_keeps_its_arn() {
    let mut d = Diagnostics::new();
    let mut planned = adopting(ARN);
    assert!(!plan(None, &adopting(ARN), &mut planned, &DriftNote::default(), &mut d));
    assert_eq!((planned.pca_status, planned.pca_arn), (Attr::Known(ACTIVE.into()), Attr::Known(ARN.into())));
    let mut planned = CertificateAuthority { pca_arn: Attr::Unknown, ..config() };
    plan(None, &config(), &mut planned, &DriftNote::default(), &mut d);
    assert_eq!((planned.pca_status, planned.pca_arn), (Attr::Null, Attr::Null));
    assert!(d.is_empty());
}

#[test]
fn a_deleted_private_ca_secret_is_written_again_and_a_changed_secret_replaces_the_ca() {
    let prior = CertificateAuthority { id: "yelb/ca-key-pair".into(), pca_arn: ARN.into(), certificate_pem: "pem".into(), ..adopting(ARN) };
    let mut d = Diagnostics::new();
    let mut planned = prior.clone();
    let missing = DriftNote { secret_missing: true, ..Default::default() };
    assert!(!plan(Some(&prior), &adopting(ARN), &mut planned, &missing, &mut d), "written again in place");
    assert_eq!(summaries(&d), ["CA Secret deleted outside Terraform"]);
    assert_eq!(planned.certificate_pem, Attr::Unknown);

    let mut d = Diagnostics::new();
    let mut planned = prior.clone();
    let changed = DriftNote { drift: vec!["tls.key is not the private key of the CA certificate".into()], ..Default::default() };
    assert!(plan(Some(&prior), &adopting(ARN), &mut planned, &changed, &mut d));
    assert_eq!(summaries(&d), ["CA Secret changed outside Terraform"]);
    assert_eq!((planned.id, planned.fingerprint_sha256), (Attr::Unknown, Attr::Unknown));
}

#[test]
fn an_update_keeps_what_only_a_create_sets() {
    let prior = CertificateAuthority { id: "yelb/ca-key-pair".into(), certificate_pem: "pem".into(), not_after: "t".into(), ..config() };
    let planned = CertificateAuthority {
        id: Attr::Unknown,
        certificate_pem: Attr::Unknown,
        not_after: "t".into(),
        pca_status: ACTIVE.into(),
        ..config()
    };
    let state = kept_from(planned, &prior);
    assert_eq!((state.id, state.certificate_pem), (Attr::Known("yelb/ca-key-pair".into()), Attr::Known("pem".into())));
    assert_eq!(state.pca_status, Attr::Null, "no private CA, no status");
}

#[test]
fn an_unfinished_ca_saves_nulls_for_what_is_unknown() {
    let state =
        CertificateAuthority { certificate_pem: Attr::Unknown, organization: Attr::Unknown, pca_arn: ARN.into(), ..config() }.unfinished();
    assert_eq!((state.certificate_pem, state.organization, state.pca_arn), (Attr::Null, Attr::Null, Attr::Known(ARN.into())));
}

#[test]
fn drift_in_the_ca_secret_is_named() {
    let issued = generated();
    assert!(secret_drift(&secret_of(&issued), &issued.certificate_pem, Layout::Tls).is_empty());
    let other = generated();
    let swapped_key = tls_secret::ObservedSecret { key_public: pki::public_key_of(other.private_key_pem.expose()), ..secret_of(&issued) };
    assert_eq!(secret_drift(&swapped_key, &issued.certificate_pem, Layout::Tls), ["tls.key is not the private key of the CA certificate"]);
    let opaque = tls_secret::ObservedSecret {
        secret_type: Some("Opaque".into()),
        ca_crt: Some(other.certificate_pem.clone()),
        ..secret_of(&issued)
    };
    assert_eq!(secret_drift(&opaque, &issued.certificate_pem, Layout::Tls).len(), 2, "type and ca.crt");
    // `kubectl create secret tls` writes no ca.crt: the CA is whole without it.
    let by_kubectl = tls_secret::ObservedSecret { ca_crt: None, ..secret_of(&issued) };
    assert!(secret_drift(&by_kubectl, &issued.certificate_pem, Layout::Tls).is_empty());
}

#[test]
fn import_reads_a_key_pair_or_a_private_ca_certificate() {
    let issued = generated();
    let local = imported("yelb", "ca-key-pair", &secret_of(&issued)).expect("a CA key pair");
    assert_eq!((local.common_name, local.organization), (Attr::Known("yelb CA".into()), Attr::Known("yelb".into())));
    assert_eq!((local.validity_days, local.pca_arn), (Attr::Known(30), Attr::Null));
    assert_eq!(local.key_algorithm, Attr::Known("ECDSA_P256".into()));

    let pca_secret = tls_secret::ObservedSecret {
        secret_type: Some("Opaque".into()),
        annotations: BTreeMap::from([(PCA_ANNOTATION.to_string(), ARN.to_string())]),
        tls_crt: None,
        key_public: None,
        ..secret_of(&issued)
    };
    let pca = imported("yelb", "ca-key-pair", &pca_secret).expect("a private CA");
    assert_eq!(pca.backing(), Backing::Pca(PcaSource::Adopt(ARN.into())));
    assert_eq!(pca.pca_status, Attr::Known(ACTIVE.into()));

    let wrong_key =
        tls_secret::ObservedSecret { key_public: pki::public_key_of(generated().private_key_pem.expose()), ..secret_of(&issued) };
    assert_eq!(imported("yelb", "ca", &wrong_key).expect_err("refused").summary, "Cannot import: key does not match");
    let no_crt = tls_secret::ObservedSecret { tls_crt: None, ..secret_of(&issued) };
    assert_eq!(imported("yelb", "ca", &no_crt).expect_err("refused").summary, "Cannot import: not a TLS Secret");
}

#[test]
fn import_ids_name_the_secret_and_optionally_its_issuer() {
    assert_eq!(parse_import_id("yelb/ca-key-pair"), Some(("yelb", "ca-key-pair", None)));
    assert_eq!(
        parse_import_id("yelb/ca-key-pair:Issuer/ca-issuer"),
        Some(("yelb", "ca-key-pair", Some((IssuerKind::Issuer, "ca-issuer"))))
    );
    assert_eq!(parse_import_id("yelb/ca:ClusterIssuer/mesh"), Some(("yelb", "ca", Some((IssuerKind::ClusterIssuer, "mesh")))));
    for bad in ["yelb", "Yelb/ca", "yelb/ca:Issuer", "yelb/ca:Certificate/x", "yelb/ca:Issuer/Bad_Name", "yelb/ca:"] {
        assert_eq!(parse_import_id(bad), None, "{bad}");
    }
}

#[test]
fn a_ca_owns_its_objects_by_its_id() {
    let recorded = CertificateAuthority { owner_id: Attr::Known("5f00".into()), ..Default::default() };
    assert_eq!(owner("yelb", "ca-key-pair", &recorded).expect("owner").to_string(), "meshtls_ca:yelb/ca-key-pair#5f00");
    assert_eq!(import_hint("yelb", "ca-key-pair", IssuerKind::Issuer, "team"), "terraform import <address> yelb/ca-key-pair:Issuer/team");
}

/// A CA given as a key pair, as a configuration holds it (the key is write-only).
fn given(issued: &pki::Issued, key: &str) -> CertificateAuthority {
    CertificateAuthority {
        namespace: "yelb".into(),
        secret_name: "ca-key-pair".into(),
        key_pair: Some(KeyPair {
            certificate_pem: Attr::Known(issued.certificate_pem.clone()),
            private_key_pem_wo: key.into(),
            private_key_pem_wo_version: Attr::Known(1),
        }),
        ..Default::default()
    }
}

#[test]
fn a_key_pair_must_be_a_valid_ca_with_its_own_key() {
    let ca = generated();
    assert!(validate(&given(&ca, ca.private_key_pem.expose())).is_empty(), "{:?}", validate(&given(&ca, ca.private_key_pem.expose())));
    // Another CA's key.
    let other = generated();
    let d = validate(&given(&ca, other.private_key_pem.expose()));
    assert_eq!(paths(&d), ["key_pair.private_key_pem_wo"]);
    assert!(!d.iter().any(|d| d.detail.contains("PRIVATE KEY-----")), "the key is never quoted");
    // A leaf is not a CA.
    let leaf = pki::issue_leaf(
        &pki::CaMaterial { certificate_pem: ca.certificate_pem.clone(), private_key_pem: ca.private_key_pem.clone() },
        &pki::LeafRequest {
            common_name: "yelb-ui",
            dns_names: &["yelb-ui.yelb.svc.cluster.local".to_string()],
            validity_days: 30,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            usages: &[pki::Usage::ServerAuth],
        },
    )
    .expect("leaf");
    let d = validate(&given(&leaf, leaf.private_key_pem.expose()));
    assert_eq!((paths(&d), summaries(&d)), (vec!["key_pair.certificate_pem".to_string()], vec!["Not a CA certificate"]));
    // Not PEM at all.
    let garbage = pki::Issued { certificate_pem: "not a certificate".into(), private_key_pem: pki::KeyPem::new(String::new()) };
    assert_eq!(paths(&validate(&given(&garbage, "x"))), ["key_pair.certificate_pem"]);
    // A key not known at validate (from a variable) still has its certificate checked.
    let unknown_key = CertificateAuthority {
        key_pair: Some(KeyPair { private_key_pem_wo: Attr::Unknown, ..given(&leaf, "").key_pair.unwrap() }),
        ..given(&leaf, "")
    };
    assert_eq!(paths(&validate(&unknown_key)), ["key_pair.certificate_pem"]);
}

#[test]
fn a_key_pair_excludes_what_its_certificate_decides_and_a_private_ca() {
    let ca = generated();
    let mut c = given(&ca, ca.private_key_pem.expose());
    c.common_name = "yelb CA".into();
    c.validity_days = Attr::Known(30);
    c.acm_pca = Some(AcmPca { arn: ARN.into(), create: None });
    c.key_pair.as_mut().unwrap().private_key_pem_wo_version = Attr::Known(-1);
    let mut found = paths(&validate(&c));
    found.sort();
    assert_eq!(found, ["common_name", "key_pair", "key_pair.private_key_pem_wo_version", "validity_days"]);
}

#[test]
fn a_key_pair_plans_what_its_certificate_says_and_keeps_the_ca_on_the_next_plan() {
    let ca = generated();
    let config = given(&ca, ca.private_key_pem.expose());
    // The generic plan filled the defaults in.
    let generic = CertificateAuthority { validity_days: Attr::Known(3650), key_algorithm: "ECDSA_P256".into(), ..config.clone() };
    let mut planned = generic.clone();
    let mut d = Diagnostics::new();
    assert!(!plan(None, &config, &mut planned, &DriftNote::default(), &mut d));
    let info = pki::inspect(&ca.certificate_pem).unwrap();
    assert_eq!(planned.common_name.as_deref(), Some("yelb CA"));
    assert_eq!(planned.organization.as_deref(), Some("yelb"));
    assert_eq!(planned.validity_days, Attr::Known(30));
    assert_eq!(planned.fingerprint_sha256.as_deref(), Some(info.fingerprint_sha256.as_str()));
    assert_eq!(planned.certificate_pem.as_deref(), Some(ca.certificate_pem.as_str()));

    // Next plan: the defaults the generic plan put in differ from state, but are not changes.
    let prior = CertificateAuthority { id: "yelb/ca-key-pair".into(), ..planned.clone() };
    let mut again = generic;
    plan(Some(&prior), &config, &mut again, &DriftNote::default(), &mut d);
    assert!(derived_unchanged(&at("validity_days"), &prior, &again));
    assert!(!derived_unchanged(&at("namespace"), &prior, &again), "only what the certificate decides");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn a_given_key_never_prints() {
    let ca = generated();
    let key = given(&ca, ca.private_key_pem.expose()).given_key().expect("key");
    assert_eq!(format!("{key:?}"), "GivenKey(..)");
}

#[test]
fn a_listed_ca_shows_its_subject_days_left_and_issuers() {
    let ca = generated();
    let info = pki::inspect(&ca.certificate_pem).unwrap();
    let secret = tls_secret::ListedSecret {
        name: "ca-key-pair".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ca_crt: None,
        tls_crt: Some(ca.certificate_pem.clone()),
        layout: Layout::Tls,
    };
    let f = list::found("yelb", &secret, &ca.certificate_pem, &info, &["ca-issuer"], info.not_before);
    assert_eq!(
        f.display_name,
        "yelb/ca-key-pair: CA \"yelb CA\", 30 days left (Issuer ca-issuer signs with it: import with ID yelb/ca-key-pair:Issuer/ca-issuer to manage it too)"
    );
    // The state an import records: a plan against the imported Secret finds no drift.
    let imported = imported("yelb", "ca-key-pair", &secret_of(&ca)).unwrap();
    assert_eq!(f.resource, imported);
}

fn intermediate_of(parent: &pki::Issued, path_length: Attr<i64>) -> CertificateAuthority {
    CertificateAuthority {
        common_name: "cluster-a".into(),
        validity_days: Attr::Known(10),
        path_length,
        parent: Some(Parent { ca_id: "mesh/root".into(), certificate_pem: Attr::Known(parent.certificate_pem.clone()) }),
        ..config()
    }
}

#[test]
fn an_intermediate_is_checked_against_its_parent_at_its_attributes() {
    let root = generated();
    assert!(validate(&intermediate_of(&root, Attr::Null)).is_empty());
    assert!(validate(&intermediate_of(&root, Attr::Known(2))).is_empty(), "a root has no path length limit");
    // Its path length 0 lets the intermediate sign only leaves.
    let parent = pki::CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
    let request = pki::CaRequest { common_name: "level 1", organization: None, validity_days: 20, key_algorithm: KeyAlgorithm::EcdsaP256 };
    let level1 = pki::issue_intermediate(&parent, &request, 0).expect("intermediate");
    let d = validate(&intermediate_of(&level1, Attr::Null));
    assert_eq!((summaries(&d), paths(&d)), (vec!["Path length the parent forbids"], vec!["path_length".to_string()]));
    let level1_of_2 = pki::issue_intermediate(&parent, &request, 2).expect("intermediate");
    assert!(validate(&intermediate_of(&level1_of_2, Attr::Known(1))).is_empty());
    assert_eq!(summaries(&validate(&intermediate_of(&level1_of_2, Attr::Known(2)))), ["Path length the parent forbids"]);
    // Longer than its 30-day parent.
    let long = CertificateAuthority { validity_days: Attr::Known(31), ..intermediate_of(&root, Attr::Null) };
    let d = validate(&long);
    assert_eq!((summaries(&d), paths(&d)), (vec!["Outlives its parent"], vec!["validity_days".to_string()]));
    // A leaf is no parent.
    let leaf = pki::issue_leaf(
        &parent,
        &pki::LeafRequest { common_name: "svc", dns_names: &[], validity_days: 1, key_algorithm: KeyAlgorithm::EcdsaP256, usages: &[] },
    )
    .expect("leaf");
    let d = validate(&intermediate_of(&leaf, Attr::Null));
    assert_eq!((summaries(&d), paths(&d)), (vec!["Parent is not a CA"], vec!["parent.certificate_pem".to_string()]));
    let garbage = CertificateAuthority {
        parent: Some(Parent { ca_id: "root".into(), certificate_pem: "not PEM".into() }),
        ..intermediate_of(&root, Attr::Null)
    };
    assert_eq!(paths(&validate(&garbage)), ["parent.ca_id", "parent.certificate_pem"]);
    // A parent still to be created is checked at apply.
    let pending = CertificateAuthority { parent: Some(Parent { ca_id: Attr::Unknown, certificate_pem: Attr::Unknown }), ..config() };
    assert!(validate(&pending).is_empty());
}

#[test]
fn an_intermediate_is_neither_a_key_pair_nor_a_private_ca_nor_its_own_parent() {
    let root = generated();
    let own = CertificateAuthority {
        parent: Some(Parent { ca_id: "yelb/ca-key-pair".into(), certificate_pem: Attr::Known(root.certificate_pem.clone()) }),
        ..intermediate_of(&root, Attr::Null)
    };
    assert_eq!(summaries(&validate(&own)), ["A CA cannot be its own parent"]);
    let pca = CertificateAuthority { acm_pca: Some(AcmPca { arn: ARN.into(), create: None }), ..intermediate_of(&root, Attr::Null) };
    assert!(summaries(&validate(&pca)).contains(&"Choose a parent or a private CA"));
    let path_only = CertificateAuthority { path_length: Attr::Known(0), ..config() };
    let d = validate(&path_only);
    assert_eq!((summaries(&d), paths(&d)), (vec!["Only for an intermediate"], vec!["path_length".to_string()]));
}

#[test]
fn an_intermediates_secret_holds_its_chain_and_root_and_drift_in_either_is_named() {
    let root = generated();
    let parent = pki::CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
    let request =
        pki::CaRequest { common_name: "cluster-a", organization: None, validity_days: 20, key_algorithm: KeyAlgorithm::EcdsaP256 };
    let intermediate = pki::issue_intermediate(&parent, &request, 0).expect("intermediate");
    let chain = format!("{}{}", intermediate.certificate_pem, root.certificate_pem);
    let observed = |ca_crt: &str| tls_secret::ObservedSecret {
        ca_crt: Some(ca_crt.to_string()),
        tls_crt: Some(chain.clone()),
        ..secret_of(&intermediate)
    };
    assert!(secret_drift(&observed(&root.certificate_pem), &intermediate.certificate_pem, Layout::Tls).is_empty());
    let other = generated();
    assert_eq!(
        secret_drift(&observed(&other.certificate_pem), &intermediate.certificate_pem, Layout::Tls),
        ["ca.crt does not hold the root of the CA's chain"]
    );
    assert_eq!(secret_drift(&observed(&root.certificate_pem), &other.certificate_pem, Layout::Tls).len(), 2, "tls.crt and tls.key");
    // Imported, it records the intermediate alone.
    let imported = imported("yelb", "ca-key-pair", &observed(&root.certificate_pem)).expect("import");
    assert!(tls_secret::same_pem(imported.certificate_pem.as_deref().unwrap_or_default(), &intermediate.certificate_pem));
}

#[test]
fn istios_layout_is_only_for_cacerts_with_its_key_in_the_cluster() {
    let istio = |secret_name: &str| CertificateAuthority {
        namespace: "istio-system".into(),
        secret_name: secret_name.into(),
        layout: "istio".into(),
        ..config()
    };
    assert!(validate(&istio("cacerts")).is_empty());
    let d = validate(&istio("ca-key-pair"));
    assert_eq!((summaries(&d), paths(&d)), (vec!["istiod does not read this Secret"], vec!["layout".to_string()]));
    let with_issuer = CertificateAuthority {
        cert_manager_issuer: Some(IssuerBlock { kind: "Issuer".into(), name: "ca".into() }),
        istio_plugin: Some(IstioPlugin { namespace: Attr::Null }),
        ..istio("cacerts")
    };
    let d = validate(&with_issuer);
    assert!(summaries(&d).iter().filter(|s| **s == "Not with the istio layout").count() == 2, "{:?}", summaries(&d));
    assert!(paths(&d).contains(&"cert_manager_issuer".to_string()) && paths(&d).contains(&"istio_plugin".to_string()));
    assert!(paths(&validate(&CertificateAuthority { acm_pca: Some(AcmPca { arn: ARN.into(), create: None }), ..istio("cacerts") }))
        .contains(&"acm_pca".to_string()));
    assert_eq!(CertificateAuthority { layout: Attr::Null, ..config() }.layout(), Some(Layout::Tls));
    assert_eq!(CertificateAuthority { layout: Attr::Unknown, ..config() }.layout(), None);
}

#[test]
fn a_secret_in_another_layout_than_the_cas_is_drift() {
    let issued = generated();
    let observed = tls_secret::ObservedSecret { layout: Layout::Istio, secret_type: Some("Opaque".into()), ..secret_of(&issued) };
    assert!(secret_drift(&observed, &issued.certificate_pem, Layout::Istio).is_empty());
    assert_eq!(secret_drift(&observed, &issued.certificate_pem, Layout::Tls).len(), 2, "type and layout");
    let broken = tls_secret::ObservedSecret { layout_drift: vec!["cert-chain.pem is missing".into()], ..observed };
    assert_eq!(secret_drift(&broken, &issued.certificate_pem, Layout::Istio), ["cert-chain.pem is missing"]);
}

#[test]
fn a_ca_meshtls_keeps_is_renewed_in_place_when_its_validity_changes_or_its_window_opens() {
    let now = time::OffsetDateTime::now_utc();
    let issued = generated();
    let mut prior = CertificateAuthority { id: "yelb/ca-key-pair".into(), ..config() };
    prior.set_certificate(&issued.certificate_pem).expect("certificate");
    prior.validity_days = Attr::Known(30);
    let same = CertificateAuthority { validity_days: Attr::Known(30), ..config() };
    assert_eq!(renewal_reason(&prior, &same, &same, now), None, "nothing to renew");
    let longer = CertificateAuthority { validity_days: Attr::Known(3650), ..config() };
    assert!(renewal_reason(&prior, &longer, &longer, now).is_some_and(|r| r.contains("validity_days changed to 3650")));
    let windowed = CertificateAuthority { renew_before_days: Attr::Known(29), ..same.clone() };
    assert!(renewal_reason(&prior, &windowed, &windowed, now).is_none(), "30 days left, a 29-day window");
    let windowed = CertificateAuthority { renew_before_days: Attr::Known(31), ..same.clone() };
    assert!(renewal_reason(&prior, &windowed, &windowed, now).is_some_and(|r| r.contains("inside its renewal window of 31 days")));
    // A key pair's CA or a private CA is not meshtls's to renew.
    let pair = CertificateAuthority { key_pair: Some(KeyPair::default()), ..longer.clone() };
    assert_eq!(renewal_reason(&prior, &pair, &pair, now), None);
    assert_eq!(renewal_reason(&prior, &creating(Attr::Null), &longer, now), None);
    let mut planned = longer;
    plan_renewal(&mut planned);
    assert!(planned.certificate_pem.is_unknown() && planned.not_after.is_unknown() && planned.fingerprint_sha256.is_unknown());
}

#[test]
fn renew_before_days_is_shorter_than_the_validity_and_only_for_a_ca_meshtls_keeps() {
    let d = validate(&CertificateAuthority { renew_before_days: Attr::Known(3650), ..config() });
    assert_eq!((summaries(&d), paths(&d)), (vec!["Renewal window as long as the validity"], vec!["renew_before_days".to_string()]));
    assert!(validate(&CertificateAuthority { renew_before_days: Attr::Known(90), ..config() }).is_empty());
    let d = validate(&CertificateAuthority { renew_before_days: Attr::Known(90), ..creating(Attr::Null) });
    assert!(summaries(&d).contains(&"Not renewed by meshtls"));
}

#[test]
fn an_intermediate_is_signed_again_when_its_parent_is_renewed_or_rotated_and_replaced_when_it_is_another() {
    let root = generated();
    let request =
        pki::CaRequest { common_name: "yelb CA", organization: Some("yelb"), validity_days: 60, key_algorithm: KeyAlgorithm::EcdsaP256 };
    let renewed_root = pki::renew_self_signed_ca(&root.private_key_pem, &request).expect("renewed");
    let with_parent = |pem: Attr<String>| CertificateAuthority {
        id: "yelb/cluster-a".into(),
        parent: Some(Parent { ca_id: "mesh/root".into(), certificate_pem: pem }),
        ..config()
    };
    let prior = with_parent(Attr::Known(root.certificate_pem.clone()));
    assert!(parent_renewed(&prior, &with_parent(Attr::Known(renewed_root))).is_some_and(|r| r.contains("was renewed")));
    assert!(parent_renewed(&prior, &with_parent(Attr::Unknown)).is_some_and(|r| r.contains("changes in this apply")));
    assert!(
        parent_renewed(&prior, &with_parent(Attr::Known(generated().certificate_pem))).is_some_and(|r| r.contains("signs with a new root")),
        "the same parent with a new key signs it again too"
    );
    let moved = CertificateAuthority {
        parent: Some(Parent { ca_id: "mesh/other".into(), certificate_pem: Attr::Known(generated().certificate_pem) }),
        ..prior.clone()
    };
    assert_eq!(parent_renewed(&prior, &moved), None, "another parent: replaced");
    assert_eq!(parent_renewed(&prior, &prior), None, "unchanged");
}

#[test]
fn the_days_remaining_are_counted_on_every_refresh_and_go_negative_once_past() {
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(days_until(now + time::Duration::days(30) + time::Duration::hours(1), now), 30);
    assert_eq!(days_until(now + time::Duration::hours(23), now), 0);
    assert_eq!(days_until(now - time::Duration::hours(1), now), -1);
    assert_eq!(days_until(now - time::Duration::days(2) - time::Duration::hours(1), now), -3);
    let issued = generated();
    let mut ca = config();
    ca.set_certificate(&issued.certificate_pem).expect("certificate");
    assert_eq!(ca.days_remaining, Attr::Known(29), "a 30-day CA made a moment ago");
    ca.count_days(now + time::Duration::days(10));
    assert_eq!(ca.days_remaining, Attr::Known(19));
    let mut unfinished = CertificateAuthority { days_remaining: Attr::Unknown, ..config() }.unfinished();
    assert!(unfinished.days_remaining.is_null());
    unfinished.count_days(now);
    assert!(unfinished.days_remaining.is_null(), "no certificate, nothing to count");
}

#[test]
fn a_rotation_goes_trust_new_sign_with_new_drop_old_and_a_skipped_phase_is_refused_at_the_phase() {
    use Phase::*;
    for (from, to) in [
        (None, Some(TrustNew)),
        (Some(TrustNew), Some(SignWithNew)),
        (Some(SignWithNew), Some(DropOld)),
        (Some(DropOld), None),
        (Some(DropOld), Some(TrustNew)),
        (Some(TrustNew), None),
        (Some(SignWithNew), Some(TrustNew)),
        (Some(SignWithNew), Some(SignWithNew)),
    ] {
        assert_eq!(transition_problem(from, to), None, "{from:?} -> {to:?}");
    }
    for (from, to, due) in [
        (None, Some(SignWithNew), "next phase is trust_new"),
        (None, Some(DropOld), "next phase is trust_new"),
        (Some(TrustNew), Some(DropOld), "next phase is sign_with_new"),
        (Some(SignWithNew), None, "next phase is drop_old"),
        (Some(DropOld), Some(SignWithNew), "next phase is trust_new"),
    ] {
        assert!(transition_problem(from, to).is_some_and(|p| p.contains(due)), "{from:?} -> {to:?}: {:?}", transition_problem(from, to));
    }
    let at_phase = |phase: Option<&str>| CertificateAuthority {
        id: "yelb/ca-key-pair".into(),
        certificate_pem: Attr::Known(generated().certificate_pem),
        trust_bundle_pem: "bundle".into(),
        rotation: phase.map(|p| Rotation { phase: p.into() }),
        ..config()
    };
    let mut d = Diagnostics::new();
    let mut planned = at_phase(Some("drop_old"));
    assert!(!plan_rotation(&at_phase(None), &at_phase(Some("drop_old")), &mut planned, &mut d));
    assert_eq!((summaries(&d), paths(&d)), (vec!["Rotation phase skipped"], vec!["rotation.phase".to_string()]));
    // trust_new changes the bundle only; sign_with_new the signing root too.
    let mut d = Diagnostics::new();
    let mut planned = at_phase(Some("trust_new"));
    assert!(plan_rotation(&at_phase(None), &at_phase(Some("trust_new")), &mut planned, &mut d));
    assert!(planned.trust_bundle_pem.is_unknown() && planned.certificate_pem.known().is_some());
    assert!(d.iter().any(|d| d.summary == "Root rotation: trust_new" && d.detail.contains("ca-key-pair-rotation")));
    let mut planned = at_phase(Some("sign_with_new"));
    assert!(plan_rotation(&at_phase(Some("trust_new")), &at_phase(Some("sign_with_new")), &mut planned, &mut Diagnostics::new()));
    assert!(planned.certificate_pem.is_unknown() && planned.fingerprint_sha256.is_unknown());
    // After drop_old, removing the block changes nothing.
    let mut planned = at_phase(None);
    assert!(!plan_rotation(&at_phase(Some("drop_old")), &at_phase(None), &mut planned, &mut Diagnostics::new()));
    assert!(!rotation_step(&at_phase(Some("drop_old")), &at_phase(None)));
    assert!(rotation_step(&at_phase(Some("trust_new")), &at_phase(None)), "an abort removes the new root");
}

#[test]
fn only_a_root_meshtls_generated_rotates() {
    let root = generated();
    let rotating = |ca: CertificateAuthority| CertificateAuthority { rotation: Some(Rotation { phase: "trust_new".into() }), ..ca };
    assert!(validate(&rotating(config())).is_empty());
    assert!(summaries(&validate(&rotating(intermediate_of(&root, Attr::Null)))).contains(&"Only a root meshtls generated rotates"));
    assert!(summaries(&validate(&rotating(creating(Attr::Null)))).contains(&"Only a root meshtls generated rotates"));
    let d = validate(&CertificateAuthority { rotation: Some(Rotation { phase: "later".into() }), ..config() });
    assert!(d.is_empty(), "the schema's one_of validator names a bad phase, not validate: {:?}", summaries(&d));
}

#[test]
fn a_bundle_holds_each_root_once_in_order() {
    let (a, b) = (generated().certificate_pem, generated().certificate_pem);
    let both = bundle_of(&[&a, &b, &a]);
    assert_eq!(pki::fingerprints(&both), [pki::fingerprints(&a), pki::fingerprints(&b)].concat());
    let renewed = pki::replace_in_bundle(&both, &a);
    assert_eq!(pki::fingerprints(&renewed), pki::fingerprints(&both));
}

#[test]
fn a_second_root_on_ambient_namespaces_is_warned_of_before_it_is_added() {
    let at_phase = |phase: Option<&str>| CertificateAuthority { rotation: phase.map(|p| Rotation { phase: p.into() }), ..config() };
    assert!(adds_a_root(&at_phase(None), &at_phase(Some("trust_new"))));
    assert!(adds_a_root(&at_phase(Some("drop_old")), &at_phase(Some("trust_new"))));
    assert!(!adds_a_root(&at_phase(Some("sign_with_new")), &at_phase(Some("trust_new"))), "a step back adds no root");
    assert!(!adds_a_root(&at_phase(Some("trust_new")), &at_phase(Some("sign_with_new"))));
    assert_eq!(ambient_warning(Ok(vec![])), None);
    let named = ambient_warning(Ok(vec!["shop".into(), "yelb".into()])).expect("a warning");
    assert!(named.detail.contains("shop, yelb") && named.detail.contains("istio/istio#47427"));
    assert_eq!(named.path, Some(AttributePath::attrs(&["rotation", "phase"])));
    assert!(ambient_warning(Err("forbidden".into())).is_some_and(|d| d.detail.contains("could not list")));
}

#[test]
fn an_intermediate_takes_its_parents_roots_in_place_when_only_the_bundle_changes() {
    let intermediate = CertificateAuthority {
        certificate_pem: "cert".into(),
        trust_bundle_pem: Attr::Unknown,
        parent: Some(Parent { ca_id: "mesh/root".into(), certificate_pem: "root".into() }),
        ..config()
    };
    assert!(following_parent(&intermediate.clone(), &intermediate));
    let renewing = CertificateAuthority { certificate_pem: Attr::Unknown, ..intermediate.clone() };
    assert!(!following_parent(&intermediate, &renewing), "a renewal writes the bundle itself");
    let root = CertificateAuthority { parent: None, ..intermediate.clone() };
    assert!(!following_parent(&root, &root), "a root has no parent to follow");
}

#[test]
fn a_plug_in_copy_or_the_other_root_of_a_rotation_is_part_of_its_ca_not_a_ca_to_list() {
    let listed = |name: &str, marker: Option<&str>| tls_secret::ListedSecret {
        name: name.into(),
        labels: BTreeMap::new(),
        annotations: marker.map(|m| (crate::ownership::OWNER_ANNOTATION.to_string(), m.to_string())).into_iter().collect(),
        ca_crt: None,
        tls_crt: None,
        layout: Layout::Tls,
    };
    assert_eq!(list::part_of("istio-system", &listed("mesh-root-ca", Some("meshtls_ca:istio-system/mesh-root-ca#abc"))), None);
    assert_eq!(
        list::part_of("istio-system", &listed("mesh-root-ca-rotation", Some("meshtls_ca:istio-system/mesh-root-ca#abc"))),
        Some("meshtls_ca:istio-system/mesh-root-ca".to_string())
    );
    assert_eq!(
        list::part_of("istio-system", &listed("cacerts", Some("meshtls_ca:yelb/ca-key-pair#abc"))),
        Some("meshtls_ca:yelb/ca-key-pair".to_string())
    );
    assert_eq!(list::part_of("yelb", &listed("hand-made", None)), None);
}
