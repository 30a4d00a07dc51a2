//! DynamoDB as a busy table answers (issue 5): the host's clients go through a proxy that leaves
//! batch items and keys unprocessed, throttles reads and writes and cancels transactions for
//! throttling. Imports still end with exact stats and exact records, and deletes lose nothing.

use std::collections::HashMap;

use local::proxy::{Faults, Proxy};
use serde_json::{json, Value};
use tests::{all_records, host, ledger_items, stat, IMPORT_TIMEOUT};

/// Contacts `rows`, lowercase emails; `renamed` rows get another first name, `invalid` a bad email.
fn contacts(rows: std::ops::RangeInclusive<usize>, renamed: impl Fn(usize) -> bool, invalid: &[usize]) -> Vec<u8> {
    let mut out = String::from("Email Address,First Name,Last Name\n");
    for i in rows {
        let email =
            if invalid.contains(&i) { format!("broken-{i}-at-example") } else { format!("person{i}@example.com") };
        let first = if renamed(i) { format!("Renamed{i}") } else { format!("First{i}") };
        out.push_str(&format!("{email},{first},Last{i}\n"));
    }
    out.into_bytes()
}

const SEEDED: usize = 120;
const ROWS: usize = 300;
const INVALID: &[usize] = &[7, 150, 299];

fn renamed(i: usize) -> bool {
    i <= SEEDED && i.is_multiple_of(4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_unprocessed_and_cancelled_writes_lose_nothing() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, Faults::mixed()).await.expect("proxy starts");
    let host = host(|o| {
        o.aws_endpoint = Some(proxy.url.clone());
        // Several chunks and batches: many transactions, batch reads and ledger entries.
        o.chunk_rows = Some(100);
    })
    .await;
    let client = host.client("acme");
    let body = json!({"resource_type": "contact"});

    let seed = contacts(1..=SEEDED, |_| false, &[]);
    let first = client.import_file(&body, seed, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(stat(&first, "created"), SEEDED as u64);

    // A merge over them: some updated, most unchanged, new ones created, a few invalid.
    let file = contacts(1..=ROWS, renamed, INVALID);
    let second = client.import_file(&body, file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(second["status"], "completed", "{second}");
    let updated = (1..=SEEDED).filter(|&i| renamed(i) && !INVALID.contains(&i)).count() as u64;
    let new_invalid = INVALID.iter().filter(|&&i| i > SEEDED).count() as u64;
    let expected = [
        ("rows", ROWS as u64),
        ("processed", ROWS as u64),
        ("errors", INVALID.len() as u64),
        ("created", (ROWS - SEEDED) as u64 - new_invalid),
        ("updated", updated),
        ("unchanged", SEEDED as u64 - updated - (INVALID.len() as u64 - new_invalid)),
    ];
    for (name, value) in expected {
        assert_eq!(stat(&second, name), value, "{name}: {second}");
    }

    // Every record as the two files left it: nothing lost, nothing written twice.
    let records = all_records(&client, "contact").await;
    let by_email: HashMap<&str, &Value> =
        records.iter().map(|r| (r["email"].as_str().unwrap_or_default(), r)).collect();
    assert_eq!(records.len(), ROWS - new_invalid as usize, "one record per valid identifier");
    for i in (1..=ROWS).filter(|i| *i <= SEEDED || !INVALID.contains(i)) {
        let record = by_email.get(format!("person{i}@example.com").as_str()).unwrap_or_else(|| panic!("person{i}"));
        // Unchanged records, and a seeded one whose row is invalid, stay as the seed wrote them.
        let changed = i > SEEDED || (renamed(i) && !INVALID.contains(&i));
        let name = if renamed(i) && changed { format!("Renamed{i}") } else { format!("First{i}") };
        assert_eq!(record["first_name"], name.as_str(), "{record}");
        assert_eq!(record["last_name"], format!("Last{i}").as_str(), "{record}");
        let writer = if changed { &second["id"] } else { &first["id"] };
        assert_eq!(&record["last_import_id"], writer, "{record}");
    }

    // Deletes go through BatchWriteItem: every ledger entry must go, unprocessed ones included.
    for import in [&first, &second] {
        let id = import["id"].as_str().unwrap();
        let path = format!("/v1/imports/{id}");
        assert_eq!(client.call(reqwest::Method::DELETE, &path, None).await.unwrap().0, 204);
        assert_eq!(ledger_items(&host, "acme", id).await, 0, "the ledger of {id} is gone");
    }

    // The faults did happen: the test cannot pass by never meeting them.
    let counts = proxy.counts();
    assert!(counts.injected_unprocessed_items > 0, "{counts:?}");
    assert!(counts.injected_unprocessed_keys > 0, "{counts:?}");
    assert!(counts.injected_throttles > 0, "{counts:?}");
    assert!(counts.injected_cancellations > 0, "{counts:?}");
    assert!(counts.state_writes > 0 && counts.messages_consumed > 0, "{counts:?}");
    println!("{counts:?}");
}

/// A type's records in one partition (one write shard) and a partition limit far under what the
/// import would write (a first import writes a unit a record, `type_hold`): DynamoDB throttles
/// most of its writes. The writers of the host share one
/// backoff and keep at it within the call, so no message goes back to its queue (to spend its
/// receives towards the dead-letter queue), and the import ends with every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_partition_slows_the_import_down_and_no_message_is_retried() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, Faults { partition_wcu: 20, ..Faults::default() }).await.expect("proxy");
    let host = host(|o| {
        o.aws_endpoint = Some(proxy.url.clone());
        o.record_shards = Some(1);
        o.chunk_rows = Some(100);
    })
    .await;
    let client = host.client("acme");
    let rows = 300;
    let file = contacts(1..=rows, |_| false, &[]);
    // Writes paced to 20 units a second take about 15 s here and several times that on a busy
    // machine: the wait is long, and what is asserted is what happened, not how fast.
    let import = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT * 4).await;
    let import = import.unwrap_or_else(|e| panic!("the import did not end: {e}; proxy counts {:?}", proxy.counts()));
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [rows as u64, 0], "{import}");
    assert_eq!(all_records(&client, "contact").await.len(), rows);

    let counts = proxy.counts();
    // How many writes are throttled depends on the machine's pace; that some were is the point.
    assert!(counts.partition_throttles > 0, "the limit was met: {counts:?}");
    assert_eq!(host.deliveries.redelivered(), 0, "no message handled twice: {counts:?}");
}
