//! Prevalidation that goes on in other invocations, over the wire: with a time budget shorter
//! than a chunk's scan each chunk is a part, the copies of an identifier spread across the parts
//! are decided as one, and what the parts wrote of the identifiers is gone once decided.

use std::io::Write;

use serde_json::json;
use tests::{all_records, host, record, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_in_parts_decides_copies_spread_across_the_file_as_one() {
    let host = host(|o| {
        o.chunk_rows = Some(500);
        o.step_time_budget = Some(std::time::Duration::from_nanos(1));
    })
    .await;
    let client = host.client("acme");
    // 10,000 rows of 1,500 people: person p is on rows p, p + 1,500, ... through the file.
    let (rows, people) = (10_000u64, 1_500u64);
    let mut csv = b"Email,First Name\n".to_vec();
    for row in 1..=rows {
        writeln!(csv, "person{}@example.com,Row {row}", row % people).unwrap();
    }
    let body = json!({"resource_type": "contact"});
    let import = client.import_file(&body, csv, IMPORT_TIMEOUT * 2).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let stats = ["rows", "created", "duplicates", "errors"].map(|s| stat(&import, s));
    assert_eq!(stats, [rows, people, rows - people, 0], "{import}");
    assert_eq!(all_records(&client, "contact").await.len(), people as usize);
    // The last copy wins: person 7's last row is 9,007, person 0's 9,000.
    for (person, last) in [(7, 9_007), (0, 9_000), (1_499, 8_999)] {
        let found = record(&client, "contact", &format!("person{person}@example.com")).await;
        assert_eq!(found["first_name"], format!("Row {last}"), "{found}");
    }

    let id = import["id"].as_str().unwrap();
    let (s3, bucket) = (&host.clients.s3, host.settings.uploads_bucket.as_str());
    let keys = |prefix: String| async move {
        let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
        listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect::<Vec<_>>()
    };
    let scan = format!("results/acme/{id}/scan/0/");
    let parts = keys(format!("{scan}part-")).await.iter().filter(|k| k.ends_with(".json")).count();
    assert_eq!(parts, 20, "a part per chunk");
    assert!(keys(format!("{scan}entries/")).await.is_empty(), "the identifiers' entries are deleted once decided");
}
