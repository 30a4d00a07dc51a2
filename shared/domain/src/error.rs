//! The error type of the service. Edges map it: to an HTTP status in the API handlers, to a
//! failed SQS message in the queue handlers.

use serde::Serialize;

/// One offending field of a request, named so a client can fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    #[error("not found")]
    NotFound,
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A request body over its limit: a 413.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    BadEnv { name: &'static str, message: String },
    /// An AWS call failed; the message is retried by its queue.
    #[error("{service} call failed: {message}")]
    Aws { service: &'static str, message: String },
    /// A concurrent writer kept winning; retrying later may succeed.
    #[error("contention: {0}")]
    Contention(String),
    /// The uploaded object changed after it was planned.
    #[error("the upload was replaced while it was being imported")]
    SourceChanged,
    /// The request is valid but not in the import's current status.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A queue message that can never be processed (not JSON, wrong shape).
    #[error("malformed message: {0}")]
    BadMessage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, code, message)])
    }

    pub fn aws(service: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Aws { service, message: err.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
