//! Job identifiers.

use std::fmt;

/// A job's id: UTC start time plus 32 random bits, e.g. `20261123T193012Z-1f2e3d4c`. Sortable
/// by start time, unique without coordination, safe in file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    /// A fresh id.
    pub fn new() -> Self {
        use ring::rand::SecureRandom;
        let mut random = [0u8; 4];
        // An id collision is astronomically unlikely even if the system RNG failed and left zeros;
        // the timestamp still separates jobs.
        let _ = ring::rand::SystemRandom::new().fill(&mut random);
        Self(
            format!(
                "{}-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                hex::encode(random)
            )
            .replace('.', ""),
        )
    }

    /// An id received as text (from the server, by a worker process): `None` unless it has the
    /// shape of an id this module makes (ASCII letters, digits and `-`, at most 64), so it stays
    /// safe in file names.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| Self(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::JobId;

    #[test]
    fn parse_accepts_made_ids_only() {
        let id = JobId::new();
        assert_eq!(JobId::parse(id.as_str()), Some(id));
        for bad in ["", "../x", "a b", "a/b", &"a".repeat(65)] {
            assert_eq!(JobId::parse(bad), None, "{bad}");
        }
    }
}
