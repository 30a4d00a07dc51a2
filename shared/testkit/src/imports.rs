//! `ImportStore` over [`MemoryStore`].

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use domain::idempotency::KeyClaim;
use domain::import::Plan;
use domain::import::{Import, Phase, Progress, RunStart, Status};
use domain::revert_state::{RevertState, RevertStatus, MAX_LISTED_CONFLICTS, MAX_LISTED_CONFLICT_BYTES};
use domain::template::{AutoWord, TemplateUse};
use domain::time_fmt;
use domain::{Error, Result};
use service::ports::{
    ChunkCount, CleanupStep, Finished, ImportKey, ImportStore, Kept, Page, Restart, RunSettings, StoredImport,
};
use time::OffsetDateTime;

use aws_adapters::{batch_sk_prefix, batches_sk_prefix, removal_sk_prefix};

use crate::store::{sweep_soon, MemoryStore, Row, Transition};

/// Due imports a page of `due` holds.
const DUE_PAGE: usize = 100;

const RUNNING: [Status; 2] = [Status::Queued, Status::Processing];

#[async_trait]
impl ImportStore for MemoryStore {
    async fn create(&self, import: &Import, own_settings: &[String]) -> Result<bool> {
        self.faults.before("create")?;
        let mut state = self.state();
        let tenant = state.imports.entry(import.tenant_id.clone()).or_default();
        if tenant.contains_key(&import.id) {
            return Ok(false);
        }
        tenant.insert(import.id.clone(), Row { own_settings: own_settings.to_vec(), ..Row::new(import) });
        drop(state);
        self.faults.after("create")?;
        Ok(true)
    }

    async fn claim_key(&self, tenant_id: &str, key: &str, fingerprint: &str, import_id: &str) -> Result<KeyClaim> {
        self.faults.before("claim_key")?;
        let mut state = self.state();
        let slot = (tenant_id.to_string(), key.to_string());
        if let Some((import_id, fingerprint)) = state.idempotency.get(&slot) {
            return Ok(KeyClaim::Held { import_id: import_id.clone(), fingerprint: fingerprint.clone() });
        }
        state.idempotency.insert(slot, (import_id.into(), fingerprint.into()));
        Ok(KeyClaim::Claimed)
    }

    async fn get(&self, tenant_id: &str, import_id: &str) -> Result<Option<StoredImport>> {
        self.faults.before("get")?;
        Ok(self.state().stored(tenant_id, import_id))
    }

    async fn progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>> {
        self.faults.before("progress")?;
        let state = self.state();
        let Some(row) = state.row(tenant_id, import_id) else { return Ok(None) };
        let mut progress = row.progress;
        // As the DynamoDB store: the batches done are read only once every chunk is counted.
        if progress.planned && progress.chunks_transformed == progress.chunks_total {
            let counter = state.ledger(tenant_id, import_id).and_then(|l| l.counters.get(&progress.run));
            progress.batches_done += counter.map_or(0, |c| c.batches_done);
        }
        Ok(Some(progress))
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Import>> {
        self.faults.before("list")?;
        let state = self.state();
        let Some(imports) = state.imports.get(tenant_id) else { return Ok(Page { items: vec![], next_cursor: None }) };
        // Newest first (ids sort by time), after the cursor's id.
        let mut matching = imports
            .iter()
            .rev()
            .filter(|(id, _)| cursor.is_none_or(|c| id.as_str() < c))
            .filter_map(|(id, _)| state.stored(tenant_id, id).map(|s| s.import))
            .filter(|import| status.is_none_or(|s| import.status == s));
        let items: Vec<Import> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let next_cursor = items.last().filter(|_| more).map(|last| last.id.clone());
        Ok(Page { items, next_cursor })
    }

    async fn save_plan(&self, tenant_id: &str, import_id: &str, plan: &Plan) -> Result<bool> {
        self.faults.before("save_plan")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        let waiting = matches!(row.import.status, Status::AwaitingUpload | Status::Queued);
        if !waiting || row.progress.run != plan.run {
            return Ok(false);
        }
        let import = &mut row.import;
        import.file_headers = plan.file_headers.clone();
        import.mappings = plan.mappings.clone();
        import.unmapped_headers = plan.unmapped_headers.clone();
        import.file = Some(plan.file.clone());
        import.stats.rows = plan.file.rows;
        import.sample_records = plan.sample_records.clone();
        import.distinct_values = plan.distinct_values.clone();
        import.clipped = plan.clipped.clone();
        import.suggested_template = plan.suggested_template.clone();
        import.has_upload_file = true;
        import.links.upload = None;
        import.updated_at = time_fmt::now();
        import.phase = Some(if plan.queue { Phase::Transforming } else { Phase::Prevalidation });
        row.progress.chunks_total = plan.chunks_total;
        row.progress.planned = true;
        row.source_etag = plan.source_etag.clone();
        if plan.queue {
            row.import.status = Status::Queued;
            row.sweep_at = Some(sweep_soon());
        }
        drop(state);
        self.faults.after("save_plan")?;
        Ok(true)
    }

    async fn preview_ready(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        self.faults.before("preview_ready")?;
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::Queued],
            to: Status::PreviewReady,
            run: Some(run),
            phase: Some(Phase::Prevalidation),
        };
        Ok(self.state().transition(tenant_id, import_id, t, |_| {}))
    }

    async fn settle_template(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        settings: &RunSettings,
        template: Option<TemplateUse>,
    ) -> Result<bool> {
        self.faults.before("settle_template")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if row.progress.run != run || row.import.template != Some(TemplateUse::Auto(AutoWord::Auto)) {
            return Ok(false);
        }
        settings.apply(&mut row.import);
        row.import.template = template;
        row.import.updated_at = time_fmt::now();
        if let Some(mappings) = &settings.mappings {
            row.requested_mappings = mappings.clone();
        }
        Ok(true)
    }

    async fn restart(&self, tenant_id: &str, import_id: &str, restart: &Restart) -> Result<bool> {
        self.faults.before("restart")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if row.import.status != restart.from || row.progress.run != restart.run {
            return Ok(false);
        }
        restart.apply(&mut row.import);
        if let Some(mappings) = &restart.settings.mappings {
            row.requested_mappings = mappings.clone();
        }
        row.progress = Progress { run: restart.run + 1, rehearsal: restart.rehearsal(), ..Progress::default() };
        row.set_status(Status::Queued);
        Ok(true)
    }

    async fn batch_outcomes(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        chunk: u64,
    ) -> Result<BTreeMap<u64, String>> {
        self.faults.before("batch_outcomes")?;
        let prefix = batch_sk_prefix(run, chunk);
        let state = self.state();
        let Some(ledger) = state.ledger(tenant_id, import_id) else { return Ok(BTreeMap::new()) };
        Ok(ledger
            .units
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter_map(|(key, entry)| Some((key[prefix.len()..].parse().ok()?, entry.outcomes.clone()?)))
            .collect())
    }

    async fn record_chunk(&self, tenant_id: &str, import_id: &str, run: u32, count: &ChunkCount<'_>) -> Result<bool> {
        self.faults.before("record_chunk")?;
        let mut state = self.state();
        if state.row(tenant_id, import_id).is_none() {
            return Err(Error::NotFound);
        }
        if state.ledger(tenant_id, import_id).is_some_and(|l| l.chunks.contains(&(run, count.chunk.index))) {
            return Ok(false);
        }
        let row = state.row_mut(tenant_id, import_id).ok_or(Error::NotFound)?;
        // Counted only into a running import at the same run: a stopped one's work is dropped.
        if !RUNNING.contains(&row.import.status) || row.progress.run != run {
            return Err(Error::NotFound);
        }
        let start = *row.progress.start.get_or_insert(RunStart { chunk: count.chunk.index, at: count.began });
        row.progress.chunks_transformed += 1;
        row.progress.batches_planned += count.batches;
        row.progress.rows_transformed += count.chunk.rows;
        row.import.stats.add(&count.tally.as_stats());
        row.import.started_at = Some(start.at);
        row.import.status = Status::Processing;
        row.import.phase = Some(Phase::Processing);
        row.import.updated_at = time_fmt::now();
        state.ledger_mut(tenant_id, import_id).chunks.insert((run, count.chunk.index));
        drop(state);
        self.faults.after("record_chunk")?;
        Ok(true)
    }

    async fn complete(&self, tenant_id: &str, import_id: &str, run: u32, files: Finished) -> Result<bool> {
        self.faults.before("complete")?;
        let t = Transition { from: &RUNNING, to: Status::Completed, run: Some(run), phase: None };
        let completed = self.state().transition(tenant_id, import_id, t, |row| {
            row.import.completed_at = Some(time_fmt::now());
            row.import.has_errors_file |= files.has_errors_file;
            row.import.has_results_file |= files.has_results_file;
        });
        self.faults.after("complete")?;
        Ok(completed)
    }

    async fn begin_cleanup(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        self.faults.before("begin_cleanup")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if !RUNNING.contains(&row.import.status) || row.progress.run != run || row.import.phase == Some(Phase::Cleanup)
        {
            return Ok(false);
        }
        row.import.phase = Some(Phase::Cleanup);
        row.import.updated_at = time_fmt::now();
        Ok(true)
    }

    async fn note_seen(&self, tenant_id: &str, import_id: &str, run: u32, identifiers: &[String]) -> Result<()> {
        self.faults.before("note_seen")?;
        let mut state = self.state();
        if state.row(tenant_id, import_id).is_none() {
            return Err(Error::NotFound);
        }
        state.ledger_mut(tenant_id, import_id).notes.entry(run).or_default().extend(identifiers.iter().cloned());
        Ok(())
    }

    async fn page_ended(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<bool> {
        self.faults.before("page_ended")?;
        let state = self.state();
        Ok(state.ledger(tenant_id, import_id).is_some_and(|l| l.pages.contains(&(run, page.to_string()))))
    }

    async fn end_page(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<()> {
        self.faults.before("end_page")?;
        self.state().ledger_mut(tenant_id, import_id).pages.insert((run, page.to_string()));
        Ok(())
    }

    async fn cleanup_step(&self, tenant_id: &str, import_id: &str, run: u32, step: CleanupStep) -> Result<bool> {
        self.faults.before("cleanup_step")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if !RUNNING.contains(&row.import.status) || row.progress.run != run {
            return Ok(false);
        }
        match step {
            CleanupStep::GuardPassed => row.progress.guard_passed = true,
            CleanupStep::RemovalDone => row.progress.removal_done = true,
        }
        row.import.updated_at = time_fmt::now();
        Ok(true)
    }

    async fn begin_revert(&self, tenant_id: &str, import_id: &str, revert: &RevertState) -> Result<bool> {
        self.faults.before("begin_revert")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if row.import.status != Status::Completed || row.import.revert.is_some() {
            return Ok(false);
        }
        row.import.revert = Some(revert.clone());
        row.import.updated_at = time_fmt::now();
        Ok(true)
    }

    async fn kept_before_images(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<Vec<(String, Kept)>> {
        self.faults.before("kept_before_images")?;
        let state = self.state();
        let Some(ledger) = state.ledger(tenant_id, import_id) else { return Ok(vec![]) };
        let mut units = Vec::new();
        for prefix in [batches_sk_prefix(run), removal_sk_prefix(run)] {
            for (key, entry) in ledger.units.range(prefix.clone()..).take_while(|(key, _)| key.starts_with(&prefix)) {
                let kept = Kept { before_images: entry.before_images.clone(), created: entry.created.clone() };
                if kept != Kept::default() {
                    units.push((key.clone(), kept));
                }
                // A batch applied in parts kept an object per part: each is a unit to revert.
                units.extend(entry.part_images.iter().enumerate().map(|(i, images)| {
                    (format!("{key}~{i}"), Kept { before_images: Some(images.clone()), created: vec![] })
                }));
            }
        }
        Ok(units)
    }

    async fn plan_revert(&self, tenant_id: &str, import_id: &str, units: u64) -> Result<()> {
        self.faults.before("plan_revert")?;
        let mut state = self.state();
        let revert = state.row_mut(tenant_id, import_id).and_then(|row| row.import.revert.as_mut());
        // Planned before: the same units, already counted.
        if let Some(revert) = revert.filter(|r| r.status == RevertStatus::Reverting && r.units_total.is_none()) {
            revert.units_total = Some(units);
        }
        Ok(())
    }

    async fn finish_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.faults.before("finish_revert")?;
        let mut state = self.state();
        let mut listed: Vec<String> = state
            .ledger(tenant_id, import_id)
            .map(|l| l.reverted.values().flatten().cloned().collect())
            .unwrap_or_default();
        listed.sort();
        listed.truncate(MAX_LISTED_CONFLICTS);
        let mut bytes = 0;
        listed.retain(|id| {
            bytes += id.len();
            bytes <= MAX_LISTED_CONFLICT_BYTES
        });
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        let Some(revert) = row.import.revert.as_mut() else { return Ok(false) };
        if revert.status != RevertStatus::Reverting || revert.units_total != Some(revert.units_done) {
            return Ok(false);
        }
        revert.status = RevertStatus::Reverted;
        revert.completed_at = Some(time_fmt::now());
        revert.conflict_identifiers = listed;
        row.import.updated_at = time_fmt::now();
        row.sweep_at = Some(sweep_soon());
        Ok(true)
    }

    async fn fail_revert(&self, tenant_id: &str, import_id: &str, reason: &str) -> Result<bool> {
        self.faults.before("fail_revert")?;
        self.revert_status(tenant_id, import_id, RevertStatus::Reverting, RevertStatus::Failed, Some(reason))
    }

    async fn resume_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.faults.before("resume_revert")?;
        self.revert_status(tenant_id, import_id, RevertStatus::Failed, RevertStatus::Reverting, None)
    }

    async fn interrupt(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.faults.before("interrupt")?;
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::PreviewReady, Status::Queued, Status::Processing],
            to: Status::Interrupted,
            run: None,
            phase: None,
        };
        let mut state = self.state();
        let stopped = state.transition(tenant_id, import_id, t, |row| {
            row.import.interrupted_at = Some(time_fmt::now());
            row.import.reason = Some("interrupted".into());
        });
        state.close_counters(tenant_id, import_id);
        Ok(stopped)
    }

    async fn due(&self, now: OffsetDateTime, cursor: Option<&str>) -> Result<Page<ImportKey>> {
        self.faults.before("due")?;
        let after: Option<(i64, String, String)> = match cursor {
            Some(c) => Some(serde_json::from_str(c).map_err(|e| Error::Internal(format!("due cursor: {e}")))?),
            None => None,
        };
        let state = self.state();
        let mut due: Vec<(i64, String, String)> = state
            .keys()
            .into_iter()
            .filter_map(|(tenant, id)| {
                let at = state.row(&tenant, &id)?.sweep_at?;
                (at <= now.unix_timestamp()).then_some((at, tenant, id))
            })
            .filter(|key| after.as_ref().is_none_or(|a| key > a))
            .collect();
        due.sort();
        let more = due.len() > DUE_PAGE;
        due.truncate(DUE_PAGE);
        let next_cursor = match due.last().filter(|_| more) {
            Some(last) => Some(serde_json::to_string(last).map_err(|e| Error::Internal(e.to_string()))?),
            None => None,
        };
        Ok(Page { items: due.into_iter().map(|(_, tenant, id)| (tenant, id)).collect(), next_cursor })
    }

    async fn reschedule(
        &self,
        tenant_id: &str,
        import_id: &str,
        seen: OffsetDateTime,
        next: OffsetDateTime,
    ) -> Result<bool> {
        self.faults.before("reschedule")?;
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        if row.sweep_at != Some(seen.unix_timestamp()) {
            return Ok(false);
        }
        row.sweep_at = Some(next.unix_timestamp());
        Ok(true)
    }

    async fn finish(
        &self,
        tenant_id: &str,
        import_id: &str,
        from: &[Status],
        to: Status,
        reason: &str,
    ) -> Result<bool> {
        self.faults.before("finish")?;
        let mut state = self.state();
        let t = Transition { from, to, run: None, phase: None };
        let stopped = state.transition(tenant_id, import_id, t, |row| {
            row.import.completed_at = Some(time_fmt::now());
            row.import.reason = Some(reason.into());
        });
        state.close_counters(tenant_id, import_id);
        Ok(stopped)
    }

    async fn delete(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.faults.before("delete")?;
        let mut state = self.state();
        // The ledger first, as the DynamoDB store does: a failed delete can be asked again.
        if let Some(ledgers) = state.ledgers.get_mut(tenant_id) {
            ledgers.remove(import_id);
        }
        let Some(row) = state.row(tenant_id, import_id) else { return Ok(false) };
        if RUNNING.contains(&row.import.status) {
            return Ok(false);
        }
        state.imports.get_mut(tenant_id).map(|imports| imports.remove(import_id));
        Ok(true)
    }

    async fn fail(&self, tenant_id: &str, import_id: &str, run: u32, from: &[Status], reason: &str) -> Result<bool> {
        self.faults.before("fail")?;
        let mut state = self.state();
        let t = Transition { from, to: Status::Failed, run: Some(run), phase: None };
        let stopped = state.transition(tenant_id, import_id, t, |row| {
            row.import.completed_at = Some(time_fmt::now());
            row.import.reason = Some(reason.into());
        });
        state.close_counters(tenant_id, import_id);
        Ok(stopped)
    }

    async fn mark_published(&self, tenant_id: &str, import_id: &str, key: &str) -> Result<()> {
        self.faults.before("mark_published")?;
        let mut state = self.state();
        // Only beside an import that still exists.
        if state.row(tenant_id, import_id).is_some() {
            state.ledger_mut(tenant_id, import_id).events.insert(key.to_string());
        }
        Ok(())
    }

    async fn published(&self, tenant_id: &str, import_id: &str) -> Result<BTreeSet<String>> {
        self.faults.before("published")?;
        Ok(self.state().ledger(tenant_id, import_id).map(|l| l.events.clone()).unwrap_or_default())
    }
}

impl MemoryStore {
    /// The revert's status `from` → `to`, with a reason or none; false when it was not `from`.
    fn revert_status(
        &self,
        tenant_id: &str,
        import_id: &str,
        from: RevertStatus,
        to: RevertStatus,
        reason: Option<&str>,
    ) -> Result<bool> {
        let mut state = self.state();
        let Some(row) = state.row_mut(tenant_id, import_id) else { return Ok(false) };
        let Some(revert) = row.import.revert.as_mut().filter(|r| r.status == from) else { return Ok(false) };
        revert.status = to;
        revert.reason = reason.map(str::to_string);
        row.import.updated_at = time_fmt::now();
        Ok(true)
    }
}
