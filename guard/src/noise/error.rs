//! The one error type of the noise samplers and mechanisms.

/// Why a noise mechanism could not be built or could not draw a sample.
///
/// Messages name the parameter at fault and never carry a data value: they reach operators
/// through block messages and CLI output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    /// A parameter is outside the range the mechanism accepts.
    #[error("invalid {parameter}: {reason}")]
    InvalidParameter {
        /// The parameter's name as the caller passed it (`epsilon`, `delta`, `sensitivity`, ...).
        parameter: &'static str,
        /// What is wrong and what range is accepted.
        reason: String,
    },
    /// Exact integer arithmetic would overflow. Construction refuses parameters that could
    /// overflow on ordinary draws; a draw may still meet it in a tail of probability below
    /// 2^-300, and then fails closed rather than release a wrong value.
    #[error(
        "{0} overflows exact integer arithmetic; use a coarser resolution or a larger epsilon"
    )]
    Overflow(&'static str),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    RandomSource,
}

impl NoiseError {
    pub(crate) fn invalid(parameter: &'static str, reason: impl Into<String>) -> Self {
        NoiseError::InvalidParameter {
            parameter,
            reason: reason.into(),
        }
    }
}
