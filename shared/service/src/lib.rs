//! The bulk import service over its ports: the stores and queues as traits, the services a step
//! runs with, the pipeline steps, the API operations, events published and webhooks delivered,
//! and the files an import gives back stored.

pub mod api;
pub mod config;
pub mod deadline;
pub mod deletion;
pub mod outbound;
pub mod outputs;
pub mod pipeline;
pub mod ports;
pub mod publishing;
mod schemas;
pub mod services;
mod templates;
pub mod webhooks;

pub use services::Services;
