//! Verification and data services (数据核验、数据服务): the answer contract of a `[[service]]`
//! and the checks around one call (docs/abi.md, "Answer runs"; docs/security.md, "What one
//! answer can reveal").
//!
//! A service answers a question about **one** subject who consented: the module's answer run
//! sees only that subject's rows and hands over one row. Nothing else of the run leaves the
//! domain; the answer itself leaves only if every field is one of its contract's declared
//! values ([`AnswerField::values`]) or falls in one of its declared buckets
//! ([`AnswerField::buckets`], released as the bucket, never the number). The contract therefore
//! fixes how many bits one answer can carry ([`ServiceContract::answer_bits`]) before any call
//! is made, and reviewers approve exactly that.
//!
//! ```text
//! request params ─▶ check_params (declared, typed, in range) ─▶ one-row `request` table
//! answer chunk   ─▶ ipc_check ─▶ decode ─▶ check_answer (one row, declared fields, values
//!                   in their enumeration, numbers in their buckets) ─▶ Answer (labels only)
//! answer rows    ─▶ shuyu_abi::rows::parse ─▶ check_answer_rows (the same rules)
//! ```

mod answer;
mod contract;
mod request;

pub use answer::{check_answer, check_answer_rows, Answer, AnswerValue};
pub use contract::{
    AnswerField, ParamSpec, ParamType, ServiceContract, ServiceContractError, SubjectKind,
    MAX_ANSWER_BITS,
};
pub use request::check_params;

/// The table name an answer run reads its request parameters under (`entity_rows`).
pub const REQUEST_TABLE: &str = shuyu_abi::REQUEST_TABLE;
