//! The small traits the pipeline runs over. AWS implementations live in `aws-adapters`; the
//! domain never sees an SDK type.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::io::AsyncRead;

use domain::chunking::Chunk;
use domain::dedup::Duplicates;
use domain::error::Result;
use domain::idempotency::KeyClaim;
use domain::import::{Import, Plan, Progress, PullSource, SignedRequest, Status};
use domain::merge::{ImportRule, UpdateRule};
use domain::record::{ResourceType, StoredRecord};
use domain::revert_state::RevertState;
use domain::stats::Tally;
use domain::sync::SyncAction;
use domain::template::TemplateUse;
use domain::webhook::SecretVersions;

/// One page of a listing and the cursor of the next, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What a transformed chunk adds to its run.
#[derive(Debug, Clone, Copy)]
pub struct ChunkCount<'a> {
    pub chunk: &'a Chunk,
    /// The process messages sent for it.
    pub batches: u64,
    pub tally: &'a Tally,
    /// When its transform began: the run's `started_at` if it is the first chunk counted.
    pub began: OffsetDateTime,
}

/// How a finished preview or dry run runs again from the same upload.
#[derive(Debug, Clone)]
pub struct Restart {
    /// The status it must still be in, and the run it must still be at.
    pub from: Status,
    pub run: u32,
    pub settings: RunSettings,
    pub dry_run: bool,
}

/// What a PATCH that starts a run, or a template chosen by the file's headers, changes of the
/// import's settings; each one set replaces the import's as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSettings {
    /// Corrected mappings, replacing the requested ones.
    pub mappings: Option<BTreeMap<String, Option<String>>>,
    pub constants: Option<serde_json::Map<String, serde_json::Value>>,
    pub value_mappings: Option<BTreeMap<String, BTreeMap<String, String>>>,
    pub tags: Option<Vec<String>>,
    pub sync_actions: Option<Vec<SyncAction>>,
    pub update_rule: Option<UpdateRule>,
    pub update_rule_by_field: Option<BTreeMap<String, UpdateRule>>,
    pub import_rule: Option<ImportRule>,
    pub duplicates: Option<Duplicates>,
    pub max_error_ratio: Option<Option<f64>>,
    pub max_errors: Option<Option<u64>>,
    pub template: Option<TemplateUse>,
}

impl RunSettings {
    /// Whether an import with these requested mappings has every setting sent.
    pub fn already(&self, mappings: &BTreeMap<String, Option<String>>, import: &Import) -> bool {
        let mut applied = import.clone();
        self.apply(&mut applied);
        self.mappings.as_ref().is_none_or(|m| m == mappings)
            && Import { mappings: import.mappings.clone(), ..applied } == *import
    }

    /// Sets on `import` each setting that is set here.
    pub fn apply(&self, import: &mut Import) {
        fn set<T: Clone>(from: &Option<T>, to: &mut T) {
            if let Some(value) = from {
                *to = value.clone();
            }
        }
        set(&self.mappings, &mut import.mappings);
        set(&self.constants, &mut import.options.constants);
        set(&self.value_mappings, &mut import.options.value_mappings);
        set(&self.tags, &mut import.changes.tags);
        set(&self.sync_actions, &mut import.changes.sync_actions);
        set(&self.update_rule, &mut import.update.update_rule);
        set(&self.update_rule_by_field, &mut import.update.update_rule_by_field);
        set(&self.import_rule, &mut import.import_rule);
        set(&self.duplicates, &mut import.duplicates);
        set(&self.max_error_ratio, &mut import.max_error_ratio);
        set(&self.max_errors, &mut import.max_errors);
        if let Some(template) = &self.template {
            import.template = Some(template.clone());
        }
    }
}

impl Restart {
    /// The dry run this restart runs for real (`Progress::rehearsal`), if it is one.
    pub fn rehearsal(&self) -> Option<u32> {
        (self.from == Status::Completed).then_some(self.run)
    }

    /// The import as the new run starts it: queued again, its last run's outcome cleared, with
    /// the settings sent. The store keeps `requested_mappings` itself.
    pub fn apply(&self, import: &mut Import) {
        import.status = Status::Queued;
        import.phase = Some(domain::import::Phase::Prevalidation);
        import.in_preview = false;
        import.dry_run = self.dry_run;
        import.stats = Default::default();
        import.reason = None;
        import.has_errors_file = false;
        import.has_results_file = false;
        import.started_at = None;
        import.completed_at = None;
        self.settings.apply(import);
    }
}

/// An import with what only the pipeline sees of it.
#[derive(Debug, Clone)]
pub struct StoredImport {
    pub import: Import,
    pub progress: Progress,
    /// The mappings as the client asked for them; `import.mappings` becomes the resolved ones.
    pub requested_mappings: BTreeMap<String, Option<String>>,
    /// The settings the create body set itself (of `template::SETTINGS`).
    pub own_settings: Vec<String>,
    /// The upload's ETag once planned: later reads of it must find the same object.
    pub source_etag: Option<String>,
    /// The lifecycle events published so far (`events::key`); None for an import stored before
    /// events were recorded, whose missing events are never sent again.
    pub published: Option<BTreeSet<String>>,
    /// When the sweeper next has something to do with it (`pipeline::sweep`): never later than
    /// its next deadline, maybe earlier. None: nothing (an import stored before deadlines were).
    pub sweep_at: Option<OffsetDateTime>,
    /// When its run last counted a batch (the item's `updated_at` says when it last counted a
    /// chunk or changed otherwise); None before the first.
    pub batch_counted_at: Option<OffsetDateTime>,
}

/// An import's tenant and id.
pub type ImportKey = (String, String);

#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Stores a new import, with the settings its body set itself (an `auto` template's do not
    /// override them); false when one with its id exists already.
    async fn create(&self, import: &Import, own_settings: &[String]) -> Result<bool>;
    /// Claims an idempotency key for an import id and a body fingerprint, or says who holds it.
    async fn claim_key(&self, tenant_id: &str, key: &str, fingerprint: &str, import_id: &str) -> Result<KeyClaim>;
    async fn get(&self, tenant_id: &str, import_id: &str) -> Result<Option<StoredImport>>;
    /// Only the run's progress, read as cheaply as deciding `Progress::is_done` allows (what the
    /// pipeline asks after each message): `batches_done` may be short while chunks are left.
    async fn progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>>;
    async fn list(
        &self,
        tenant_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Import>>;
    /// Stores the plan; false when the import is no longer waiting for one (at its run). With
    /// `plan.queue` the import is queued, phase `transforming`. Saving the same plan again, while
    /// no chunk is counted yet, changes nothing.
    async fn save_plan(&self, tenant_id: &str, import_id: &str, plan: &Plan) -> Result<bool>;
    /// The plan is saved and the import stops for its preview.
    async fn preview_ready(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool>;
    /// An `auto` template is settled at `run`: `settings` are applied (the store keeps
    /// `requested_mappings` itself) and the import names `template`, or none; false when the
    /// import is no longer at `run` or no longer `auto`.
    async fn settle_template(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        settings: &RunSettings,
        template: Option<TemplateUse>,
    ) -> Result<bool>;
    /// Back to `queued` for a new run from the same upload, stats and progress reset; false when
    /// the import is no longer in `restart.from` at `restart.run`.
    async fn restart(&self, tenant_id: &str, import_id: &str, restart: &Restart) -> Result<bool>;
    /// Per batch of a chunk, the outcome codes its process step stored (see `results`).
    async fn batch_outcomes(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        chunk: u64,
    ) -> Result<BTreeMap<u64, String>>;
    /// Adds one chunk's tally, rows and planned batches, once: false when it was already counted.
    /// The same write starts the run (queued → processing) when it is the first chunk counted:
    /// `progress.start` names it, and `started_at` is `began`, when its work began.
    async fn record_chunk(&self, tenant_id: &str, import_id: &str, run: u32, chunk: &ChunkCount<'_>) -> Result<bool>;
    /// queued or processing → completed; false when another step completed it first. Status
    /// changes are tied to a run: a step of an earlier run never moves a later one.
    async fn complete(&self, tenant_id: &str, import_id: &str, run: u32, files: Finished) -> Result<bool>;
    /// An overwrite's merge is done: phase `cleanup`; false when it already was (or the import
    /// is no longer running at `run`).
    async fn begin_cleanup(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool>;
    /// Notes that a dry-run overwrite's rows name these records (it marks none of them).
    async fn note_seen(&self, tenant_id: &str, import_id: &str, run: u32, identifiers: &[String]) -> Result<()>;
    /// Records a step of the cleanup as done, once.
    async fn cleanup_step(&self, tenant_id: &str, import_id: &str, run: u32, step: CleanupStep) -> Result<bool>;
    /// Whether a delivery of the cleanup page from `page` (its cursor) ended it (sent the next).
    async fn page_ended(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<bool>;
    /// Notes that the cleanup page from `page` is ended: its next page is on the queue.
    async fn end_page(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<()>;
    /// A completed import starts reverting with this state; false when it is not completed or
    /// a revert was asked before.
    async fn begin_revert(&self, tenant_id: &str, import_id: &str, state: &RevertState) -> Result<bool>;
    /// The run's units of work that kept anything for a revert, by ledger key (a batch applied
    /// in parts: one unit per part's before-images, `key~i`, and one for what its parts created).
    async fn kept_before_images(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<Vec<(String, Kept)>>;
    /// Sets how many units the revert has, once.
    async fn plan_revert(&self, tenant_id: &str, import_id: &str, units: u64) -> Result<()>;
    /// Every unit is reverted: `reverted`, with the first conflicting identifiers listed; false
    /// when it already was or units are left.
    async fn finish_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool>;
    /// A unit or the plan failed for good: a reverting revert → `failed` with `reason`; false
    /// when it was not reverting.
    async fn fail_revert(&self, tenant_id: &str, import_id: &str, reason: &str) -> Result<bool>;
    /// A failed revert → `reverting` again, keeping what its units did; false when it was not
    /// failed.
    async fn resume_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool>;
    /// Any status before a final one → interrupted (`PATCH {"interrupt": true}`, docs/api.md); false
    /// when the import was already final. Work still queued is dropped; what was written stays.
    async fn interrupt(&self, tenant_id: &str, import_id: &str) -> Result<bool>;
    /// A page of the imports whose `sweep_at` is at or before `now`, every tenant's, from an
    /// index that holds nothing else: a round reads what is due, not the table. Status changes
    /// set `sweep_at` to `events::GRACE` from when they happen (the sweeper then sends what the
    /// change may owe and moves it on with [`ImportStore::reschedule`]).
    async fn due(&self, now: OffsetDateTime, cursor: Option<&str>) -> Result<Page<ImportKey>>;
    /// Moves the import's `sweep_at` from `seen` to `next`; false when it is no longer `seen`
    /// (a change set it anew) or the import is gone.
    async fn reschedule(
        &self,
        tenant_id: &str,
        import_id: &str,
        seen: OffsetDateTime,
        next: OffsetDateTime,
    ) -> Result<bool>;
    /// One of `from` → `to` (a final status the sweeper sets) with a reason; false when the
    /// import was in none of them.
    async fn finish(&self, tenant_id: &str, import_id: &str, from: &[Status], to: Status, reason: &str)
        -> Result<bool>;
    /// Deletes an import that is not running, with its ledger; false when it is running (or gone).
    async fn delete(&self, tenant_id: &str, import_id: &str) -> Result<bool>;
    /// One of `from` → failed with a reason; false when the import was in none of them.
    async fn fail(&self, tenant_id: &str, import_id: &str, run: u32, from: &[Status], reason: &str) -> Result<bool>;
    /// Records that an event was published (`events::key`); nothing when the import is gone.
    async fn mark_published(&self, tenant_id: &str, import_id: &str, key: &str) -> Result<()>;
    /// The events recorded published apart from the import's own `published` (`events::key`):
    /// the sweeper adds them to it before it sends what the import owes.
    async fn published(&self, tenant_id: &str, import_id: &str) -> Result<BTreeSet<String>>;
}

/// The steps of an overwrite's cleanup (`pipeline::overwrite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupStep {
    /// `max_removed_ratio` allows the removal: later starts of the cleanup do not count again.
    GuardPassed,
    /// Every record the overwrite did not see is removed: the run may complete.
    RemovalDone,
}

/// The files a completed import offers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finished {
    pub has_errors_file: bool,
    pub has_results_file: bool,
}

/// A record to write, guarded by the version it was read at (None: it must not exist yet),
/// with the changes its write makes to the alternate identifier's index.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub record: StoredRecord,
    pub expected_version: Option<u64>,
    pub index: Vec<IndexChange>,
    /// Delete the record (at `expected_version`) instead of writing it.
    pub delete: bool,
}

/// An entry of the index of an alternate identifier (`identifiers`): `value` of `field` belongs
/// to the record written. A claim must find the value free or already the record's; a release
/// must find it still the record's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    Claim { field: String, value: String },
    Release { field: String, value: String },
}

/// The unit of work a batch of writes is, which its ledger entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// A process batch of a chunk: counts into `batches_done`.
    Batch { chunk: u64, batch: u64 },
    /// Records an overwrite's cleanup removes, one page of them (`overwrite`).
    Removal { page: String },
}

/// Writes applied atomically with their ledger entry and stats.
#[derive(Debug, Clone)]
pub struct BatchWrite {
    pub tenant_id: String,
    pub import_id: String,
    pub resource_type: ResourceType,
    pub run: u32,
    pub unit: Unit,
    pub writes: Vec<RecordWrite>,
    pub tally: Tally,
    /// One outcome code per record of a process batch, in order (see `results`).
    pub outcomes: Option<String>,
    /// Where the before-images of the records it changes or removes are kept (`revert`).
    pub before_images: Option<String>,
    /// The records it creates: a revert deletes them while no other import changed them, so
    /// they need no before-image.
    pub created: Vec<String>,
    /// The rows of a process batch too big for one transaction that this write covers; None:
    /// the whole unit at once. `outcomes` and `tally` then hold every row's up to `end`.
    pub part: Option<Part>,
    /// The writes are creates of a run that holds its type alone (`TypeHolds`), of a whole
    /// unit: written unconditioned (unless the ledger entry exists) before the transaction of the
    /// ledger entry and counts, which they are then not part of. Only writes without index
    /// changes, which have no condition to keep.
    pub blind: bool,
}

/// What a unit of work kept for its revert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    pub before_images: Option<String>,
    pub created: Vec<String>,
}

/// Rows `start..end` of a batch applied in parts, in row order: each part applies only when the
/// ledger says the rows before `start` are done, and the last one counts the batch done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub start: usize,
    pub end: usize,
    pub last: bool,
}

/// What a batch's ledger entry says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchState {
    /// Applied whole, or its last part applied.
    Done,
    /// Applied in parts up to row `rows`, with the outcome codes and the tally of those rows
    /// (counted with the last part).
    Partial { rows: usize, outcomes: String, tally: Tally },
}

/// What a record write weighs in a transaction, as the store writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weight {
    /// The record's own item (`item_size::MAX_ITEM_BYTES` at most).
    pub record_bytes: usize,
    /// Every item of the write (the record's and its index entries'), and their bytes.
    pub items: usize,
    pub bytes: usize,
}

/// One revert unit: its writes, applied atomically with its ledger entry and the revert's
/// counters.
#[derive(Debug, Clone)]
pub struct RevertWrite {
    pub tenant_id: String,
    pub import_id: String,
    pub resource_type: ResourceType,
    /// The ledger key of the unit of work reverted.
    pub unit: String,
    pub writes: Vec<RecordWrite>,
    pub deleted: u64,
    pub restored: u64,
    /// Records changed since: left alone.
    pub conflicts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Now,
    /// A delivery before this one applied the batch.
    Before,
    /// A record changed since it was read; read again and retry.
    Conflict,
}

/// Who writes a type's records (`pipeline::type_hold`): one run alone, or runs side by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeHold {
    /// The import that holds the type alone, and its run.
    pub holder: Option<(String, u32)>,
    /// When the hold was given up or taken away (epoch seconds); none while it holds.
    pub revoked_at: Option<i64>,
    /// The imports whose runs write the type side by side.
    pub writers: BTreeSet<String>,
}

/// The item each of a tenant's types has that says who writes its records: every change to it
/// is one conditional write of that item, so who holds and who joins never race.
#[async_trait]
pub trait TypeHolds: Send + Sync {
    /// The type's hold as it is now (a consistent read).
    async fn type_hold(&self, tenant_id: &str, resource: ResourceType) -> Result<TypeHold>;
    /// Takes the type alone for `import_id`'s `run`: while no run writes it beside, and no other
    /// holds it (a hold revoked before `revoked_before` is over). True when it is this run's.
    async fn hold_type(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        run: u32,
        revoked_before: i64,
    ) -> Result<bool>;
    /// Adds `import_id` to the type's writers; the hold as it is then.
    async fn join_type(&self, tenant_id: &str, resource: ResourceType, import_id: &str) -> Result<TypeHold>;
    /// Removes these imports from the type's writers; the hold as it is then.
    async fn leave_type(&self, tenant_id: &str, resource: ResourceType, import_ids: &[String]) -> Result<TypeHold>;
    /// Revokes `holder`'s hold at `at`, unless it was revoked already; the hold as it is then.
    async fn revoke_hold(&self, tenant_id: &str, resource: ResourceType, holder: &str, at: i64) -> Result<TypeHold>;
}

#[async_trait]
pub trait RecordStore: TypeHolds + Send + Sync {
    async fn get(&self, tenant_id: &str, resource: ResourceType, identifier: &str) -> Result<Option<StoredRecord>>;
    async fn get_many(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        identifiers: &[String],
    ) -> Result<HashMap<String, StoredRecord>>;
    async fn list(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>>;
    /// Applies the writes with their ledger entry: `Before` when the entry exists already (a
    /// whole unit), or, for a part, when the ledger is not at its `start`.
    async fn apply_batch(&self, batch: &BatchWrite) -> Result<Applied>;
    /// What the ledger holds of a process batch; None before anything of it applied.
    async fn batch_state(&self, tenant_id: &str, import_id: &str, run: u32, unit: &Unit) -> Result<Option<BatchState>>;
    /// What a write weighs as this store writes it (no request is made).
    fn weigh(&self, tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight>;
    /// `Before` when the unit was reverted already; `NotFound` when the import is gone or no
    /// longer reverting.
    async fn apply_revert(&self, revert: &RevertWrite) -> Result<Applied>;
    /// Creates each record that does not exist yet, leaving existing ones as they are; how many
    /// it created.
    async fn create_missing(&self, tenant_id: &str, resource: ResourceType, records: &[StoredRecord]) -> Result<u64>;
    /// How many records of the type there are, and how many of them `import_id` has not seen and
    /// were last written before `before`. A dry run (`noted_in`: its run) saw the records it
    /// noted (`ImportStore::note_seen`) instead of marking them.
    async fn census(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        before: OffsetDateTime,
        noted_in: Option<u32>,
    ) -> Result<(u64, u64)>;
    /// A page of the records `import_id` has not seen, after `cursor` (where the last page
    /// ended, in an order of the store's).
    async fn unseen(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>>;
    /// Which records hold these values of an alternate identifier: value → record identifier.
    async fn lookup(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        field: &str,
        values: &[String],
    ) -> Result<HashMap<String, String>>;
}

pub type ByteStream = Box<dyn AsyncRead + Send + Unpin>;

/// An object opened for reading.
pub struct Opened {
    pub stream: ByteStream,
    /// The whole object's size, even when a range was asked for.
    pub size: u64,
    pub etag: Option<String>,
}

/// How a signed GET link serves its object: as an attachment of a fixed type, whatever the
/// object holds or was stored with, so a tenant's file never renders (as HTML) in a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The name the browser saves it as; plain ASCII without quotes (import ids and suffixes).
    pub filename: String,
    pub content_type: &'static str,
}

impl Download {
    /// The `Content-Disposition` the link answers with.
    pub fn disposition(&self) -> String {
        format!("attachment; filename=\"{}\"", self.filename)
    }
}

/// An object being written piece by piece; nothing is visible until `finish`.
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    async fn finish(self: Box<Self>) -> Result<()>;
}

#[async_trait]
pub trait FileStore: Send + Sync {
    async fn presign_upload(&self, key: &str, ttl_secs: u64) -> Result<SignedRequest>;
    /// A signed GET of the object, valid for `ttl_secs`, served as `download` says.
    async fn presign_download(&self, key: &str, ttl_secs: u64, download: &Download) -> Result<String>;
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;
    /// Puts a small object unless the key holds one already (S3's `If-None-Match: *`): false
    /// when it did, and nothing was written.
    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool>;
    /// Starts writing an object of any size with flat memory.
    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>>;
    /// The keys under a prefix, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// A small object, whole.
    async fn read(&self, key: &str) -> Result<Vec<u8>>;
    /// Deletes every object under a prefix.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// The object, or bytes `[start, end)` of it, as a stream. With `if_match`, an object
    /// replaced since is `Error::SourceChanged`.
    async fn open(&self, key: &str, range: Option<(u64, u64)>, if_match: Option<&str>) -> Result<Opened>;
}

/// A part of a multipart upload that the bucket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// Multipart uploads into the uploads bucket, whose parts the client PUTs itself to signed URLs.
/// The store keeps the upload's id; it is found again by the object's key.
#[async_trait]
pub trait MultipartUploads: Send + Sync {
    async fn start(&self, key: &str) -> Result<()>;
    /// The id of the open multipart upload of `key` (the first started, if several were).
    async fn open_upload(&self, key: &str) -> Result<Option<String>>;
    async fn presign_part(&self, key: &str, upload_id: &str, part: u32, ttl_secs: u64) -> Result<String>;
    /// The parts held, by part number.
    async fn parts(&self, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>>;
    async fn complete(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<()>;
    /// Aborts every open multipart upload of `key`, and frees the parts.
    async fn abort(&self, key: &str) -> Result<()>;
}

/// Where the files of `source` imports come from.
#[async_trait]
pub trait Sources: Send + Sync {
    /// The file `source` names, as a stream. `Ok(Err(why))` when the source refuses it or does
    /// not have it, which no retry changes; `Err` when asking again may work.
    async fn open(&self, source: &PullSource) -> Result<std::result::Result<Opened, String>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Transform,
    Process,
    /// Lifecycle events for clients (docs/api.md, Lifecycle events), not work.
    Events,
    /// Webhook deliveries (`webhook`).
    Webhooks,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends messages of one tenant. The tenant is their message group: on a standard queue
    /// SQS (fair queues) then serves a quiet tenant's messages ahead of a flooding one's backlog.
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> Result<()>;
    /// One message of a tenant, hidden for `delay_secs` (at most 900, SQS's longest delay).
    async fn send_after(&self, queue: Queue, tenant_id: &str, body: String, delay_secs: u32) -> Result<()>;
}

/// What a tenant keeps of its own, versioned: import templates (`tpl_...` ids) and field
/// schemas (one per resource type, its name the id). A version is never changed once stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Template,
    Schema,
}

/// One version of a tenant's document.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub id: String,
    /// From 1.
    pub version: u32,
    /// The document's own fields, as the API shows them (without `id`, `version` and times).
    pub body: serde_json::Value,
    /// When version 1 was stored.
    pub created_at: OffsetDateTime,
    /// When this version was stored.
    pub updated_at: OffsetDateTime,
}

impl Versioned {
    /// As the API shows it: its id under `id_field`, its version, its own fields, its times.
    pub fn shown(self, id_field: &str) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert(id_field.into(), self.id.into());
        object.insert("version".into(), self.version.into());
        if let serde_json::Value::Object(body) = self.body {
            object.extend(body);
        }
        object.insert("created_at".into(), domain::time_fmt::rfc3339(self.created_at).into());
        object.insert("updated_at".into(), domain::time_fmt::rfc3339(self.updated_at).into());
        serde_json::Value::Object(object)
    }
}

#[async_trait]
pub trait Documents: Send + Sync {
    /// Stores `doc` as its version: version 1 only while the id is free, a later one only while
    /// the latest is the one before it; false otherwise, and nothing is written.
    async fn put_version(&self, kind: DocumentKind, tenant_id: &str, doc: &Versioned) -> Result<bool>;
    /// The latest version, or the one asked for; None when either is not stored.
    async fn get(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<Versioned>>;
    /// The latest version of each of the tenant's documents of `kind`, in id order.
    async fn list(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Versioned>>;
    /// Deletes every version; false when there was none.
    async fn delete(&self, kind: DocumentKind, tenant_id: &str, id: &str) -> Result<bool>;
}

/// The versions of each tenant's webhook secret (`webhook::SecretVersions`).
#[async_trait]
pub trait WebhookSecrets: Send + Sync {
    async fn versions(&self, tenant_id: &str) -> Result<SecretVersions>;
    /// The next version becomes current, the current one previous as of `now`.
    async fn rotate(&self, tenant_id: &str, now: OffsetDateTime) -> Result<SecretVersions>;
}
