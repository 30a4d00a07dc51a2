//! The pipeline steps over the in-memory adapters, one module a step: one test binary to link.

mod complete;
mod dead_letters;
mod documents;
mod inline;
mod overwrite;
mod prevalidate;
mod process;
mod pull;
mod revert;
mod scan_parts;
mod sweep;
mod transform;
mod type_hold;
