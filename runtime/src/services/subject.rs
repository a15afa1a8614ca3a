//! Subject references: how consents, calls and the audit log name a subject without holding
//! its identifier.

use crate::engine::Pseudonymizer;
use crate::keys::DomainKeys;
use shuyu_model::services::SubjectKind;

/// The pseudonym key id of subject references. A NUL cannot appear in a scenario id, so no
/// scenario's pseudonym key is this one: references are unlinkable to any job's pseudonyms.
const SUBJECT_KEY_ID: &str = "\0service-subjects/v1";

/// Computes subject references under the domain's key.
#[derive(Clone)]
pub(crate) struct SubjectRefs(Pseudonymizer);

impl SubjectRefs {
    pub(crate) fn new(keys: &DomainKeys) -> Self {
        Self(Pseudonymizer::new(&keys.pseudonym_key(SUBJECT_KEY_ID)))
    }

    /// The reference of identifier `id` of `kind` (32 hex characters). The kind is part of
    /// the input, so a citizen ID and a credit code never share a reference.
    pub(crate) fn of(&self, kind: SubjectKind, id: &str) -> String {
        self.0.pseudonym(&format!("{}:{id}", kind.as_str()))
    }
}

/// Checks an identifier's form (length, alphabet, check character) before anything uses it.
pub(crate) fn check_identifier(kind: SubjectKind, id: &str) -> Result<(), String> {
    if kind.is_valid(id) {
        Ok(())
    } else {
        // The text is not quoted: a mistyped identifier is still someone's, and refusals are
        // audited.
        Err(format!(
            "the subject is not a well-formed {} (18 characters with a valid check character)",
            match kind {
                SubjectKind::Usci => "unified social credit code",
                SubjectKind::CitizenId => "citizen ID number",
            }
        ))
    }
}
