//! Import stats (docs/api.md, The import). Steps add tallies once per chunk or batch, never per row.

use serde::{Deserialize, Serialize};

/// Counts left out of what is read (a counter shard that never saw a kind) are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub rows: u64,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub removed: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub warnings: u64,
}

impl Stats {
    /// Adds counts kept elsewhere (the run's counter shards) to these.
    pub fn add(&mut self, other: &Stats) {
        self.rows += other.rows;
        self.processed += other.processed;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.removed += other.removed;
        self.duplicates += other.duplicates;
        self.errors += other.errors;
        self.warnings += other.warnings;
    }
}

/// What one unit of work adds to the stats. `processed` is derived: every row counted here has
/// reached its outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    #[serde(default)]
    pub deleted: u64,
    /// Records an overwrite removed: no row of the file is theirs, so not `processed`.
    #[serde(default)]
    pub removed: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub warnings: u64,
    /// Rows that lose to another copy of their identifier: no stat of their own (they count
    /// among `duplicates` and `warnings`), but they are processed.
    pub skipped: u64,
}

impl Tally {
    /// Adds another unit's tally (a batch's parts) to this one.
    pub fn add(&mut self, other: &Tally) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.removed += other.removed;
        self.duplicates += other.duplicates;
        self.errors += other.errors;
        self.warnings += other.warnings;
        self.skipped += other.skipped;
    }

    /// Each row once: a duplicate under `duplicates: error` is among the errors.
    pub fn processed(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.deleted + self.skipped + self.errors
    }

    /// The stats this tally adds (no `rows`: a unit's rows are counted when the file is planned).
    pub fn as_stats(&self) -> Stats {
        Stats {
            processed: self.processed(),
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            deleted: self.deleted,
            removed: self.removed,
            duplicates: self.duplicates,
            errors: self.errors,
            warnings: self.warnings,
            ..Stats::default()
        }
    }

    /// The stats attributes to add, by name, for one atomic update.
    pub fn increments(&self) -> [(&'static str, u64); 9] {
        [
            ("processed", self.processed()),
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("deleted", self.deleted),
            ("removed", self.removed),
            ("duplicates", self.duplicates),
            ("errors", self.errors),
            ("warnings", self.warnings),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_counts_every_outcome_once() {
        let t = Tally {
            created: 3,
            updated: 2,
            unchanged: 1,
            duplicates: 6,
            errors: 5,
            warnings: 4,
            skipped: 4,
            deleted: 0,
            removed: 7,
        };
        assert_eq!(t.processed(), 15);
        assert_eq!(t.increments()[0], ("processed", 15));
    }

    #[test]
    fn parts_add_up_to_the_whole_batch() {
        let mut sum = Tally { created: 1, errors: 2, warnings: 3, skipped: 3, ..Tally::default() };
        sum.add(&Tally { created: 4, updated: 5, unchanged: 6, deleted: 7, removed: 8, duplicates: 9, ..sum });
        let whole = Tally {
            created: 5,
            updated: 5,
            unchanged: 6,
            deleted: 7,
            removed: 8,
            duplicates: 9,
            errors: 4,
            warnings: 6,
            skipped: 6,
        };
        assert_eq!(sum, whole);
    }
}
