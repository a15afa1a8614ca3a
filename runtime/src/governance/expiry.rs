//! Recording what time has ended: agreements past their term and applications past their
//! validity become expired, and pending applications whose review deadline passed lapse. Reads
//! already compute expiry from the clock; this writes it down, with an audit entry each, so the
//! log says when access ended.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::access::SYSTEM;
use super::model::{AgreementStatus, ApplicationStatus};
use super::{GovError, Governance};
use crate::store::governance::agreements::set_agreement_status;
use crate::store::governance::applications::set_status_and_reason;
use crate::store::governance::expiry as db;
use crate::store::governance::Stamp;

impl Governance {
    /// Marks agreements and applications past their term as expired (auditing each); returns
    /// how many changed. Called periodically by the server and before each gate check.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<u32, GovError> {
        let stamp = Stamp {
            by: SYSTEM,
            at: now,
        };
        self.store.write_with(|tx| {
            let mut changed = 0u32;
            for (id, term_end) in db::agreements_due(tx, now)? {
                let why = format!("its term ended at {term_end}");
                set_agreement_status(tx, &id, AgreementStatus::Expired, &why, stamp)?;
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
            for (id, valid_until) in db::applications_due(tx, now)? {
                let why = format!("valid until {valid_until}");
                set_status_and_reason(tx, &id, ApplicationStatus::Expired, Some(&why), stamp)?;
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
            for (id, deadline) in db::reviews_overdue(tx, now)? {
                let reason =
                    format!("the review deadline passed at {deadline}; the application has lapsed");
                set_status_and_reason(tx, &id, ApplicationStatus::Lapsed, Some(&reason), stamp)?;
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
