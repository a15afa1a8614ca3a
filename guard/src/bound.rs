//! Rules `entity.null`, `entity.unknown` and the per-entity bound `L`: who may contribute, and how
//! much.
//!
//! Every contribution row must name a real entity of the granted datasets. A null or unknown
//! entity cannot be bounded or counted towards k (a module inventing entities could make one real
//! entity look like k), so such rows are left out and counted, and any of them blocks the release.
//!
//! A real entity keeps its **first `L` rows in stream order**; later rows are dropped and counted.
//! Bounding what one entity contributes is what makes the aggregates' sensitivity finite (the base
//! of a later differential-privacy step) and limits how much one entity can move a group.
//!
//! Memory: one `u32` counter per distinct real entity, keyed by the pseudonym's 16 bytes. Unknown
//! entities are only counted, never stored, so a module streaming made-up pseudonyms cannot grow
//! this ledger. A release keeps one ledger per entity shard (`shard.rs`): an entity's rows all
//! reach the same ledger, in stream order.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::aggregate::MemberHasher;
use super::oracle::IdentifierOracle;
use super::shard::room_to_reserve;

/// What becomes of one contribution row, judged by its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The row is kept for this entity (its 16 pseudonym bytes).
    Kept([u8; 16]),
    /// The entity already contributed `L` rows; this one is dropped.
    Dropped,
    /// The entity is null.
    Null,
    /// The entity is not a real entity of the granted datasets.
    Unknown,
}

/// Rows admitted so far per real entity.
#[derive(Debug)]
pub(crate) struct EntityLedger {
    limit: u32,
    /// Keyed by pseudonyms the oracle found real, which the module cannot shape: hashed without
    /// SipHash, for the reason [`MemberHasher`] gives.
    rows: HashMap<[u8; 16], u32, BuildHasherDefault<MemberHasher>>,
    /// How many entities the release may have in all (see `shard::room_to_reserve`).
    entities: Option<usize>,
}

impl EntityLedger {
    /// A ledger keeping at most `limit` rows per entity.
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit,
            rows: HashMap::default(),
            entities: None,
        }
    }

    /// The same, sized for a share of `entities` once it holds many (`shard::room_to_reserve`).
    pub(crate) fn expecting(mut self, entities: Option<usize>) -> Self {
        self.entities = entities;
        self
    }

    /// Judges one row's entity and, if it is kept, counts it against the entity's bound.
    #[cfg(test)]
    pub(crate) fn admit(
        &mut self,
        entity: Option<&str>,
        oracle: &dyn IdentifierOracle,
    ) -> Admission {
        let Some(entity) = entity else {
            return Admission::Null;
        };
        // Anything that is not 32 lowercase hex characters cannot be a pseudonym: no oracle call.
        let Some(key) = super::oracle::parse_pseudonym(entity) else {
            return Admission::Unknown;
        };
        self.admit_key(key, oracle)
    }

    /// [`EntityLedger::admit`] for an entity already decoded from its 32 hex characters.
    pub(crate) fn admit_key(&mut self, key: [u8; 16], oracle: &dyn IdentifierOracle) -> Admission {
        match self.rows.get_mut(&key) {
            // Already known to be real: the oracle is asked once per entity, not once per row.
            Some(count) if *count >= self.limit => Admission::Dropped,
            Some(count) => {
                *count += 1;
                Admission::Kept(key)
            }
            None if !oracle.is_entity_key(&key) => Admission::Unknown,
            // `L = 0` is refused by contract validation; keep nothing rather than one row anyway.
            None if self.limit == 0 => Admission::Dropped,
            None => {
                self.rows
                    .reserve(room_to_reserve(self.rows.len(), self.entities));
                self.rows.insert(key, 1);
                Admission::Kept(key)
            }
        }
    }

    /// Number of distinct real entities seen.
    pub(crate) fn entities(&self) -> u64 {
        self.rows.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::super::oracle::SetOracle;
    use super::*;

    const A: &str = "0000000000000000000000000000000a";
    const B: &str = "0000000000000000000000000000000b";

    #[test]
    fn keeps_the_first_l_rows_per_entity() {
        let oracle =
            SetOracle::from_parts([A, B], Vec::<&str>::new(), Vec::<String>::new()).expect("valid");
        let mut ledger = EntityLedger::new(2);
        let verdicts: Vec<_> = [A, B, A, A, B, B, A]
            .iter()
            .map(|e| ledger.admit(Some(*e), &oracle))
            .collect();
        let kept = |v: &Admission| matches!(v, Admission::Kept(_));
        assert_eq!(verdicts.iter().filter(|v| kept(v)).count(), 4);
        assert_eq!(verdicts[3], Admission::Dropped);
        assert_eq!(verdicts[5], Admission::Dropped);
        assert_eq!(verdicts[6], Admission::Dropped);
        assert_eq!(ledger.entities(), 2);
    }

    #[test]
    fn null_and_unknown_entities_are_not_stored() {
        let oracle =
            SetOracle::from_parts([A], Vec::<&str>::new(), Vec::<String>::new()).expect("valid");
        let mut ledger = EntityLedger::new(1);
        assert_eq!(ledger.admit(None, &oracle), Admission::Null);
        assert_eq!(ledger.admit(Some(B), &oracle), Admission::Unknown);
        assert_eq!(
            ledger.admit(Some(&A.to_uppercase()), &oracle),
            Admission::Unknown
        );
        assert_eq!(
            ledger.admit(Some(&"a".repeat(1 << 20)), &oracle),
            Admission::Unknown
        );
        assert_eq!(ledger.admit(Some(""), &oracle), Admission::Unknown);
        assert_eq!(ledger.entities(), 0);
    }
}
