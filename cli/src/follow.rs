//! Progress on a terminal: bytes while uploading, then rows (`stats.processed` of `stats.rows`)
//! with the status and phase while the pipeline runs. Nothing is drawn when stdout is not a
//! terminal, so scripts get only the summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::api::Api;
use crate::outcome::is_final;
use crate::routes::import_path;
use crate::CliError;

/// Bars are drawn (on stderr) only when a person is watching stdout.
pub fn drawn() -> bool {
    std::io::stdout().is_terminal()
}

fn bar(len: u64, template: &str, drawn: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !drawn {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

pub fn upload_bar(size: u64, drawn: bool) -> ProgressBar {
    bar(size, "upload  [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}", drawn)
}

/// How long to follow an import, and when to stop.
pub struct Follow {
    /// Stop at `preview_ready` as well as at a final status.
    pub preview: bool,
    pub timeout: Option<Duration>,
    pub every: Duration,
}

/// Polls the import until it stops (or the timeout passes) and returns it as last read.
pub async fn follow(api: &Api, id: &str, how: &Follow, drawn: bool) -> Result<Value, CliError> {
    let rows = bar(0, "{spinner} {msg:32} [{bar:40}] {pos}/{len} rows {elapsed}", drawn);
    let started = Instant::now();
    let path = import_path(id);
    let mut failed_in_a_row = 0;
    loop {
        // A request that did not get through is tried again a few times: the import goes on.
        let import = match api.get(&path).await {
            Ok(import) => import,
            Err(CliError::Request(e)) if failed_in_a_row < 5 => {
                failed_in_a_row += 1;
                rows.set_message(format!("retrying: {e}"));
                tokio::time::sleep(how.every * 2u32.pow(failed_in_a_row)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        failed_in_a_row = 0;
        let status = import["status"].as_str().unwrap_or_default();
        let stat = |name: &str| import["stats"][name].as_u64().unwrap_or(0);
        rows.set_length(stat("rows"));
        rows.set_position(stat("processed"));
        rows.set_message(format!("{status} · {}", import["phase"].as_str().unwrap_or("-")));
        let stopped = is_final(status) || (how.preview && status == "preview_ready");
        if stopped || how.timeout.is_some_and(|t| started.elapsed() >= t) {
            rows.finish();
            return Ok(import);
        }
        tokio::time::sleep(how.every).await;
    }
}
