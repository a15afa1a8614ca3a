//! Exact fixed-point amounts of ε and δ.
//!
//! The ledger never adds or compares floats: ε is kept as an integer count of 1e-9 and δ as an
//! integer count of 1e-15 ([`EPSILON_SCALE`], [`DELTA_SCALE`]), stored as BIGINT. Thirty charges
//! of 0.1 then spend exactly 3, and "spent + asked ≤ total" means what it says.
//!
//! A float is converted through its shortest decimal representation (Rust's `Display` of an
//! `f64`, which round-trips), i.e. the decimal the operator typed: `0.1` is exactly 100 000 000
//! units of ε, not the binary float's 0.1000000000000000055… Digits finer than one unit are
//! rounded **up** for charges (a release never costs less than asked) and **down** for totals (a
//! budget never holds more than granted), so rounding always errs on the side of privacy.
//!
//! Every amount is bounded ([`MAX_EPSILON`], δ < 1), so its count of units stays below 2^53: the
//! conversion back to `f64` (units ÷ 10^scale, one correctly rounded division) yields the float
//! nearest the exact decimal, which `Display` prints as that decimal.

/// Decimal digits of ε kept: ε is counted in units of 1e-9.
pub const EPSILON_SCALE: u32 = 9;
/// Decimal digits of δ kept: δ is counted in units of 1e-15.
pub const DELTA_SCALE: u32 = 15;
/// The largest ε a budget may hold or a release may cost. Meaningful ε are below 10; the bound
/// keeps every count of units, and any sum the ledger forms, far from overflowing.
pub const MAX_EPSILON: f64 = 1_000_000.0;

/// Which way digits finer than one unit go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Towards +∞: for charges.
    Up,
    /// Towards zero: for totals.
    Down,
}

/// An exact (ε, δ) amount in units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Units {
    /// ε in 1e-9.
    pub epsilon: i64,
    /// δ in 1e-15.
    pub delta: i64,
}

impl Units {
    /// `self + other`, `None` on overflow (impossible within the bounds, checked anyway).
    pub fn checked_add(self, other: Units) -> Option<Units> {
        Some(Units {
            epsilon: self.epsilon.checked_add(other.epsilon)?,
            delta: self.delta.checked_add(other.delta)?,
        })
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Units) -> Option<Units> {
        Some(Units {
            epsilon: self.epsilon.checked_sub(other.epsilon)?,
            delta: self.delta.checked_sub(other.delta)?,
        })
    }

    /// Whether both components are at most `limit`'s.
    pub fn within(self, limit: Units) -> bool {
        self.epsilon <= limit.epsilon && self.delta <= limit.delta
    }
}

/// `value` (finite, ≥ 0) as a count of 10^-`scale` units, rounded as `round` says; `None` if it
/// does not fit an `i64` (callers bound values well below that).
pub fn to_units(value: f64, scale: u32, round: Round) -> Option<i64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    if value == 0.0 {
        // Also covers -0.0, whose text would carry a sign.
        return Some(0);
    }
    // `Display` of an f64 never uses an exponent and prints the shortest digits that round-trip.
    let text = value.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let scale_usize = usize::try_from(scale).ok()?;
    let mut units: i64 = 0;
    for digit in whole.bytes() {
        units = units.checked_mul(10)?.checked_add(digit_value(digit)?)?;
    }
    let kept = fraction
        .get(..scale_usize.min(fraction.len()))
        .unwrap_or("");
    for digit in kept.bytes() {
        units = units.checked_mul(10)?.checked_add(digit_value(digit)?)?;
    }
    let padding = u32::try_from(scale_usize - kept.len()).ok()?;
    units = units.checked_mul(10_i64.checked_pow(padding)?)?;
    let dropped = fraction.get(kept.len()..).unwrap_or("");
    if round == Round::Up && dropped.bytes().any(|b| b != b'0') {
        units = units.checked_add(1)?;
    }
    Some(units)
}

/// The float nearest `units` × 10^-`scale` (exact decimal for counts below 2^53).
pub fn from_units(units: i64, scale: u32) -> f64 {
    // Counts stay below 2^53 (see the module docs), so both operands are exact floats and the
    // one rounding is the division's.
    units as f64 / 10_f64.powi(i32::try_from(scale).unwrap_or(0))
}

fn digit_value(byte: u8) -> Option<i64> {
    byte.is_ascii_digit().then(|| i64::from(byte - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_exactly() {
        assert_eq!(to_units(0.1, EPSILON_SCALE, Round::Up), Some(100_000_000));
        assert_eq!(to_units(0.1, EPSILON_SCALE, Round::Down), Some(100_000_000));
        assert_eq!(
            to_units(3.0, EPSILON_SCALE, Round::Down),
            Some(3_000_000_000)
        );
        assert_eq!(to_units(0.3, EPSILON_SCALE, Round::Up), Some(300_000_000));
        assert_eq!(to_units(1e-5, DELTA_SCALE, Round::Up), Some(10_000_000_000));
        assert_eq!(to_units(1e-15, DELTA_SCALE, Round::Up), Some(1));
        assert_eq!(to_units(-0.0, DELTA_SCALE, Round::Up), Some(0));
        assert_eq!(
            to_units(MAX_EPSILON, EPSILON_SCALE, Round::Down),
            Some(1_000_000_000_000_000)
        );
    }

    #[test]
    fn sub_unit_digits_round_up_for_charges_and_down_for_totals() {
        // 0.1 + 0.2 is 0.30000000000000004 as a float: a charge pays the extra unit.
        let sum = 0.1 + 0.2;
        assert_eq!(to_units(sum, EPSILON_SCALE, Round::Up), Some(300_000_001));
        assert_eq!(to_units(sum, EPSILON_SCALE, Round::Down), Some(300_000_000));
        assert_eq!(to_units(1e-12, EPSILON_SCALE, Round::Up), Some(1));
        assert_eq!(to_units(1e-12, EPSILON_SCALE, Round::Down), Some(0));
        assert_eq!(to_units(1e-300, EPSILON_SCALE, Round::Up), Some(1));
    }

    #[test]
    fn non_finite_negative_and_huge_values_are_refused() {
        assert_eq!(to_units(f64::NAN, EPSILON_SCALE, Round::Up), None);
        assert_eq!(to_units(f64::INFINITY, EPSILON_SCALE, Round::Up), None);
        assert_eq!(to_units(-1.0, EPSILON_SCALE, Round::Up), None);
        assert_eq!(to_units(1e300, EPSILON_SCALE, Round::Up), None);
    }

    #[test]
    fn units_convert_back_to_the_decimal() {
        assert_eq!(from_units(100_000_000, EPSILON_SCALE).to_string(), "0.1");
        assert_eq!(from_units(2_900_000_000, EPSILON_SCALE).to_string(), "2.9");
        assert_eq!(
            from_units(10_000_000_000, DELTA_SCALE).to_string(),
            "0.00001"
        );
        assert_eq!(from_units(-200_000_000, EPSILON_SCALE).to_string(), "-0.2");
        for units in [1, 7, 123_456_789, 999_999_999_999_999] {
            let back = from_units(units, DELTA_SCALE);
            assert_eq!(to_units(back, DELTA_SCALE, Round::Up), Some(units));
            assert_eq!(to_units(back, DELTA_SCALE, Round::Down), Some(units));
        }
    }
}
