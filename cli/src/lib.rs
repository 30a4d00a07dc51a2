//! `importctl`: the service's command-line client. One import from a terminal or a script:
//! create it, upload the file with a byte progress bar, follow processing with a row progress
//! bar, print a summary, save the errors file; and the other routes of the API.

pub mod api;
pub mod commands;
pub mod follow;
pub mod outcome;
pub mod preview;
pub mod routes;
pub mod summary;
pub mod templates;
pub mod token;
pub mod upload;

/// What a command can fail with; each maps to exit code 1 (`outcome::ERROR`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered with an error; its own code and message are kept.
    #[error("{method} {path} answered {status}: {message}")]
    Api { method: String, path: String, status: u16, message: String },
    #[error("{}", request_failed(.0))]
    Request(#[from] reqwest::Error),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Usage(String),
}

/// A request that got no answer; one that could not connect says where it went and what to do.
fn request_failed(e: &reqwest::Error) -> String {
    match e.url() {
        Some(url) if e.is_connect() => format!(
            "cannot reach the API at {}: is the service running? `make up` starts it on this machine; \
             --endpoint or IMPORTCTL_ENDPOINT point importctl elsewhere",
            url.origin().ascii_serialization()
        ),
        _ => format!("request failed: {e}"),
    }
}

impl CliError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
