//! Duplicates within one file (SPEC §5 `duplicates`): for each identifier the `last` or the
//! `first` copy wins and the others are skipped, or with `error` every copy is a row error.
//! Decided over the whole file during prevalidation, so chunks agree.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    #[default]
    Last,
    First,
    Error,
}

impl Duplicates {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "last" => Some(Self::Last),
            "first" => Some(Self::First),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// The rows that do not import as themselves.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DuplicateRows {
    /// Copies that lose to the winning one, ascending.
    pub skipped: Vec<u64>,
    /// Copies that are errors (`duplicates: error`), ascending.
    pub errors: Vec<u64>,
}

#[derive(Debug, Default)]
pub struct Dedup {
    policy: Duplicates,
    /// Per identifier, the row that currently wins (or, with `error`, the first row) and
    /// whether it has been seen again.
    seen: HashMap<String, (u64, bool)>,
    rows: DuplicateRows,
}

impl Dedup {
    pub fn new(policy: Duplicates) -> Self {
        Self { policy, ..Self::default() }
    }

    /// Sees a valid row.
    pub fn see(&mut self, identifier: &str, row: u64) {
        let Some((kept, again)) = self.seen.get_mut(identifier) else {
            self.seen.insert(identifier.to_string(), (row, false));
            return;
        };
        match self.policy {
            Duplicates::Last => {
                self.rows.skipped.push(*kept);
                *kept = row;
            }
            Duplicates::First => self.rows.skipped.push(row),
            Duplicates::Error => {
                if !*again {
                    self.rows.errors.push(*kept);
                }
                self.rows.errors.push(row);
            }
        }
        *again = true;
    }

    pub fn finish(mut self) -> DuplicateRows {
        self.rows.skipped.sort_unstable();
        self.rows.errors.sort_unstable();
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: Duplicates) -> DuplicateRows {
        let mut d = Dedup::new(policy);
        for (id, row) in [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("c", 5)] {
            d.see(id, row);
        }
        d.finish()
    }

    #[test]
    fn each_policy() {
        assert_eq!(run(Duplicates::Last), DuplicateRows { skipped: vec![1, 3], errors: vec![] });
        assert_eq!(run(Duplicates::First), DuplicateRows { skipped: vec![3, 4], errors: vec![] });
        assert_eq!(run(Duplicates::Error), DuplicateRows { skipped: vec![], errors: vec![1, 3, 4] });
    }
}
