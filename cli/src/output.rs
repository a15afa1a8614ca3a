//! What the operator sees of a job: status, released tables, suppression, blocks. Never query
//! results, log lines or execution errors.

use shuyu::guard::PrivacyInfo;
use shuyu::job::view::{self, ReleaseView};
use shuyu::job::{JobReport, JobStatus, ReleaseOutcome};

/// One line saying how the job ended, as the operator may see it.
pub(crate) fn summary(report: &JobReport) -> String {
    match &report.status {
        JobStatus::Refused(reason) => format!("job refused: {reason}"),
        _ => format!("job {}", view::summary(report)),
    }
}

/// Prints a job report for the operator.
pub(crate) fn print_report(report: &JobReport) {
    println!(
        "job {}  scenario {}  module {}",
        report.job_id,
        report.scenario_id,
        &report.module_sha256[..16.min(report.module_sha256.len())]
    );
    for outcome in &report.releases {
        match outcome {
            ReleaseOutcome::Released {
                release,
                product_dir,
                table,
                report: r,
            } => {
                println!();
                println!("release '{release}': released {} groups", table.num_rows());
                match display_table(table)
                    .and_then(|t| arrow::util::pretty::pretty_format_batches(&[t]))
                {
                    Ok(text) => println!("{text}"),
                    Err(e) => println!("(cannot print the table: {e})"),
                }
                let shown = view::shown_report(r);
                if r.counts_withheld {
                    print_privacy(product_dir);
                }
                match shown.suppressed {
                    Some(true) => println!("suppressed: some groups ({})", shown.suppression_rule),
                    Some(false) => println!("suppressed: none ({})", shown.suppression_rule),
                    None => println!("suppressed: {}", shown.suppression_rule),
                }
                println!(
                    "exact counts (suppressed, bounded, clamped) are in the audit log for reviewers: a module can steer them"
                );
                println!("product: {}", product_dir.display());
            }
            ReleaseOutcome::Blocked { .. } => {
                let shown = ReleaseView::of(outcome);
                println!();
                println!(
                    "release '{}': {} (the audit log has the details for reviewers)",
                    shown.release,
                    shown.block_text().to_uppercase()
                );
            }
        }
    }
    println!();
    // Exact counters and times are for reviewers: a module can steer them (docs/security.md).
    println!(
        "{}  (about {} s; counters are in the audit log: shuyu audit show --job {})",
        summary(report),
        view::coarse_seconds(report),
        report.job_id
    );
}

/// The privacy parameters and each noisy column's accuracy, from the product's (signed)
/// manifest: what a reader of the numbers needs to know how far to trust them.
pub(crate) fn print_privacy(product_dir: &std::path::Path) {
    let manifest = std::fs::read(product_dir.join("manifest.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let Some(info) = manifest
        .and_then(|m| serde_json::from_value::<PrivacyInfo>(m["policy"]["privacy"].clone()).ok())
    else {
        return;
    };
    println!(
        "privacy: ε={} δ={} ({}), keys from {}",
        info.epsilon,
        info.delta,
        info.composition,
        info.keys.replace('_', " ")
    );
    if let Some(selection) = &info.selection {
        println!(
            "  partition selection: ε={} δ={}, groups need a noisy entity count ≥ {}",
            selection.epsilon, selection.delta, selection.threshold
        );
    }
    for column in &info.columns {
        let hidden = if column.released {
            ""
        } else {
            " (not released; for the mean)"
        };
        match &column.mechanism {
            Some(m) => println!(
                "  {:<20} {} ε={:.4} δ={} sensitivity {}  noise sd {:.2}  95% within ±{:.2}{hidden}",
                column.column,
                m.name,
                column.epsilon,
                column.delta,
                column.sensitivity,
                column.std_dev,
                column.interval95
            ),
            None => println!(
                "  {:<20} derived from {} (post-processing)",
                column.column,
                column.derived_from.join(" / ")
            ),
        }
    }
}

/// The table as printed: floating-point values rounded to two decimals for reading. The product
/// files keep full precision.
pub(crate) fn display_table(
    table: &arrow::record_batch::RecordBatch,
) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in table.schema().fields().iter().zip(table.columns()) {
        if let Some(values) = column.as_any().downcast_ref::<Float64Array>() {
            let text: StringArray = values
                .iter()
                .map(|v| v.map(|v| format!("{v:.2}")))
                .collect();
            fields.push(arrow::datatypes::Field::new(
                field.name(),
                arrow::datatypes::DataType::Utf8,
                true,
            ));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    arrow::record_batch::RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
}

/// The wire name of a model enum value (`approved`, `restore_after_treatment`, ...).
pub(crate) fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// The first 16 characters of a hash, for tables.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}
