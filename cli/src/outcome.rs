//! Exit codes: scripts tell how an import ended without parsing the output.

/// The import completed (or, without `--wait`, the file was accepted; with `--preview`, the
/// preview is ready).
pub const OK: u8 = 0;
/// The request or the upload failed, or a file could not be read or written.
pub const ERROR: u8 = 1;
// 2 is clap's, for a command line it cannot parse.
pub const FAILED: u8 = 3;
pub const TIMED_OUT: u8 = 4;
pub const INTERRUPTED: u8 = 5;
pub const EXPIRED: u8 = 6;
/// `--wait` gave up (`--timeout`) while the import was still running.
pub const STILL_RUNNING: u8 = 7;

/// Statuses after which nothing changes (a completed import may still be reverted).
pub fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "expired" | "timed_out" | "interrupted")
}

/// The exit code for an import that stopped waiting in `status`.
pub fn of_status(status: &str, preview: bool) -> u8 {
    match status {
        "completed" => OK,
        "preview_ready" if preview => OK,
        "failed" => FAILED,
        "timed_out" => TIMED_OUT,
        "interrupted" => INTERRUPTED,
        "expired" => EXPIRED,
        _ => STILL_RUNNING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_completed_or_a_requested_preview_is_success() {
        assert_eq!(of_status("completed", false), OK);
        assert_eq!(of_status("preview_ready", true), OK);
        assert_eq!(of_status("preview_ready", false), STILL_RUNNING);
        let codes = ["failed", "timed_out", "interrupted", "expired", "processing"].map(|s| of_status(s, false));
        assert_eq!(codes, [FAILED, TIMED_OUT, INTERRUPTED, EXPIRED, STILL_RUNNING]);
        let mut distinct = codes.to_vec();
        distinct.extend([OK, ERROR, 2]);
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "every ending has its own code");
        assert!(["completed", "failed", "expired", "timed_out", "interrupted"].iter().all(|s| is_final(s)));
        assert!(!is_final("preview_ready") && !is_final("processing"));
    }
}
