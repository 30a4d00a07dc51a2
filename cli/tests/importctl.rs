//! `importctl` end to end against a local host, over the wire, as a user's terminal or script
//! runs it: its exit codes, its summary, the errors file it saves, and its JSON output.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use local::LocalHost;
use reqwest::Method;
use serde_json::{json, Value};
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

/// Writes contacts with notes of `notes` bytes to `to` until it holds `bytes`, a row at a time
/// (a file of gigabytes is never in memory); the identifiers cycle through `distinct` of them.
/// The rows written.
fn contacts_file(to: &Path, bytes: u64, distinct: u64, notes: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(to).unwrap());
    let header = "email,first_name,custom.notes\n";
    out.write_all(header.as_bytes()).unwrap();
    let notes = "lorem ipsum ".repeat(notes.div_ceil(12));
    let (mut written, mut rows) = (header.len() as u64, 0);
    while written < bytes {
        let i = rows % distinct;
        let row = format!("Person{i}@Example.com,First{i},{notes}\n");
        out.write_all(row.as_bytes()).unwrap();
        (written, rows) = (written + row.len() as u64, rows + 1);
    }
    out.flush().unwrap();
    rows
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

/// Forced into parts, a file of 12 MiB goes as three (S3's parts are at least 5 MiB) and is
/// imported whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_forced_into_parts_is_uploaded_by_them_and_imported_exactly() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    let rows = contacts_file(&file, 12 << 20, u64::MAX, 2_000);
    let size = std::fs::metadata(&file).unwrap().len();

    let args = ["import", path(&file), "--type", "contact", "--multipart", "--wait", "--timeout", "300"];
    let out = importctl(&host, "acme", &args).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(line(&stdout, "status"), Some("completed"), "{stdout}");
    assert!(line(&stdout, "file").is_some_and(|f| f.starts_with(&format!("{size} bytes, {rows} rows"))), "{stdout}");
    let rows = rows.to_string();
    assert_eq!(
        [line(&stdout, "rows"), line(&stdout, "created"), line(&stdout, "errors")],
        [Some(&*rows), Some(&*rows), Some("0")]
    );

    // It was created for parts (its part links are gone once the file is in).
    let id = line(&stdout, "import").unwrap();
    let (_, import) = host.client("acme").get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(import["upload"], json!({"size": size, "multipart": true}), "{import}");
}

/// A client stopped after part 1 of 3: `resume` sends the other two, completes, and follows
/// the import to its end; another file, or an import whose file is in, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_sends_the_parts_missing_and_follows_the_import_to_its_end() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    let rows = contacts_file(&file, 12 << 20, u64::MAX, 2_000);
    let size = std::fs::metadata(&file).unwrap().len();
    let body = json!({"resource_type": "contact", "upload": {"size": size, "multipart": true}});
    let (status, import) = client.call(Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 201, "{import}");
    let id = import["id"].as_str().unwrap();
    let parts_url = import["links"]["upload"]["parts_url"].as_str().unwrap();
    let (_, page) = client.get(&format!("{parts_url}?from=1&count=1")).await.unwrap();
    let part = &page["data"][0];
    let first = std::fs::read(&file).unwrap()[..part["size"].as_u64().unwrap() as usize].to_vec();
    let sent = reqwest::Client::new().put(part["url"].as_str().unwrap()).body(first).send().await.unwrap();
    assert!(sent.status().is_success(), "{sent:?}");

    let other = dir.path().join("other.csv");
    std::fs::write(&other, contacts_csv(2, &[])).unwrap();
    let refused = importctl(&host, "acme", &["resume", id, path(&other), "--wait"]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let other_size = std::fs::metadata(&other).unwrap().len();
    let said = text(&refused.stderr);
    assert!(said.contains(&format!("{other_size} bytes")) && said.contains(&format!("{size} bytes")), "{said}");

    let out = importctl(&host, "acme", &["resume", id, path(&file), "--wait", "--timeout", "300"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!([line(&stdout, "import"), line(&stdout, "status")], [Some(id), Some("completed")], "{stdout}");
    assert!(line(&stdout, "file").is_some_and(|f| f.starts_with(&format!("{size} bytes, {rows} rows"))), "{stdout}");
    let rows = rows.to_string();
    assert_eq!(
        [line(&stdout, "rows"), line(&stdout, "created"), line(&stdout, "errors")],
        [Some(&*rows), Some(&*rows), Some("0")]
    );
    let last = rows.parse::<u64>().unwrap() - 1;
    let record = importctl(&host, "acme", &["records", "contact", &format!("person{last}@example.com")]).await;
    let record: Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(record["first_name"], format!("First{last}"), "{record}");

    let again = importctl(&host, "acme", &["resume", id, path(&file)]).await;
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(text(&again.stderr).contains("is completed"), "{again:?}");
}

/// An upload that fails says how to finish it: here the bucket's multipart upload was dropped
/// behind the service's back, so no part can go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_says_how_to_finish_it() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, contacts_csv(3, &[])).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    let body = json!({"resource_type": "contact", "upload": {"size": size, "multipart": true}});
    let (_, import) = host.client("acme").call(Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    let id = import["id"].as_str().unwrap();
    let (s3, bucket) = (&host.clients.s3, &host.settings.uploads_bucket);
    let open = s3.list_multipart_uploads().bucket(bucket).prefix(format!("uploads/acme/{id}/")).send().await.unwrap();
    assert_eq!(open.uploads().len(), 1, "{open:?}");
    for upload in open.uploads() {
        let aborted = s3.abort_multipart_upload().bucket(bucket).key(upload.key().unwrap());
        aborted.upload_id(upload.upload_id().unwrap()).send().await.unwrap();
    }

    let out = importctl(&host, "acme", &["resume", id, path(&file)]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = text(&out.stderr);
    assert!(said.contains(&format!("`importctl resume {id} {}` finishes it", path(&file))), "{said}");
    assert!(said.contains("409") && said.contains("no multipart upload is open"), "{said}");
}

/// 2 GiB through `importctl import`: over 100 MiB the upload is multipart by its size alone, in
/// five pages of part URLs. Minutes long, and gigabytes in the emulator: `make test-large` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: make test-large"]
async fn a_2_gib_file_goes_in_parts_and_imports_with_exact_stats() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    // Long rows of few contacts: the file is big, the records written stay few.
    let (distinct, rows) = (1_000, contacts_file(&file, 2 << 30, 1_000, 30_000));
    imports_exactly(&host, &file, rows, distinct).await;
}

/// Imports `file` of `rows` rows of `distinct` contacts through `importctl import`, which must
/// complete with exact stats; its summary.
async fn imports_exactly(host: &LocalHost, file: &Path, rows: u64, distinct: u64) -> String {
    let args = ["import", path(file), "--type", "contact", "--wait", "--timeout", "3600"];
    let out = importctl(host, "acme", &args).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(line(&stdout, "status"), Some("completed"), "{stdout}");
    let counts = ["rows", "created", "duplicates", "errors"].map(|name| line(&stdout, name).map(str::to_string));
    let want = [rows, distinct, rows - distinct, 0].map(|n| Some(n.to_string()));
    assert_eq!(counts, want, "{stdout}");
    stdout
}

/// 1 GB of contacts whose copies are spread through the whole file (each of 5,000 people every
/// 5,000 rows, 9.7 million rows), prevalidated 2 s at a time (`STEP_TIME_BUDGET_SECONDS=2`): the scan goes on in
/// at least five more invocations, the duplicates are decided across them, and the import
/// completes with exact stats. Minutes long: `make test-large` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: make test-large"]
async fn a_1_gb_file_prevalidated_two_seconds_at_a_time_imports_with_exact_stats() {
    // Chunks of 40,000 rows: the emulator's ranged GETs of a 1 GB object (about 1.5 s each)
    // stay few.
    let host = host(|o| {
        o.step_time_budget = Some(std::time::Duration::from_secs(2));
        o.chunk_rows = Some(40_000);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    // Rows of about 110 bytes, 9.7 million of them: a scan of well over five budgets here.
    let (distinct, rows) = (5_000, contacts_file(&file, 1 << 30, 5_000, 60));
    let stdout = imports_exactly(&host, &file, rows, distinct).await;

    // Each part of the scan leaves its state beside the import's results.
    let id = line(&stdout, "import").expect("the summary names the import");
    let prefix = format!("results/acme/{id}/scan/0/part-");
    let s3 = &host.clients.s3;
    let listed = s3.list_objects_v2().bucket(&host.settings.uploads_bucket).prefix(&prefix).send().await.unwrap();
    let parts = listed.contents().iter().filter(|o| o.key().is_some_and(|k| k.ends_with(".json"))).count();
    eprintln!("{rows} rows scanned in {parts} parts");
    assert!(parts >= 6, "the scan went on at least five times: {parts} parts");
}

/// A run's settings saved as a template with `templates save`, then taken by the next files of
/// the same headers: by `--template auto` at create, and by `start --template` from a preview
/// that suggested it; shown, listed, and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_saved_from_an_import_is_taken_by_the_next_files_of_its_headers() {
    let host = host(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, rows: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("E-Mail;Vorname;Newsletter;Notizen\n{rows}")).unwrap();
        path
    };
    let first = file("march.csv", "ann@example.com;Ann;Ja;x\nbob@example.com;Bob;Nein;y\n");
    let args = [
        "import",
        path(&first),
        "--type",
        "contact",
        "--map",
        "Vorname=first_name",
        "--map",
        "Newsletter=status",
        "--map",
        "Notizen=",
        "--value-map",
        "status:Ja=subscribed",
        "--value-map",
        "status:Nein=unsubscribed",
        "--wait",
        "-q",
    ];
    let out = importctl(&host, "acme", &args).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let id = text(&out.stdout).trim().to_string();

    // Its settings as the create body takes them: the resolved mappings, every header; no defaults.
    let saved = importctl(&host, "acme", &["templates", "save", "Kontakte", "--from", &id, "--output", "json"]).await;
    assert_eq!(saved.status.code(), Some(0), "{saved:?}");
    let template: Value = serde_json::from_slice(&saved.stdout).unwrap();
    let tid = template["id"].as_str().unwrap().to_string();
    assert!(tid.starts_with("tpl_") && template["version"] == 1, "{template}");
    let mut settings = template.as_object().unwrap().clone();
    settings.retain(|key, _| !["id", "version", "created_at", "updated_at"].contains(&key.as_str()));
    assert_eq!(
        Value::Object(settings),
        json!({"name": "Kontakte", "resource_type": "contact",
            "mappings": {"E-Mail": "email", "Vorname": "first_name", "Newsletter": "status", "Notizen": null},
            "value_mappings": {"status": {"Ja": "subscribed", "Nein": "unsubscribed"}}})
    );
    let listed = text(&importctl(&host, "acme", &["templates", "list"]).await.stdout);
    assert!(listed.lines().any(|l| l.starts_with(&tid) && l.ends_with("  Kontakte")), "{listed}");
    let groups = text(&importctl(&host, "acme", &["templates", "list", "--resource-type", "group"]).await.stdout);
    assert!(!groups.contains(&tid), "{groups}");
    let shown = importctl(&host, "acme", &["templates", "show", &tid, "--version", "1", "--output", "json"]).await;
    assert_eq!(serde_json::from_slice::<Value>(&shown.stdout).unwrap(), template, "{shown:?}");
    let table = text(&importctl(&host, "acme", &["templates", "show", &tid]).await.stdout);
    assert!(table.lines().any(|l| l.trim_end().ends_with("Notizen → (not imported)")), "{table}");
    // Another tenant has none of it.
    let other = importctl(&host, "globex", &["templates", "show", &tid]).await;
    assert!(other.status.code() == Some(1) && text(&other.stderr).contains("404"), "{other:?}");

    // The next file of those headers takes them by itself.
    let april = file("april.csv", "cy@example.com;Cy;Nein;z\n");
    let args = ["import", path(&april), "--type", "contact", "--template", "auto", "--wait", "--output", "json"];
    let out = importctl(&host, "acme", &args).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let import: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(import["template"], json!({"id": tid, "version": 1}), "{import}");
    let cy = importctl(&host, "acme", &["records", "contact", "cy@example.com"]).await;
    let cy: Value = serde_json::from_slice(&cy.stdout).unwrap();
    assert_eq!([&cy["first_name"], &cy["status"]], ["Cy", "unsubscribed"], "{cy}");

    // A preview suggests it, and `start --template` takes it.
    let may = file("may.csv", "dan@example.com;Dan;Ja;w\n");
    let args = ["import", path(&may), "--type", "contact", "--preview", "--wait", "-q"];
    let out = importctl(&host, "acme", &args).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let preview_id = text(&out.stdout).trim().to_string();
    let shown = text(&importctl(&host, "acme", &["preview", &preview_id]).await.stdout);
    assert!(shown.contains(&format!("importctl start {preview_id} --template {tid} --wait")), "{shown}");
    let started = importctl(&host, "acme", &["start", &preview_id, "--template", &tid, "--wait"]).await;
    let summary = text(&started.stdout);
    assert_eq!(started.status.code(), Some(0), "{started:?}");
    assert_eq!(line(&summary, "template"), Some(&*format!("{tid} (version 1)")), "{summary}");
    let dan = importctl(&host, "acme", &["records", "contact", "dan@example.com"]).await;
    let dan: Value = serde_json::from_slice(&dan.stdout).unwrap();
    assert_eq!([&dan["first_name"], &dan["status"]], ["Dan", "subscribed"], "{dan}");

    // Deleted, it is gone, and a create naming it is refused, naming `template`.
    let deleted = importctl(&host, "acme", &["templates", "delete", &tid]).await;
    assert_eq!(deleted.status.code(), Some(0), "{deleted:?}");
    let gone = importctl(&host, "acme", &["templates", "show", &tid]).await;
    assert!(gone.status.code() == Some(1) && text(&gone.stderr).contains("404"), "{gone:?}");
    let refused = importctl(&host, "acme", &["import", path(&may), "--type", "contact", "--template", &tid]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(text(&refused.stderr).contains("400") && text(&refused.stderr).contains("template"), "{refused:?}");
}
