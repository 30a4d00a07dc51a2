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
}

/// API → transform queue: plan a run of an import from its upload (a previewed import
/// started, a dry run run for real). The transform function runs prevalidation for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub run: u32,
}

/// API → transform queue: plan the revert of an import (`pipeline::revert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertPlanMessage {
    pub tenant_id: String,
    pub import_id: String,
    /// Always true: the field tells this message from the others.
    pub revert: bool,
}

/// A step → transform queue: every unit of the run is counted, complete the import. Whichever
/// step closes the last unit sends it, so the results file is assembled and the import marked
/// completed by one message, not by each step that sees the run done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishMessage {
    pub tenant_id: String,
    pub import_id: String,
    /// Always true: the field tells this message from the others.
    pub finish: bool,
}

/// What the transform queue carries; each kind has a field the others lack (a plan's fields
/// are in every other kind, so it is tried last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TransformWork {
    Chunk(TransformMessage),
    Revert(RevertPlanMessage),
    Finish(FinishMessage),
    Plan(PlanMessage),
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
    pub removal: RemovalPage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovalPage {
    pub after: Option<String>,
}

/// revert plan → process: one unit of work to put back, by its ledger key and before-images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertUnitMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub unit: String,
    pub before_images: String,
}

/// What the process queue carries; each kind has a field the others lack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProcessWork {
    Batch(ProcessMessage),
    Removal(RemovalMessage),
    Revert(RevertUnitMessage),
}

pub fn decode<T: DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadMessage(e.to_string()))
}

pub fn encode<T: Serialize>(message: &T) -> Result<String> {
    serde_json::to_string(message).map_err(|e| Error::Internal(e.to_string()))
}
