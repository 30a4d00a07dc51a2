//! The bulk import service's library: domain, pipeline steps, the stores they run over and their
//! AWS implementations, and the Lambda edges.

pub mod api;
pub mod aws;
pub mod bad_file;
pub mod budget;
pub mod chunking;
pub mod config;
pub mod dedup;
pub mod deletion;
pub mod dialect;
pub mod edge;
pub mod error;
pub mod error_columns;
pub mod error_files;
pub mod events;
pub mod fields;
pub mod idempotency;
pub mod identifiers;
pub mod import;
pub mod item_size;
pub mod logging;
pub mod mapping;
pub mod merge;
pub mod messages;
pub mod options;
pub mod outbound;
pub mod outputs;
pub mod pipeline;
pub mod ports;
pub mod preview;
pub mod publishing;
pub mod record;
pub mod results;
pub mod revert_state;
pub mod services;
pub mod split;
pub mod staging;
pub mod stats;
pub mod sync;
pub mod time_fmt;
pub mod validate;
pub mod webhook;
pub mod webhooks;

pub use error::{Error, Result};
pub use services::Services;
