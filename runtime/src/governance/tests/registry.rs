//! Publishing, withdrawing and listing datasets; modules; the job catalog.

use super::*;

#[test]
fn a_provider_publishes_versions_and_withdraws_them() {
    let w = World::new();
    let record = w.publish(&w.market, "enterprise_registry").unwrap();
    assert_eq!(record.provider, "p-market");
    assert_eq!(record.status, DatasetStatus::Active);
    assert_eq!(record.current_version, Some(1));
    assert_eq!(record.level, 2);
    assert_eq!(record.open, "conditional");
    assert!(record.versions[0].rows > 0);
    let registry = w.gov().registry_dir.join("enterprise_registry");
    assert!(registry.join("v1").join("dataset.toml").is_file());

    // An orphan folder left by a crashed publish is replaced.
    std::fs::create_dir_all(registry.join("v2")).unwrap();
    std::fs::write(registry.join("v2").join("junk"), b"x").unwrap();
    let record = w.publish(&w.market, "enterprise_registry").unwrap();
    assert_eq!(record.current_version, Some(2));
    assert!(!registry.join("v2").join("junk").exists());
    assert!(registry.join("v2").join("data.parquet").is_file());

    let catalog = w
        .gov()
        .job_catalog(&["enterprise_registry".to_string()])
        .unwrap();
    assert_eq!(
        catalog.get("enterprise_registry").unwrap().dir,
        registry.join("v2")
    );

    forbidden(
        w.gov()
            .withdraw_dataset_version(&w.tax, "enterprise_registry", 2, "mine"),
    );
    invalid(
        w.gov()
            .withdraw_dataset_version(&w.market, "enterprise_registry", 2, " "),
    );
    let record = w
        .gov()
        .withdraw_dataset_version(&w.market, "enterprise_registry", 2, "wrong district codes")
        .unwrap();
    assert_eq!(record.current_version, Some(1));
    assert!(!record.versions[1].active);
    conflict(
        w.gov()
            .withdraw_dataset_version(&w.market, "enterprise_registry", 2, "again"),
    );
    let record = w
        .gov()
        .withdraw_dataset_version(&w.market, "enterprise_registry", 1, "obsolete")
        .unwrap();
    assert_eq!(record.status, DatasetStatus::Withdrawn);
    assert_eq!(record.current_version, None);
    let message = conflict(w.gov().job_catalog(&["enterprise_registry".to_string()]));
    assert_eq!(message, "dataset 'enterprise_registry' is withdrawn");
    assert!(matches!(
        w.gov().get_dataset(&w.op, "nothing"),
        Err(GovError::NotFound(_))
    ));

    // Publishing again brings it back.
    let record = w.publish(&w.market, "enterprise_registry").unwrap();
    assert_eq!(
        (record.status, record.current_version),
        (DatasetStatus::Active, Some(3))
    );
    w.fx.assert_audited("gov.dataset.publish", Some("enterprise_registry"));
    w.fx.assert_audited("gov.dataset.withdraw_version", Some("enterprise_registry"));
}

#[test]
fn publishing_checks_department_ownership_and_files() {
    let w = World::new();
    // The manifest names the market department; the tax office may not publish it.
    let message = forbidden(w.publish(&w.tax, "enterprise_registry"));
    assert!(message.contains("市场监督管理局"), "{message}");

    w.publish(&w.market, "enterprise_registry").unwrap();
    // Even with the manifest rewritten to its own department, another provider may not take
    // over a registered dataset.
    let (manifest, parquet) = bundled_files("enterprise_registry");
    let manifest = manifest.replace(MARKET, TAX);
    let message =
        forbidden(
            w.gov()
                .publish_dataset(&w.tax, "enterprise_registry", &manifest, &parquet),
        );
    assert!(
        message.contains("registered by provider 'p-market'"),
        "{message}"
    );

    let (manifest, parquet) = bundled_files("tax_payments");
    let message = invalid(
        w.gov()
            .publish_dataset(&w.tax, "tax_payments", "not = [toml", &parquet),
    );
    assert!(message.starts_with("dataset.toml"), "{message}");
    let message = invalid(
        w.gov()
            .publish_dataset(&w.tax, "taxes", &manifest, &parquet),
    );
    assert!(message.contains("'tax_payments'"), "{message}");

    // The tax manifest over the enterprise registry's Parquet file.
    let (_, other_parquet) = bundled_files("enterprise_registry");
    let message =
        invalid(
            w.gov()
                .publish_dataset(&w.tax, "tax_payments", &manifest, &other_parquet),
        );
    assert!(message.contains("column"), "{message}");
    let message = invalid(
        w.gov()
            .publish_dataset(&w.tax, "tax_payments", &manifest, b"PAR1"),
    );
    assert!(message.contains("Parquet"), "{message}");
    // Nothing was registered and no version folder was left behind.
    assert!(matches!(
        w.gov().get_dataset(&w.tax, "tax_payments"),
        Err(GovError::NotFound(_))
    ));
    let leftovers: Vec<_> = std::fs::read_dir(w.gov().registry_dir.join("tax_payments"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let page = w
        .gov()
        .list_datasets(&w.op, &PageRequest::default())
        .unwrap();
    assert_eq!(page.items.len(), 1);
    w.fx.assert_audited("gov.dataset.publish", Some("enterprise_registry"));
}

#[test]
fn modules_are_stored_by_hash() {
    let w = World::new();
    invalid(w.gov().upload_module(&w.op, b"MZ not wasm"));
    let wasm = b"\0asm\x01\0\0\0";
    let sha = w.gov().upload_module(&w.op, wasm).unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(w.gov().upload_module(&w.op, wasm).unwrap(), sha);
    assert_eq!(w.gov().module_bytes(&sha).unwrap(), wasm);
    assert!(matches!(
        w.gov().module_bytes(&"a".repeat(64)),
        Err(GovError::NotFound(_))
    ));
    assert!(matches!(
        w.gov().module_bytes("../shuyu.db"),
        Err(GovError::NotFound(_))
    ));
    w.fx.assert_audited("gov.module.upload", Some(&sha));
}

#[test]
fn quality_requests_are_answered_once_by_the_provider() {
    let w = World::new();
    w.publish_both();
    invalid(w.gov().file_quality_request(&w.op, "tax_payments", ""));
    assert!(matches!(
        w.gov().file_quality_request(&w.op, "nothing", "gaps"),
        Err(GovError::NotFound(_))
    ));
    let request = w
        .gov()
        .file_quality_request(&w.op, "tax_payments", "March amounts are missing")
        .unwrap();
    forbidden(
        w.gov()
            .answer_quality_request(&w.market, &request.id, "not mine"),
    );
    let answered = w
        .gov()
        .answer_quality_request(&w.tax, &request.id, "fixed in the next version")
        .unwrap();
    assert_eq!(
        answered.answer.as_deref(),
        Some("fixed in the next version")
    );
    conflict(w.gov().answer_quality_request(&w.tax, &request.id, "again"));
    let page = PageRequest::default();
    assert_eq!(
        w.gov()
            .list_quality_requests(&w.tax, &page)
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        w.gov()
            .list_quality_requests(&w.market, &page)
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        w.gov()
            .list_quality_requests(&w.op, &page)
            .unwrap()
            .items
            .len(),
        1
    );
    w.fx.assert_audited("gov.quality.file", Some(&request.id));
    w.fx.assert_audited("gov.quality.answer", Some(&request.id));
}
