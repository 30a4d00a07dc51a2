//! `RecordStore` over [`MemoryStore`]: a batch is one transaction with its ledger entry and
//! counts, refused as the DynamoDB store refuses it.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use domain::record::{ResourceType, StoredRecord};
use domain::revert_state::{RevertStatus, MAX_LISTED_CONFLICTS};
use domain::time_fmt;
use domain::{Error, Result};
use service::ports::{
    Applied, BatchState, BatchWrite, IndexChange, Page, RecordStore, RecordWrite, RevertWrite, TypeHold, TypeHolds,
    Unit, Weight,
};
use time::OffsetDateTime;

use aws_adapters::unit_sk;

use crate::store::{index_key, records_key, MemoryStore, State};

impl State {
    /// Whether every write's condition holds: the record at the version it was read at (absent
    /// for None), each index value free or the record's.
    fn writes_hold(&self, tenant_id: &str, resource: ResourceType, writes: &[RecordWrite]) -> bool {
        let records = self.records.get(&records_key(tenant_id, resource));
        writes.iter().all(|write| {
            let current = records.and_then(|r| r.get(&write.record.identifier)).map(|r| r.version);
            let record_holds = match (write.delete, write.expected_version) {
                (true, expected) => current == Some(expected.unwrap_or_default()),
                (false, None) => current.is_none(),
                (false, Some(v)) => current == Some(v),
            };
            record_holds
                && write.index.iter().all(|change| {
                    let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
                    let holder = self.index.get(&index_key(tenant_id, resource, field)).and_then(|i| i.get(value));
                    match change {
                        IndexChange::Claim { .. } => holder.is_none_or(|h| *h == write.record.identifier),
                        IndexChange::Release { .. } => holder == Some(&write.record.identifier),
                    }
                })
        })
    }

    fn apply_writes(&mut self, tenant_id: &str, resource: ResourceType, writes: &[RecordWrite], keep: bool) {
        if !keep {
            return;
        }
        for write in writes {
            let id = &write.record.identifier;
            for change in &write.index {
                let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
                let index = self.index.entry(index_key(tenant_id, resource, field)).or_default();
                match change {
                    IndexChange::Claim { .. } => index.insert(value.clone(), id.clone()),
                    IndexChange::Release { .. } => index.remove(value),
                };
            }
            let records = self.records.entry(records_key(tenant_id, resource)).or_default();
            if write.delete {
                records.remove(id);
            } else {
                records.insert(id.clone(), write.record.clone());
            }
        }
    }

    /// A page of records in key order after `cursor`, `limit` of them read, those `keep` says
    /// returned: a filtered page may hold fewer, even none, and still have a next one.
    fn records_page(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        limit: usize,
        cursor: Option<&str>,
        keep: impl Fn(&StoredRecord) -> bool,
    ) -> Page<StoredRecord> {
        let empty = BTreeMap::new();
        let records = self.records.get(&records_key(tenant_id, resource)).unwrap_or(&empty);
        let mut after = records.iter().filter(|(id, _)| cursor.is_none_or(|c| id.as_str() > c)).map(|(_, r)| r);
        let read: Vec<&StoredRecord> = after.by_ref().take(limit).collect();
        let more = after.next().is_some();
        let next_cursor = read.last().filter(|_| more).map(|r| r.identifier.clone());
        Page { items: read.into_iter().filter(|r| keep(r)).cloned().collect(), next_cursor }
    }
}

#[async_trait]
impl TypeHolds for MemoryStore {
    async fn type_hold(&self, tenant_id: &str, resource: ResourceType) -> Result<TypeHold> {
        self.faults.before("type_hold")?;
        Ok(self.state().holds.get(&records_key(tenant_id, resource)).cloned().unwrap_or_default())
    }

    async fn hold_type(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        run: u32,
        revoked_before: i64,
    ) -> Result<bool> {
        self.faults.before("hold_type")?;
        let mut state = self.state();
        let hold = state.holds.entry(records_key(tenant_id, resource)).or_default();
        let free = match (&hold.holder, hold.revoked_at) {
            (None, _) => true,
            (Some(_), Some(at)) => at < revoked_before,
            (Some((holder, held_run)), None) => holder == import_id && *held_run == run,
        };
        if !hold.writers.is_empty() || !free {
            return Ok(false);
        }
        (hold.holder, hold.revoked_at) = (Some((import_id.to_string(), run)), None);
        Ok(true)
    }

    async fn join_type(&self, tenant_id: &str, resource: ResourceType, import_id: &str) -> Result<TypeHold> {
        self.faults.before("join_type")?;
        let mut state = self.state();
        let hold = state.holds.entry(records_key(tenant_id, resource)).or_default();
        hold.writers.insert(import_id.to_string());
        Ok(hold.clone())
    }

    async fn leave_type(&self, tenant_id: &str, resource: ResourceType, import_ids: &[String]) -> Result<TypeHold> {
        self.faults.before("leave_type")?;
        let mut state = self.state();
        let Some(hold) = state.holds.get_mut(&records_key(tenant_id, resource)) else {
            return Ok(TypeHold::default());
        };
        hold.writers.retain(|w| !import_ids.contains(w));
        Ok(hold.clone())
    }

    async fn revoke_hold(&self, tenant_id: &str, resource: ResourceType, holder: &str, at: i64) -> Result<TypeHold> {
        self.faults.before("revoke_hold")?;
        let mut state = self.state();
        let hold = state.holds.entry(records_key(tenant_id, resource)).or_default();
        if hold.holder.as_ref().is_some_and(|(h, _)| h == holder) {
            hold.revoked_at.get_or_insert(at);
        }
        Ok(hold.clone())
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn get(&self, tenant_id: &str, resource: ResourceType, identifier: &str) -> Result<Option<StoredRecord>> {
        self.faults.before("get_record")?;
        let state = self.state();
        Ok(state.records.get(&records_key(tenant_id, resource)).and_then(|r| r.get(identifier)).cloned())
    }

    async fn get_many(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        identifiers: &[String],
    ) -> Result<HashMap<String, StoredRecord>> {
        self.faults.before("get_many")?;
        let state = self.state();
        let Some(records) = state.records.get(&records_key(tenant_id, resource)) else { return Ok(HashMap::new()) };
        Ok(identifiers.iter().filter_map(|id| Some((id.clone(), records.get(id)?.clone()))).collect())
    }

    async fn list(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        self.faults.before("list_records")?;
        Ok(self.state().records_page(tenant_id, resource, limit, cursor, |_| true))
    }

    async fn apply_batch(&self, batch: &BatchWrite) -> Result<Applied> {
        self.faults.before("apply_batch")?;
        let (tenant_id, import_id) = (batch.tenant_id.as_str(), batch.import_id.as_str());
        aws_adapters::check_fits(tenant_id, batch.resource_type, &batch.writes, !batch.blind)?;
        let mut state = self.state();
        if batch.blind {
            // Unconditioned, before the ledger entry that counts them (`BatchWrite::blind`).
            let key = unit_sk(batch.run, &batch.unit);
            if state.ledger(tenant_id, import_id).is_some_and(|l| l.units.contains_key(&key)) {
                return Ok(Applied::Before);
            }
            state.apply_writes(tenant_id, batch.resource_type, &batch.writes, !self.forgets());
            self.count_written(batch.writes.len() as u64);
            drop(state);
            self.faults.before("apply_batch_ledger")?;
            state = self.state();
        }
        if state.row(tenant_id, import_id).is_none() {
            return Err(Error::NotFound);
        }
        let key = unit_sk(batch.run, &batch.unit);
        let entry = state.ledger(tenant_id, import_id).and_then(|l| l.units.get(&key));
        // A whole unit or a first part: its entry must not exist; a later part: the entry must
        // be at the part's start.
        let ledger_holds = match &batch.part {
            Some(part) if part.start > 0 => entry.and_then(|e| e.done_rows) == Some(part.start),
            _ => entry.is_none(),
        };
        if !ledger_holds && !self.forgets() {
            return Ok(Applied::Before);
        }
        let ledger = state.ledger_mut(tenant_id, import_id);
        if ledger.counters.get(&batch.run).is_some_and(|c| c.closed) {
            return Err(Error::NotFound);
        }
        let writes: &[RecordWrite] = if batch.blind { &[] } else { &batch.writes };
        if !state.writes_hold(tenant_id, batch.resource_type, writes) {
            return Ok(Applied::Conflict);
        }
        let ledger = state.ledger_mut(tenant_id, import_id);
        if self.forgets() {
            // The outcomes alone: what completion assembles the results and errors files from.
            ledger.units.entry(key).or_default().outcomes = batch.outcomes.clone();
        } else {
            let entry = ledger.units.entry(key).or_default();
            match &batch.part {
                None => {
                    entry.outcomes = batch.outcomes.clone();
                    entry.before_images = batch.before_images.clone();
                    entry.created = batch.created.clone();
                }
                Some(part) => {
                    entry.done_rows = Some(part.end);
                    entry.outcomes = Some(batch.outcomes.clone().unwrap_or_default());
                    entry.part_tally = Some(batch.tally);
                    entry.parts_done = part.last;
                    entry.part_images.extend(batch.before_images.clone());
                    entry.created.extend(batch.created.iter().cloned());
                }
            }
        }
        // A batch counts once, whole or with its last part (whose tally is the whole batch's).
        if batch.part.is_none_or(|p| p.last) {
            let counter = ledger.counters.entry(batch.run).or_default();
            counter.stats.add(&batch.tally.as_stats());
            counter.batches_done += u64::from(matches!(batch.unit, Unit::Batch { .. }));
            counter.counted_at = Some(time_fmt::now().unix_timestamp());
        }
        state.apply_writes(tenant_id, batch.resource_type, writes, !self.forgets());
        drop(state);
        self.count_written(writes.len() as u64);
        self.faults.after("apply_batch")?;
        Ok(Applied::Now)
    }

    async fn batch_state(&self, tenant_id: &str, import_id: &str, run: u32, unit: &Unit) -> Result<Option<BatchState>> {
        self.faults.before("batch_state")?;
        let state = self.state();
        let entry = state.ledger(tenant_id, import_id).and_then(|l| l.units.get(&unit_sk(run, unit)));
        Ok(entry.map(|entry| match entry.done_rows {
            Some(rows) if !entry.parts_done => BatchState::Partial {
                rows,
                outcomes: entry.outcomes.clone().unwrap_or_default(),
                tally: entry.part_tally.unwrap_or_default(),
            },
            _ => BatchState::Done,
        }))
    }

    fn weigh(&self, tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight> {
        aws_adapters::weigh(tenant_id, resource, write)
    }

    async fn apply_revert(&self, revert: &RevertWrite) -> Result<Applied> {
        self.faults.before("apply_revert")?;
        let (tenant_id, import_id) = (revert.tenant_id.as_str(), revert.import_id.as_str());
        aws_adapters::check_fits(tenant_id, revert.resource_type, &revert.writes, true)?;
        let mut state = self.state();
        let Some(row) = state.row(tenant_id, import_id) else { return Err(Error::NotFound) };
        let reverting = row.import.revert.as_ref().is_some_and(|r| r.status == RevertStatus::Reverting);
        if state.ledger(tenant_id, import_id).is_some_and(|l| l.reverted.contains_key(&revert.unit)) {
            return Ok(Applied::Before);
        }
        if !reverting {
            return Err(Error::NotFound);
        }
        if !state.writes_hold(tenant_id, revert.resource_type, &revert.writes) {
            return Ok(Applied::Conflict);
        }
        let listed = revert.conflicts.iter().take(MAX_LISTED_CONFLICTS).cloned().collect();
        state.ledger_mut(tenant_id, import_id).reverted.insert(revert.unit.clone(), listed);
        let row = state.row_mut(tenant_id, import_id).ok_or(Error::NotFound)?;
        if let Some(r) = row.import.revert.as_mut() {
            r.deleted += revert.deleted;
            r.restored += revert.restored;
            r.conflicts += revert.conflicts.len() as u64;
            r.units_done += 1;
        }
        row.import.updated_at = time_fmt::now();
        state.apply_writes(tenant_id, revert.resource_type, &revert.writes, !self.forgets());
        drop(state);
        self.faults.after("apply_revert")?;
        Ok(Applied::Now)
    }

    async fn create_missing(&self, tenant_id: &str, resource: ResourceType, records: &[StoredRecord]) -> Result<u64> {
        self.faults.before("create_missing")?;
        let mut state = self.state();
        let table = state.records.entry(records_key(tenant_id, resource)).or_default();
        let mut created = 0;
        for record in records {
            if !table.contains_key(&record.identifier) {
                table.insert(record.identifier.clone(), record.clone());
                created += 1;
            }
        }
        Ok(created)
    }

    async fn census(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        before: OffsetDateTime,
        noted_in: Option<u32>,
    ) -> Result<(u64, u64)> {
        self.faults.before("census")?;
        let state = self.state();
        let Some(records) = state.records.get(&records_key(tenant_id, resource)) else { return Ok((0, 0)) };
        let notes = noted_in.and_then(|run| state.ledger(tenant_id, import_id)?.notes.get(&run));
        let seen = |r: &StoredRecord| match noted_in {
            Some(_) => notes.is_some_and(|n| n.contains(&r.identifier)),
            None => r.seen_by.as_deref() == Some(import_id),
        };
        let doomed = records.values().filter(|r| r.updated_at < before && !seen(r)).count();
        Ok((records.len() as u64, doomed as u64))
    }

    async fn unseen(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        self.faults.before("unseen")?;
        let state = self.state();
        Ok(state.records_page(tenant_id, resource, limit, cursor, |r| r.seen_by.as_deref() != Some(import_id)))
    }

    async fn lookup(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        field: &str,
        values: &[String],
    ) -> Result<HashMap<String, String>> {
        self.faults.before("lookup")?;
        let state = self.state();
        let Some(index) = state.index.get(&index_key(tenant_id, resource, field)) else { return Ok(HashMap::new()) };
        Ok(values.iter().filter_map(|v| Some((v.clone(), index.get(v)?.clone()))).collect())
    }
}
