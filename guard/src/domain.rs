//! Rule `dimension.domain`: a dimension with a declared public domain may only take its values.
//!
//! A declared domain (`values = [...]` in the contract) turns a dimension into a closed list, so a
//! module cannot use the group key to carry anything but the reviewed values. A null value is
//! outside every domain. All groups are checked, suppressed ones included: a key outside the domain
//! is a sign of smuggling whether or not its group would have been released.

use std::collections::HashSet;

use super::aggregate::Aggregates;
use super::contract::ReleaseContract;

/// A dimension with group keys outside its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainViolation {
    /// The dimension's name.
    pub dimension: String,
    /// How many groups had a value outside the domain in this dimension.
    pub groups: u64,
}

/// The first dimension (in contract order) with a group key outside its declared domain.
pub(crate) fn check(
    contract: &ReleaseContract,
    aggregates: &Aggregates,
) -> Result<(), DomainViolation> {
    for (position, dimension) in contract.dimensions.iter().enumerate() {
        let Some(values) = &dimension.values else {
            continue;
        };
        let domain: HashSet<&str> = values.iter().map(String::as_str).collect();
        let outside = aggregates
            .groups
            .iter()
            .filter(|g| match g.key.get(position) {
                Some(Some(value)) => !domain.contains(value.as_str()),
                _ => true,
            })
            .count() as u64;
        if outside > 0 {
            return Err(DomainViolation {
                dimension: dimension.name.clone(),
                groups: outside,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::aggregate::Group;
    use super::super::contract::tests::sample;
    use super::*;

    fn groups(keys: &[Option<&str>]) -> Aggregates {
        Aggregates {
            groups: keys
                .iter()
                .map(|k| Group {
                    key: vec![k.map(str::to_owned)],
                    entities: 1,
                    rows: 1,
                    measures: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn values_outside_the_domain_are_counted() {
        let mut contract = sample();
        assert_eq!(check(&contract, &groups(&[Some("anything")])), Ok(()));
        contract.dimensions[0].values = Some(vec!["上城区".into(), "西湖区".into()]);
        assert_eq!(
            check(&contract, &groups(&[Some("上城区"), Some("西湖区")])),
            Ok(())
        );
        let err = check(&contract, &groups(&[Some("上城区"), Some("滨江区"), None]));
        assert_eq!(
            err,
            Err(DomainViolation {
                dimension: "district".into(),
                groups: 2
            })
        );
    }
}
