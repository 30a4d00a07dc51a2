//! Progress on a terminal: bytes while uploading, then rows (`stats.processed` of `stats.rows`)
//! with the status and phase while the pipeline runs, or a revert's units of work. Nothing is
//! drawn when stdout is not a terminal, so scripts get only the summary.

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

/// What following an import waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// A final status.
    Final,
    /// `preview_ready` or a final status.
    Preview,
    /// The end of its revert: `revert.status` reverted or failed.
    Reverted,
}

impl Until {
    fn reached(self, import: &Value) -> bool {
        let status = import["status"].as_str().unwrap_or_default();
        match self {
            Until::Final => is_final(status),
            Until::Preview => is_final(status) || status == "preview_ready",
            Until::Reverted => matches!(import["revert"]["status"].as_str(), Some("reverted" | "failed")),
        }
    }

    /// The bar's count: rows processed, or units of the revert done.
    fn progress(self, import: &Value) -> (u64, u64, String) {
        let count = |v: &Value| v.as_u64().unwrap_or(0);
        if self == Until::Reverted {
            let revert = &import["revert"];
            let what = format!("revert {}", revert["status"].as_str().unwrap_or("-"));
            return (count(&revert["units_done"]), count(&revert["units_total"]), what);
        }
        let status = import["status"].as_str().unwrap_or_default();
        let what = format!("{status} · {}", import["phase"].as_str().unwrap_or("-"));
        (count(&import["stats"]["processed"]), count(&import["stats"]["rows"]), what)
    }
}

/// How long to follow an import, and when to stop.
pub struct Follow {
    pub until: Until,
    pub timeout: Option<Duration>,
    pub every: Duration,
}

/// Polls the import until it stops (or the timeout passes) and returns it as last read.
pub async fn follow(api: &Api, id: &str, how: &Follow, drawn: bool) -> Result<Value, CliError> {
    let unit = if how.until == Until::Reverted { "units" } else { "rows" };
    let rows = bar(0, &format!("{{spinner}} {{msg:32}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{elapsed}}"), drawn);
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
        let (done, total, what) = how.until.progress(&import);
        rows.set_length(total);
        rows.set_position(done);
        rows.set_message(what);
        if how.until.reached(&import) || how.timeout.is_some_and(|t| started.elapsed() >= t) {
            rows.finish();
            return Ok(import);
        }
        tokio::time::sleep(how.every).await;
    }
}
