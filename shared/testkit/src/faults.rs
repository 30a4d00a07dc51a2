//! Fault injection: an adapter asks before (and after) each call whether the test wants it to
//! fail, so a step's failure paths run without an emulator.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use domain::{Error, Result};

/// When an injected failure strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum When {
    /// The call fails and changes nothing.
    Before,
    /// The call takes effect, then its answer is lost: the caller sees an error.
    After,
}

/// Per operation name (the port method's, e.g. `apply_batch`), how many of its next calls fail.
#[derive(Default)]
pub struct Faults {
    pending: Mutex<BTreeMap<(String, When), u32>>,
    /// Per operation armed by [`Faults::fail_after`], the calls to let through first.
    skips: Mutex<BTreeMap<String, u32>>,
}

impl Faults {
    /// The next `times` calls of `op` fail before doing anything.
    pub fn fail_next(&self, op: &str, times: u32) {
        self.arm(op, When::Before, times);
    }

    /// The next `times` calls of `op` do their work, then answer an error.
    pub fn lose_answer_next(&self, op: &str, times: u32) {
        self.arm(op, When::After, times);
    }

    /// The next `passing` calls of `op` go through, then the one after fails before doing
    /// anything (a failure in the middle of a step's reads).
    pub fn fail_after(&self, op: &str, passing: u32) {
        self.skips.lock().unwrap_or_else(PoisonError::into_inner).insert(op.to_string(), passing);
    }

    fn arm(&self, op: &str, when: When, times: u32) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner).entry((op.to_string(), when)).or_default() +=
            times;
    }

    fn strike(&self, op: &str, when: When) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(&(op.to_string(), when)) {
            Some(left) if *left > 0 => {
                *left -= 1;
                // An AWS error: what a step retries through its queue.
                Err(Error::aws("testkit", format!("injected failure of {op} ({when:?})")))
            }
            _ => Ok(()),
        }
    }

    /// Called before `op` does anything.
    pub fn before(&self, op: &str) -> Result<()> {
        let mut skips = self.skips.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(left) = skips.get_mut(op) {
            if *left == 0 {
                skips.remove(op);
                return Err(Error::aws("testkit", format!("injected failure of {op} (after others went through)")));
            }
            *left -= 1;
        }
        drop(skips);
        self.strike(op, When::Before)
    }

    /// Called once `op` did its work: a lost answer.
    pub fn after(&self, op: &str) -> Result<()> {
        self.strike(op, When::After)
    }
}
