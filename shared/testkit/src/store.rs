//! The imports table (imports, their ledgers and counters) and the records table, in memory,
//! with the conditions the DynamoDB store writes under: a ledger entry is written once (a
//! redelivered unit is `Applied::Before`), status changes hold only from their `from` statuses
//! and at their run, a stopped run's counters are closed (its late batches are `NotFound`), and
//! records are written at the version they were read at.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use domain::import::{Import, Phase, Progress, Status};
use domain::record::{ResourceType, StoredRecord};
use domain::stats::{Stats, Tally};
use domain::time_fmt;
use domain::Result;
use serde::{Deserialize, Serialize};
use service::ports::{ImportKey, StoredImport, TypeHold};
use time::OffsetDateTime;

use crate::faults::Faults;

/// One store behind both ports, as the DynamoDB store is: a batch's ledger entry and counts are
/// written with its records, atomically.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Failures to inject, by port method name.
    pub faults: Faults,
    /// Records and before-images are not kept (`forgetful`).
    forgetful: bool,
    written: std::sync::atomic::AtomicU64,
}

#[derive(Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub imports: BTreeMap<String, BTreeMap<String, Row>>,
    pub ledgers: BTreeMap<String, BTreeMap<String, Ledger>>,
    /// Idempotency keys by tenant and key: the import id and body fingerprint.
    #[serde(skip)]
    pub idempotency: BTreeMap<(String, String), (String, String)>,
    /// Records by `tenant#resource`, then identifier.
    #[serde(skip)]
    pub records: BTreeMap<String, BTreeMap<String, StoredRecord>>,
    /// An alternate identifier's index by `tenant#resource#field`: value → record identifier.
    #[serde(skip)]
    pub index: BTreeMap<String, BTreeMap<String, String>>,
    /// Who writes each `tenant#resource` (`TypeHolds`).
    #[serde(skip)]
    pub holds: BTreeMap<String, TypeHold>,
}

/// An import item.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Row {
    pub import: Import,
    pub progress: Progress,
    pub requested_mappings: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub own_settings: Vec<String>,
    pub source_etag: Option<String>,
    pub published: Option<BTreeSet<String>>,
    /// Epoch seconds, as the sweep index holds them.
    pub sweep_at: Option<i64>,
}

/// An import's ledger: what made each unit of work count once.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Ledger {
    /// Chunks counted, by run and index.
    pub chunks: BTreeSet<(u32, u64)>,
    /// Process batches and removal pages by their ledger key (`aws_adapters::unit_sk`, so a revert plan hands back the keys the DynamoDB store would).
    pub units: BTreeMap<String, UnitEntry>,
    /// Each run's counts of its batches.
    pub counters: BTreeMap<u32, Counter>,
    /// Events marked published (`events::key`).
    pub events: BTreeSet<String>,
    /// A dry-run overwrite's notes, by run: the identifiers its rows named.
    pub notes: BTreeMap<u32, BTreeSet<String>>,
    /// Revert units done, with the conflicts each listed.
    pub reverted: BTreeMap<String, Vec<String>>,
    /// An overwrite's ended cleanup pages, by run and cursor.
    #[serde(default)]
    pub pages: BTreeSet<(u32, String)>,
}

#[derive(Default, Clone, Serialize, Deserialize)]
pub(crate) struct UnitEntry {
    pub outcomes: Option<String>,
    pub before_images: Option<String>,
    /// A batch applied in parts: the rows done, their tally, and whether the last part is.
    pub done_rows: Option<usize>,
    pub part_tally: Option<Tally>,
    pub parts_done: bool,
    pub part_images: Vec<String>,
    #[serde(default)]
    pub created: Vec<String>,
}

/// A run's counter: what its batches add to the import, until the run stops and closes it.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Counter {
    pub stats: Stats,
    pub batches_done: u64,
    pub counted_at: Option<i64>,
    pub closed: bool,
}

pub(crate) fn records_key(tenant_id: &str, resource: ResourceType) -> String {
    format!("{tenant_id}#{}", resource.as_str())
}

pub(crate) fn index_key(tenant_id: &str, resource: ResourceType, field: &str) -> String {
    format!("{tenant_id}#{}#by#{field}", resource.as_str())
}

/// The `sweep_at` of a change made now: the sweeper comes once its events are its own to send.
pub(crate) fn sweep_soon() -> i64 {
    (time_fmt::now() + domain::events::GRACE).unix_timestamp()
}

impl Row {
    pub fn new(import: &Import) -> Self {
        Row {
            import: import.clone(),
            progress: Progress::default(),
            requested_mappings: import.mappings.clone(),
            own_settings: vec![],
            source_etag: None,
            published: Some(BTreeSet::new()),
            sweep_at: Some((import.created_at + domain::events::GRACE).unix_timestamp()),
        }
    }

    /// As the store answers a read: the run's counter added to the item's own counts.
    pub fn stored(&self, ledger: Option<&Ledger>) -> StoredImport {
        let mut stored = StoredImport {
            import: self.import.clone(),
            progress: self.progress,
            requested_mappings: self.requested_mappings.clone(),
            own_settings: self.own_settings.clone(),
            source_etag: self.source_etag.clone(),
            published: self.published.clone(),
            sweep_at: self.sweep_at.and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok()),
            batch_counted_at: None,
        };
        let counter = ledger.and_then(|l| l.counters.get(&self.progress.run));
        if let Some(counter) = counter.filter(|_| self.import.status != Status::AwaitingUpload) {
            stored.import.stats.add(&counter.stats);
            stored.progress.batches_done += counter.batches_done;
            stored.batch_counted_at = counter.counted_at.and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok());
        }
        stored
    }

    /// Sets the status (and what every status change sets with it).
    pub fn set_status(&mut self, to: Status) {
        self.import.status = to;
        self.import.updated_at = time_fmt::now();
        self.sweep_at = Some(sweep_soon());
    }
}

/// A status change applied only from one of `from` (and at `run`, when given).
pub(crate) struct Transition<'a> {
    pub from: &'a [Status],
    pub to: Status,
    pub run: Option<u32>,
    pub phase: Option<Phase>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store for measuring a step's own memory (the bench's peak-RSS runs): it keeps no
    /// record, index entry or before-image, however many are written, and of a batch's ledger
    /// entry only its outcomes (for completion's files); it counts the records written
    /// (`records_written`) and the batches into their run. Every record reads as missing, so
    /// every write creates one, and a batch delivered twice counts twice.
    pub fn forgetful() -> Self {
        Self { forgetful: true, ..Self::default() }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn forgets(&self) -> bool {
        self.forgetful
    }

    pub(crate) fn count_written(&self, n: u64) {
        self.written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records written by batches (created, changed or deleted) since the store was made.
    pub fn records_written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The imports and their ledgers as JSON (records are not kept): what a step in another
    /// process finds with [`MemoryStore::restore`].
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&*self.state()).map_err(|e| domain::Error::Internal(format!("snapshot: {e}")))
    }

    /// The imports and ledgers of a [`MemoryStore::snapshot`].
    pub fn restore(&self, snapshot: &[u8]) -> Result<()> {
        let restored: State =
            serde_json::from_slice(snapshot).map_err(|e| domain::Error::Internal(format!("snapshot: {e}")))?;
        let mut state = self.state();
        state.imports = restored.imports;
        state.ledgers = restored.ledgers;
        Ok(())
    }

    /// Every record of a type, in key order.
    pub fn records(&self, tenant_id: &str, resource: ResourceType) -> Vec<StoredRecord> {
        let state = self.state();
        state.records.get(&records_key(tenant_id, resource)).map(|r| r.values().cloned().collect()).unwrap_or_default()
    }

    /// Puts records as they are, conditions aside: a test's existing data.
    pub fn put_records(&self, tenant_id: &str, resource: ResourceType, records: &[StoredRecord]) {
        let mut state = self.state();
        let table = state.records.entry(records_key(tenant_id, resource)).or_default();
        for record in records {
            table.insert(record.identifier.clone(), record.clone());
        }
    }

    /// The keys of an import's ledger entries of process batches and removals, in key order.
    pub fn ledger_units(&self, tenant_id: &str, import_id: &str) -> Vec<String> {
        let state = self.state();
        state.ledger(tenant_id, import_id).map(|l| l.units.keys().cloned().collect()).unwrap_or_default()
    }

    /// Whether the run's counter is closed (the run stopped: its late batches count no more).
    pub fn counter_closed(&self, tenant_id: &str, import_id: &str, run: u32) -> bool {
        let state = self.state();
        state.ledger(tenant_id, import_id).and_then(|l| l.counters.get(&run)).is_some_and(|c| c.closed)
    }
}

impl State {
    pub fn row(&self, tenant_id: &str, import_id: &str) -> Option<&Row> {
        self.imports.get(tenant_id)?.get(import_id)
    }

    pub fn row_mut(&mut self, tenant_id: &str, import_id: &str) -> Option<&mut Row> {
        self.imports.get_mut(tenant_id)?.get_mut(import_id)
    }

    pub fn ledger(&self, tenant_id: &str, import_id: &str) -> Option<&Ledger> {
        self.ledgers.get(tenant_id)?.get(import_id)
    }

    pub fn ledger_mut(&mut self, tenant_id: &str, import_id: &str) -> &mut Ledger {
        self.ledgers.entry(tenant_id.to_string()).or_default().entry(import_id.to_string()).or_default()
    }

    pub fn stored(&self, tenant_id: &str, import_id: &str) -> Option<StoredImport> {
        Some(self.row(tenant_id, import_id)?.stored(self.ledger(tenant_id, import_id)))
    }

    /// Applies a transition; false when the import is in none of its `from` statuses (or gone).
    pub fn transition(
        &mut self,
        tenant_id: &str,
        import_id: &str,
        t: Transition<'_>,
        also: impl FnOnce(&mut Row),
    ) -> bool {
        let Some(row) = self.row_mut(tenant_id, import_id) else { return false };
        if !t.from.contains(&row.import.status) || t.run.is_some_and(|run| run != row.progress.run) {
            return false;
        }
        row.set_status(t.to);
        if let Some(phase) = t.phase {
            row.import.phase = Some(phase);
        }
        also(row);
        true
    }

    /// Closes the counter of the import's current run: its batches in flight count no more.
    pub fn close_counters(&mut self, tenant_id: &str, import_id: &str) {
        let Some(run) = self.row(tenant_id, import_id).map(|r| r.progress.run) else { return };
        self.ledger_mut(tenant_id, import_id).counters.entry(run).or_default().closed = true;
    }

    /// The import keys in `imports`.
    pub fn keys(&self) -> Vec<ImportKey> {
        self.imports
            .iter()
            .flat_map(|(tenant, imports)| imports.keys().map(move |id| (tenant.clone(), id.clone())))
            .collect()
    }
}
