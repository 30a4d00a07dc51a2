//! The Lambda edges: decode an event, call the pipeline or the API, encode the answer, and map
//! errors to HTTP statuses or failed SQS messages.

pub mod http;
pub mod logging;
pub mod s3;
pub mod sqs;
