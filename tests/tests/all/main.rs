//! Every integration test in one binary: one link instead of one per file, and one pool of test
//! threads for all of them, so the waits of tests from different files overlap. Each module was
//! a file of its own; `scripts/test.sh --test all -- MODULE::` runs one.

mod bad_input;
mod chunks;
mod concurrency;
mod corpus;
mod crashes;
mod dead_letters;
mod delete;
mod delete_action;
mod documents;
mod emulator;
mod end_to_end;
mod events;
mod fairness;
mod faults;
mod files;
mod formats;
mod idempotency;
mod identifiers;
mod interrupt;
mod item_budget;
mod options;
mod overwrite;
mod packed;
mod preview;
mod redelivery;
mod replaced_upload;
mod request_limits;
mod retention;
mod revert;
mod sample_events;
mod scan_parts;
mod schemas;
mod state_writes;
mod sweeper;
mod sync_actions;
mod templates;
mod tenancy;
mod type_hold;
mod uploads;
mod webhooks;
mod write_limits;
mod write_rules;
