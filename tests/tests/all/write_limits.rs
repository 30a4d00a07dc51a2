//! DynamoDB's write limits, which the emulator does not enforce: a record over 400 KB once
//! merged is a row error that leaves the stored record as it was, and a batch whose merged
//! records weigh more than a 4 MB transaction is written in parts, exactly once even when
//! every message comes twice, counting into the import state once like any batch.

use local::proxy::{Faults, Proxy};
use local::Options;
use serde_json::{json, Value};
use tests::{all_records, download, host, ledger_items_where, record, revert, stat, IMPORT_TIMEOUT};

/// A file of `email` and one `custom.<name>` column per name, each of its rows' values `value`.
fn custom_file(emails: &[String], names: &[String], value: &str) -> (Vec<u8>, Value) {
    let mut file = format!("email,{}\n", names.join(","));
    for email in emails {
        file.push_str(&format!("{email},{}\n", vec![value; names.len()].join(",")));
    }
    let mappings: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.clone(), json!(format!("custom.{n}")))).collect();
    (file.into_bytes(), json!({"resource_type": "contact", "mappings": mappings}))
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_400_kb_once_merged_is_a_row_error_and_stays_as_it_was() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let long = "a".repeat(60_000);
    let (file, body) = custom_file(&["ann@example.com".into()], &names("a", 6), &long);
    let first = client.import_file(&body, file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((first["status"].as_str(), stat(&first, "created")), (Some("completed"), 1), "{first:.500}");
    let before = record(&client, "contact", "ann@example.com").await;

    // Six more 60,000-character fields would make Ann a 720 KB item; Bob is small.
    let (file, body) = custom_file(&["ann@example.com".into(), "bob@example.com".into()], &names("b", 6), &long);
    let second = client.import_file(&body, file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(second["status"], "completed", "{second:.500}");
    assert_eq!(["created", "updated", "errors"].map(|s| stat(&second, s)), [1, 0, 1], "{second:.500}");
    assert_eq!(record(&client, "contact", "ann@example.com").await, before);
    assert_eq!(record(&client, "contact", "bob@example.com").await["custom"]["b6"], json!(long));

    let errors: Value = serde_json::from_slice(&download(&second["links"]["errors_json"]).await).unwrap();
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0]["row"].as_u64(), &errors[0]["errors"][0]["code"]), (Some(1), &json!("record_too_large")));
    let message = errors[0]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("409600"), "the message names the limit: {message}");
}

/// 98 records of 50,000-character notes, then their phones in one batch: 4.9 MB of merged
/// records, written in parts, each record with both its notes and its phone, behind a proxy
/// with `faults` that counts each message's import-state writes: one at most, the parts
/// counting together with the last.
async fn phones_for_98_noted_contacts(faults: Faults, configure: impl FnOnce(&mut Options)) {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, faults).await.expect("proxy starts");
    let host = host(|o| {
        o.aws_endpoint = Some(proxy.url.clone());
        configure(o);
    })
    .await;
    let client = host.client("acme");
    let emails: Vec<String> = (0..98).map(|i| format!("p{i}@example.com")).collect();
    let notes = "n".repeat(50_000);
    let (file, body) = custom_file(&emails, &["notes".into()], &notes);
    let first = client.import_file(&body, file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((first["status"].as_str(), stat(&first, "created")), (Some("completed"), 98), "{first:.500}");

    let mut phones = String::from("email,phone\n");
    for (i, email) in emails.iter().enumerate() {
        phones.push_str(&format!("{email},+1 555 {:04}\n", 100 + i));
    }
    let created = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    // The create is a request, not a message: counting starts with the upload.
    proxy.reset();
    client.upload(&created, phones.into_bytes()).await.unwrap();
    let second = client.wait_final(created["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(second["status"], "completed", "{second:.500}");
    let by_message = proxy.settled().await.state_writes_by_message;
    assert_eq!(by_message.get(""), None, "every state write was made for a message: {by_message:?}");
    let over: Vec<_> = by_message.iter().filter(|(_, &writes)| writes > 1).collect();
    assert!(over.is_empty(), "messages that wrote the import state more than once: {over:?}");
    assert_eq!(
        ["rows", "processed", "created", "updated", "unchanged", "errors"].map(|s| stat(&second, s)),
        [98, 98, 0, 98, 0, 0],
        "{second:.500}"
    );
    let results = String::from_utf8(download(&second["links"]["results_csv"]).await).unwrap();
    let outcomes: Vec<&str> = results.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(outcomes, ["updated"; 98], "{results:.500}");

    let records = all_records(&client, "contact").await;
    assert_eq!(records.len(), 98);
    for record in &records {
        assert_eq!(record["custom"]["notes"], json!(notes), "{}", record["email"]);
        assert!(record["phone"].as_str().is_some_and(|p| !p.is_empty()), "{}: {}", record["email"], record["phone"]);
    }
    let id = second["id"].as_str().unwrap();
    let parted = ledger_items_where(&host, "acme", id, Some("attribute_exists(done_rows)")).await;
    assert_eq!(parted, 1, "the batch was written in parts");

    // Each part kept its own before-images: the revert takes every phone back, notes stay.
    let reverted = revert(&client, id).await;
    assert_eq!(reverted["revert"]["restored"], 98, "{:.500}", reverted["revert"]);
    for record in all_records(&client, "contact").await {
        assert_eq!(
            (&record["custom"]["notes"], record["phone"].as_str()),
            (&json!(notes), None),
            "{}",
            record["email"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_a_4_mb_transaction_is_written_in_parts() {
    phones_for_98_noted_contacts(Faults::default(), |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_written_in_parts_and_delivered_twice_counts_once() {
    phones_for_98_noted_contacts(Faults::default(), |o| o.deliver_twice = true).await;
}

/// Every batch transaction's answer is lost after it is written, as if the function died right
/// after: the message comes again, finds the parts written so far in the ledger (deciding the
/// rest from fresh reads, now small enough to look like one transaction) and goes on from there,
/// with the tally of the parts before it kept in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stopped_between_parts_goes_on_where_it_stopped() {
    phones_for_98_noted_contacts(Faults { lost_batch_answer_every: 1, ..Faults::default() }, |_| {}).await;
}
