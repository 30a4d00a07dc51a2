//! An import cut into a chunk per row (issue 5): quoted line breaks (LF and CRLF), delimiters and
//! escaped quotes sit right at the chunk boundaries, copies of one identifier fall in different
//! chunks under each `duplicates` policy, and a few rows are invalid. Each quoted note holds a
//! line that is itself a valid row, so a boundary cut inside a quoted field imports a ghost.

use serde_json::{json, Value};
use tests::{all_records, download, emails, host, stat, IMPORT_TIMEOUT};

const ROWS: usize = 30;

struct Row {
    notes: String,
    email: String,
    first_name: String,
    country: &'static str,
    company: String,
}

/// Row `i` (1-based). Copies: `dup1` at rows 3, 10, 17; `dup2` at rows 5 and 25, the second with
/// an unknown country. Errors of their own: row 8 (email), row 12 (country).
fn row(i: usize) -> Row {
    let email = match i {
        3 | 17 => "dup1@example.com".to_string(),
        10 => "DUP1@example.com".to_string(),
        5 => "Dup2@Example.com".to_string(),
        25 => "dup2@example.com".to_string(),
        8 => "broken-8".to_string(),
        _ => format!("p{i}@example.com"),
    };
    // The first value of a row opens its chunk; the last one closes it.
    let notes = if i.is_multiple_of(2) {
        format!("Line A{i}\nghost{i}@example.com,Ghost,DE,\"Ghost, Inc.\"")
    } else {
        format!("Line B{i}\r\n\"quoted\", with comma\r\nghost{i}@example.com,Ghost,FR,Co")
    };
    let company = if i.is_multiple_of(3) { format!("Co {i},\r\nLtd") } else { format!("Co \"{i}\"") };
    let country = if matches!(i, 12 | 25) { "Atlantis" } else { ["DE", "FR"][i % 2] };
    Row { notes, email, first_name: format!("First{i}"), country, company }
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// Rows end in CRLF and LF in turn.
fn file() -> Vec<u8> {
    let mut out = String::from("Notes,Email,First Name,Country,Company\r\n");
    for i in 1..=ROWS {
        let r = row(i);
        let end = if i.is_multiple_of(2) { "\r\n" } else { "\n" };
        out.push_str(&format!(
            "{},{},{},{},{}{end}",
            quoted(&r.notes),
            r.email,
            r.first_name,
            r.country,
            quoted(&r.company)
        ));
    }
    out.into_bytes()
}

/// The error rows of an import: row number, first code and the notes value as the file had it.
async fn error_rows(import: &Value) -> Vec<(u64, String, String)> {
    let errors: Value = serde_json::from_slice(&download(&import["links"]["errors_json"]).await).unwrap();
    errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let code = e["errors"][0]["code"].as_str().unwrap().to_string();
            (e["row"].as_u64().unwrap(), code, e["values"]["Notes"].as_str().unwrap().to_string())
        })
        .collect()
}

/// A policy, the row each copied identifier imports from, [created, skipped, errors] and the
/// error rows with their codes.
type Case = (&'static str, &'static [(&'static str, usize)], [u64; 3], &'static [(u64, &'static str)]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tiny_chunks_keep_quoted_values_and_decide_duplicates_across_them() {
    let host = host(|o| o.chunk_rows = Some(1)).await;
    let cases: [Case; 3] = [
        // `last`: the invalid last copy of dup2 wins, so dup2 imports nothing.
        (
            "last",
            &[("dup1@example.com", 17)],
            [24, 3, 3],
            &[(8, "invalid_email"), (12, "unknown_country"), (25, "unknown_country")],
        ),
        (
            "first",
            &[("dup1@example.com", 3), ("dup2@example.com", 5)],
            [25, 3, 2],
            &[(8, "invalid_email"), (12, "unknown_country")],
        ),
        (
            "error",
            &[],
            [23, 0, 7],
            &[
                (3, "duplicate_identifier"),
                (5, "duplicate_identifier"),
                (8, "invalid_email"),
                (10, "duplicate_identifier"),
                (12, "unknown_country"),
                (17, "duplicate_identifier"),
                (25, "duplicate_identifier"),
            ],
        ),
    ];
    for (policy, winners, [created, skipped, errors], error_codes) in cases {
        let client = host.client(&format!("tenant-{policy}"));
        let body = json!({
            "resource_type": "contact",
            "duplicates": policy,
            "mappings": {"Notes": "custom.notes"},
        });
        let import = client.import_file(&body, file(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "completed", "{policy}: {import}");
        let duplicates = if policy == "error" { 5 } else { skipped };
        // A skipped copy is a warning; under `error` every copy is an error instead.
        assert_eq!(
            ["rows", "created", "updated", "duplicates", "warnings", "errors"].map(|s| stat(&import, s)),
            [ROWS as u64, created, 0, duplicates, skipped, errors],
            "{policy}: {import}"
        );

        // Every record holds its row's values, line breaks, commas and quotes intact.
        let records = all_records(&client, "contact").await;
        assert_eq!(records.len() as u64, created, "{policy}: no ghost rows: {:?}", emails(&records));
        for record in &records {
            let email = record["email"].as_str().unwrap();
            let from = winners.iter().find(|(e, _)| *e == email.to_lowercase()).map(|(_, row)| *row);
            let i =
                from.unwrap_or_else(|| email.trim_start_matches('p').trim_end_matches("@example.com").parse().unwrap());
            let r = row(i);
            assert_eq!(email, r.email, "{policy}: row {i}");
            assert_eq!(
                [&record["first_name"], &record["country"], &record["company"], &record["custom"]["notes"]],
                [&json!(r.first_name), &json!(r.country), &json!(r.company), &json!(r.notes)],
                "{policy}: row {i}"
            );
        }

        // The errors file names each error row once, with its values as the file had them.
        let got = error_rows(&import).await;
        let expected: Vec<(u64, String, String)> =
            error_codes.iter().map(|(i, code)| (*i, code.to_string(), row(*i as usize).notes)).collect();
        assert_eq!(got, expected, "{policy}");
    }
}
