//! Recording what time has ended: agreements past their term and applications past their
//! validity become expired, and pending applications whose review deadline passed lapse. Reads
//! already compute expiry from the clock; this writes it down, with an audit entry each, so the
//! log says when access ended.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::json;

use super::access::SYSTEM;
use super::model::{AgreementStatus, ApplicationStatus};
use super::sql::{enum_text, ts};
use super::{GovError, Governance};

/// Ids and the time that ended them, selected by `sql` with `?1` = now.
fn due(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    now: &str,
) -> Result<Vec<(String, String)>, GovError> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt
        .query_map(params![now], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

impl Governance {
    /// Marks agreements and applications past their term as expired (auditing each); returns
    /// how many changed. Called periodically by the server and before each gate check.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<u32, GovError> {
        // Stored times share one fixed format, so comparing the text compares the times.
        let now_text = ts(&now);
        self.store.write_with(|tx| {
            let mut changed = 0u32;
            let agreements = due(
                tx,
                "SELECT id, term_end FROM agreements WHERE status = 'active' AND term_end <= ?1 \
                 ORDER BY id",
                &now_text,
            )?;
            for (id, term_end) in agreements {
                tx.execute(
                    "UPDATE agreements SET status = ?2 WHERE id = ?1",
                    params![id, enum_text(&AgreementStatus::Expired)],
                )?;
                self.record(
                    tx,
                    SYSTEM,
                    "gov.agreement.expire",
                    &id,
                    None,
                    json!({ "term_end": term_end }),
                )?;
                changed += 1;
            }
            let applications = due(
                tx,
                "SELECT id, valid_until FROM applications \
                 WHERE status IN ('pending', 'approved', 'suspended') AND valid_until < ?1 \
                 ORDER BY id",
                &now_text,
            )?;
            for (id, valid_until) in applications {
                tx.execute(
                    "UPDATE applications SET status = ?2 WHERE id = ?1",
                    params![id, enum_text(&ApplicationStatus::Expired)],
                )?;
                self.record(
                    tx,
                    SYSTEM,
                    "gov.application.expire",
                    &id,
                    None,
                    json!({ "valid_until": valid_until }),
                )?;
                changed += 1;
            }
            let lapsed = due(
                tx,
                "SELECT a.id, MIN(r.deadline) FROM applications a \
                 JOIN reviews r ON r.application = a.id \
                 WHERE a.status = 'pending' AND r.decision IS NULL AND r.deadline < ?1 \
                 GROUP BY a.id ORDER BY a.id",
                &now_text,
            )?;
            for (id, deadline) in lapsed {
                let reason =
                    format!("the review deadline passed at {deadline}; the application has lapsed");
                tx.execute(
                    "UPDATE applications SET status = ?2, status_reason = ?3 WHERE id = ?1",
                    params![id, enum_text(&ApplicationStatus::Lapsed), reason],
                )?;
                self.record(
                    tx,
                    SYSTEM,
                    "gov.application.lapse",
                    &id,
                    None,
                    json!({ "deadline": deadline }),
                )?;
                changed += 1;
            }
            Ok(changed)
        })
    }
}
