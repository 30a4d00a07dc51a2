//! transform over the in-memory adapters: a chunk becomes process messages and counts into its
//! run once.

use domain::import::{upload_key, Status};
use domain::messages::{decode, ProcessMessage};
use domain::record::ResourceType;
use service::pipeline::complete::SOURCE_REPLACED;
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{contacts_csv, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

/// An import of `rows` contacts planned in chunks of 4, its transform messages taken.
async fn planned(kit: &Kit, body: &str, rows: usize, invalid: &[usize]) -> (String, Vec<String>) {
    let (import, key) = kit.upload(body, &contacts_csv(rows, invalid)).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    (import.id, kit.queue.take(Queue::Transform))
}

fn kit() -> Kit {
    Kit::with_settings(&[("CHUNK_ROWS", "4")])
}

#[tokio::test]
async fn a_chunk_becomes_process_batches_and_starts_the_run() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[2]).await;
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();

    let batches: Vec<ProcessMessage> = kit.queue.sent(Queue::Process).iter().map(|b| decode(b).unwrap()).collect();
    let emails: Vec<&str> =
        batches.iter().flat_map(|b| &b.records).filter_map(|r| r.fields.get("email")?.as_str()).collect();
    assert_eq!(emails, ["Person1@Example.com", "Person3@Example.com", "Person4@Example.com"]);
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!(stored.import.status, Status::Processing);
    assert_eq!(stored.import.stats.errors, 1, "the broken email");
    assert_eq!((stored.progress.chunks_transformed, stored.progress.rows_transformed), (1, 4));
    assert_eq!(stored.progress.start.map(|s| s.chunk), Some(0));
    assert!(stored.import.started_at.is_some());
    assert_eq!(kit.events(&id), ["created", "started"]);
    let parts = kit.files.keys();
    assert!(parts.iter().any(|k| k.contains("/parts/0/errors-0000000000")), "{parts:?}");
}

#[tokio::test]
async fn a_redelivered_chunk_counts_once() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[2]).await;
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!((stored.progress.chunks_transformed, stored.import.stats.errors), (1, 1));
    assert_eq!(kit.events(&id), ["created", "started"], "started once");

    for chunk in &chunks[1..] {
        kit.deliver(Queue::Transform, chunk).await.unwrap();
    }
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!(import.status, Status::Completed);
    assert_eq!((import.stats.processed, import.stats.created, import.stats.errors), (10, 9, 1));
    let errors = kit.files.text(&domain::error_files::errors_csv_key(TENANT, &id)).unwrap();
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(errors.as_bytes()).records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 1, "the row once: {errors}");
    assert_eq!((&rows[0][0], &rows[0][5], &rows[0][7]), ("broken-2-at-example", "2", "invalid_email"));
}

#[tokio::test]
async fn a_chunk_whose_count_was_lost_is_counted_once_on_redelivery() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[]).await;
    kit.store.faults.lose_answer_next("record_chunk", 1);
    assert!(kit.deliver(Queue::Transform, &chunks[0]).await.is_err());
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    for chunk in &chunks[1..] {
        kit.deliver(Queue::Transform, chunk).await.unwrap();
    }
    kit.drain().await.unwrap();

    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!(stored.import.status, Status::Completed);
    assert_eq!((stored.progress.chunks_transformed, stored.progress.rows_transformed), (3, 10));
    assert_eq!(stored.import.stats.created, 10);
}

#[tokio::test]
async fn a_chunk_of_an_interrupted_import_is_dropped() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[]).await;
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    service::api::patch_import(&kit.svc, TENANT, &id, br#"{"interrupt": true}"#).await.unwrap();
    let sent = kit.queue.sent(Queue::Process).len();

    kit.deliver(Queue::Transform, &chunks[1]).await.unwrap();
    assert_eq!(kit.queue.sent(Queue::Process).len(), sent, "no batch of a stopped run");
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!((stored.import.status, stored.progress.chunks_transformed), (Status::Interrupted, 1));

    kit.drain().await.unwrap();
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty(), "its batches count no more");
    assert!(kit.store.counter_closed(TENANT, &id, 0));
}

#[tokio::test]
async fn an_upload_replaced_mid_run_fails_the_import() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[]).await;
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    kit.svc.files.put(&upload_key(TENANT, &id), contacts_csv(12, &[])).await.unwrap();

    kit.deliver(Queue::Transform, &chunks[1]).await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!(import.status, Status::Failed);
    assert_eq!(import.reason.as_deref(), Some(SOURCE_REPLACED));
    assert_eq!(kit.events(&id), ["created", "started", "failed"]);
}

#[tokio::test]
async fn a_read_error_leaves_the_chunk_uncounted_for_its_retry() {
    let kit = kit();
    let (id, chunks) = planned(&kit, CONTACTS, 10, &[]).await;
    kit.files.faults().fail_next("open", 1);
    assert!(kit.deliver(Queue::Transform, &chunks[0]).await.is_err());
    let stored = kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap();
    assert_eq!((stored.import.status, stored.progress.chunks_transformed), (Status::Queued, 0));
    assert!(kit.queue.sent(Queue::Process).is_empty());

    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    assert_eq!(kit.svc.imports.get(TENANT, &id).await.unwrap().unwrap().progress.chunks_transformed, 1);
}

#[tokio::test]
async fn too_many_errors_stop_the_import() {
    let kit = kit();
    let body = r#"{"resource_type": "contact", "max_error_ratio": 0.25}"#;
    let (id, chunks) = planned(&kit, body, 8, &[1, 2, 3]).await;
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();

    let import = kit.import(&id).await;
    assert_eq!(import.status, Status::Failed);
    assert!(import.reason.as_deref().is_some_and(|r| r.contains("error")), "{:?}", import.reason);
    kit.deliver(Queue::Transform, &chunks[1]).await.unwrap();
    kit.drain().await.unwrap();
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
}
