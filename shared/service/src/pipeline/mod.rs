//! The pipeline steps (docs/architecture.md): plain functions over the stores. Every step may run twice for
//! one message; each is written so that the second run changes nothing.

pub mod complete;
pub mod dead_letters;
pub mod finish;
pub mod inline;
pub mod overwrite;
mod planning;
pub mod prevalidate;
pub mod process;
pub mod pull;
pub mod record_writes;
pub mod revert;
pub mod scan_parts;
pub mod sweep;
pub mod transform;
pub mod type_hold;
mod unpack;
