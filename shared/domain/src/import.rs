//! The import: its settings, lifecycle status and phase, and what the API shows of it (docs/api.md, The import).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dedup::Duplicates;
use crate::merge::{ImportRule, UpdateRules};
use crate::options::{Action, CsvOptions};
use crate::record::ResourceType;
use crate::revert_state::{RevertState, RevertStatus};
use crate::stats::Stats;
use crate::sync::Changes;
use crate::template::{Suggested, TemplateUse};
use crate::validate::{RowError, RowOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingUpload,
    PreviewReady,
    Queued,
    Processing,
    Completed,
    Failed,
    Expired,
    TimedOut,
    Interrupted,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::AwaitingUpload,
        Status::PreviewReady,
        Status::Queued,
        Status::Processing,
        Status::Completed,
        Status::Failed,
        Status::Expired,
        Status::TimedOut,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingUpload => "awaiting_upload",
            Status::PreviewReady => "preview_ready",
            Status::Queued => "queued",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::TimedOut => "timed_out",
            Status::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Expired | Status::TimedOut | Status::Interrupted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Prevalidation,
    Preparsing,
    Transforming,
    Processing,
    Cleanup,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Prevalidation => "prevalidation",
            Phase::Preparsing => "preparsing",
            Phase::Transforming => "transforming",
            Phase::Processing => "processing",
            Phase::Cleanup => "cleanup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Told from the content: a workbook by its bytes, `[` JSON, `{` JSON lines, else CSV.
    #[default]
    Auto,
    Csv,
    /// An array of objects.
    Json,
    /// One object per line.
    Jsonl,
    /// A workbook: xlsx, and xls, xlsb or ods, which the same reader reads.
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 5] = [Format::Auto, Format::Csv, Format::Json, Format::Jsonl, Format::Xlsx];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// How the upload is compressed; `auto` tells gzip, zstd and zip by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Auto,
    None,
    Gzip,
    Zstd,
    Zip,
}

impl Compression {
    pub const ALL: [Compression; 5] =
        [Compression::Auto, Compression::None, Compression::Gzip, Compression::Zstd, Compression::Zip];

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Auto => "auto",
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Zip => "zip",
        }
    }
}

/// Which sheet of a workbook imports: by name, or by index from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    Index(u32),
    Name(String),
}

/// How the file itself is read: its compression, the entry of a zip, the sheet of a workbook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packing {
    #[serde(default)]
    pub compression: Compression,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_entry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xlsx: Option<WorkbookOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkbookOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<SheetRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Async,
    /// Inline inputs processed within the create request.
    Sync,
}

/// `max_removed_ratio`: the share of a type's records an overwrite may remove.
pub const DEFAULT_MAX_REMOVED_RATIO: f64 = 0.5;

fn default_max_removed_ratio() -> f64 {
    DEFAULT_MAX_REMOVED_RATIO
}

/// A preview row: the record it maps to, or why it would be an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub row: u64,
    pub record: Option<serde_json::Map<String, serde_json::Value>>,
    pub errors: Vec<RowError>,
}

/// What prevalidation found out about the uploaded file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub size: u64,
    pub rows: u64,
    pub detected_encoding: String,
    pub delimiter: String,
    pub had_bom: bool,
    pub line_ending: String,
    /// What the data turned out to be: `csv`, `json`, `jsonl`, `xlsx`, `xls`, `xlsb` or `ods`
    /// (absent for an import prevalidated before formats were detected).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    /// `none`, `gzip`, `zstd` or `zip`; `size` then counts the bytes decompressed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub compression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed_size: Option<u64>,
    /// A workbook's sheet that imported, and the names of all its sheets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
}

/// A signed request the client makes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRequest {
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Where the file goes: one signed PUT, or the parts of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UploadLink {
    Multipart(MultipartLink),
    Put(SignedRequest),
}

/// A multipart upload (`method` is `MULTIPART`): the client asks `parts_url` for signed part
/// URLs, PUTs the parts (several at once, any again), then POSTs `complete_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartLink {
    pub method: String,
    pub part_size: u64,
    /// How many parts the declared size makes; none when no size was declared.
    pub parts: Option<u32>,
    pub parts_url: String,
    pub complete_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `upload`: what the client says of the file it will send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default)]
    pub multipart: bool,
}

/// Over this size an upload is multipart: S3 takes 5 GiB in one PUT, but a PUT that fails
/// after gigabytes starts again from nothing.
pub const MULTIPART_OVER: u64 = 100 * 1024 * 1024;
/// S3's limits: parts of 5 MiB at least (but the last), 10,000 parts at most.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;
/// A multipart upload stays open this long: a terabyte at 100 Mbit/s takes a day.
pub const MULTIPART_WINDOW_SECS: i64 = 3 * 24 * 3600;

impl UploadRequest {
    pub fn is_multipart(&self) -> bool {
        self.multipart || self.size.is_some_and(|size| size > MULTIPART_OVER)
    }

    /// The part size: whole MiB, at least 5, that fit the file in 10,000 parts (without a size,
    /// the largest file).
    pub fn part_size(&self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self.size {
            Some(size) => size.div_ceil(MAX_PARTS).div_ceil(MIB).max(MIN_PART / MIB) * MIB,
            None => crate::bad_file::MAX_FILE_BYTES.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB,
        }
    }

    /// How many parts the declared size makes.
    pub fn parts(&self) -> Option<u32> {
        self.size.map(|size| size.div_ceil(self.part_size()).max(1) as u32)
    }
}

/// `source`: a file the service pulls instead of one uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullSource {
    /// Fetched with a GET, under the rules of outbound calls (HTTPS, public addresses only).
    Url(String),
    /// Copied from the tenant's bucket, as `role_arn` (with `external_id`) when given.
    S3(S3Source),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Source {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// What the client fetches or sends itself. The download links are signed when the import
/// is read, never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_csv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_json: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_csv: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Import {
    pub id: String,
    pub tenant_id: String,
    pub resource_type: ResourceType,
    pub action: Action,
    pub format: Format,
    /// `compression`, `zip_entry`, `xlsx`.
    #[serde(flatten, default)]
    pub packing: Packing,
    /// What the client said of the file it sends (`upload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadRequest>,
    /// The file the service pulls instead (`source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PullSource>,
    pub mode: Mode,
    #[serde(default)]
    pub csv: CsvOptions,
    /// Stop at `preview_ready` after prevalidation.
    #[serde(default)]
    pub in_preview: bool,
    /// Run every phase without writing records.
    #[serde(default)]
    pub dry_run: bool,
    pub identifier_field: String,
    /// As requested until prevalidation, then resolved: every file header with its field or null.
    pub mappings: BTreeMap<String, Option<String>>,
    #[serde(flatten)]
    pub options: RowOptions,
    /// `tags` and `sync_actions`: applied to every record written.
    #[serde(flatten, default)]
    pub changes: Changes,
    #[serde(default)]
    pub duplicates: Duplicates,
    #[serde(default)]
    pub import_rule: ImportRule,
    #[serde(flatten, default)]
    pub update: UpdateRules,
    /// Fail the import once more than this share of the processed rows are errors.
    #[serde(default)]
    pub max_error_ratio: Option<f64>,
    /// Fail the import once more than this many rows are errors.
    #[serde(default)]
    pub max_errors: Option<u64>,
    /// The template whose settings are this import's defaults: `auto` until the headers chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateUse>,
    /// Preview: the tenant's template the file's headers match best, if one matches enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_template: Option<Suggested>,
    /// The version of the tenant's schema of the type when the import was created: its rows are
    /// checked against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// An overwrite that would remove more than this share of the existing records fails.
    #[serde(default = "default_max_removed_ratio")]
    pub max_removed_ratio: f64,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub retention: String,
    /// Where lifecycle events are also POSTed, signed (see `webhook`).
    #[serde(default)]
    pub webhook_url: Option<String>,
    pub status: Status,
    pub phase: Option<Phase>,
    pub reason: Option<String>,
    pub stats: Stats,
    pub file_headers: Vec<String>,
    pub unmapped_headers: Vec<String>,
    /// Preview: the first rows as they would import.
    #[serde(default)]
    pub sample_records: Vec<SampleRecord>,
    /// Preview: the distinct values of enum-like columns, by header, to help write `value_mappings`.
    #[serde(default)]
    pub distinct_values: BTreeMap<String, Vec<String>>,
    /// What was cut from the fields above to keep the import small (`budget`); absent when
    /// nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipped: Option<Clipped>,
    pub has_upload_file: bool,
    pub has_errors_file: bool,
    #[serde(default)]
    pub has_results_file: bool,
    pub file: Option<FileInfo>,
    pub links: Links,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub interrupted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Once `POST /v1/imports/{id}/revert` was asked.
    #[serde(default)]
    pub revert: Option<RevertState>,
}

impl Import {
    /// When an upload not received by then expires: a multipart upload stays open for days,
    /// a single PUT as long as its URL.
    pub fn upload_deadline(&self, upload_ttl: time::Duration) -> OffsetDateTime {
        match &self.links.upload {
            Some(UploadLink::Multipart(link)) => link.expires_at,
            _ => self.created_at + upload_ttl,
        }
    }

    /// A revert was asked and is not done yet.
    pub fn is_reverting(&self) -> bool {
        self.revert.as_ref().is_some_and(|r| r.status == RevertStatus::Reverting)
    }
}

/// How far the fan-out has come; the last step to close it completes the import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The plan is saved: `chunks_total` is final and every chunk is (being) sent. Items of runs
    /// planned before this field said `dispatched`, which implies it.
    #[serde(default, alias = "dispatched")]
    pub planned: bool,
    pub chunks_total: u64,
    pub chunks_transformed: u64,
    pub batches_planned: u64,
    pub batches_done: u64,
    /// Rows of the transformed chunks: every one has its outcome decided, if not yet written.
    #[serde(default)]
    pub rows_transformed: u64,
    /// Which run of the import this is: a previewed or dry-run import runs again from the same
    /// upload, and work of an earlier run never counts into a later one.
    #[serde(default)]
    pub run: u32,
    /// An overwrite's cleanup passed its guard (`overwrite`).
    #[serde(default)]
    pub guard_passed: bool,
    /// An overwrite removed every record its file did not name.
    #[serde(default)]
    pub removal_done: bool,
    /// Set by the first chunk counted, which moved the run to `processing` in the same write;
    /// absent until then, so later chunks keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<RunStart>,
    /// A run started from a completed dry run: the dry run's run, whose notes name the records
    /// its rows named (an overwrite's guard is checked against them before the run writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<u32>,
}

/// Which chunk started a run, and when its work began (the import's `started_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStart {
    pub chunk: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Progress {
    pub fn is_done(&self) -> bool {
        self.planned && self.chunks_transformed == self.chunks_total && self.batches_done == self.batches_planned
    }
}

/// Import ids sort by creation time, so a tenant's imports list newest first by key.
pub fn new_import_id() -> String {
    format!("imp_{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// Import ids come from clients in paths; only ours pass.
pub fn is_import_id(s: &str) -> bool {
    s.strip_prefix("imp_").is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Where an import's uploaded file lives. Tenant ids are checked at the edge to be key-safe.
pub fn upload_key(tenant_id: &str, import_id: &str) -> String {
    format!("{}source", upload_prefix(tenant_id, import_id))
}

/// Everything of an import under the prefix whose objects start imports.
pub fn upload_prefix(tenant_id: &str, import_id: &str) -> String {
    format!("uploads/{tenant_id}/{import_id}/")
}

/// Where a re-encoded copy of an upload (UTF-16 or JSON, as UTF-8 CSV) is planned over; beside
/// the import's other files, outside the prefix whose objects start imports. Each planning
/// writes a copy of its own: chunks already sent by an earlier attempt keep reading theirs.
pub fn new_staged_key(tenant_id: &str, import_id: &str) -> String {
    format!("results/{tenant_id}/{import_id}/staged/{}.csv", ulid::Ulid::generate().to_string().to_lowercase())
}

/// S3 event keys are URL-encoded with `+` for space: replace `+`, then percent-decode.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The inverse of [`upload_key`], for keys S3 events carry (already percent-decoded).
pub fn parse_upload_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("uploads/")?.strip_suffix("/source")?;
    let (tenant, import) = rest.split_once('/')?;
    (!tenant.is_empty() && is_import_id(import)).then_some((tenant, import))
}

/// What was cut to keep the import small; absent when nothing was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clipped {
    /// Text values and error messages of sample records cut short, each ending in `…`.
    pub values: u64,
    /// Entries left out, from the end of each list (`distinct_values`: columns).
    pub unmapped_headers: u64,
    pub sample_records: u64,
    pub distinct_values: u64,
}

/// What prevalidation learned, stored in one write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The run it plans; a plan of an earlier run is not saved.
    pub run: u32,
    pub source_etag: Option<String>,
    pub file_headers: Vec<String>,
    pub mappings: BTreeMap<String, Option<String>>,
    pub unmapped_headers: Vec<String>,
    pub file: FileInfo,
    pub chunks_total: u64,
    pub sample_records: Vec<SampleRecord>,
    pub distinct_values: BTreeMap<String, Vec<String>>,
    /// What `budget::fit` cut to keep the import small.
    pub clipped: Option<Clipped>,
    pub suggested_template: Option<Suggested>,
    /// The run goes straight to the queue (no preview first): the import is `queued` from this
    /// write on, before any of its chunks is sent.
    pub queue: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_is_multipart_over_100_mib_in_at_most_10_000_parts_of_whole_mib() {
        let of = |size| UploadRequest { size: Some(size), multipart: false };
        assert!(!of(MULTIPART_OVER).is_multipart());
        assert!(of(MULTIPART_OVER + 1).is_multipart());
        assert!(UploadRequest { size: Some(10), multipart: true }.is_multipart());
        assert_eq!((of(12 << 20).part_size(), of(12 << 20).parts()), (5 << 20, Some(3)));
        assert_eq!(of(1 << 40).part_size(), 105 << 20);
        assert!(of(1 << 40).parts().unwrap() <= 10_000);
        let unsized_part = UploadRequest { size: None, multipart: true }.part_size();
        assert!(unsized_part * MAX_PARTS >= crate::bad_file::MAX_FILE_BYTES);
        assert_eq!(of(0).parts(), Some(1));
    }

    #[test]
    fn upload_keys_round_trip() {
        let id = new_import_id();
        assert!(is_import_id(&id));
        let key = upload_key("acme", &id);
        assert_eq!(parse_upload_key(&key), Some(("acme", id.as_str())));
        assert_eq!(parse_upload_key("uploads/acme/nope/source"), None);
        assert_eq!(parse_upload_key("other/acme/x"), None);
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_import_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_import_id();
        assert!(b > a);
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn progress_is_done_only_when_everything_closed() {
        let mut p = Progress {
            planned: true,
            chunks_total: 2,
            chunks_transformed: 2,
            batches_planned: 3,
            batches_done: 3,
            ..Progress::default()
        };
        assert!(p.is_done());
        p.batches_done = 2;
        assert!(!p.is_done());
        p = Progress { planned: false, ..Progress::default() };
        assert!(!p.is_done());
        // A run planned by the code before `planned` said `dispatched`.
        let earlier: Progress = serde_json::from_str(r#"{"dispatched": true, "chunks_total": 0, "chunks_transformed": 0, "batches_planned": 0, "batches_done": 0}"#).unwrap();
        assert!(earlier.planned && earlier.is_done());
    }

    #[test]
    fn keys_decode_plus_then_percent() {
        assert_eq!(decode_key("uploads/a+b/c%2Bd%20e"), "uploads/a b/c+d e");
    }
}
