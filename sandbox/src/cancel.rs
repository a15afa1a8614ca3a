//! Stopping a running guest from outside: a job cancelled by its operator, or stopped because
//! its operator, application or dataset was suspended.
//!
//! A [`CancelToken`] is a shared flag. The sandbox looks at it in two places, because a guest can
//! spend its time in either:
//! - at the start of every ABI call, so a guest busy talking to the host fails its next call;
//! - in pure computation, through wasmtime's epoch interruption: a ticker thread advances the
//!   engine's epoch every [`EPOCH_TICK`], and each store's deadline callback looks at the flag.
//!
//! Cancelling is cooperative only in the sense that the flag is polled: a guest cannot ignore it,
//! since epoch checks are compiled into every loop back-edge and function entry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;

/// How often the engine's epoch advances: the longest a cancelled guest computes on.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

/// A flag that stops a run once set. Cheap to clone; every clone sees the same flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run holding this token to stop. Idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Starts the thread that advances `engine`'s epoch. It holds only a weak reference, so it ends
/// by itself within one tick of the engine being dropped.
pub(super) fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("shuyu-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use wasm_encoder::{BlockType, Instruction as I, ValType};

    use super::*;
    use crate::{Batch, CallError, Fault, Host, Limits, ReleaseStatus, Sandbox};

    #[test]
    fn clones_share_the_flag() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(!clone.is_cancelled());
        token.cancel();
        assert!(clone.is_cancelled());
        token.cancel();
        assert!(token.is_cancelled());
    }

    /// A host that refuses everything but log lines.
    struct NoHost;

    impl Host for NoHost {
        fn query(&mut self, _sql: &str) -> Result<i32, CallError> {
            Err(Fault::Internal("no queries here".into()).into())
        }
        fn next_batch(&mut self, _handle: i32) -> Result<Option<Batch>, CallError> {
            Ok(None)
        }
        fn close(&mut self, _handle: i32) -> Result<(), CallError> {
            Ok(())
        }
        fn release_begin(&mut self, _name: &str) -> Result<i32, CallError> {
            Err(Fault::Internal("no releases here".into()).into())
        }
        fn release_append(&mut self, _handle: i32, _ipc: &[u8]) -> Result<(), CallError> {
            Ok(())
        }
        fn release_finish(&mut self, _handle: i32) -> Result<ReleaseStatus, CallError> {
            Ok(ReleaseStatus::Blocked)
        }
        fn log(&mut self, _line: &str) {}
    }

    /// A module whose `shuyu_main` runs `body` (optionally importing `log`) and returns 0.
    fn guest(import_log: bool, body: &[I<'static>]) -> Vec<u8> {
        let log = (
            "log",
            &[ValType::I32, ValType::I32][..],
            &[ValType::I32][..],
        );
        crate::test_modules::main_module(import_log.then_some(log), body)
    }

    const SPIN: [I<'static>; 3] = [I::Loop(BlockType::Empty), I::Br(0), I::End];

    /// Runs `wasm` with practically unlimited fuel, cancelling after `after`.
    fn run_cancelled_after(wasm: &[u8], after: Duration) -> (Result<i32, Fault>, Duration) {
        let sandbox = Sandbox::new(None).unwrap();
        let module = sandbox.compile(wasm).unwrap();
        let limits = Limits {
            fuel: u64::MAX / 2,
            ..Limits::default()
        };
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                token.cancel();
            })
        };
        let started = Instant::now();
        let outcome = sandbox.run_cancellable(&module, &limits, Box::new(NoHost), &token);
        canceller.join().unwrap();
        (outcome.result, started.elapsed())
    }

    #[test]
    fn a_spinning_guest_stops_when_cancelled() {
        let (result, elapsed) =
            run_cancelled_after(&guest(false, &SPIN), Duration::from_millis(200));
        assert_eq!(result, Err(Fault::Cancelled));
        assert_eq!(Fault::Cancelled.code(), "cancelled");
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }

    #[test]
    fn a_guest_calling_the_host_stops_when_cancelled() {
        let body = [
            I::Loop(BlockType::Empty),
            I::I32Const(0),
            I::I32Const(0),
            I::Call(0),
            I::Drop,
            I::Br(0),
            I::End,
        ];
        let (result, elapsed) =
            run_cancelled_after(&guest(true, &body), Duration::from_millis(100));
        assert_eq!(result, Err(Fault::Cancelled));
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }

    #[test]
    fn a_cancelled_token_stops_a_run_before_it_starts() {
        let sandbox = Sandbox::new(None).unwrap();
        let module = sandbox.compile(&guest(false, &SPIN)).unwrap();
        let token = CancelToken::new();
        token.cancel();
        let outcome =
            sandbox.run_cancellable(&module, &Limits::default(), Box::new(NoHost), &token);
        assert_eq!(outcome.result, Err(Fault::Cancelled));
    }

    #[test]
    fn runs_without_cancellation_are_unaffected() {
        let sandbox = Sandbox::new(None).unwrap();
        let module = sandbox.compile(&guest(false, &[])).unwrap();
        let outcome = sandbox.run(&module, &Limits::default(), Box::new(NoHost));
        assert_eq!(outcome.result, Ok(0));
        // Fuel still limits a spinning guest that nobody cancels.
        let spinning = sandbox.compile(&guest(false, &SPIN)).unwrap();
        let limits = Limits {
            fuel: 1_000_000,
            ..Limits::default()
        };
        let outcome = sandbox.run(&spinning, &limits, Box::new(NoHost));
        assert_eq!(outcome.result, Err(Fault::Limit(crate::LimitKind::Fuel)));
    }
}
