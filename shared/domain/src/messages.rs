//! The work messages between pipeline steps. Each is decoded alone, so one bad message fails
//! alone.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::chunking::Chunk;
use crate::dialect::Encoding;
use crate::error::{Error, Result};
use crate::merge::{ImportRule, UpdateRules};
use crate::options::Action;
use crate::record::ResourceType;
use crate::sync::Changes;
use crate::validate::Candidate;

/// The CSV object the chunks are byte ranges of: the upload itself, or its re-encoded copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub key: String,
    /// The object's ETag when it was planned; the byte ranges are only valid for it.
    pub etag: Option<String>,
    pub encoding: Encoding,
    pub delimiter: char,
}

/// prevalidate → transform: one chunk of the upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub run: u32,
    pub source: Source,
    pub chunk: Chunk,
    /// See [`ProcessMessage::empty_type`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_type: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// API → transform queue: plan a run of an import from its upload (a previewed import
/// started, a dry run run for real). The transform function runs prevalidation for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub run: u32,
}

/// The import a message is about, when that is all it needs to say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRef {
    pub tenant_id: String,
    pub import_id: String,
}

/// What the transform queue carries, told apart by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransformJob {
    /// prevalidate → transform: one chunk to read into batches.
    Chunk(TransformMessage),
    /// API → transform: plan a run of the import from its upload.
    PlanRun(PlanMessage),
    /// API → transform: plan the revert of an import (`pipeline::revert`).
    PlanRevert(ImportRef),
    /// A step → transform: every unit of the run is counted, complete the import. Whichever
    /// step closes the last unit sends it, so the results file is assembled and the import
    /// marked completed by one message, not by each step that sees the run done.
    FinishRun(ImportRef),
    /// API → transform: pull the import's `source` into its upload (`pipeline::pull`).
    Pull(ImportRef),
    /// prevalidate → transform: a scan of the file that goes on in another invocation
    /// (`pipeline::scan_parts`).
    Scan(ScanStep),
}

/// One step of a scan that takes several invocations, in run `run` of an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanStep {
    pub tenant_id: String,
    pub import_id: String,
    pub run: u32,
    pub stage: ScanStage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum ScanStage {
    /// Scan part `part` of the file, from where the one before stopped.
    Part { part: u32 },
    /// Decide group `group` of `groups` of the identifiers' hash partitions, over the `parts`
    /// parts.
    Decide { group: u32, groups: u32, parts: u32 },
    /// Send part `part`'s chunks, with the rows that lose, decided in `groups` groups.
    Send { part: u32, groups: u32, empty_type: bool },
}

/// transform → process: one batch of valid records, small enough for one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub resource_type: ResourceType,
    /// The alternate identifier the records are matched on; none for the default one.
    #[serde(default)]
    pub match_on: Option<String>,
    #[serde(default)]
    pub action: Action,
    pub run: u32,
    #[serde(default)]
    pub import_rule: ImportRule,
    #[serde(default)]
    pub update: UpdateRules,
    /// Decide every outcome, write no record.
    pub dry_run: bool,
    #[serde(default)]
    pub changes: Changes,
    /// The type held no record when the run was planned: its rows are written as creates
    /// without reading first. A record made since fails its create's condition, and the batch
    /// is then decided again from what it reads.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_type: bool,
    pub chunk: u64,
    pub batch: u64,
    pub records: Vec<Candidate>,
    /// An overwrite's records named by rows that are errors: kept, not counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
}

/// process → process: one page of an overwrite's cleanup, from `after` (the start: none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovalMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub run: u32,
    pub after: Option<String>,
}

/// revert plan → process: one unit of work to put back, by its ledger key: the object of the
/// before-images of the records it changed or removed, and the records it created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertUnitMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_images: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
}

/// What the process queue carries, told apart by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProcessJob {
    /// transform → process: records to write.
    WriteBatch(ProcessMessage),
    /// process → process: a page of an overwrite's cleanup.
    RemovePage(RemovalMessage),
    /// revert plan → process: a unit of work to put back.
    RevertUnit(RevertUnitMessage),
}

pub fn decode<T: DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadMessage(e.to_string()))
}

pub fn encode<T: Serialize>(message: &T) -> Result<String> {
    serde_json::to_string(message).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bodies of an SQS event sample in events/.
    fn bodies(sample: &str) -> Vec<String> {
        let event: serde_json::Value = serde_json::from_str(sample).unwrap();
        let records = event["Records"].as_array().unwrap();
        records.iter().map(|r| r["body"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_event_samples_are_jobs_of_their_queue() {
        let transform = |sample| decode::<TransformJob>(&bodies(sample)[0]).unwrap();
        assert!(matches!(transform(include_str!("../../../events/transform/chunk.json")), TransformJob::Chunk(_)));
        assert!(matches!(transform(include_str!("../../../events/transform/plan.json")), TransformJob::PlanRun(_)));
        let revert = transform(include_str!("../../../events/transform/revert-plan.json"));
        assert!(matches!(revert, TransformJob::PlanRevert(_)));
        let process = |sample| decode::<ProcessJob>(&bodies(sample)[0]).unwrap();
        assert!(matches!(process(include_str!("../../../events/process/batch.json")), ProcessJob::WriteBatch(_)));
        let removal = process(include_str!("../../../events/process/removal-page.json"));
        assert!(matches!(removal, ProcessJob::RemovePage(_)));
        let unit = process(include_str!("../../../events/process/revert-unit.json"));
        assert!(matches!(unit, ProcessJob::RevertUnit(_)));
        let letter = &bodies(include_str!("../../../events/dead-letters/letters.json"))[0];
        assert!(matches!(decode::<ProcessJob>(letter).unwrap(), ProcessJob::WriteBatch(_)));
        let mixed = bodies(include_str!("../../../events/transform/one-malformed.json"));
        assert!(decode::<TransformJob>(&mixed[0]).is_ok());
        assert!(matches!(decode::<TransformJob>(&mixed[1]), Err(Error::BadMessage(_))));
    }

    #[test]
    fn a_job_says_its_kind_and_only_its_queue_takes_it() {
        let finish = TransformJob::FinishRun(ImportRef { tenant_id: "acme".into(), import_id: "imp_1".into() });
        let body = encode(&finish).unwrap();
        assert_eq!(body, r#"{"kind":"finish_run","tenant_id":"acme","import_id":"imp_1"}"#);
        assert_eq!(decode::<TransformJob>(&body).unwrap(), finish);
        assert!(decode::<ProcessJob>(&body).is_err());
        // Without its kind a body is no job, whatever fields it has.
        assert!(decode::<TransformJob>(r#"{"tenant_id":"acme","import_id":"imp_1","run":1}"#).is_err());
    }
}
