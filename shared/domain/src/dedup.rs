//! Duplicates within one file (`duplicates`): for each identifier the `last` or the
//! `first` copy wins and the others are skipped, or with `error` every copy is a row error.
//! Decided over the whole file during prevalidation, so chunks agree.
//!
//! A row is a copy when its identifier cell holds a valid identifier, whatever its other cells:
//! the identifier alone decides, so a later invalid copy still wins under `last` (and becomes
//! an error row) rather than letting an older copy through.
//!
//! Each identifier is kept as an entry of 16 bytes: the top 95 bits of its 128-bit hash above
//! its row number (33 bits: up to `MAX_ROWS`, 5 billion), so sorting entries groups the copies
//! of an identifier in row order. One scan keeps its entries in [`SPILL_PARTITIONS`] partitions
//! by their top bits; past [`SPILL_ENTRIES`] they go to anonymous temporary files (gone when
//! closed, even if the process dies). A scan of the whole file decides them here, a partition
//! at a time, into a bitmap of one bit a row. A scan that takes several invocations writes each
//! part's entries out sorted ([`Dedup::write_sorted`]), indexed by [`PARTITIONS`] partitions of
//! the hash; each partition is then decided apart, over every part's share of it
//! ([`decide`]), so no step holds every identifier. A false duplicate needs two of 5 billion
//! identifiers to agree on 95 bits: under 1 chance in 10^9.

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::ops::Range;

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

/// Bits of an entry that hold its row number.
const ROW_BITS: u32 = 33;
const ROW_MASK: u128 = (1 << ROW_BITS) - 1;
/// Partitions of the hash that written entries are indexed by, and decided apart: at 5 billion
/// rows one holds about 5 million entries (78 MB).
pub const PARTITIONS: usize = 1024;
const PARTITION_BITS: u32 = PARTITIONS.trailing_zeros();
/// Partitions of one scan's entries in memory and in its temporary files: a power of two, few
/// enough to keep a file open for each.
const SPILL_PARTITIONS: usize = 128;
const SPILL_BITS: u32 = SPILL_PARTITIONS.trailing_zeros();
/// Entries kept in memory before they are written out: 16 MB (about a million rows), in
/// partitions reserved at their share and an eighth (18 MB).
pub const SPILL_ENTRIES: usize = 1024 * 1024;
/// Bytes of one written entry.
pub const ENTRY_BYTES: u64 = 16;

/// The rows that do not import as themselves: those that lose to another copy (skipped), or
/// with `duplicates: error` every copy (errors).
#[derive(Debug, Default)]
pub struct DuplicateRows {
    errors: bool,
    /// Bit `row - 1` is set for each such row.
    marked: Vec<u64>,
}

impl DuplicateRows {
    /// Whether the marked rows are errors (`duplicates: error`) rather than skipped copies.
    pub fn are_errors(&self) -> bool {
        self.errors
    }

    /// The marked rows among `rows`, ascending.
    pub fn rows_in(&self, rows: Range<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        let (first, end) = (rows.start.max(1) - 1, rows.end.saturating_sub(1));
        let mut word = (first / 64) as usize;
        while let Some(&bits) = self.marked.get(word) {
            let base = word as u64 * 64;
            if base >= end {
                break;
            }
            let mut bits = bits;
            while bits != 0 {
                let bit = base + u64::from(bits.trailing_zeros());
                if (first..end).contains(&bit) {
                    out.push(bit + 1);
                }
                bits &= bits - 1;
            }
            word += 1;
        }
        out
    }

    fn mark(&mut self, row: u64) {
        let bit = row as usize - 1;
        self.marked[bit / 64] |= 1 << (bit % 64);
    }
}

/// Sees every row's identifier, in row order, and decides the duplicates at the end.
pub struct Dedup {
    policy: Duplicates,
    /// Per spill partition, the entries not yet written out.
    pending: Vec<Vec<u128>>,
    buffered: usize,
    spill_at: usize,
    /// One file per partition, once the entries outgrow memory.
    spilled: Option<Vec<File>>,
}

impl Dedup {
    pub fn new(policy: Duplicates) -> Self {
        Self::spilling_at(policy, SPILL_ENTRIES)
    }

    fn spilling_at(policy: Duplicates, spill_at: usize) -> Self {
        Self { policy, pending: vec![Vec::new(); SPILL_PARTITIONS], buffered: 0, spill_at, spilled: None }
    }

    /// Sees a row that names `identifier` (normalized); rows come in order, numbered from 1 and
    /// below 2^33.
    pub fn see(&mut self, identifier: &str, row: u64) -> std::io::Result<()> {
        if u128::from(row) > ROW_MASK {
            return Err(std::io::Error::other("row number past 2^33"));
        }
        let fingerprint = xxhash_rust::xxh3::xxh3_128(identifier.as_bytes());
        let entry = (fingerprint >> ROW_BITS) << ROW_BITS | u128::from(row);
        let entries = &mut self.pending[(entry >> (128 - SPILL_BITS)) as usize];
        if entries.capacity() == 0 {
            // A partition's share of a spill, and some: growing by doubling copied every entry.
            entries.reserve_exact(self.spill_at / SPILL_PARTITIONS * 9 / 8);
        }
        entries.push(entry);
        self.buffered += 1;
        if self.buffered >= self.spill_at {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> std::io::Result<()> {
        let files = match &mut self.spilled {
            Some(files) => files,
            None => self.spilled.insert((0..SPILL_PARTITIONS).map(|_| tempfile::tempfile()).collect::<Result<_, _>>()?),
        };
        let mut bytes = Vec::new();
        for (entries, file) in self.pending.iter_mut().zip(files) {
            bytes.clear();
            bytes.extend(entries.drain(..).flat_map(u128::to_le_bytes));
            file.write_all(&bytes)?;
        }
        self.buffered = 0;
        Ok(())
    }

    /// Each spill partition's entries, sorted, in order: every entry seen, in sorted order.
    fn sorted_partitions(mut self) -> impl Iterator<Item = std::io::Result<Vec<u128>>> {
        let mut files = self.spilled.take().map(Vec::into_iter);
        let (mut spare, mut starts) = (Vec::new(), Vec::new());
        std::mem::take(&mut self.pending).into_iter().map(move |mut entries| {
            if let Some(file) = files.as_mut().and_then(Iterator::next) {
                entries = read_entries(file, entries)?;
            }
            sort(&mut entries, &mut spare, &mut starts, SPILL_BITS);
            Ok(entries)
        })
    }

    /// Decides every identifier of a file of `rows` rows.
    pub fn finish(self, rows: u64) -> std::io::Result<DuplicateRows> {
        let words = usize::try_from(rows.div_ceil(64)).map_err(std::io::Error::other)?;
        let mut out = DuplicateRows { errors: self.policy == Duplicates::Error, marked: vec![0; words] };
        let policy = self.policy;
        for entries in self.sorted_partitions() {
            losers(&entries?, policy, |row| out.mark(row));
        }
        Ok(out)
    }

    /// Writes every entry seen, sorted, as 16 little-endian bytes each; with where each of the
    /// [`PARTITIONS`] partitions starts in what was written, and where the last ends.
    pub fn write_sorted(self, out: &mut dyn Write) -> std::io::Result<Vec<u64>> {
        let mut counts = vec![0u64; PARTITIONS];
        let mut bytes = Vec::new();
        for entries in self.sorted_partitions() {
            let entries = entries?;
            bytes.clear();
            for entry in &entries {
                counts[(entry >> (128 - PARTITION_BITS)) as usize] += 1;
                bytes.extend_from_slice(&entry.to_le_bytes());
            }
            out.write_all(&bytes)?;
        }
        let mut offsets = Vec::with_capacity(PARTITIONS + 1);
        let mut at = 0;
        offsets.push(at);
        for count in counts {
            at += count * ENTRY_BYTES;
            offsets.push(at);
        }
        Ok(offsets)
    }
}

/// The partitions that group `group` of `groups` decides: `groups` is a power of two of at most
/// [`PARTITIONS`], each group a run of partitions that share their top bits.
pub fn group_partitions(group: usize, groups: usize) -> Range<usize> {
    let each = PARTITIONS / groups;
    group * each..(group + 1) * each
}

/// How many groups to decide `entries` entries in: at most 2 million entries (32 MB) each,
/// until every partition is a group (4.9 million, 78 MB, at 5 billion rows).
pub fn groups_for(entries: u64) -> usize {
    (entries.div_ceil(1 << 21) as usize).next_power_of_two().min(PARTITIONS)
}

/// Decides one group's entries, gathered from every part of a file's scan as
/// [`Dedup::write_sorted`] wrote them: the rows that lose, ascending (with `duplicates:
/// error`, every copy). Sorted in place: a group is as large as memory allows.
pub fn decide(mut entries: Vec<u128>, policy: Duplicates) -> Vec<u64> {
    entries.sort_unstable();
    let mut rows = Vec::new();
    losers(&entries, policy, |row| rows.push(row));
    rows.sort_unstable();
    rows
}

/// Reads entries as [`Dedup::write_sorted`] wrote them.
pub fn read_written(bytes: &[u8], into: &mut Vec<u128>) {
    into.extend(
        bytes.chunks_exact(ENTRY_BYTES as usize).map(|b| u128::from_le_bytes(b.try_into().unwrap_or_default())),
    );
}

/// The rows of sorted entries that do not import as themselves under `policy`.
fn losers(entries: &[u128], policy: Duplicates, mut mark: impl FnMut(u64)) {
    for copies in entries.chunk_by(|a, b| a >> ROW_BITS == b >> ROW_BITS).filter(|c| c.len() > 1) {
        let losers = match policy {
            Duplicates::Last => &copies[..copies.len() - 1],
            Duplicates::First => &copies[1..],
            Duplicates::Error => copies,
        };
        for entry in losers {
            mark((entry & ROW_MASK) as u64);
        }
    }
}

/// Sorts entries whose top `shared` bits are the same: first by the bits below those, in one
/// counting pass, into runs of a few entries each (the bits are a hash's), then each run.
/// Quicker than one sort of them all.
fn sort(entries: &mut Vec<u128>, spare: &mut Vec<u128>, starts: &mut Vec<usize>, shared: u32) {
    if entries.len() < 64 {
        entries.sort_unstable();
        return;
    }
    // About 4 entries a run; at most 2^16 runs, however many copies of one identifier there are.
    let bits = (entries.len().ilog2() - 2).min(16);
    let top = |entry: u128| ((entry << shared) >> (128 - bits)) as usize;
    // `starts[t]..starts[t + 1]` will hold the entries whose top bits are `t`.
    starts.clear();
    starts.resize((1 << bits) + 1, 0);
    for entry in entries.iter() {
        starts[top(*entry) + 1] += 1;
    }
    for t in 1..starts.len() {
        starts[t] += starts[t - 1];
    }
    spare.clear();
    spare.resize(entries.len(), 0);
    for entry in entries.iter() {
        let at = &mut starts[top(*entry)];
        spare[*at] = *entry;
        *at += 1;
    }
    // Each start has moved on to the next run's.
    let mut run = 0;
    for end in &starts[..starts.len() - 1] {
        spare[run..*end].sort_unstable();
        run = *end;
    }
    std::mem::swap(entries, spare);
}

/// A partition's spilled entries, followed by those still in memory (which came later).
fn read_entries(mut file: File, pending: Vec<u128>) -> std::io::Result<Vec<u128>> {
    let len = file.stream_position()?;
    file.rewind()?;
    let mut entries = Vec::with_capacity(len as usize / 16 + pending.len());
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut entry = [0u8; 16];
    for _ in 0..len / 16 {
        reader.read_exact(&mut entry)?;
        entries.push(u128::from_le_bytes(entry));
    }
    entries.extend(pending);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: Duplicates, spill_at: usize) -> (bool, Vec<u64>) {
        let mut d = Dedup::spilling_at(policy, spill_at);
        for (id, row) in [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("c", 5)] {
            d.see(id, row).unwrap();
        }
        let rows = d.finish(5).unwrap();
        (rows.are_errors(), rows.rows_in(1..6))
    }

    #[test]
    fn each_policy() {
        for spill_at in [SPILL_ENTRIES, 1, 2] {
            assert_eq!(run(Duplicates::Last, spill_at), (false, vec![1, 3]));
            assert_eq!(run(Duplicates::First, spill_at), (false, vec![3, 4]));
            assert_eq!(run(Duplicates::Error, spill_at), (true, vec![1, 3, 4]));
        }
    }

    /// Sorting in runs by the top bits gives the order of one sort, with copies and close keys.
    #[test]
    fn sorts_as_one_sort() {
        let (mut spare, mut starts) = (Vec::new(), Vec::new());
        for len in [0u64, 1, 63, 64, 65, 1000, 70_000] {
            let entries: Vec<u128> = (0..len)
                .map(|i| {
                    let key = xxhash_rust::xxh3::xxh3_128(&(i % 997).to_le_bytes());
                    // Some keys differ only in their low bits, under the same top bits.
                    let key = if i % 7 == 0 { key ^ u128::from(i) << 40 } else { key };
                    (key >> 32) << 32 | u128::from(len - i)
                })
                .collect();
            let mut expected = entries.clone();
            expected.sort_unstable();
            let mut got = entries;
            sort(&mut got, &mut spare, &mut starts, 0);
            assert_eq!(got, expected, "{len} entries");
        }
    }

    /// Many rows through the files, with copies far apart and across spills: the same
    /// decisions as a plain map of identifiers.
    #[test]
    fn spilled_partitions_decide_as_in_memory() {
        let identifier = |row: u64| format!("person{}@example.com", (row * 7919) % 1_000);
        let rows = 5_000;
        let mut d = Dedup::spilling_at(Duplicates::Last, 333);
        let mut last = std::collections::HashMap::new();
        for row in 1..=rows {
            d.see(&identifier(row), row).unwrap();
            last.insert(identifier(row), row);
        }
        assert!(d.spilled.is_some());
        let decided = d.finish(rows).unwrap();
        let expected: Vec<u64> = (1..=rows).filter(|row| last[&identifier(*row)] != *row).collect();
        assert_eq!(decided.rows_in(1..rows + 1), expected);
        assert_eq!(expected.len(), 4_000);
        // A range picks its own rows only, across word boundaries.
        assert_eq!(
            decided.rows_in(60..70),
            expected.iter().copied().filter(|r| (60..70).contains(r)).collect::<Vec<_>>()
        );
    }

    /// Entries written out by parts of a file and decided a group at a time, as the parts
    /// of a long scan are: the rows a one-part scan decides, whatever the groups.
    #[test]
    fn parts_decided_in_groups_decide_as_one_scan() {
        let identifier = |row: u64| format!("person{}@example.com", (row * 7919) % 1_000);
        let rows = 5_000;
        for policy in [Duplicates::Last, Duplicates::First, Duplicates::Error] {
            let mut whole = Dedup::new(policy);
            let mut written: Vec<(Vec<u8>, Vec<u64>)> = Vec::new();
            for part in (1..=rows).collect::<Vec<_>>().chunks(1_234) {
                let mut d = Dedup::spilling_at(policy, 500);
                for row in part {
                    d.see(&identifier(*row), *row).unwrap();
                    whole.see(&identifier(*row), *row).unwrap();
                }
                let mut bytes = Vec::new();
                let offsets = d.write_sorted(&mut bytes).unwrap();
                assert_eq!((offsets.len(), *offsets.last().unwrap()), (PARTITIONS + 1, bytes.len() as u64));
                written.push((bytes, offsets));
            }
            let expected = whole.finish(rows).unwrap().rows_in(1..rows + 1);
            for groups in [1, 4, PARTITIONS] {
                let mut decided = Vec::new();
                for group in 0..groups {
                    let partitions = group_partitions(group, groups);
                    let mut entries = Vec::new();
                    for (bytes, offsets) in &written {
                        let range = offsets[partitions.start] as usize..offsets[partitions.end] as usize;
                        read_written(&bytes[range], &mut entries);
                    }
                    decided.extend(decide(entries, policy));
                }
                decided.sort_unstable();
                assert_eq!(decided, expected, "{policy:?} in {groups} groups");
            }
        }
    }

    #[test]
    fn groups_hold_about_two_million_entries_and_at_most_every_partition() {
        assert_eq!(groups_for(0), 1);
        assert_eq!(groups_for(1 << 21), 1);
        assert_eq!(groups_for((1 << 21) + 1), 2);
        assert_eq!(groups_for(5_000_000_000), PARTITIONS);
        assert_eq!(group_partitions(3, 4), 768..1024);
    }
}
