//! Duplicates within one file (SPEC §5 `duplicates`, default `last`): for each identifier one
//! row wins, the others are skipped and counted as duplicates.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Dedup {
    winners: HashMap<String, u64>,
    skipped: Vec<u64>,
}

impl Dedup {
    /// Sees a valid row; the last row of an identifier wins.
    pub fn see(&mut self, identifier: &str, row: u64) {
        if let Some(previous) = self.winners.insert(identifier.to_string(), row) {
            self.skipped.push(previous);
        }
    }

    /// Rows that lose to a later copy, ascending.
    pub fn into_skipped(mut self) -> Vec<u64> {
        self.skipped.sort_unstable();
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_copy_wins() {
        let mut d = Dedup::default();
        for (id, row) in [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("c", 5)] {
            d.see(id, row);
        }
        assert_eq!(d.into_skipped(), vec![1, 3]);
    }
}
