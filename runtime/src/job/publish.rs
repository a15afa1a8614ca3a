//! Publishing a release: the audit entry first, then the signed package that cites it.
//!
//! Every release ends here, whatever made it: table releases (`release_finish`), per-entity
//! releases (`release_entities`) and vector releases (`release_vector`). [`JobContext::released`]
//! audits and then signs, so a product never becomes visible before the log records it and every
//! manifest carries the hash of its `release` entry (`audit verify` checks each product on disk
//! against the log); [`JobContext::blocked`] records a block with its step and rule.

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use serde_json::json;

use super::host::JobContext;
use super::ReleaseOutcome;
use crate::audit::{Entry, NewEntry};
use crate::guard::{Block, ReleaseReport};
use crate::product::{self, DatasetRef, ProductManifest, ScenarioRef};
use crate::sandbox::{CallError, Fault};

impl JobContext {
    /// Appends to the audit log as the job's operator. A job that cannot be audited must stop.
    pub(super) fn audit(
        &self,
        action: &str,
        details: serde_json::Value,
    ) -> Result<Entry, CallError> {
        let started = std::time::Instant::now();
        let appended = self.audit.append(NewEntry {
            actor: self.scenario.file.scenario.operator.clone(),
            action: action.to_string(),
            subject: self.scenario.id().to_string(),
            job_id: Some(self.job_id.to_string()),
            details,
        });
        self.timings
            .add(super::timings::Phase::Audit, started.elapsed());
        appended.map_err(|e| Fault::Internal(format!("audit log write failed: {e}")).into())
    }

    /// Publishes release `name`: audits it (with `details`, to which the release, product id and
    /// row count are added) and then writes `table` as its signed product package, whose
    /// manifest carries `policy` and the operator's `shown` report and cites that entry.
    /// `report` is the outcome's own accounting (withheld counts for vectors).
    pub(super) fn released(
        &self,
        name: &str,
        table: RecordBatch,
        policy: serde_json::Value,
        shown: serde_json::Value,
        report: ReleaseReport,
        details: serde_json::Value,
    ) -> Result<ReleaseOutcome, CallError> {
        let product_dir = self.publish(name, &table, policy, shown, details)?;
        Ok(ReleaseOutcome::Released {
            release: name.to_string(),
            product_dir,
            table,
            report,
        })
    }

    /// Records release `name` (a table release, or `kind` = `vector`) as blocked by `block`:
    /// one `release.blocked` entry naming the guard's step and rule.
    pub(super) fn blocked(
        &self,
        name: &str,
        kind: &str,
        block: Block,
    ) -> Result<ReleaseOutcome, CallError> {
        self.audit(
            "release.blocked",
            json!({
                "release": name,
                "kind": kind,
                "step": block.step,
                "rule": block.rule.as_str(),
                "message": block.message,
                "report": block.report,
            }),
        )?;
        Ok(ReleaseOutcome::Blocked {
            release: name.to_string(),
            rule: block.rule,
            message: block.message,
            report: block.report,
        })
    }

    fn publish(
        &self,
        name: &str,
        table: &RecordBatch,
        policy: serde_json::Value,
        report: serde_json::Value,
        mut details: serde_json::Value,
    ) -> Result<PathBuf, CallError> {
        let product_id = format!("{}-{name}", self.job_id);
        if let Some(fields) = details.as_object_mut() {
            fields.insert("release".into(), json!(name));
            fields.insert("product_id".into(), json!(product_id));
            fields.insert("rows".into(), json!(table.num_rows()));
        }
        let entry = self.audit("release", details)?;
        let manifest = self.manifest(product_id.clone(), name, table, policy, report, entry.hash);
        let writing = std::time::Instant::now();
        let written = product::write_package(&self.products_dir, manifest, table, &self.keys);
        self.timings
            .add(super::timings::Phase::Product, writing.elapsed());
        written.map_err(|e| {
            // The log already says "release": say that no package followed.
            let _ = self.audit(
                "release.failed",
                json!({ "release": name, "product_id": product_id, "error": e.to_string() }),
            );
            Fault::Internal(format!("cannot write product {product_id}: {e}")).into()
        })
    }

    fn manifest(
        &self,
        product_id: String,
        name: &str,
        table: &RecordBatch,
        policy: serde_json::Value,
        report: serde_json::Value,
        audit_entry: String,
    ) -> ProductManifest {
        let scenario = &self.scenario;
        ProductManifest {
            format: product::FORMAT.to_string(),
            product_id,
            release: name.to_string(),
            scenario: ScenarioRef {
                id: scenario.id().to_string(),
                title: scenario.file.scenario.title.clone(),
            },
            operator: scenario.file.scenario.operator.clone(),
            module_sha256: self.module_sha256.clone(),
            job_id: self.job_id.to_string(),
            datasets: scenario
                .datasets
                .iter()
                .map(|d| DatasetRef {
                    name: d.name().to_string(),
                    title: d.manifest.dataset.title.clone(),
                    provider: d.manifest.dataset.provider.clone(),
                    content_sha256: d.content_sha256.clone(),
                    acquired: d.manifest.dataset.acquired.to_string(),
                    rows: d.rows,
                })
                .collect(),
            policy,
            report,
            columns: table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            rows: table.num_rows() as u64,
            job_started: rfc3339(self.job_started),
            created_at: rfc3339(chrono::Utc::now()),
            audit_entry: Some(audit_entry),
            files: Vec::new(),
            signer: None,
        }
    }
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
