//! The work messages between pipeline steps. Each is decoded alone, so one bad message fails
//! alone.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::chunking::Chunk;
use crate::error::{Error, Result};
use crate::record::ResourceType;
use crate::validate::Candidate;

/// prevalidate → transform: one chunk of the upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformMessage {
    pub tenant_id: String,
    pub import_id: String,
    /// The upload's ETag when it was planned; the chunk's byte range is only valid for it.
    #[serde(default)]
    pub etag: Option<String>,
    pub chunk: Chunk,
}

/// transform → process: one batch of valid records, small enough for one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub resource_type: ResourceType,
    pub chunk: u64,
    pub batch: u64,
    pub records: Vec<Candidate>,
}

pub fn decode<T: DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadMessage(e.to_string()))
}

pub fn encode<T: Serialize>(message: &T) -> Result<String> {
    serde_json::to_string(message).map_err(|e| Error::Internal(e.to_string()))
}
