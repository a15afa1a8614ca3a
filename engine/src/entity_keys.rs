//! Entity keys: the pseudonyms of the raw entity identifiers a grouping by entity reads, made
//! once for two users, the entity runs (each run's key, as the views show it) and the
//! identifier universe ([`PartialUniverse::with_entities`](crate::universe::PartialUniverse)).

use std::sync::Arc;

use super::Pseudonymizer;

/// Turns raw entity identifiers into their keys, the pseudonyms the views show.
#[derive(Clone)]
pub struct EntityKeys(pub(crate) Pseudonymizer);

impl EntityKeys {
    /// Pseudonymizes `raw` (the distinct raw values of the entity columns, in the order their
    /// entities are numbered) on `threads` threads, counted in [`Pseudonymizer::spent`] like
    /// the views' pseudonyms.
    pub fn values(&self, raw: Vec<Box<str>>, threads: usize) -> EntityValues {
        let pseudonymizer = &self.0;
        let pseudonyms = super::threads::split(raw.len(), threads, |range| {
            pseudonymizer.pseudonym_bytes_counted(&raw[range])
        })
        .map(|parts| parts.concat())
        // HMAC does not panic; should a thread die anyway, its values are made here.
        .unwrap_or_else(|| pseudonymizer.pseudonym_bytes_counted(&raw));
        EntityValues {
            key_tag: pseudonymizer.key_tag(),
            raw,
            pseudonyms,
        }
    }
}

/// Distinct raw entity identifiers with their pseudonyms under one scenario key. Holds raw
/// values: host memory only, dropped once the universe has what it needs.
pub struct EntityValues {
    key_tag: [u8; 8],
    raw: Vec<Box<str>>,
    pseudonyms: Vec<[u8; 16]>,
}

impl std::fmt::Debug for EntityValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("EntityValues")
            .field("len", &self.raw.len())
            .finish()
    }
}

impl EntityValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Every value's key as the views show it (32 lowercase hex characters), in order.
    pub fn keys(&self) -> Vec<Arc<str>> {
        self.pseudonyms
            .iter()
            .map(|p| Arc::from(hex::encode(p)))
            .collect()
    }

    /// Whether the pseudonyms were made under `pseudonymizer`'s key.
    pub(crate) fn keyed_by(&self, pseudonymizer: &Pseudonymizer) -> bool {
        self.key_tag == pseudonymizer.key_tag()
    }

    /// The raw values, in order.
    pub(crate) fn raw(&self) -> &[Box<str>] {
        &self.raw
    }

    /// Their pseudonyms, in the same order.
    pub(crate) fn pseudonyms(&self) -> &[[u8; 16]] {
        &self.pseudonyms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_views_pseudonyms_in_order_on_any_number_of_threads() {
        let p = Pseudonymizer::new(&[7; 32]);
        let raw: Vec<Box<str>> = ["A-1", "B-2", "c3", "", "身份"]
            .iter()
            .map(|&v| Box::from(v))
            .collect();
        for threads in [0, 1, 2, 3, 8] {
            let values = EntityKeys(p.clone()).values(raw.clone(), threads);
            assert_eq!(values.len(), 5);
            let expected: Vec<Arc<str>> = raw.iter().map(|v| Arc::from(p.pseudonym(v))).collect();
            assert_eq!(values.keys(), expected, "{threads} threads");
            assert!(values.keyed_by(&p));
            assert!(!values.keyed_by(&Pseudonymizer::new(&[8; 32])));
            assert_eq!(values.raw(), &raw[..]);
            assert_eq!(values.pseudonyms().len(), 5);
        }
        let none = EntityKeys(p).values(Vec::new(), 2);
        assert!(none.is_empty() && none.keys().is_empty());
        assert_eq!(format!("{none:?}"), "EntityValues { len: 0 }");
    }
}
