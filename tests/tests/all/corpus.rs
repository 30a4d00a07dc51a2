//! The real-world file corpus (tests/data/corpus): every `<name>.<ext>` is imported end to end
//! on the local stack, each as a tenant of its own, and checked against `<name>.expect.json`
//! beside it. Every mismatch of every case is collected, then reported at once.
//!
//! An expectation holds `body` (the create body), `status`, and optionally `reason_contains` (a
//! case-insensitive part of a failed import's reason), `stats` (exact values of some stats),
//! `errors` (the exact `[row, code]` pairs of the errors JSON file), `file` (some of what
//! prevalidation found) and `records` (some fields of some records, by identifier; `custom.x`
//! names a custom field; null matches a missing field). `generate.py` writes the corpus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use tests::{host, IMPORT_TIMEOUT};

/// Imports running at once.
const PARALLEL: usize = 4;
/// Cases of at least this many rows run one at a time in a lane of their own: a few thousand
/// records at once keep the emulator's DynamoDB busy for a while.
const LARGE_ROWS: u64 = 1_000;

struct Case {
    name: String,
    file: PathBuf,
    expect: Value,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("corpus")
}

/// Every `<name>.expect.json` with its one data file `<name>.<ext>`, by name.
fn load_cases() -> Vec<Case> {
    let dir = corpus_dir();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut cases: Vec<Case> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".expect.json"))
        .map(|name| {
            let data: Vec<&String> = names
                .iter()
                .filter(|n| {
                    n.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(|ext| ext != "expect.json" && !ext.contains('.'))
                })
                .collect();
            assert_eq!(data.len(), 1, "case {name} needs exactly one data file beside its expectation: {data:?}");
            let path = dir.join(format!("{name}.expect.json"));
            let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let expect: Value =
                serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            Case { name: name.to_string(), file: dir.join(data[0]), expect }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// `CORPUS_CASES=utf16,json_array` runs only the cases whose names contain one of the parts.
fn selected(cases: Vec<Case>) -> Vec<Case> {
    let Ok(filter) = std::env::var("CORPUS_CASES") else { return cases };
    let parts: Vec<&str> = filter.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    cases.into_iter().filter(|c| parts.iter().any(|p| c.name.contains(p))).collect()
}

/// A path segment: everything but unreserved characters percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `custom.plan` is `record.custom.plan`; other names are top-level fields.
fn field_of<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    match name.split_once('.') {
        Some((outer, inner)) if record.get(name).is_none() => record.get(outer)?.get(inner),
        _ => record.get(name),
    }
}

/// The `(row, code)` pairs of an errors JSON file, sorted: each entry's `code`, or the codes of
/// its `errors`.
fn error_pairs(errors_json: &Value) -> Result<Vec<(u64, String)>, String> {
    let entries = errors_json.as_array().ok_or_else(|| format!("the errors JSON is not an array: {errors_json}"))?;
    let mut pairs = Vec::new();
    for entry in entries {
        let row = entry["row"].as_u64();
        if let Some(code) = entry["code"].as_str() {
            pairs.push((row.ok_or_else(|| format!("an error without a row: {entry}"))?, code.to_string()));
        }
        for error in entry["errors"].as_array().into_iter().flatten() {
            let row = error["row"].as_u64().or(row).ok_or_else(|| format!("an error without a row: {entry}"))?;
            let code = error["code"].as_str().ok_or_else(|| format!("an error without a code: {entry}"))?;
            pairs.push((row, code.to_string()));
        }
    }
    pairs.sort();
    Ok(pairs)
}

fn check(diffs: &mut Vec<String>, what: String, want: &Value, got: &Value) {
    if want != got {
        diffs.push(format!("{what}: expected {want}, got {got}"));
    }
}

async fn download(url: &str) -> Result<Vec<u8>, String> {
    let resp = reqwest::get(url).await.map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url} answered {}", resp.status()));
    }
    resp.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("GET {url}: {e}"))
}

/// What differs between the import of one case and its expectation; empty when all is well.
async fn run_case(client: &local::client::Client, case: &Case) -> Vec<String> {
    let mut diffs = Vec::new();
    let expect = &case.expect;
    let body = expect.get("body").cloned().unwrap_or_else(|| json!({"resource_type": "contact"}));
    let resource = body["resource_type"].as_str().unwrap_or("contact").to_string();
    let bytes = match std::fs::read(&case.file) {
        Ok(b) => b,
        Err(e) => return vec![format!("cannot read {}: {e}", case.file.display())],
    };
    // Generous: a wait only lasts this long when something is wrong.
    let timeout = IMPORT_TIMEOUT * 3;
    let import = match client.import_file(&body, bytes, timeout).await {
        Ok(import) => import,
        Err(e) => return vec![format!("the import did not reach a final status: {e}")],
    };

    check(&mut diffs, "status".into(), &expect["status"], &import["status"]);
    if let Some(part) = expect["reason_contains"].as_str() {
        let reason = import["reason"].as_str().unwrap_or_default();
        if !reason.to_lowercase().contains(&part.to_lowercase()) {
            diffs.push(format!("reason: expected it to contain {part:?}, got {:?}", import["reason"]));
        }
    }
    for (key, want) in expect["stats"].as_object().into_iter().flatten() {
        check(&mut diffs, format!("stats.{key}"), want, &import["stats"][key]);
    }
    for (key, want) in expect["file"].as_object().into_iter().flatten() {
        check(&mut diffs, format!("file.{key}"), want, &import["file"][key]);
    }

    if let Some(want) = expect.get("errors") {
        let want: Vec<(u64, String)> = serde_json::from_value::<Vec<(u64, String)>>(want.clone())
            .map(|mut w| {
                w.sort();
                w
            })
            .unwrap_or_else(|e| panic!("{}: `errors` is a list of [row, code]: {e}", case.name));
        let got = match import["links"]["errors_json"].as_str() {
            None => Ok(Vec::new()),
            Some(url) => match download(url).await {
                Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                    .map_err(|e| format!("the errors JSON does not parse: {e}"))
                    .and_then(|v| error_pairs(&v)),
                Err(e) => Err(e),
            },
        };
        match got {
            Ok(got) if got == want => {}
            Ok(got) => diffs.push(format!("errors: expected {want:?}, got {got:?}")),
            Err(e) => diffs.push(format!("errors: {e}")),
        }
    }

    let records: BTreeMap<String, Map<String, Value>> = match expect.get("records") {
        Some(r) => serde_json::from_value(r.clone())
            .unwrap_or_else(|e| panic!("{}: `records` maps identifiers to fields: {e}", case.name)),
        None => BTreeMap::new(),
    };
    for (identifier, fields) in &records {
        let path = format!("/v1/records/{resource}/{}", segment(identifier));
        let record = match client.get(&path).await {
            Ok((200, record)) => record,
            Ok((status, answer)) => {
                diffs.push(format!("record {identifier:?}: GET answered {status}: {answer}"));
                continue;
            }
            Err(e) => {
                diffs.push(format!("record {identifier:?}: GET failed: {e}"));
                continue;
            }
        };
        for (field, want) in fields {
            let got = field_of(&record, field).cloned().unwrap_or(Value::Null);
            if &got != want {
                diffs.push(format!("record {identifier:?} field {field}: expected {want}, got {got}"));
            }
        }
    }

    if !diffs.is_empty() {
        diffs.push(format!(
            "(the import: status {}, reason {}, stats {}, file {})",
            import["status"], import["reason"], import["stats"], import["file"]
        ));
    }
    diffs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_file_imports_as_expected() {
    let cases = load_cases();
    assert!(cases.len() >= 40, "the corpus holds {} cases; at least 40 are expected", cases.len());
    let cases = selected(cases);
    let host = host(|_| {}).await;

    // PARALLEL lanes, each running its share of the cases one after another, each case as a
    // tenant of its own (tenant ids take letters, digits, `-`, `_` and `.`, as case names do).
    // Large cases share the first lane; the small ones go round the others.
    let mut lanes: Vec<Vec<(Case, local::client::Client)>> = (0..PARALLEL).map(|_| Vec::new()).collect();
    let mut next_small = 0;
    for case in cases {
        let client = host.client(&case.name);
        let large = case.expect["stats"]["rows"].as_u64().is_some_and(|rows| rows >= LARGE_ROWS);
        let lane = if large {
            0
        } else {
            next_small += 1;
            1 + (next_small - 1) % (PARALLEL - 1)
        };
        lanes[lane].push((case, client));
    }
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            tokio::spawn(async move {
                let mut out = Vec::new();
                for (case, client) in lane {
                    let diffs = run_case(&client, &case).await;
                    out.push((case, diffs));
                }
                out
            })
        })
        .collect();
    let mut results: Vec<(Case, Vec<String>)> = Vec::new();
    for handle in handles {
        results.extend(handle.await.expect("a lane of cases panicked"));
    }
    results.sort_by(|x, y| x.0.name.cmp(&y.0.name));

    let failing: Vec<&(Case, Vec<String>)> = results.iter().filter(|r| !r.1.is_empty()).collect();
    if !failing.is_empty() {
        let mut report =
            format!("{} of {} corpus cases differ from their expectation:\n", failing.len(), results.len());
        for (case, diffs) in &failing {
            let file_name = case.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            report.push_str(&format!("\n{} ({file_name}):\n", case.name));
            for diff in diffs.iter() {
                report.push_str(&format!("  - {diff}\n"));
            }
        }
        panic!("{report}");
    }
}
