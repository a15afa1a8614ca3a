//! How a job tells whoever follows it which phase it entered.
//!
//! Only two moments of a run are reported from inside it: the module starts (`running`) and
//! the module ended (`releasing`). Both are fixed points of the run that the module cannot move
//! except by ending; nothing inside the run (a query, a release, a count) is ever reported, so
//! the phases carry no more than the job's end already shows (docs/security.md, "Job phases").

use std::sync::Arc;

use crate::governance::model::JobPhase;

/// A sink for a job's phases; the default one drops them (`shuyu run`).
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(JobPhase) + Send + Sync>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Progress")
            .field(&self.0.as_ref().map(|_| "sink"))
            .finish()
    }
}

impl Progress {
    /// Progress reported to `sink`.
    pub fn new(sink: impl Fn(JobPhase) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(sink)))
    }

    /// Reports that the job entered `phase`.
    pub fn enter(&self, phase: JobPhase) {
        if let Some(sink) = &self.0 {
            sink(phase);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn phases_reach_the_sink_in_order_and_the_default_drops_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let progress = Progress::new(move |phase| sink.lock().unwrap().push(phase));
        progress.enter(JobPhase::Running);
        progress.clone().enter(JobPhase::Releasing);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![JobPhase::Running, JobPhase::Releasing]
        );
        Progress::default().enter(JobPhase::Running);
    }
}
