//! Dual review: the bureau's formal review and one review by each provider whose data an
//! application uses, each within the working-day deadline set at submission. Any rejection
//! rejects the application; all approvals approve it (and supersede the application it amends);
//! a review attempted after the deadline finds the application lapsed.

use chrono::Utc;
use serde_json::json;

use super::access::{self, not_found, require_any};
use super::applications::{application, ApplicationRules};
use super::model::{
    Application, ApplicationStatus, Caller, Decision, ReviewInput, ReviewKind, Role,
};
use super::{GovError, Governance};
use crate::store::codec::{enum_text, ts};
use crate::store::governance::applications::set_status_and_reason;
use crate::store::governance::reviews as db;
use crate::store::governance::Stamp;

/// What a review attempt came to: recorded, or the application lapsed (which is itself recorded
/// and committed before the refusal is returned).
enum Outcome {
    Recorded(Box<Application>),
    Lapsed(String),
}

impl Governance {
    /// Records a review (bureau, or an involved provider).
    pub fn review_application(
        &self,
        caller: &Caller,
        id: &str,
        input: ReviewInput,
    ) -> Result<Application, GovError> {
        require_any(
            caller,
            &[Role::Bureau, Role::Provider],
            "review applications",
        )?;
        let reason = access::required(&input.reason, "a written reason for the decision")?;
        let now = Utc::now();
        let outcome = self.store.write_with(|tx| {
            let stored = application(tx, id)?;
            let reviews = &stored.application.reviews;
            let position = match caller.role {
                Role::Bureau => reviews.iter().position(|r| r.kind == ReviewKind::Bureau),
                _ => reviews
                    .iter()
                    .position(|r| r.kind == ReviewKind::Provider && r.party == caller.id),
            };
            let Some(position) = position else {
                // A provider not asked to review it is told what it would be told of a missing
                // application: the application is none of its business.
                return Err(not_found("application", id));
            };
            let status = stored.status_at(now);
            if status != ApplicationStatus::Pending {
                return Err(GovError::Conflict(format!(
                    "application {id} is {}; only a pending application is reviewed",
                    enum_text(&status)
                )));
            }
            let review = &reviews[position];
            if let Some(decision) = review.decision {
                return Err(GovError::Conflict(format!(
                    "the {} review of application {id} was already decided ({}) by '{}'",
                    enum_text(&review.kind),
                    enum_text(&decision),
                    review.party
                )));
            }
            if now > review.deadline {
                let message = format!(
                    "the review deadline passed at {}; the application has lapsed",
                    ts(&review.deadline)
                );
                let stamp = Stamp {
                    by: &caller.id,
                    at: now,
                };
                set_status_and_reason(tx, id, ApplicationStatus::Lapsed, Some(&message), stamp)?;
                self.record(
                    tx,
                    &caller.id,
                    "gov.application.lapse",
                    id,
                    None,
                    json!({
                        "deadline": ts(&review.deadline),
                        "review": enum_text(&review.kind),
                        "party": review.party,
                    }),
                )?;
                return Ok(Outcome::Lapsed(message));
            }

            db::decide_review(tx, id, position, &caller.id, input.decision, reason, now)?;
            let others_approved = reviews
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != position)
                .all(|(_, r)| r.decision == Some(Decision::Approve));
            let new_status = match input.decision {
                Decision::Reject => Some(ApplicationStatus::Rejected),
                Decision::Approve if others_approved => Some(ApplicationStatus::Approved),
                Decision::Approve => None,
            };
            let mut superseded = None;
            if let Some(new_status) = new_status {
                let stamp = Stamp {
                    by: &caller.id,
                    at: now,
                };
                let why = match new_status {
                    ApplicationStatus::Rejected => {
                        format!("{} review rejected: {reason}", enum_text(&review.kind))
                    }
                    _ => "every required review approved".to_string(),
                };
                set_status_and_reason(tx, id, new_status, Some(&why), stamp)?;
                if let (ApplicationStatus::Approved, Some(old)) =
                    (new_status, &stored.application.amends)
                {
                    // The amended application stayed in force until now.
                    let why = format!("amendment {id} was approved");
                    if db::supersede_in_force(tx, old, &why, stamp)? {
                        superseded = Some(old.clone());
                    }
                }
            }
            self.record(
                tx,
                &caller.id,
                "gov.review",
                id,
                None,
                json!({
                    "review": enum_text(&review.kind),
                    "decision": enum_text(&input.decision),
                    "reason": reason,
                    "application_status": new_status.map(|s| enum_text(&s)),
                    "superseded": superseded,
                }),
            )?;
            Ok(Outcome::Recorded(Box::new(application(tx, id)?.view(now))))
        })?;
        match outcome {
            Outcome::Recorded(application) => Ok(*application),
            Outcome::Lapsed(message) => Err(GovError::Conflict(message)),
        }
    }
}
