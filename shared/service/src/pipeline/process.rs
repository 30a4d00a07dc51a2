//! process: one batch of valid records. Read what exists, merge, and write the records together
//! with the batch's ledger entry and stats in one transaction: a redelivered batch finds its
//! ledger entry and changes nothing. A merged record DynamoDB would not store (over 400 KB) is a
//! row error; a batch whose writes pass one transaction (4 MB, 100 items) is written in parts in
//! row order, each moving the ledger entry on from the rows before it, so a redelivery after a
//! crash between parts goes on from where the ledger says. Records matched on an alternate
//! identifier are found through its index, which every write keeps unique (`identifiers`); a row
//! that cannot be matched or would take another record's value is a row error decided here.

use std::collections::HashMap;
use std::ops::Range;

use crate::outputs;
use crate::ports::{Applied, BatchState, BatchWrite, IndexChange, Part, RecordWrite, StoredImport, Unit, Weight};
use crate::services::Services;
use domain::error::{Error, Result};
use domain::error_files::ErrorLines;
use domain::identifiers;
use domain::item_size;
use domain::merge::{merge, ImportRule, Outcome};
use domain::messages::{decode, ProcessJob, ProcessMessage};
use domain::options::Action;
use domain::record::{custom_name, ResourceType, StoredRecord};
use domain::results;
use domain::stats::Tally;
use domain::time_fmt;
use domain::validate::{Candidate, RowError};

use super::complete::send_finish_if_done;
use super::record_writes::{backoff, deletion, holders_of, index_changes, MAX_ATTEMPTS};
use super::revert;
use super::type_hold;

/// The process queue carries batches of records, and the pages of an overwrite's cleanup.
pub async fn run(svc: &Services, body: &str) -> Result<()> {
    match decode::<ProcessJob>(body)? {
        ProcessJob::WriteBatch(msg) => process(svc, msg).await,
        ProcessJob::RemovePage(msg) => super::overwrite::remove(svc, msg).await,
        ProcessJob::RevertUnit(msg) => revert::unit(svc, msg).await,
    }
}

async fn process(svc: &Services, msg: ProcessMessage) -> Result<()> {
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let unit = Unit::Batch { chunk: msg.chunk, batch: msg.batch };
    let rows = msg.records.len();
    // The rows parts have applied, with their outcome codes and tally; None until the batch is
    // known to be applied in parts.
    let mut done: Option<(usize, String, Tally)> = None;
    let mut conflicts = 0;
    // A run that holds its type alone writes its creates unconditioned (`type_hold`).
    let holds = type_hold::holds(svc, &msg).await?;
    while conflicts < MAX_ATTEMPTS {
        let start = done.as_ref().map_or(0, |(rows, ..)| *rows);
        // A type that was empty is written unread, until a conflict says it no longer is.
        let read = !msg.empty_type || conflicts > 0 || done.is_some();
        let mut plan = decide(svc, &msg, start..rows, read).await?;
        // Whole, outside a transaction: creates of a run that holds its type, none of them
        // keeping an index (whose entries keep their conditions in a transaction).
        let blind = holds && !read && plan.writes.iter().all(|w| !w.delete && w.index.is_empty());
        let end = match blind {
            true => rows,
            false => start + first_part(&plan.spans, &weights(svc, &msg, &plan.writes)?, rows - start),
        };
        if end < rows {
            // Decided again for its own rows alone: the rest is decided after it is written.
            plan = decide(svc, &msg, start..end, read).await?;
        }
        let part = (done.is_some() || end < rows).then_some(Part { start, end, last: end == rows });
        // The rows this batch rejects go to the errors file; stored before the batch counts.
        let errors_part = errors_part(msg.chunk, msg.batch, start);
        if !plan.errors.is_empty() {
            if done.is_none() {
                // A first part written by an earlier delivery keeps its errors under the name
                // these take: go on from where the ledger is instead of replacing them.
                match svc.records.batch_state(tenant_id, import_id, msg.run, &unit).await? {
                    Some(BatchState::Partial { rows, outcomes, tally }) => {
                        done = Some((rows, outcomes, tally));
                        continue;
                    }
                    Some(BatchState::Done) => break,
                    None => {}
                }
            }
            save_errors(svc, &msg, &plan.errors, &errors_part).await?;
        }
        // A dry-run overwrite writes no record, so it notes which ones its rows name beside them.
        if msg.dry_run && msg.action == Action::Overwrite {
            let named: Vec<String> = plan.existing.keys().cloned().collect();
            svc.imports.note_seen(tenant_id, import_id, msg.run, &named).await?;
        }
        let kept = revert::keep(svc, tenant_id, import_id, &plan.writes, |id| plan.existing.get(id).cloned()).await?;
        // A part carries every row's codes and tally up to its end: the last one counts them.
        let (outcomes, mut tally) =
            done.as_ref().map_or_else(Default::default, |(_, codes, tally)| (codes.clone(), *tally));
        let outcomes = outcomes + &plan.outcomes;
        tally.add(&plan.tally);
        let batch = BatchWrite {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            resource_type: msg.resource_type,
            run: msg.run,
            unit: unit.clone(),
            writes: plan.writes,
            tally,
            outcomes: Some(outcomes.clone()),
            before_images: kept.before_images,
            created: kept.created,
            part,
            blind,
        };
        let applied = match svc.records.apply_batch(&batch).await {
            Err(Error::NotFound) => {
                tracing::warn!(tenant_id, import_id, "batch of a stopped or deleted import; dropped");
                return Ok(());
            }
            other => other?,
        };
        match applied {
            Applied::Now if part.is_some_and(|p| !p.last) => done = Some((end, outcomes, tally)),
            Applied::Now => break,
            // Applied whole, or in parts by another delivery, up to where the ledger says.
            Applied::Before => match svc.records.batch_state(tenant_id, import_id, msg.run, &unit).await? {
                // Not past where this part started: what failed was not its place in the ledger.
                Some(BatchState::Partial { rows, .. }) if part.is_some_and(|p| rows <= p.start) => {
                    tokio::time::sleep(backoff(conflicts)).await;
                    conflicts += 1;
                }
                Some(BatchState::Partial { rows, outcomes, tally }) => {
                    tracing::info!(tenant_id, import_id, rows, "batch partly applied before; going on from there");
                    if !plan.errors.is_empty() {
                        // Another delivery wrote from this start meanwhile, its part's errors
                        // under this name: they are cut back to the rows that part did.
                        let theirs = &msg.records[start..rows];
                        let kept: Vec<_> =
                            plan.errors.into_iter().filter(|(c, _)| theirs.iter().any(|r| r.row == c.row)).collect();
                        save_errors(svc, &msg, &kept, &errors_part).await?;
                    }
                    done = Some((rows, outcomes, tally));
                }
                Some(BatchState::Done) => break,
                // Refused as applied with no entry to show for it: dropping the message would
                // lose the batch, so its delivery fails and it comes again.
                None => {
                    return Err(Error::Internal(format!(
                        "batch {}/{} refused as applied, and its ledger entry is missing",
                        msg.chunk, msg.batch
                    )))
                }
            },
            Applied::Conflict => {
                tracing::info!(tenant_id, import_id, conflicts, "records changed under the batch; reading again");
                tokio::time::sleep(backoff(conflicts)).await;
                conflicts += 1;
            }
        }
    }
    if conflicts == MAX_ATTEMPTS {
        return Err(Error::Contention(format!("batch {}/{} kept conflicting", msg.chunk, msg.batch)));
    }
    send_finish_if_done(svc, tenant_id, import_id).await
}

/// The errors-file part of a batch's rows from `start` on. A whole batch's is named as its
/// first part's: a part from `start` is tried only once the ledger is there, so an object a
/// stopped delivery left is replaced by the one that counts, and no line comes twice.
fn errors_part(chunk: u64, batch: u64, start: usize) -> String {
    format!("{chunk:010}-{batch:06}-{start:03}")
}

fn weights(svc: &Services, msg: &ProcessMessage, writes: &[RecordWrite]) -> Result<Vec<Weight>> {
    writes.iter().map(|w| svc.records.weigh(&msg.tenant_id, msg.resource_type, w)).collect()
}

/// How many of the decided rows the first transaction takes: all of them when they fit, else
/// the most that fit beside the ledger entry, never parting rows that write the same record
/// (the rest are decided again once the part is written). At least the first row and those it
/// must go with: one record always fits, so a part over the limits is refused by the store.
fn first_part(spans: &[(usize, usize)], weights: &[Weight], rows: usize) -> usize {
    let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); rows];
    for (w, &(first, _)) in spans.iter().enumerate() {
        if let Some(writes) = by_first.get_mut(first) {
            writes.push(w);
        }
    }
    let (mut items, mut bytes) = (item_size::LEDGER_ITEMS, item_size::LEDGER_BYTES);
    let (mut end, mut open) = (0, 0);
    for (row, writes) in by_first.iter().enumerate() {
        for &w in writes {
            items += weights[w].items;
            bytes += weights[w].bytes;
            open = open.max(spans[w].1);
        }
        if open > row {
            continue;
        }
        if items > item_size::MAX_TRANSACTION_ITEMS || bytes > item_size::MAX_TRANSACTION_BYTES {
            return if end == 0 { row + 1 } else { end };
        }
        end = row + 1;
    }
    rows
}

/// What the batch does, from the records as they are now.
struct Decided {
    writes: Vec<RecordWrite>,
    /// The first and last row (of those decided) each write is for: a part never parts them.
    spans: Vec<(usize, usize)>,
    tally: Tally,
    /// One code per record of the batch (`results`); `e` for a row error.
    outcomes: String,
    errors: Vec<(Candidate, RowError)>,
    /// The records as read: what the writes' before-images are.
    existing: HashMap<String, StoredRecord>,
}

/// Decides the batch's rows `rows`, the records `keep` names with them; without `read`, as if
/// none of them existed.
async fn decide(svc: &Services, msg: &ProcessMessage, rows: Range<usize>, read: bool) -> Result<Decided> {
    let (tenant_id, resource) = (msg.tenant_id.as_str(), msg.resource_type);
    let records = &msg.records[rows];
    let alternate = identifiers::alternate(resource);
    // The record each row is about: its identifier, or the record its alternate value names.
    let matched = match &msg.match_on {
        Some(field) => {
            let values: Vec<String> = records.iter().map(|c| c.identifier.clone()).collect();
            svc.records.lookup(tenant_id, resource, field, &values).await?
        }
        None => HashMap::new(),
    };
    let keys: Vec<Option<String>> = records
        .iter()
        .map(|c| match &msg.match_on {
            None => Some(c.identifier.clone()),
            // `value_of` normalizes as matching does.
            Some(_) => matched
                .get(&c.identifier)
                .cloned()
                .or_else(|| identifiers::value_of(resource, resource.default_identifier(), &c.fields)),
        })
        .collect();
    let wanted: Vec<String> = keys.iter().flatten().chain(&msg.keep).cloned().collect();
    let (existing, holders) = if read {
        let existing = svc.records.get_many(tenant_id, resource, &wanted).await?;
        // Who holds the alternate values the batch's records have or would get.
        let fields = records.iter().map(|c| &c.fields).chain(existing.values().map(|r| &r.fields));
        let holders = holders_of(svc, tenant_id, resource, fields).await?;
        (existing, holders)
    } else {
        (HashMap::new(), HashMap::new())
    };

    let now = time_fmt::now();
    let mut decided = Decided {
        writes: Vec::new(),
        spans: Vec::new(),
        tally: Tally::default(),
        outcomes: String::new(),
        errors: Vec::new(),
        existing: HashMap::new(),
    };
    // An overwrite marks every record its file names, changed or not: its cleanup keeps those.
    let overwrite = (msg.action == Action::Overwrite && !msg.dry_run).then_some(msg.import_id.as_str());
    // Alternate values taken by earlier rows of this batch, and records this batch already wrote.
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut written: HashMap<String, usize> = HashMap::new();
    // Records named by rows that write nothing (left as they are, or errors here): an overwrite
    // keeps them.
    let mut named_only: Vec<String> = Vec::new();
    for (row, (candidate, key)) in records.iter().zip(keys).enumerate() {
        let known = key.as_ref().is_some_and(|k| written.contains_key(k) || existing.contains_key(k));
        if msg.import_rule == ImportRule::UpdateOnly && !known {
            // Nothing to update: a warning, not an error, and nothing is created.
            decided.skip_unknown();
            continue;
        }
        if msg.action == Action::Delete {
            match key.and_then(|k| existing.get(&k)) {
                Some(old) => {
                    decided.tally.deleted += 1;
                    decided.outcomes.push(results::DELETED);
                    if !msg.dry_run {
                        decided.writes.push(deletion(resource, alternate, old, &holders));
                        decided.spans.push((row, row));
                    }
                }
                // An identifier that does not exist is a warning, not a row error.
                None => decided.skip_unknown(),
            }
            continue;
        }
        if msg.import_rule == ImportRule::CreateOnly && known {
            decided.tally.unchanged += 1;
            decided.outcomes.push(results::code(Outcome::Unchanged));
            named_only.extend(key);
            continue;
        }
        let row_key = key.clone();
        let verdict = match key {
            None => Err(no_match(candidate, msg)),
            Some(key) => {
                let old = written.get(&key).map(|&i| &decided.writes[i].record).or_else(|| existing.get(&key));
                let mut named = candidate.clone();
                named.identifier = key.clone();
                check_alternate(resource, alternate, msg, &named, old, &holders, &taken)
                    .map(|()| (key, old.cloned(), named))
            }
        };
        let (key, old, merged) = match verdict {
            Ok(found) => found,
            Err(error) => {
                decided.reject(candidate, error);
                named_only.extend(row_key);
                continue;
            }
        };
        let (outcome, record) = merge(old.as_ref(), &merged, &msg.import_id, now, &msg.update, &msg.changes);
        let marked = record.as_ref().map(|r| mark_seen(r.clone(), overwrite));
        if let Some(error) = marked.map(|r| too_large(svc, msg, candidate, r)).transpose()?.flatten() {
            decided.reject(candidate, error);
            named_only.extend(row_key);
            continue;
        }
        match outcome {
            Outcome::Created => decided.tally.created += 1,
            Outcome::Updated => decided.tally.updated += 1,
            Outcome::Unchanged => decided.tally.unchanged += 1,
        }
        decided.outcomes.push(results::code(outcome));
        // A dry run decides every outcome and writes nothing but its ledger entry and stats.
        let record = match (record, &old) {
            (Some(record), _) => Some(record),
            (None, old) => old.clone().filter(|o| unmarked(o, overwrite)),
        };
        let Some(record) = record.filter(|_| !msg.dry_run) else { continue };
        let record = mark_seen(record, overwrite);
        let index = index_changes(resource, alternate, old.as_ref(), &record, &holders);
        if let Some(field) = alternate {
            if let Some(v) = identifiers::value_of(resource, field, &record.fields) {
                taken.insert(v, key.clone());
            }
        }
        decided.record_write(&mut written, row, existing.get(&key), record, index);
    }
    // Marked, not counted: their rows have their outcome already. A record the batch writes is
    // marked with its write.
    for key in msg.keep.iter().chain(&named_only) {
        if let Some(old) = existing.get(key).filter(|o| unmarked(o, overwrite) && !written.contains_key(key)) {
            decided.record_write(&mut written, 0, Some(old), mark_seen(old.clone(), overwrite), vec![]);
        }
    }
    decided.existing = existing;
    Ok(decided)
}

impl Decided {
    /// A row naming a record that does not exist, where that is a warning.
    fn skip_unknown(&mut self) {
        self.tally.warnings += 1;
        self.tally.skipped += 1;
        self.outcomes.push(results::SKIPPED_UNKNOWN);
    }

    /// A row rejected here, written to the errors file.
    fn reject(&mut self, candidate: &Candidate, error: RowError) {
        self.tally.errors += 1;
        self.outcomes.push(results::ERROR);
        self.errors.push((candidate.clone(), error));
    }

    /// Writes a record at the version it was read at, for the row `row`; a record the batch
    /// writes twice (two rows matched on different values) gets one write.
    fn record_write(
        &mut self,
        written: &mut HashMap<String, usize>,
        row: usize,
        read: Option<&StoredRecord>,
        record: StoredRecord,
        index: Vec<IndexChange>,
    ) {
        match written.get(&record.identifier) {
            Some(&i) => {
                let first = &mut self.writes[i];
                first.index.extend(index);
                first.record = StoredRecord { version: first.record.version, ..record };
                self.spans[i].1 = row;
            }
            None => {
                written.insert(record.identifier.clone(), self.writes.len());
                let expected_version = read.map(|o| o.version);
                let record = StoredRecord { version: expected_version.map_or(1, |v| v + 1), ..record };
                self.writes.push(RecordWrite { record, expected_version, index, delete: false });
                self.spans.push((row, row));
            }
        }
    }
}

/// Whether the overwrite `by`, if one runs, has yet to mark the record.
fn unmarked(record: &StoredRecord, by: Option<&str>) -> bool {
    by.is_some() && record.seen_by.as_deref() != by
}

/// The record marked as named by the overwrite `by`, if one runs.
fn mark_seen(record: StoredRecord, by: Option<&str>) -> StoredRecord {
    match by {
        Some(id) => StoredRecord { seen_by: Some(id.to_string()), ..record },
        None => record,
    }
}

/// A merged record DynamoDB would not store: the row is an error, the stored record untouched.
fn too_large(
    svc: &Services,
    msg: &ProcessMessage,
    candidate: &Candidate,
    record: StoredRecord,
) -> Result<Option<RowError>> {
    let write = RecordWrite { record, expected_version: None, index: vec![], delete: false };
    let size = svc.records.weigh(&msg.tenant_id, msg.resource_type, &write)?.record_bytes;
    Ok((size > item_size::MAX_ITEM_BYTES).then(|| RowError {
        row: candidate.row,
        column: None,
        field: None,
        code: "record_too_large".into(),
        message: format!(
            "the record would be {size} bytes with this row merged in, over the {} bytes a record may have",
            item_size::MAX_ITEM_BYTES
        ),
    }))
}

fn no_match(candidate: &Candidate, msg: &ProcessMessage) -> RowError {
    let resource = msg.resource_type;
    let field = msg.match_on.clone().unwrap_or_default();
    RowError {
        row: candidate.row,
        column: None,
        field: Some(field.clone()),
        code: "no_match".into(),
        message: format!(
            "no {} has {field} `{}`, and the row has no {} to create one with",
            resource.as_str(),
            candidate.identifier,
            resource.default_identifier()
        ),
    }
}

/// An alternate value belongs to one record: a row may not give it to another, and a row
/// matched by its default identifier may not move a record to another's value.
fn check_alternate(
    resource: ResourceType,
    alternate: Option<&str>,
    msg: &ProcessMessage,
    row: &Candidate,
    old: Option<&StoredRecord>,
    holders: &HashMap<String, String>,
    taken: &HashMap<String, String>,
) -> Result<(), RowError> {
    let Some(field) = alternate else { return Ok(()) };
    let error = |code: &str, message: String| RowError {
        row: row.row,
        column: None,
        field: Some(field.to_string()),
        code: code.into(),
        message,
    };
    let new_value = identifiers::value_of(resource, field, &row.fields);
    if msg.match_on.as_deref() == Some(field) {
        // Matched through the default identifier instead: that record must not have another value.
        if let Some(current) = old.and_then(|o| identifiers::value_of(resource, field, &o.fields)) {
            if new_value.as_ref() != Some(&current) {
                return Err(error(
                    "identifier_conflict",
                    format!("{} `{}` already has {field} `{current}`", resource.default_identifier(), row.identifier),
                ));
            }
        }
    }
    if let Some(value) = new_value {
        let holder = taken.get(&value).or_else(|| holders.get(&value));
        if holder.is_some_and(|h| *h != row.identifier) {
            return Err(error("duplicate_value", format!("{field} `{value}` already belongs to another record")));
        }
    }
    Ok(())
}

/// The rows this batch rejects, in the file's columns as far as the mapped values tell.
async fn save_errors(svc: &Services, msg: &ProcessMessage, errors: &[(Candidate, RowError)], part: &str) -> Result<()> {
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let Some(StoredImport { import, .. }) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    let mut lines = ErrorLines::default();
    for (candidate, error) in errors {
        let values: Vec<String> = import
            .file_headers
            .iter()
            .map(|header| {
                let field = import.mappings.get(header).cloned().flatten().unwrap_or_default();
                let value = match custom_name(&field) {
                    Some(name) => candidate.fields.get("custom").and_then(|c| c.get(name)),
                    None => candidate.fields.get(&field),
                };
                value.map(cell).unwrap_or_default()
            })
            .collect();
        lines.add(&import.file_headers, (&csv::StringRecord::from(values)).into(), std::slice::from_ref(error));
    }
    outputs::save_errors(svc, lines, tenant_id, import_id, msg.run, part).await
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(";"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(bytes: usize) -> Weight {
        Weight { record_bytes: bytes, items: 1, bytes }
    }

    #[test]
    fn a_whole_batch_s_errors_replace_its_first_part_s_and_keep_row_order() {
        assert_eq!(errors_part(3, 7, 0), "0000000003-000007-000");
        let names = [errors_part(3, 7, 0), errors_part(3, 7, 45), errors_part(3, 7, 99), errors_part(3, 8, 0)];
        assert!(names.is_sorted(), "{names:?}");
    }

    #[test]
    fn a_batch_that_fits_is_one_transaction() {
        let weights = vec![weight(40_000); 98];
        let spans: Vec<_> = (0..98).map(|r| (r, r)).collect();
        assert_eq!(first_part(&spans, &weights, 98), 98);
        assert_eq!(first_part(&[], &[], 0), 0);
    }

    #[test]
    fn a_part_stays_within_a_transaction_s_bytes_and_items() {
        // 98 records of 50,000 bytes: 4.9 MB, more than one transaction holds.
        let spans: Vec<_> = (0..98).map(|r| (r, r)).collect();
        let end = first_part(&spans, &vec![weight(50_000); 98], 98);
        let room = item_size::MAX_TRANSACTION_BYTES - item_size::LEDGER_BYTES;
        assert_eq!(end, room / 50_000);
        // Records with two index changes each: three items a row, 100 a transaction.
        let indexed = vec![Weight { record_bytes: 100, items: 3, bytes: 300 }; 98];
        assert_eq!(first_part(&spans, &indexed, 98), (item_size::MAX_TRANSACTION_ITEMS - item_size::LEDGER_ITEMS) / 3);
    }

    #[test]
    fn rows_writing_the_same_record_stay_in_one_part() {
        // Row 0 and row 9 write one record: no cut falls between them.
        let mut spans: Vec<_> = (1..9).map(|r| (r, r)).collect();
        spans.push((0, 9));
        spans.push((10, 10));
        let weights = vec![weight(450_000); 10];
        assert_eq!(first_part(&spans, &weights, 11), 10);
        // A first unit over the limits alone is still a part: the store refuses it.
        assert_eq!(first_part(&[(0, 0)], &[weight(5_000_000)], 3), 1);
    }
}
