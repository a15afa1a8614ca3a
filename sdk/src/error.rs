//! The SDK's error type and how each error becomes the `i32` that `shuyu_main` returns.
//!
//! The operator only ever sees that number (`guest error <code>`), never the message: messages go
//! to the audit log, because they could carry data. So the code alone has to say what class of
//! thing went wrong. Codes are laid out so the classes cannot collide:
//!
//! | codes | meaning |
//! | --- | --- |
//! | 1–89 | chosen by the module ([`Error::Guest`]) |
//! | 90 | Arrow could not decode or encode a batch (`Error::Arrow`, feature `arrow`) |
//! | 91 | a column is missing or of another type ([`Error::Column`]) |
//! | 92 | the SDK was used wrongly, e.g. wrong number of dimensions ([`Error::Usage`]) |
//! | 100 + n | a host function returned the ABI error code `-n` ([`Error::Host`]) |

use crate::abi;
#[cfg(feature = "arrow")]
use arrow_schema::ArrowError;
use std::fmt;

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Code returned for `Error::Arrow` (feature `arrow`).
pub const CODE_ARROW: i32 = 90;
/// Code returned for [`Error::Column`].
pub const CODE_COLUMN: i32 = 91;
/// Code returned for [`Error::Usage`].
pub const CODE_USAGE: i32 = 92;
/// Host error `-n` is returned as `CODE_HOST_BASE + n`.
pub const CODE_HOST_BASE: i32 = 100;

/// Everything that can go wrong in a module using this SDK.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A host function returned an error code (see `docs/abi.md`, "Error codes"); `message` is
    /// what `last_error` said about it.
    Host {
        /// The negative ABI code, e.g. [`abi::QUERY_REJECTED`].
        code: i32,
        /// The host's message for the failed call.
        message: String,
    },
    /// Arrow could not decode a batch from the host or encode contributions.
    #[cfg(feature = "arrow")]
    Arrow(ArrowError),
    /// A column asked for by name is missing from the batch or has another type.
    Column {
        /// The column asked for.
        name: String,
        /// The type the accessor wanted, e.g. `"Utf8"`.
        expected: &'static str,
        /// The type the batch has as Arrow names it (`"Date32"`), or `None` when it has no
        /// such column.
        found: Option<String>,
    },
    /// The SDK was called in a way that cannot work, e.g. a contribution row with the wrong
    /// number of dimension values.
    Usage(String),
    /// An error the module raises itself, with its own code (1–89 by convention; a code that is
    /// not positive is returned as 1, since 0 means success).
    Guest(i32, String),
}

impl Error {
    /// A module-defined error: `shuyu_main` returns `code` (see the type's docs for the ranges).
    pub fn guest(code: i32, message: impl Into<String>) -> Self {
        Error::Guest(code, message.into())
    }

    /// The host's error for a negative return value, with the message from `last_error`.
    pub(crate) fn from_host(code: i32) -> Self {
        Error::Host {
            code,
            message: last_error_message(),
        }
    }

    /// The positive code `shuyu_main` returns for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::Host { code, .. } => {
                let n = i32::try_from(code.unsigned_abs()).unwrap_or(i32::MAX);
                CODE_HOST_BASE.saturating_add(n)
            }
            #[cfg(feature = "arrow")]
            Error::Arrow(_) => CODE_ARROW,
            Error::Column { .. } => CODE_COLUMN,
            Error::Usage(_) => CODE_USAGE,
            Error::Guest(code, _) if *code > 0 => *code,
            Error::Guest(..) => 1,
        }
    }

    /// The ABI code if this is a host error, e.g. to tell [`abi::QUERY_REJECTED`] apart.
    pub fn host_code(&self) -> Option<i32> {
        match self {
            Error::Host { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Host { code, message } => {
                let name = abi::code_name(*code).unwrap_or("unknown code");
                write!(f, "host error {code} ({name}): {message}")
            }
            #[cfg(feature = "arrow")]
            Error::Arrow(e) => write!(f, "arrow: {e}"),
            Error::Column {
                name,
                expected,
                found: None,
            } => write!(f, "no column `{name}` (expected {expected})"),
            Error::Column {
                name,
                expected,
                found: Some(actual),
            } => write!(f, "column `{name}` is {actual}, expected {expected}"),
            Error::Usage(message) => write!(f, "SDK misuse: {message}"),
            Error::Guest(code, message) => write!(f, "module error {code}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "arrow")]
            Error::Arrow(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "arrow")]
impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        Error::Arrow(e)
    }
}

/// Longest message fetched from `last_error`; the host's messages are short, and a hostile host
/// value must not make the module allocate without bound.
const MAX_MESSAGE: usize = 16 * 1024;

/// The message of the most recent failed host call (empty if the host has none).
fn last_error_message() -> String {
    let mut buf = vec![0u8; 512];
    // SAFETY: the pointer and capacity describe `buf`, which lives across the call.
    let full = unsafe { abi::last_error(buf.as_mut_ptr(), buf.len()) };
    let Ok(full) = usize::try_from(full) else {
        return String::new();
    };
    if full > buf.len() {
        buf.resize(full.min(MAX_MESSAGE), 0);
        // SAFETY: as above, for the grown buffer.
        unsafe { abi::last_error(buf.as_mut_ptr(), buf.len()) };
    }
    buf.truncate(full);
    // The host cuts at a byte count, possibly inside a character.
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_stay_in_their_ranges() {
        let host = Error::Host {
            code: abi::QUERY_REJECTED,
            message: String::new(),
        };
        assert_eq!(host.code(), 102);
        assert_eq!(host.host_code(), Some(-2));
        let extreme = Error::Host {
            code: i32::MIN,
            message: String::new(),
        };
        assert_eq!(extreme.code(), i32::MAX);
        assert_eq!(Error::guest(7, "x").code(), 7);
        assert_eq!(Error::guest(0, "x").code(), 1);
        assert_eq!(Error::guest(-3, "x").code(), 1);
        assert_eq!(Error::Usage("x".into()).code(), CODE_USAGE);
        #[cfg(feature = "arrow")]
        assert_eq!(
            Error::from(ArrowError::ComputeError("x".into())).code(),
            CODE_ARROW
        );
    }

    #[test]
    fn messages_name_column_and_type() {
        let e = Error::Column {
            name: "district".into(),
            expected: "Utf8",
            found: Some("Int64".into()),
        };
        assert_eq!(e.to_string(), "column `district` is Int64, expected Utf8");
        let e = Error::Column {
            name: "nope".into(),
            expected: "Float64",
            found: None,
        };
        assert_eq!(e.to_string(), "no column `nope` (expected Float64)");
        let e = Error::Host {
            code: -2,
            message: "column legal_rep_id is not granted".into(),
        };
        assert_eq!(
            e.to_string(),
            "host error -2 (QUERY_REJECTED): column legal_rep_id is not granted"
        );
    }

    #[test]
    fn host_errors_carry_the_stub_message() {
        let e = Error::from_host(abi::NOT_IN_SANDBOX);
        assert!(
            e.to_string().contains("only inside the shuyu sandbox"),
            "{e}"
        );
        assert_eq!(e.code(), 199);
    }
}
