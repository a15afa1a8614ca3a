//! The clamp rule: every contributed measure value is forced into the contract's `[lo, hi]`.
//!
//! Clamping bounds what one value can add to a sum, so together with the per-entity bound `L` no
//! entity can move a group's sum by more than `L × max(|lo|, |hi|)`.
//!
//! Values that are not numbers carry no magnitude to clamp. **Null, NaN and ±infinity are left out
//! of their measure** (not of the row: the row still counts for the group and its entity): they add
//! nothing to that measure's count, sum or mean, and are counted in the report (`null_values`,
//! `non_finite_values`). Treating infinity as the bound instead would make a module's choice of
//! value matter for a value that was never measured; leaving it out is the simpler rule to audit
//! and keeps the same sensitivity. Int64 values are widened to f64 first (values beyond 2^53 round,
//! then clamp). `-0.0` is stored as `0.0` so that a sum never shows a sign that no value had.

/// What a contributed measure value becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Clamped {
    /// A finite value in `[lo, hi]`; `moved` if clamping changed it.
    Value { value: f64, moved: bool },
    /// The value was null.
    Null,
    /// The value was NaN or ±infinity.
    NonFinite,
}

/// Applies the clamp rule to one value.
pub(crate) fn clamp(value: Option<f64>, [lo, hi]: [f64; 2]) -> Clamped {
    let Some(value) = value else {
        return Clamped::Null;
    };
    if !value.is_finite() {
        return Clamped::NonFinite;
    }
    // `lo <= hi` and both finite are guaranteed by contract validation; `f64::clamp` would panic
    // otherwise, so compare by hand.
    let bounded = if value < lo {
        lo
    } else if value > hi {
        hi
    } else {
        value
    };
    Clamped::Value {
        value: bounded + 0.0,
        moved: bounded != value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_flags_moves() {
        let range = [0.0, 100.0];
        assert_eq!(
            clamp(Some(50.0), range),
            Clamped::Value {
                value: 50.0,
                moved: false
            }
        );
        assert_eq!(
            clamp(Some(-5.0), range),
            Clamped::Value {
                value: 0.0,
                moved: true
            }
        );
        assert_eq!(
            clamp(Some(1e300), range),
            Clamped::Value {
                value: 100.0,
                moved: true
            }
        );
        assert_eq!(
            clamp(Some(f64::MAX), range),
            Clamped::Value {
                value: 100.0,
                moved: true
            }
        );
        assert_eq!(
            clamp(Some(100.0), range),
            Clamped::Value {
                value: 100.0,
                moved: false
            }
        );
    }

    #[test]
    fn non_numbers_are_left_out() {
        let range = [0.0, 100.0];
        assert_eq!(clamp(None, range), Clamped::Null);
        assert_eq!(clamp(Some(f64::NAN), range), Clamped::NonFinite);
        assert_eq!(clamp(Some(f64::INFINITY), range), Clamped::NonFinite);
        assert_eq!(clamp(Some(f64::NEG_INFINITY), range), Clamped::NonFinite);
    }

    #[test]
    fn negative_zero_becomes_zero() {
        match clamp(Some(-0.0), [-1.0, 1.0]) {
            Clamped::Value { value, moved } => {
                assert!(value.is_sign_positive());
                assert!(!moved);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
