//! The certificate's validation rules and plan decisions (replacement, renewal, the CA's
//! lifetime), and what it reads back from its Secret, with no cluster.

use super::*;

fn config() -> Certificate {
    Certificate {
        ca: "yelb/yelb-ca".into(),
        namespace: "yelb".into(),
        secret_name: "yelb-db-tls".into(),
        dns_names: Attr::Known(vec!["yelb-db.yelb.svc.cluster.local".into()]),
        validity_days: Attr::Known(365),
        renew_before_days: Attr::Known(30),
        key_algorithm: "ECDSA_P256".into(),
        usages: Attr::Known(vec!["server_auth".into(), "client_auth".into()]),
        ..Default::default()
    }
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

fn summaries(d: &Diagnostics) -> Vec<&str> {
    d.iter().map(|d| d.summary.as_str()).collect()
}

/// A CA and a leaf it signed, as the pki module makes them.
fn issued() -> (pki::CaMaterial, pki::Issued) {
    let ca = pki::self_signed_ca(&pki::CaRequest {
        common_name: "yelb CA",
        organization: None,
        validity_days: 30,
        key_algorithm: KeyAlgorithm::EcdsaP256,
    })
    .expect("CA");
    let material = pki::CaMaterial { certificate_pem: ca.certificate_pem, private_key_pem: ca.private_key_pem };
    let names = vec!["yelb-db.yelb.svc.cluster.local".to_string()];
    let leaf = pki::issue_leaf(
        &material,
        &pki::LeafRequest {
            common_name: "yelb-db",
            dns_names: &names,
            validity_days: 10,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            usages: &[Usage::ServerAuth],
        },
    )
    .expect("leaf");
    (material, leaf)
}

#[test]
fn a_good_configuration_passes_and_unknowns_are_not_judged() {
    assert!(validate(&config()).is_empty());
    let unknown =
        Certificate { ca: Attr::Unknown, dns_names: Attr::Unknown, validity_days: Attr::Unknown, usages: Attr::Unknown, ..config() };
    assert!(validate(&unknown).is_empty());
}

#[test]
fn the_ca_namespace_and_secret_are_checked() {
    let bad = Certificate { ca: "yelb-ca".into(), namespace: "Yelb".into(), secret_name: "Bad Name".into(), ..config() };
    assert_eq!(crate::resources::refusals(TYPE_NAME, &bad, &validate(&bad)), ["namespace", "secret_name", "ca"]);
}

#[test]
fn meshtls_keys_are_reserved_in_secret_metadata() {
    let one = |k: &str| Attr::Known(BTreeMap::from([(k.to_string(), "x".to_string())]));
    let reserved = Certificate { secret_labels: one(MANAGED_BY_LABEL), secret_annotations: one(CA_ANNOTATION), ..config() };
    assert_eq!(paths(&validate(&reserved)), ["secret_labels[\"app.kubernetes.io/managed-by\"]", "secret_annotations[\"meshtls.dev/ca\"]"]);
    let owner = Certificate { secret_annotations: one(OWNER_ANNOTATION), ..config() };
    assert_eq!(summaries(&validate(&owner)), ["Reserved key"]);
    assert!(validate(&Certificate { secret_labels: one("team"), ..config() }).is_empty());
}

#[test]
fn dns_names_are_bounded_valid_and_distinct() {
    let names = |n: &[&str]| Certificate { dns_names: Attr::Known(n.iter().map(|s| s.to_string()).collect()), ..config() };
    assert_eq!(summaries(&validate(&names(&[]))), ["No DNS names"]);
    assert_eq!(paths(&validate(&names(&["a.yelb", "bad_name", "a.yelb"]))), ["dns_names[1]", "dns_names[2]"]);
    assert_eq!(summaries(&validate(&names(&["a.b.*"]))), ["Invalid DNS name"]);
    let many: Vec<String> = (0..=MAX_DNS_NAMES).map(|i| format!("n{i}.yelb")).collect();
    let d = validate(&Certificate { dns_names: Attr::Known(many), ..config() });
    assert_eq!(summaries(&d), ["Too many DNS names"], "one error, not one per name");
}

#[test]
fn service_accounts_common_name_algorithm_and_usages_are_checked() {
    let access = |a: &[&str]| Some(SecretAccess { service_accounts: Attr::Known(a.iter().map(|s| s.to_string()).collect()) });
    assert_eq!(summaries(&validate(&Certificate { restrict_secret_access: access(&[]), ..config() })), ["No service accounts"]);
    assert_eq!(
        paths(&validate(&Certificate { restrict_secret_access: access(&["db", "Bad"]), ..config() })),
        ["restrict_secret_access.service_accounts[1]"]
    );
    let refused = |c: Certificate| crate::resources::refusals(TYPE_NAME, &c, &validate(&c));
    for cn in ["", "   ", &"x".repeat(65)] {
        assert_eq!(refused(Certificate { common_name: cn.into(), ..config() }), ["common_name"], "{cn:?}");
    }
    assert_eq!(refused(Certificate { key_algorithm: "DSA".into(), ..config() }), ["key_algorithm"]);
    assert_eq!(summaries(&validate(&Certificate { usages: Attr::Known(vec![]), ..config() })), ["No usages"]);
    assert_eq!(paths(&validate(&Certificate { usages: Attr::Known(vec!["code_signing".into()]), ..config() })), ["usages[0]"]);
}

#[test]
fn validity_and_the_renewal_window_are_bounded() {
    for days in [0, -1, MAX_VALIDITY_DAYS + 1] {
        let bad = Certificate { validity_days: Attr::Known(days), renew_before_days: Attr::Null, ..config() };
        assert_eq!(crate::resources::schema_refusals(TYPE_NAME, &bad), ["validity_days"], "{days}");
    }
    let window =
        |renew: i64, validity: Attr<i64>| Certificate { renew_before_days: Attr::Known(renew), validity_days: validity, ..config() };
    assert_eq!(summaries(&validate(&window(365, Attr::Known(365)))), ["Renewal window as long as the validity"]);
    // Bounded even while the validity is unknown.
    for (renew, ok) in [(30i64, true), (-1, false), (3_000_000, false), (MAX_VALIDITY_DAYS, false)] {
        let c = window(renew, Attr::Unknown);
        assert_eq!(crate::resources::refusals(TYPE_NAME, &c, &validate(&c)).is_empty(), ok, "renew_before_days = {renew}");
    }
}

#[test]
fn the_common_name_defaults_to_the_first_dns_name() {
    let mut planned = Certificate { common_name: Attr::Unknown, ..config() };
    default_common_name(&config(), &mut planned);
    assert_eq!(planned.common_name, Attr::Known("yelb-db.yelb.svc.cluster.local".into()));
    let set = Certificate { common_name: "db".into(), ..config() };
    let mut planned = set.clone();
    default_common_name(&set, &mut planned);
    assert_eq!(planned.common_name, Attr::Known("db".into()));
}

#[test]
fn the_renewal_window_is_checked_arithmetic() {
    let now = OffsetDateTime::now_utc();
    let in_40_days = now + time::Duration::days(40);
    assert!(!inside_renewal_window(now, 30, in_40_days));
    assert!(inside_renewal_window(now, 40, in_40_days));
    assert!(inside_renewal_window(now, i64::MAX, in_40_days), "a huge window is reached, without a panic");
    assert!(!inside_renewal_window(now, i64::MIN, in_40_days), "a negative window is none");
}

#[test]
fn a_certificate_is_reissued_for_drift_or_an_open_renewal_window() {
    let now = OffsetDateTime::now_utc();
    let prior =
        Certificate { id: "yelb/yelb-db-tls".into(), not_after: Attr::Known(pki::rfc3339(now + time::Duration::days(40))), ..config() };
    assert!(reissue_reasons(&prior, 30, &[], now).is_empty());
    let renew = reissue_reasons(&prior, 45, &[], now);
    assert_eq!(renew.len(), 1);
    assert!(renew[0].contains("inside its renewal window of 45 days"), "{renew:?}");
    let drift = reissue_reasons(&prior, 30, &["tls.key is not the private key of the certificate".into()], now);
    assert!(drift[0].starts_with("Secret yelb/yelb-db-tls changed outside Terraform"), "{drift:?}");
}

#[test]
fn the_ca_decides_reissue_and_the_longest_validity() {
    let now = OffsetDateTime::now_utc();
    let ca = pki::inspect(&issued().0.certificate_pem).expect("CA info");
    // A new certificate may not outlive its CA (30 days).
    let (reason, error) = ca_decisions("yelb/yelb-ca", &ca, None, true, 365, now);
    assert_eq!((reason, error.and_then(|e| e.path).map(|p| p.to_string())), (None, Some("validity_days".into())));
    assert_eq!(ca_decisions("yelb/yelb-ca", &ca, None, true, 10, now).1, None);
    // One already issued is not judged again unless it is re-issued.
    assert_eq!(ca_decisions("yelb/yelb-ca", &ca, Some(&ca.fingerprint_sha256), false, 365, now).1, None);
    // A replaced CA re-issues, and then the new certificate must fit it.
    let (reason, error) = ca_decisions("yelb/yelb-ca", &ca, Some("AA:BB"), false, 365, now);
    assert!(reason.is_some_and(|r| r.contains("was replaced")));
    assert!(error.is_some());
}

#[test]
fn a_reissue_plans_every_certificate_attribute_unknown_and_keeps_the_secret() {
    let mut planned = Certificate { id: "yelb/x".into(), fingerprint_sha256: "AA".into(), not_after: "t".into(), ..config() };
    plan_reissue(&mut planned);
    assert_eq!((planned.fingerprint_sha256, planned.not_after), (Attr::Unknown, Attr::Unknown));
    assert_eq!(planned.id, Attr::Known("yelb/x".into()), "the same Secret is rewritten: its id stays");
    assert_eq!(planned.dns_names, config().dns_names, "configuration is left alone");
}

#[test]
fn changed_settings_reissue_in_place_and_metadata_does_not() {
    let prior = Certificate { common_name: "yelb-db".into(), ..config() };
    assert!(changed_settings(&prior, &prior).is_empty());
    assert_eq!(settings_reason(&[]), None);
    let labels = Certificate {
        secret_labels: Attr::Known(BTreeMap::from([("a".into(), "b".into())])),
        renew_before_days: Attr::Known(7),
        ..prior.clone()
    };
    assert!(changed_settings(&prior, &labels).is_empty(), "labels and the renewal window change without a re-issue");
    let planned = Certificate {
        ca: "yelb/new-ca".into(),
        key_algorithm: "RSA_2048".into(),
        dns_names: Attr::Known(vec!["db.yelb".into()]),
        usages: Attr::Unknown,
        ..prior.clone()
    };
    assert_eq!(changed_settings(&prior, &planned), ["ca", "dns_names", "key_algorithm", "usages"]);
    let reason = settings_reason(&changed_settings(&prior, &planned)).expect("a reason");
    assert!(reason.starts_with("ca, dns_names, key_algorithm, usages changed") && reason.contains("in place"), "{reason}");
}

#[test]
fn only_the_secret_s_name_and_namespace_replace_the_certificate() {
    let r = CertificateResource::new(crate::clients::Clients::new());
    let schema = TypedResource::schema(&r);
    let replacing: Vec<&str> = schema
        .block
        .attributes
        .iter()
        .filter(|a| a.has_modifier(&tfplugin::schema::PlanModifier::RequiresReplace))
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(replacing, ["namespace", "secret_name"]);
}

#[test]
fn an_issue_needs_known_values_and_defaults_its_common_name() {
    let issue = Issue::of(&Certificate {
        restrict_secret_access: Some(SecretAccess { service_accounts: Attr::Known(vec!["db".into()]) }),
        ..config()
    })
    .expect("complete");
    assert_eq!(issue.leaf.common_name, "yelb-db.yelb.svc.cluster.local");
    assert_eq!(issue.leaf.usages, [Usage::ServerAuth, Usage::ClientAuth]);
    assert_eq!(issue.readers, Some(vec!["db".to_string()]));
    assert!(Issue::of(&Certificate { ca: Attr::Unknown, ..config() }).is_err());
    assert!(Issue::of(&Certificate { key_algorithm: "DSA".into(), ..config() }).is_err());
}

#[test]
fn drift_in_the_secret_is_named() {
    let (ca, leaf) = issued();
    let leaf_info = pki::inspect(&leaf.certificate_pem).expect("leaf info");
    let ca_info = pki::inspect(&ca.certificate_pem).expect("CA info");
    let mut state = config();
    state.set_certificate(&leaf_info, &ca_info);
    let secret = |key: &pki::KeyPem| tls_secret::ObservedSecret {
        secret_type: Some(TLS_SECRET_TYPE.into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ca_crt: Some(ca.certificate_pem.clone()),
        tls_crt: Some(leaf.certificate_pem.clone()),
        key_public: pki::public_key_of(key.expose()),
        ..Default::default()
    };
    assert!(secret_drift(&secret(&leaf.private_key_pem), &state).is_empty());
    assert_eq!(secret_drift(&secret(&ca.private_key_pem), &state), ["tls.key is not the private key of the certificate"]);
    let swapped =
        tls_secret::ObservedSecret { ca_crt: Some(leaf.certificate_pem.clone()), secret_type: None, ..secret(&leaf.private_key_pem) };
    assert_eq!(secret_drift(&swapped, &state).len(), 2, "type and ca.crt");
}

#[test]
fn a_leaf_of_an_intermediate_is_in_sync_with_the_root_in_ca_crt() {
    let (root, _) = issued();
    let parent = pki::CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
    let request = pki::CaRequest { common_name: "cluster-a", organization: None, validity_days: 5, key_algorithm: KeyAlgorithm::EcdsaP256 };
    let intermediate = pki::issue_intermediate(&parent, &request, 0).expect("intermediate");
    let signer =
        pki::CaMaterial { certificate_pem: intermediate.certificate_pem.clone(), private_key_pem: intermediate.private_key_pem.clone() };
    let leaf = pki::issue_leaf(
        &signer,
        &pki::LeafRequest { common_name: "db", dns_names: &[], validity_days: 1, key_algorithm: KeyAlgorithm::EcdsaP256, usages: &[] },
    )
    .expect("leaf");
    let mut state = config();
    state.set_certificate(&pki::inspect(&leaf.certificate_pem).expect("leaf"), &pki::inspect(&intermediate.certificate_pem).expect("CA"));
    let observed = |ca_crt: &str| tls_secret::ObservedSecret {
        secret_type: Some(TLS_SECRET_TYPE.into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ca_crt: Some(ca_crt.to_string()),
        tls_crt: Some(format!("{}{}{}", leaf.certificate_pem, intermediate.certificate_pem, root.certificate_pem)),
        key_public: pki::public_key_of(leaf.private_key_pem.expose()),
        ..Default::default()
    };
    assert!(secret_drift(&observed(&root.certificate_pem), &state).is_empty());
    let (other, _) = issued();
    assert_eq!(secret_drift(&observed(&other.certificate_pem), &state), ["ca.crt does not hold the issuing CA's root"]);
}

#[test]
fn only_the_metadata_keys_meshtls_manages_are_read_and_patched() {
    let map = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let managed = Attr::Known(map(&[("team", "a"), ("tier", "db")]));
    let actual = map(&[("team", "b"), ("other", "x")]);
    assert_eq!(observed_subset(&managed, &actual), Attr::Known(map(&[("team", "b")])));
    assert_eq!(observed_subset(&Attr::Null, &actual), Attr::Null);
    let patch = metadata_patch(&managed, &Attr::Known(map(&[("team", "c")])));
    assert_eq!(patch, BTreeMap::from([("team".to_string(), Some("c".to_string())), ("tier".to_string(), None)]));
}

#[test]
fn import_ids_and_the_imported_state() {
    assert_eq!(parse_import_id("yelb/db-tls").ok(), Some(("yelb", "db-tls", None)));
    assert_eq!(parse_import_id("yelb/db-tls:yelb/yelb-ca").ok(), Some(("yelb", "db-tls", Some("yelb/yelb-ca"))));
    for bad in ["yelb", "Yelb/db", "/db"] {
        assert!(parse_import_id(bad).is_err(), "{bad}");
    }
    let (_, leaf) = issued();
    let info = pki::inspect(&leaf.certificate_pem).expect("leaf info");
    let state = imported("yelb", "db-tls", "yelb/yelb-ca", &info, KeyAlgorithm::EcdsaP256);
    assert_eq!(state.validity_days, Attr::Known(10));
    assert_eq!(state.usages, Attr::Known(vec!["server_auth".into()]));
    assert_eq!(state.renew_before_days, Attr::Known(DEFAULT_RENEW_BEFORE_DAYS));
    let bundle = format!("{}{}", leaf.certificate_pem, leaf.certificate_pem);
    assert_eq!(pki::first_certificate(&bundle), leaf.certificate_pem);
}

#[test]
fn a_ca_certificate_is_not_imported_as_a_leaf() {
    let ca = pki::self_signed_ca(&pki::CaRequest {
        common_name: "CA",
        organization: None,
        validity_days: 1,
        key_algorithm: KeyAlgorithm::EcdsaP256,
    })
    .expect("CA");
    let ca_info = pki::inspect(&ca.certificate_pem).expect("CA info");
    let d = ca_as_leaf(&ca_info, "yelb", "db").expect("refused");
    assert!(d.detail.contains("meshtls_ca") && d.detail.contains("yelb/db"), "{}", d.detail);
    let material = pki::CaMaterial { certificate_pem: ca.certificate_pem.clone(), private_key_pem: ca.private_key_pem.clone() };
    let leaf = pki::issue_leaf(
        &material,
        &pki::LeafRequest {
            common_name: "db",
            dns_names: &["db.yelb.svc".into()],
            validity_days: 1,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            usages: &[],
        },
    )
    .expect("leaf");
    assert!(ca_as_leaf(&pki::inspect(&leaf.certificate_pem).expect("leaf info"), "yelb", "db").is_none());
}

#[test]
fn a_certificate_owns_its_objects_by_its_id_and_owner_id() {
    let recorded = Certificate { owner_id: Attr::Known("0123abcd".into()), ..config() };
    assert_eq!(owner("yelb", "yelb-tls-db", &recorded).expect("owner").to_string(), "meshtls_certificate:yelb/yelb-tls-db#0123abcd");
    // Planned for create, the owner id is unknown: a fresh one is made.
    let creating = Certificate { owner_id: Attr::Unknown, ..config() };
    let fresh = owner("yelb", "yelb-tls-db", &creating).expect("owner");
    assert!(fresh.to_string().starts_with("meshtls_certificate:yelb/yelb-tls-db#"), "{fresh}");
    assert_ne!(fresh.attr(), Attr::Null);
    // A state from before owner ids has none, and keeps none.
    let legacy = Certificate { owner_id: Attr::Null, ..config() };
    assert_eq!(owner("yelb", "yelb-tls-db", &legacy).expect("owner").to_string(), "meshtls_certificate:yelb/yelb-tls-db");
}

fn listed_secret(annotations: &[(&str, &str)]) -> tls_secret::ListedSecret {
    tls_secret::ListedSecret {
        name: "yelb-db-tls".into(),
        labels: BTreeMap::new(),
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ca_crt: None,
        tls_crt: None,
        layout: tls_secret::Layout::Tls,
    }
}

#[test]
fn a_listed_certificate_shows_names_issuer_and_days_left() {
    let (ca, leaf) = issued();
    let leaf_info = pki::inspect(&leaf.certificate_pem).unwrap();
    let ca_info = pki::inspect(&ca.certificate_pem).unwrap();
    let now = leaf_info.not_before;
    let by_cert_manager = listed_secret(&[("cert-manager.io/issuer-name", "ca-issuer"), ("cert-manager.io/issuer-kind", "Issuer")]);
    let f = list::found("yelb", &by_cert_manager, &leaf_info, Some(("yelb/ca-key-pair", &ca_info)), now);
    assert_eq!(f.display_name, "yelb/yelb-db-tls: yelb-db.yelb.svc.cluster.local, issuer Issuer ca-issuer, 10 days left");
    assert_eq!((f.identity.namespace.as_str(), f.identity.secret_name.as_str()), ("yelb", "yelb-db-tls"));
    assert_eq!(f.resource.ca.as_deref(), Some("yelb/ca-key-pair"));
    assert_eq!(f.resource.ca_fingerprint_sha256.as_deref(), Some(ca_info.fingerprint_sha256.as_str()));
    assert_eq!(f.resource.validity_days, Attr::Known(10));

    // No CA recorded: the state names none and the result says how to import.
    let unrecorded = list::found("yelb", &listed_secret(&[]), &leaf_info, None, leaf_info.not_after);
    assert_eq!(unrecorded.resource.ca, Attr::Null);
    assert!(unrecorded.display_name.contains("expired 0 days ago"), "{}", unrecorded.display_name);
    assert!(unrecorded.display_name.contains("import with ID yelb/yelb-db-tls:<ca namespace>/<ca secret>"), "{}", unrecorded.display_name);
}

#[test]
fn a_certificate_without_extended_key_usages_imports_with_both() {
    let (_, leaf) = issued();
    let mut info = pki::inspect(&leaf.certificate_pem).unwrap();
    info.usages.clear();
    assert_eq!(
        imported("yelb", "db", "yelb/ca", &info, KeyAlgorithm::EcdsaP256).usages,
        Attr::Known(vec!["server_auth".into(), "client_auth".into()])
    );
}

#[test]
fn generated_configuration_leaves_out_a_common_name_the_plan_would_derive() {
    let r = CertificateResource::new(crate::clients::Clients::new());
    let derived = Certificate { common_name: "yelb-db.yelb.svc.cluster.local".into(), ..config() };
    assert_eq!(TypedResource::generate_config(&r, derived).common_name, Attr::Null);
    let own = Certificate { common_name: "yelb-db".into(), ..config() };
    assert_eq!(TypedResource::generate_config(&r, own).common_name.as_deref(), Some("yelb-db"));
}

#[test]
fn a_version_0_state_loses_its_pem_and_keeps_the_rest() {
    let r = CertificateResource::new(crate::clients::Clients::new());
    let schema = TypedResource::schema(&r);
    assert_eq!(schema.version, SCHEMA_VERSION);
    let v0 = br#"{"id":"yelb/db-tls","ca":"yelb/yelb-ca","namespace":"yelb","secret_name":"db-tls","dns_names":["db"],
        "certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","fingerprint_sha256":"AA:BB"}"#;
    let decoded = tfplugin::json::decode(v0, &schema.value_type()).expect("a version 0 state decodes");
    let upgraded = TypedResource::upgrade_state(&r, 0, decoded).expect("upgrades");
    let state: Certificate = tfplugin::from_value(&upgraded).expect("fits the model");
    assert_eq!((state.id.as_deref(), state.fingerprint_sha256.as_deref()), (Some("yelb/db-tls"), Some("AA:BB")));
    assert!(!format!("{upgraded:?}").contains("BEGIN CERTIFICATE"), "the PEM is gone: {upgraded:?}");
}
