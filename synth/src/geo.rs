//! The city: Hangzhou's districts with their division codes and rough weights for population,
//! registered enterprises and hospital capacity. Urban districts are large, rural counties small,
//! so some groups in the bundled data fall below every provider's k.

/// How built-up a district is; shifts the mix of industries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settlement {
    /// The old city and the tech districts.
    Urban,
    /// Industrial and new-town districts around the core.
    Suburban,
    /// Outlying districts and counties.
    Rural,
}

/// One district of the city.
#[derive(Debug)]
pub(super) struct District {
    /// The 6-digit administrative division code (GB/T 2260), used in identifiers.
    pub code: &'static str,
    /// The name, as it appears in the `district` columns.
    pub name: &'static str,
    /// Resident population weight (roughly 万人).
    pub population: f64,
    /// Weight of registered enterprises.
    pub firms: f64,
    /// Weight of hospital visits from outside the district (the big hospitals are central).
    pub hospitals: f64,
    /// How built-up the district is.
    pub settlement: Settlement,
}

/// Hangzhou's thirteen districts, counties and county-level cities.
pub(super) const DISTRICTS: [District; 13] = [
    district("330102", "上城区", 138.0, 11.0, 4.0, Settlement::Urban),
    district("330105", "拱墅区", 119.0, 10.0, 2.0, Settlement::Urban),
    district("330106", "西湖区", 118.0, 12.0, 3.0, Settlement::Urban),
    district("330108", "滨江区", 54.0, 10.0, 1.0, Settlement::Urban),
    district("330109", "萧山区", 212.0, 15.0, 1.2, Settlement::Suburban),
    district("330110", "余杭区", 135.0, 18.0, 1.0, Settlement::Suburban),
    district("330111", "富阳区", 85.0, 5.0, 0.5, Settlement::Rural),
    district("330112", "临安区", 65.0, 3.5, 0.4, Settlement::Rural),
    district("330113", "临平区", 118.0, 6.0, 0.6, Settlement::Suburban),
    district("330114", "钱塘区", 80.0, 5.0, 0.5, Settlement::Suburban),
    district("330122", "桐庐县", 46.0, 2.0, 0.2, Settlement::Rural),
    district("330127", "淳安县", 33.0, 1.2, 0.1, Settlement::Rural),
    district("330182", "建德市", 44.0, 1.3, 0.2, Settlement::Rural),
];

const fn district(
    code: &'static str,
    name: &'static str,
    population: f64,
    firms: f64,
    hospitals: f64,
    settlement: Settlement,
) -> District {
    District {
        code,
        name,
        population,
        firms,
        hospitals,
        settlement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_six_digit_hangzhou_codes() {
        let mut codes: Vec<_> = DISTRICTS.iter().map(|d| d.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DISTRICTS.len());
        assert!(codes.iter().all(|c| c.len() == 6
            && c.starts_with("3301")
            && c.bytes().all(|b| b.is_ascii_digit())));
    }
}
