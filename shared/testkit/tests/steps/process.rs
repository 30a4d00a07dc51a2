//! process over the in-memory adapters: a batch of records is written once with its ledger
//! entry and counts, whatever its deliveries.

use domain::import::Status;
use domain::record::ResourceType;
use domain::time_fmt;
use serde_json::json;
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{contact, contacts_csv, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

/// Prevalidates and transforms an upload; its process messages are taken.
pub(crate) async fn transformed(kit: &Kit, body: &str, file: &[u8]) -> (String, Vec<String>) {
    let (import, key) = kit.upload(body, file).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    for chunk in kit.queue.take(Queue::Transform) {
        kit.deliver(Queue::Transform, &chunk).await.unwrap();
    }
    (import.id, kit.queue.take(Queue::Process))
}

#[tokio::test]
async fn a_batch_writes_its_records_and_completes_the_import() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[4])).await;
    assert_eq!(batches.len(), 1);
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();

    let records = kit.store.records(TENANT, ResourceType::Contact);
    let ids: Vec<&str> = records.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids, ["person1@example.com", "person2@example.com", "person3@example.com", "person5@example.com"]);
    assert_eq!(records[0].fields["first_name"], "First1");
    assert!(records.iter().all(|r| r.version == 1 && r.last_import_id == id));
    assert_eq!(kit.store.ledger_units(TENANT, &id).len(), 1);
    // The last batch asks for the finish, which completes the import.
    assert_eq!(kit.queue.waiting(Queue::Transform), 1);
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!(import.status, Status::Completed);
    assert_eq!((import.stats.created, import.stats.errors, import.stats.processed), (4, 1, 5));
    assert!(import.has_results_file && import.has_errors_file);
}

#[tokio::test]
async fn a_redelivered_batch_writes_and_counts_nothing_again() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    let first = kit.store.records(TENANT, ResourceType::Contact);
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();

    assert_eq!(kit.store.records(TENANT, ResourceType::Contact), first, "no record written twice");
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!((stored.progress.batches_done, stored.import.stats.created), (1, 5));
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.created, import.stats.processed), (Status::Completed, 5, 5));
    assert_eq!(kit.events(&id), ["created", "started", "completed"]);
}

#[tokio::test]
async fn a_batch_whose_answer_was_lost_counts_once_on_redelivery() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    kit.store.faults.lose_answer_next("apply_batch", 1);
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err());
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact).len(), 5, "written before the answer was lost");
    assert_eq!(kit.queue.waiting(Queue::Transform), 0, "no finish asked yet");

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.created), (Status::Completed, 5));
}

#[tokio::test]
async fn a_store_error_before_the_write_leaves_the_batch_to_its_retry() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    kit.store.faults.fail_next("apply_batch", 1);
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err());
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
    assert!(kit.store.ledger_units(TENANT, &id).is_empty());

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    assert_eq!(kit.import(&id).await.stats.created, 5);
}

#[tokio::test]
async fn a_second_import_updates_what_changed_and_bumps_versions() {
    let kit = Kit::new();
    let (first, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    kit.run_import(&key).await.unwrap();
    let changed = String::from_utf8(contacts_csv(3, &[])).unwrap().replace("First2,", "Second2,");
    let (second, key) = kit.upload(CONTACTS, changed.as_bytes()).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let import = kit.import(&second.id).await;
    assert_eq!((import.stats.created, import.stats.updated, import.stats.unchanged), (0, 1, 2));
    let records = kit.store.records(TENANT, ResourceType::Contact);
    assert_eq!(records[1].fields["first_name"], "Second2");
    assert_eq!((records[1].version, &records[1].last_import_id), (2, &second.id));
    assert_eq!((records[0].version, &records[0].last_import_id), (1, &first.id));
}

#[tokio::test]
async fn a_batch_of_a_deleted_import_writes_nothing() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    service::api::patch_import(&kit.svc, TENANT, &id, br#"{"interrupt": true}"#).await.unwrap();
    service::api::delete_import(&kit.svc, TENANT, &id).await.unwrap();

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
    assert!(kit.store.ledger_units(TENANT, &id).is_empty());
    assert!(kit.svc.imports.get(TENANT, &id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_row_that_would_make_its_record_too_large_is_an_error_and_the_record_stays() {
    let kit = Kit::new();
    // Six fields of 60 KB stored, a seventh merged in: over the 400 KB an item may have.
    let big = "x".repeat(60_000);
    let custom: serde_json::Map<String, serde_json::Value> =
        (0..6).map(|i| (format!("f{i}"), json!(big.clone()))).collect();
    let existing = contact("big@example.com", json!({"custom": custom}), time_fmt::now());
    kit.store.put_records(TENANT, ResourceType::Contact, std::slice::from_ref(&existing));

    let file = format!("email,custom.extra\r\nbig@example.com,{big}\r\nsmall@example.com,hi\r\n");
    let (id, batches) = transformed(&kit, CONTACTS, file.as_bytes()).await;
    for batch in &batches {
        kit.deliver(Queue::Process, batch).await.unwrap();
    }
    kit.drain().await.unwrap();

    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.errors, import.stats.created), (Status::Completed, 1, 1));
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact)[0], existing, "untouched");
    let errors = kit.files.text(&domain::error_files::errors_csv_key(TENANT, &id)).unwrap();
    assert!(errors.contains("record_too_large"), "{errors}");
}

#[tokio::test]
async fn a_batch_too_big_for_one_transaction_resumes_from_the_rows_its_ledger_says_are_done() {
    let kit = Kit::new();
    // 20 records of about 300 KB: a batch changing each writes 6 MB, more than a transaction.
    let notes = "n".repeat(300_000);
    let seeded: Vec<_> = (1..=20)
        .map(|i| contact(&format!("p{i}@example.com"), json!({"custom": {"notes": notes}}), time_fmt::now()))
        .collect();
    kit.store.put_records(TENANT, ResourceType::Contact, &seeded);
    let mut file = String::from("email,first_name\r\n");
    for i in 1..=20 {
        file.push_str(&format!("p{i}@example.com,Name{i}\r\n"));
    }
    let (id, batches) = transformed(&kit, CONTACTS, file.as_bytes()).await;
    assert_eq!(batches.len(), 1);

    // The first part applies and its answer is lost: the redelivery goes on from its end.
    kit.store.faults.lose_answer_next("apply_batch", 1);
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err());
    let written = kit.store.records(TENANT, ResourceType::Contact).iter().filter(|r| r.version == 2).count();
    assert!((1..20).contains(&written), "one part of the batch: {written}");
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!((stored.progress.batches_done, stored.import.stats.updated), (0, 0), "a part counts nothing");

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    let records = kit.store.records(TENANT, ResourceType::Contact);
    assert!(records.iter().all(|r| r.version == 2 && r.fields["custom"]["notes"] == notes.as_str()));
    assert!(records.iter().any(|r| r.fields["first_name"] == "Name20"));
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.updated, import.stats.processed), (Status::Completed, 20, 20));
    let results = kit.files.text(&domain::results::results_csv_key(TENANT, &id)).unwrap();
    assert_eq!(results.lines().count(), 21, "a line a row: {}", &results[..results.len().min(300)]);
}

#[tokio::test]
async fn a_first_import_into_an_empty_type_reads_no_record() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    // Any read of the records would fail the batch.
    kit.store.faults.fail_next("get_many", 100);
    kit.store.faults.fail_next("lookup", 100);
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.created), (Status::Completed, 5));

    // The type has records now: the next import reads before it writes.
    let (_, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err(), "this one reads, and the read fails");
}

#[tokio::test]
async fn a_record_made_after_an_empty_type_was_planned_is_merged_not_replaced() {
    let kit = Kit::new();
    // Another import writes the type (so this one cannot hold it alone, `type_hold`)...
    let update_only = r#"{"resource_type": "contact", "import_rule": "update_only"}"#;
    transformed(&kit, update_only, &contacts_csv(1, &[])).await;
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    // ...and wrote person2 meanwhile.
    person2_is_merged_not_replaced(&kit, &id, &batches[0]).await;
}

/// Another run writes person2, with a field the 3-row file of `import_id` does not have, then
/// the file's batch is processed: person2 is merged from the version it read, not replaced.
pub(crate) async fn person2_is_merged_not_replaced(kit: &Kit, import_id: &str, batch: &str) {
    let meanwhile = contact("person2@example.com", json!({"city": "Oslo"}), time_fmt::now());
    kit.store.put_records(TENANT, ResourceType::Contact, &[meanwhile]);
    kit.deliver(Queue::Process, batch).await.unwrap();
    kit.drain().await.unwrap();

    let import = kit.import(import_id).await;
    assert_eq!((import.status, import.stats.created, import.stats.updated), (Status::Completed, 2, 1));
    let records = kit.store.records(TENANT, ResourceType::Contact);
    let person2 = records.iter().find(|r| r.identifier == "person2@example.com").unwrap();
    assert_eq!(
        (person2.fields["city"].as_str(), person2.fields["first_name"].as_str(), person2.version),
        (Some("Oslo"), Some("First2"), 2)
    );
}
