//! Undo steps collected while an operation with several side effects runs (a network starts, a
//! guest starts or gets a NIC), run last first if it fails part-way. One type for every such
//! operation, so a failed undo is always logged with what it was undoing, never dropped silently.

type Step = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// Runs its undo steps, last first, when dropped without [`Rollback::commit`]; each failure is
/// logged (tracing, warn) with the step's description.
#[derive(Default)]
pub struct Rollback {
    steps: Vec<(String, Step)>,
}

impl Rollback {
    pub fn new() -> Rollback {
        Rollback::default()
    }

    /// Adds `undo`, described by `what` ("deleting macvtap0"), to run if the operation fails.
    pub fn push(&mut self, what: impl Into<String>, undo: impl FnOnce() -> Result<(), String> + Send + 'static) {
        self.steps.push((what.into(), Box::new(undo)));
    }

    /// Moves `other`'s steps after this one's (so they are undone first), leaving `other` empty.
    pub fn append(&mut self, other: &mut Rollback) {
        self.steps.append(&mut other.steps);
    }

    /// Keeps everything: the operation succeeded.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        while let Some((what, undo)) = self.steps.pop() {
            if let Err(e) = undo() {
                tracing::warn!("rolling back ({what}) failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn reverse_order_unless_committed() {
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let mut r = Rollback::new();
            for i in 0..3 {
                let l = log.clone();
                r.push(format!("step {i}"), move || {
                    l.lock().unwrap().push(i);
                    Ok(())
                });
            }
        }
        assert_eq!(*log.lock().unwrap(), vec![2, 1, 0]);
        let mut r = Rollback::new();
        let l = log.clone();
        r.push("x", move || {
            l.lock().unwrap().push(9);
            Ok(())
        });
        r.commit();
        assert_eq!(log.lock().unwrap().len(), 3);
    }
}
