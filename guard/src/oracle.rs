//! The identifier oracle: the guard's only view of the real data.
//!
//! The guard must know whether an entity a module names is real (fake entities would let one real
//! entity pass as k), and whether an output cell carries an identifier or a pseudonym. It asks an
//! [`IdentifierOracle`], which the caller implements over the granted datasets and their per-scenario
//! pseudonyms. [`SetOracle`] is a plain in-memory implementation, for tests and for callers that can
//! hold the sets; pseudonyms are stored as their 16 decoded bytes, half the size of the hex text.

use std::collections::HashSet;

/// Number of hex characters in a pseudonym.
pub const PSEUDONYM_HEX_LEN: usize = 32;

/// Answers the guard's questions about the real data of the granted datasets.
pub trait IdentifierOracle: Send + Sync {
    /// Is this a pseudonym of an entity of the granted datasets (an "entity is real" check)?
    fn is_entity(&self, pseudonym: &str) -> bool;
    /// [`IdentifierOracle::is_entity`] for a pseudonym already decoded to its 16 bytes (the guard
    /// asks once per entity of a release, a million times for a large one).
    fn is_entity_key(&self, key: &[u8; 16]) -> bool {
        self.is_entity(&hex::encode(key))
    }
    /// How many entities there are, when the oracle can say at once. The guard sizes its
    /// per-entity tables from it once a release has many entities, instead of letting them grow
    /// by doubling (each doubling moves every entry into fresh pages).
    fn entity_count(&self) -> Option<usize> {
        None
    }
    /// Is this string a pseudonym of any identifier value in the granted datasets?
    fn is_pseudonym(&self, text: &str) -> bool;
    /// Is this string a raw identifier value of the granted datasets?
    fn is_raw_identifier(&self, text: &str) -> bool;
    /// Is this already folded string (see [`super::fold`]) the folded spelling of a raw
    /// identifier value of the granted datasets? Catches `EMP 0042` or `ＥＭＰ－００４２` for
    /// `EMP-0042`.
    fn is_raw_identifier_folded(&self, folded: &str) -> bool;
}

/// Decodes a pseudonym: exactly 32 lowercase hex characters. Anything else is not a pseudonym.
pub fn parse_pseudonym(text: &str) -> Option<[u8; 16]> {
    // A huge string costs one length comparison.
    let text: &[u8; PSEUDONYM_HEX_LEN] = text.as_bytes().try_into().ok()?;
    // One pass that checks and decodes: the guard decodes every contribution row's entity.
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let &[high, low] = pair else {
            return None;
        };
        let (high, low) = (LOWER_HEX[usize::from(high)], LOWER_HEX[usize::from(low)]);
        if (high | low) & NOT_HEX != 0 {
            return None;
        }
        *byte = (high << 4) | low;
    }
    Some(bytes)
}

/// Marks a byte that is not a lowercase hex digit in [`LOWER_HEX`].
const NOT_HEX: u8 = 0x80;

/// The value of each lowercase hex digit; [`NOT_HEX`] for every other byte.
const LOWER_HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};

/// A text that should be a pseudonym is not 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a pseudonym: expected 32 lowercase hex characters")]
pub struct NotAPseudonym;

/// An [`IdentifierOracle`] over in-memory sets.
///
/// Entities are also pseudonyms: adding an entity makes both `is_entity` and `is_pseudonym` true.
#[derive(Debug, Clone, Default)]
pub struct SetOracle {
    entities: HashSet<[u8; 16]>,
    pseudonyms: HashSet<[u8; 16]>,
    raw: HashSet<String>,
    raw_folded: HashSet<String>,
}

impl SetOracle {
    /// An oracle that knows nothing: every entity is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// An oracle over the given entity pseudonyms, other pseudonyms and raw identifier values.
    ///
    /// # Errors
    /// [`NotAPseudonym`] if an entity or pseudonym is not 32 lowercase hex characters.
    pub fn from_parts<E, P, R>(entities: E, pseudonyms: P, raw: R) -> Result<Self, NotAPseudonym>
    where
        E: IntoIterator,
        E::Item: AsRef<str>,
        P: IntoIterator,
        P::Item: AsRef<str>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        let mut oracle = Self::new();
        for entity in entities {
            oracle.add_entity(entity.as_ref())?;
        }
        for pseudonym in pseudonyms {
            oracle.add_pseudonym(pseudonym.as_ref())?;
        }
        for value in raw {
            oracle.add_raw_identifier(value);
        }
        Ok(oracle)
    }

    /// Adds the pseudonym of a real entity (also a pseudonym).
    ///
    /// # Errors
    /// [`NotAPseudonym`] if it is not 32 lowercase hex characters.
    pub fn add_entity(&mut self, pseudonym: &str) -> Result<(), NotAPseudonym> {
        let bytes = parse_pseudonym(pseudonym).ok_or(NotAPseudonym)?;
        self.add_entity_bytes(bytes);
        Ok(())
    }

    /// Adds a real entity by its 16 pseudonym bytes (for callers holding the HMAC output).
    pub fn add_entity_bytes(&mut self, bytes: [u8; 16]) {
        self.entities.insert(bytes);
        self.pseudonyms.insert(bytes);
    }

    /// Adds the pseudonym of an identifier value that is not an entity key.
    ///
    /// # Errors
    /// [`NotAPseudonym`] if it is not 32 lowercase hex characters.
    pub fn add_pseudonym(&mut self, pseudonym: &str) -> Result<(), NotAPseudonym> {
        let bytes = parse_pseudonym(pseudonym).ok_or(NotAPseudonym)?;
        self.add_pseudonym_bytes(bytes);
        Ok(())
    }

    /// Adds a pseudonym by its 16 bytes.
    pub fn add_pseudonym_bytes(&mut self, bytes: [u8; 16]) {
        self.pseudonyms.insert(bytes);
    }

    /// Adds a raw identifier value (citizen ID number, credit code, ...).
    pub fn add_raw_identifier(&mut self, value: impl Into<String>) {
        let value = value.into();
        self.raw_folded.insert(super::fold(&value));
        self.raw.insert(value);
    }

    /// Number of real entities known.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }
}

impl IdentifierOracle for SetOracle {
    fn is_entity(&self, pseudonym: &str) -> bool {
        parse_pseudonym(pseudonym).is_some_and(|b| self.entities.contains(&b))
    }

    fn is_entity_key(&self, key: &[u8; 16]) -> bool {
        self.entities.contains(key)
    }

    fn entity_count(&self) -> Option<usize> {
        Some(self.entities.len())
    }

    fn is_pseudonym(&self, text: &str) -> bool {
        parse_pseudonym(text).is_some_and(|b| self.pseudonyms.contains(&b))
    }

    fn is_raw_identifier(&self, text: &str) -> bool {
        self.raw.contains(text)
    }

    fn is_raw_identifier_folded(&self, folded: &str) -> bool {
        // A value that folds to nothing (all separators) would match every empty cell.
        !folded.is_empty() && self.raw_folded.contains(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "00112233445566778899aabbccddeeff";
    const P2: &str = "ffeeddccbbaa99887766554433221100";

    #[test]
    fn parses_only_lowercase_32_hex() {
        assert!(parse_pseudonym(P1).is_some());
        assert!(parse_pseudonym(&P1.to_uppercase()).is_none());
        assert!(parse_pseudonym(&P1[1..]).is_none());
        assert!(parse_pseudonym(&format!("{P1}0")).is_none());
        assert!(parse_pseudonym("g0112233445566778899aabbccddeeff").is_none());
        assert!(parse_pseudonym("").is_none());
        // 32 bytes but not 32 ASCII characters.
        assert!(parse_pseudonym("区区区区区区区区区区0a").is_none());
        // Every byte other than 0-9 and a-f, in every position, is refused; the digits decode.
        for at in 0..PSEUDONYM_HEX_LEN {
            for byte in 0..=u8::MAX {
                let mut text = P1.as_bytes().to_vec();
                text[at] = byte;
                let Ok(text) = std::str::from_utf8(&text) else {
                    continue;
                };
                let hex = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                assert_eq!(parse_pseudonym(text).is_some(), hex, "{byte} at {at}");
            }
        }
        let decoded = parse_pseudonym(P1).expect("valid");
        assert_eq!(hex::encode(decoded), P1);
        assert_eq!(
            parse_pseudonym("0123456789abcdeffedcba9876543210"),
            Some([
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
                0x32, 0x10
            ])
        );
    }

    #[test]
    fn set_oracle_answers() {
        let oracle = SetOracle::from_parts([P1], [P2], ["110101199003074514"]).expect("valid");
        assert!(oracle.is_entity(P1));
        let key = parse_pseudonym(P1).expect("valid");
        assert!(oracle.is_entity_key(&key));
        assert!(!oracle.is_entity_key(&parse_pseudonym(P2).expect("valid")));
        assert!(oracle.is_pseudonym(P1), "an entity is also a pseudonym");
        assert!(!oracle.is_entity(P2));
        assert!(oracle.is_pseudonym(P2));
        assert!(oracle.is_raw_identifier("110101199003074514"));
        assert!(!oracle.is_raw_identifier("110101199003074515"));
        assert_eq!(oracle.entity_count(), 1);
    }

    #[test]
    fn set_oracle_refuses_malformed_pseudonyms() {
        assert_eq!(
            SetOracle::from_parts(["nope"], [P2], Vec::<String>::new()).err(),
            Some(NotAPseudonym)
        );
    }
}
