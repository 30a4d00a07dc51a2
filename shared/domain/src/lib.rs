//! The bulk import service's domain: records, fields and their rules, tenant schemas, files
//! read, split, scanned and validated, merges and sync actions, what an import is and shows, the
//! messages and events its steps exchange, and the formats of the files it gives back. Pure and
//! synchronous: no runtime, no I/O but local files, no cloud or HTTP client.

pub mod bad_file;
pub mod budget;
pub mod chunking;
pub mod compression;
pub mod dedup;
pub mod dialect;
pub mod error;
pub mod error_columns;
pub mod error_files;
pub mod events;
pub mod fields;
pub mod idempotency;
pub mod identifiers;
pub mod import;
pub mod item_size;
pub mod mapping;
pub mod merge;
pub mod messages;
pub mod options;
pub mod preview;
pub mod record;
pub mod results;
pub mod revert_state;
pub mod schema;
pub mod split;
pub mod staging;
pub mod stats;
pub mod sync;
pub mod template;
pub mod time_fmt;
pub mod validate;
pub mod webhook;

pub use error::{Error, Result};
