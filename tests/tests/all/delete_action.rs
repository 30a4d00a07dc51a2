//! `action: delete`: rows name the records to delete; an unknown identifier is a
//! warning, a missing one a row error; other columns are not read.

use serde_json::json;
use tests::{all_records, download, host, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_delete_the_records_they_name() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let seed = "email,external_id\nann@example.com,C-1\nbob@example.com,\ncy@example.com,\n";
    client.import_file(&json!({"resource_type": "contact"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();

    // The phone column would fail a merge; a delete does not read it.
    let file = "email,phone\nann@example.com,not a phone\nBob@Example.com,\nzed@example.com,\n,\nann@example.com,\n";
    let dry = json!({"resource_type": "contact", "action": "delete", "dry_run": true});
    let rehearsal = client.import_file(&dry, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&rehearsal, "deleted"), stat(&rehearsal, "errors")], [2, 1], "{rehearsal}");
    assert_eq!(all_records(&client, "contact").await.len(), 3, "a dry run deletes nothing");

    let body = json!({"resource_type": "contact", "action": "delete"});
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["action"], "delete");
    let counts =
        ["deleted", "created", "updated", "errors", "duplicates", "warnings", "processed"].map(|s| stat(&import, s));
    // Warnings: the unknown zed, and the second copy of ann.
    assert_eq!(counts, [2, 0, 0, 1, 1, 2, 5], "{import}");
    let left: Vec<String> =
        all_records(&client, "contact").await.iter().map(|r| r["email"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["cy@example.com"]);
    let results = String::from_utf8(download(&import["links"]["results_csv"]).await).unwrap();
    let outcomes: Vec<&str> = results.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(outcomes, ["skipped_duplicate", "deleted", "skipped_unknown", "error", "deleted"], "{results}");

    // The deleted contact's external_id is free again.
    let again = "email,external_id\ndee@example.com,C-1\n";
    let taken = client.import_file(&json!({"resource_type": "contact"}), again.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&taken, "created"), stat(&taken, "errors")], [1, 0], "{taken}");
}
