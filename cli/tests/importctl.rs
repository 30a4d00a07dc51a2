//! `importctl` end to end against a local host, over the wire, as a user's terminal or script
//! runs it: its exit codes, its summary, the errors file it saves, and its JSON output.

use std::path::Path;
use std::process::Output;

use local::LocalHost;
use serde_json::Value;
use tests::{contacts_csv, host};

/// Runs the binary with the host's endpoint and a token of `tenant` from the environment.
async fn importctl(host: &LocalHost, tenant: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_importctl"));
    command.args(args).env("IMPORTCTL_ENDPOINT", &host.api_url).env("IMPORTCTL_TOKEN", host.token(tenant));
    tokio::task::spawn_blocking(move || command.output().expect("importctl runs")).await.expect("joined")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value of a summary line (`name  value`).
fn line<'a>(summary: &'a str, name: &str) -> Option<&'a str> {
    summary.lines().find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with("  ")).map(str::trim))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_row_errors_completes_and_saves_its_errors_file() {
    let host = host(|o| o.chunk_rows = Some(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, errors) = (dir.path().join("people.csv"), dir.path().join("errors.csv"));
    std::fs::write(&file, contacts_csv(120, &[7, 99])).unwrap();

    let args = ["import", path(&file), "--type", "contact", "--map", "Notes=", "--wait", "--errors", path(&errors)];
    let out = importctl(&host, "acme", &args).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(line(&stdout, "status"), Some("completed"), "{stdout}");
    assert_eq!(line(&stdout, "rows"), Some("120"), "{stdout}");
    assert_eq!(line(&stdout, "created"), Some("118"), "{stdout}");
    assert_eq!(line(&stdout, "errors"), Some("2"), "{stdout}");
    assert!(stdout.contains(&format!("errors file saved to {}", errors.display())), "{stdout}");
    // stdout is a pipe here: no progress bars anywhere.
    assert!(!stderr.contains("upload") && !stderr.contains("rows"), "{stderr}");

    let mut saved = csv::Reader::from_path(&errors).unwrap();
    let rows: Vec<csv::StringRecord> = saved.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, bad) in rows.iter().zip(["broken-7-at-example", "broken-99-at-example"]) {
        assert!(row.iter().any(|cell| cell == bad), "{row:?}");
    }

    // The import and its records, as scripts read them.
    let id = line(&stdout, "import").unwrap().to_string();
    let status = importctl(&host, "acme", &["status", &id, "--output", "json"]).await;
    let import: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((status.status.code(), import["stats"]["created"].as_u64()), (Some(0), Some(118)));
    let listed = importctl(&host, "acme", &["list"]).await;
    assert!(text(&listed.stdout).lines().any(|l| l.starts_with(&id) && l.contains("completed")), "{listed:?}");
    let record = importctl(&host, "acme", &["records", "contact", "person3@example.com"]).await;
    let record: Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(record["first_name"], "First3", "{record}");
    // Another tenant sees none of it.
    let other = importctl(&host, "globex", &["status", &id]).await;
    assert_eq!(other.status.code(), Some(1), "{other:?}");
    assert!(text(&other.stderr).contains("404"), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_has_its_own_exit_code_and_says_why() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("names.csv");
    // Contacts need their identifier column (email).
    std::fs::write(&file, "name\nAnn\n").unwrap();
    let out =
        importctl(&host, "acme", &["import", path(&file), "--type", "contact", "--wait", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let import: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(import["status"], "failed");
    assert!(import["reason"].as_str().is_some_and(|r| r.contains("identifier")), "{import}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_without_wait_shows_its_upload_taken() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, contacts_csv(3, &[])).unwrap();

    let out = importctl(&host, "acme", &["import", path(&file), "--type", "contact"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The file is in: the status is never the one that waits for it.
    let status = line(&stdout, "status").unwrap_or_default();
    assert!(!status.is_empty() && status != "awaiting_upload", "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_errors_that_say_what_to_fix() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, contacts_csv(2, &[])).unwrap();

    // A field the API does not know: the 400's field error comes through.
    let out = importctl(&host, "acme", &["import", path(&file), "--type", "contact", "--constant", "shoe=42"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("400") && text(&out.stderr).contains("constants"), "{out:?}");
    let out = importctl(&host, "acme", &["import", path(&file), "--type", "contact", "--map", "no equals"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("File Header=field"), "{out:?}");
    // An upload states its length up front: a device or a pipe is refused before anything is created.
    let out = importctl(&host, "acme", &["import", "/dev/null", "--type", "contact"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("not a regular file"), "{out:?}");
    // clap's own code for a command line it cannot parse.
    let out = importctl(&host, "acme", &["import", path(&file), "--type", "planet"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    let bare = std::process::Command::new(env!("CARGO_BIN_EXE_importctl"))
        .args(["status", "imp_x"])
        .env_remove("IMPORTCTL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(1), "{bare:?}");
    assert!(text(&bare.stderr).contains("IMPORTCTL_TOKEN"), "{bare:?}");

    // Nothing listening: the endpoint is named, with how to start the stack.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = std::process::Command::new(env!("CARGO_BIN_EXE_importctl"))
        .args(["list", "--endpoint", &format!("http://{closed}"), "--token", "t"])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let said = text(&down.stderr);
    assert!(said.contains(&format!("cannot reach the API at http://{closed}")) && said.contains("make up"), "{down:?}");
}

/// The whole flow a new user follows with importctl alone: a preview, read as tables, corrected
/// and started, its errors and results downloaded, then undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_corrected_imported_and_reverted_with_importctl_alone() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, errors) = (dir.path().join("kontakte.csv"), dir.path().join("errors.csv"));
    let rows = "E-Mail;Vorname;Newsletter\nann@example.com;Ann;Ja\nbob@example.com;Bob;Nein\nkaputt;Cy;Ja\ndan@example.com;Dan;Nein\n";
    std::fs::write(&file, rows).unwrap();

    let args = ["import", path(&file), "--type", "contact", "--preview", "--wait", "-q"];
    let out = importctl(&host, "acme", &args).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let id = text(&out.stdout).trim().to_string();
    assert!(id.starts_with("imp_") && !id.contains('\n'), "only the id: {out:?}");

    let shown = importctl(&host, "acme", &["preview", &id]).await;
    let preview = text(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let lines: Vec<&str> = preview.lines().map(str::trim_end).collect();
    assert!(lines.contains(&"  Vorname     (not imported)"), "{preview}");
    assert!(lines.iter().any(|l| l.starts_with("  Newsletter  ") && l.contains("Ja, Nein")), "{preview}");
    assert!(lines.iter().any(|l| l.trim_start().starts_with("3 ") && l.contains("email invalid_email")), "{preview}");
    assert!(preview.contains(&format!("importctl start {id}")), "{preview}");

    // A header the file does not have is refused, naming it; nothing starts.
    let typo = importctl(&host, "acme", &["start", &id, "--map", "Vornam=first_name"]).await;
    assert_eq!(typo.status.code(), Some(1), "{typo:?}");
    assert!(text(&typo.stderr).contains("mappings.Vornam: the file has no header"), "{typo:?}");

    let start = [
        "start",
        &id,
        "--map",
        "Vorname=first_name",
        "--map",
        "Newsletter=status",
        "--value-map",
        "status:Ja=subscribed",
        "--value-map",
        "status:Nein=unsubscribed",
        "--constant",
        "company=Acme",
        "--wait",
        "--errors",
        path(&errors),
    ];
    let started = importctl(&host, "acme", &start).await;
    let summary = text(&started.stdout);
    assert_eq!(started.status.code(), Some(0), "{started:?}");
    assert_eq!([line(&summary, "created"), line(&summary, "errors")], [Some("3"), Some("1")], "{summary}");
    let bob = importctl(&host, "acme", &["records", "contact", "bob@example.com"]).await;
    let bob: Value = serde_json::from_slice(&bob.stdout).unwrap();
    assert_eq!([&bob["first_name"], &bob["status"], &bob["company"]], ["Bob", "unsubscribed", "Acme"], "{bob}");

    // The files again, later: errors to a file, results to stdout.
    let saved = dir.path().join("again.csv");
    let out = importctl(&host, "acme", &["errors", &id, "-o", path(&saved)]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(&errors).unwrap());
    assert!(text(&std::fs::read(&saved).unwrap()).contains("kaputt"));
    let results = importctl(&host, "acme", &["results", &id]).await;
    let results = text(&results.stdout);
    assert!(results.starts_with("row,identifier,outcome") && results.contains("ann@example.com,created"), "{results}");

    let reverted = importctl(&host, "acme", &["revert", &id, "--wait"]).await;
    let summary = text(&reverted.stdout);
    assert_eq!(reverted.status.code(), Some(0), "{reverted:?}");
    assert_eq!(line(&summary, "revert"), Some("reverted: 3 deleted, 0 restored, 0 conflicts"), "{summary}");
    let gone = importctl(&host, "acme", &["records", "contact", "bob@example.com"]).await;
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    let listed = importctl(&host, "acme", &["list"]).await;
    let listed = text(&listed.stdout);
    assert!(listed.lines().any(|l| l.starts_with(&id) && l.contains(" reverted ")), "{listed}");
    // Nothing to start any more, and said so.
    let again = importctl(&host, "acme", &["start", &id]).await;
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(text(&again.stderr).contains("start takes a preview"), "{again:?}");
}
