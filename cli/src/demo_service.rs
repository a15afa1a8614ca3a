//! The demo's last step: the SME credit pre-screen service, end to end in the demo's domain.
//!
//! What a bank and the bureau would do through the server, done here through the same
//! governance and services calls the server makes: the providers register their datasets, the
//! bureau grants an agreement, the operator applies for the `sme-prescreen` scenario and every
//! reviewer approves it; then the operator records consents and calls the service. One call cites
//! another enterprise's consent (refused), one consent is revoked (refused after), and the bureau
//! reads the transparency view and the day's usage.

use std::path::Path;

use anyhow::Context;
use chrono::{Duration, Utc};
use shuyu::domain::Domain;
use shuyu::governance::model::{
    AgreementMode, AgreementScope, ApplicationStatus, Caller, Decision, NewAgreement,
    NewApplication, NewIdentity, PageRequest, ReviewInput, ReviewKind, Role,
};
use shuyu::governance::{GovError, Governance, NewConsent, ScenarioFile};
use shuyu::services::{CallOutcome, CallRequest, ServiceLimits, Services, SubjectKind};

use super::{CliResult, Failure};

/// The operator of the demo's service (as in the example's scenario file).
const OPERATOR: &str = "op-acme";
/// The demo operator's unified social credit code: division and organization code body, to
/// which `make_usci` adds the check characters.
const OPERATOR_USCI_PARTS: (&str, &str) = ("110105", "MA01ACME");
/// The bundled datasets the service reads, with the department that provides each.
const DATASETS: [(&str, &str, &str); 3] = [
    ("enterprise_registry", "demo-market", "市场监督管理局"),
    ("tax_payments", "demo-tax", "税务局"),
    ("social_insurance", "demo-hrss", "人力资源和社会保障局"),
];

fn caller(id: &str, role: Role) -> Caller {
    Caller {
        id: id.into(),
        role,
    }
}

/// Adds an identity unless it exists (a second demo run on the same data directory).
fn ensure_identity(gov: &Governance, new: NewIdentity) -> CliResult {
    match gov.admin_add_identity(new) {
        Ok(_) | Err(GovError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// (usci, status) of the bundled registry's first enterprises.
fn enterprises(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    use arrow::array::{Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = root
        .join("datasets")
        .join("enterprise_registry")
        .join("data.parquet");
    let file = std::fs::File::open(&path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
        let batch = batch?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .cloned()
                .with_context(|| format!("enterprise_registry.{name} is not text"))
        };
        let (usci, status) = (column("usci")?, column("status")?);
        for i in 0..batch.num_rows() {
            if usci.is_valid(i) && status.is_valid(i) {
                out.push((usci.value(i).to_string(), status.value(i).to_string()));
            }
        }
        if out.len() > 200 {
            break;
        }
    }
    Ok(out)
}

/// Governance up to an approved application of the example's scenario; returns the service id.
fn approve_service(gov: &Governance, root: &Path, module: &[u8]) -> Result<String, Failure> {
    let bureau = caller("demo-bureau", Role::Bureau);
    let operator = caller(OPERATOR, Role::Operator);
    ensure_identity(
        gov,
        NewIdentity {
            id: bureau.id.clone(),
            role: Role::Bureau,
            name: "大数据管理局".into(),
            usci: None,
            department: None,
        },
    )?;
    ensure_identity(
        gov,
        NewIdentity {
            id: OPERATOR.into(),
            role: Role::Operator,
            name: "示例数据运营有限公司".into(),
            usci: Some(
                shuyu_datasets::make_usci(OPERATOR_USCI_PARTS.0, OPERATOR_USCI_PARTS.1)
                    .map_err(|e| anyhow::anyhow!("the demo operator's credit code: {e}"))?,
            ),
            department: None,
        },
    )?;
    for (dataset, provider, department) in DATASETS {
        ensure_identity(
            gov,
            NewIdentity {
                id: provider.into(),
                role: Role::Provider,
                name: department.into(),
                usci: None,
                department: Some(department.into()),
            },
        )?;
        let registered = gov
            .current_versions(&[dataset.to_string()])
            .ok()
            .and_then(|v| v.first().copied().flatten());
        if registered.is_none() {
            let dir = root.join("datasets").join(dataset);
            let manifest = std::fs::read_to_string(dir.join("dataset.toml"))
                .with_context(|| dir.display().to_string())?;
            let parquet = std::fs::read(dir.join("data.parquet"))
                .with_context(|| dir.display().to_string())?;
            gov.publish_dataset(
                &caller(provider, Role::Provider),
                dataset,
                &manifest,
                &parquet,
            )?;
        }
    }
    let scenario_path = root
        .join("guest-examples")
        .join("sme-prescreen")
        .join("scenario.toml");
    let mut scenario = ScenarioFile::load(&scenario_path)?;
    let sha = gov.upload_module(&operator, module)?;
    scenario.scenario.module_sha256 = sha;
    let service = format!("{}.{}", scenario.scenario.id, scenario.services[0].name);
    // A second demo run finds the scenario approved already.
    let page = PageRequest {
        limit: Some(500),
        after: None,
    };
    let existing = gov.list_applications(&operator, &page)?;
    if existing.items.iter().any(|a| {
        a.scenario_id == scenario.scenario.id
            && a.status == ApplicationStatus::Approved
            && a.scenario.scenario.module_sha256 == scenario.scenario.module_sha256
    }) {
        return Ok(service);
    }
    let now = Utc::now();
    let agreement = gov.create_agreement(
        &bureau,
        NewAgreement {
            operator: OPERATOR.into(),
            mode: AgreementMode::Comprehensive,
            scope: AgreementScope {
                datasets: vec![],
                domains: vec![],
                max_level: 3,
            },
            term_start: now - Duration::days(1),
            term_end: now + Duration::days(365),
            security_requirements: "等保三级；数据不出域".into(),
            exit_conditions: "期满或评估不合格终止".into(),
        },
    )?;
    let application = gov.submit_application(
        &operator,
        NewApplication {
            agreement: agreement.id,
            scenario,
            valid_until: now + Duration::days(180),
            amends: None,
        },
    )?;
    for review in &application.reviews {
        let who = match review.kind {
            ReviewKind::Bureau => bureau.clone(),
            ReviewKind::Provider => caller(&review.party, Role::Provider),
        };
        gov.review_application(
            &who,
            &application.id,
            ReviewInput {
                decision: Decision::Approve,
                reason: "符合场景要求".into(),
            },
        )?;
    }
    Ok(service)
}

/// Runs the service demo (see the module docs). Skipped when the module or scenario is missing.
pub(crate) fn run(domain: &Domain, root: &Path, step: impl Fn(&str)) -> CliResult {
    let module_path = root
        .join("target")
        .join("wasm-modules")
        .join("sme_prescreen.wasm");
    if !module_path.is_file() || !root.join("guest-examples").join("sme-prescreen").is_dir() {
        return Ok(());
    }
    let module = std::fs::read(&module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    println!();
    step("SME credit pre-screen service: consent → fresh instance per call → answer contract → audit");
    let gov = Governance::new(
        domain.store.clone(),
        domain.audit.clone(),
        domain.data_dir(),
    );
    let service = approve_service(&gov, root, &module)?;
    let services = Services::new(domain, gov.clone(), ServiceLimits::default());
    // What a server does when it starts and after approvals: the subject index and the module
    // are ready before the first call.
    let warming = std::time::Instant::now();
    services.warm()?;
    println!(
        "service {service}: subject index and module ready in {} ms",
        warming.elapsed().as_millis()
    );
    let operator = caller(OPERATOR, Role::Operator);
    let bureau = caller("demo-bureau", Role::Bureau);
    let all = enterprises(root)?;
    let operating: Vec<&str> = all
        .iter()
        .filter(|(_, s)| s == "存续")
        .map(|(u, _)| u.as_str())
        .collect();
    let closed = all
        .iter()
        .find(|(_, s)| s != "存续")
        .map(|(u, _)| u.as_str());
    let mut subjects: Vec<&str> = operating.iter().take(3).copied().collect();
    subjects.extend(closed);
    let Some(&unconsented) = operating.get(3) else {
        return Ok(());
    };
    let now = Utc::now();
    let mut consents = Vec::new();
    for subject in &subjects {
        let consent = gov.grant_consent(
            &operator,
            NewConsent {
                service: service.clone(),
                subject_kind: SubjectKind::Usci,
                subject_ref: services.subject_ref(SubjectKind::Usci, subject)?,
                purpose: "贷前预筛查".into(),
                evidence_sha256: hex::encode(ring::digest::digest(
                    &ring::digest::SHA256,
                    format!("授权书 {subject}").as_bytes(),
                )),
                valid_from: now - Duration::minutes(1),
                valid_until: now + Duration::days(30),
            },
        )?;
        consents.push(consent.id);
    }
    println!("service {service}: {} consents recorded", consents.len());
    let ask = |subject: &str, consent: &str, amount: i64| {
        let mut params = serde_json::Map::new();
        params.insert("amount".into(), serde_json::json!(amount));
        services.answer(
            &operator,
            &service,
            &CallRequest {
                subject: subject.into(),
                consent: consent.into(),
                params,
            },
        )
    };
    let masked = |usci: &str| format!("{}…{}", &usci[..6], &usci[usci.len() - 2..]);
    for (subject, consent) in subjects.iter().zip(&consents) {
        match ask(subject, consent, 2_000_000) {
            Ok(reply) if reply.outcome == CallOutcome::Answered => println!(
                "  {} {}  amount 2,000,000 → {}",
                reply.call,
                masked(subject),
                reply.answer.map(|a| a.to_string()).unwrap_or_default()
            ),
            Ok(reply) => println!("  {} {}  no answer", reply.call, masked(subject)),
            Err(e) => println!("  {}  refused: {e}", masked(subject)),
        }
    }
    match ask(unconsented, &consents[0], 2_000_000) {
        Ok(_) => println!(
            "  {}  answered without its own consent (unexpected)",
            masked(unconsented)
        ),
        Err(e) => println!(
            "  {}  without its own consent → refused: {e}",
            masked(unconsented)
        ),
    }
    gov.revoke_consent(&bureau, &consents[0], "企业撤回授权")?;
    match ask(subjects[0], &consents[0], 2_000_000) {
        Ok(_) => println!(
            "  {}  answered after revocation (unexpected)",
            masked(subjects[0])
        ),
        Err(e) => println!("  {}  consent revoked → refused: {e}", masked(subjects[0])),
    }
    let about = gov.calls_about(
        &bureau,
        &services.subject_ref(SubjectKind::Usci, subjects[0])?,
        &PageRequest::default(),
    )?;
    println!(
        "transparency (bureau): {} call(s) about {}: {}",
        about.items.len(),
        masked(subjects[0]),
        about
            .items
            .iter()
            .map(|c| format!("{} by {} at {}", c.id, c.operator, c.at.format("%H:%M:%S")))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let today = gov.time_zone().date_of(&Utc::now());
    for row in gov.service_usage(&bureau, today, today, None)? {
        println!(
            "usage {}: {} {} answered, {} failed, mean {:.1} ms",
            row.day, row.operator, row.answered, row.failed, row.mean_latency_ms
        );
    }
    Ok(())
}
