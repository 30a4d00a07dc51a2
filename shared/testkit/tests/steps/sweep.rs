//! The sweeper's round over the in-memory adapters: what is due lapses once, is deleted past
//! its retention, and gets the events its step did not publish.

use domain::import::Status;
use domain::record::ResourceType;
use domain::time_fmt;
use service::pipeline::{prevalidate, sweep};
use service::ports::Queue;
use testkit::{contacts_csv, Kit, TENANT};
use time::Duration;

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

#[tokio::test]
async fn an_upload_that_never_arrived_expires_once() {
    let kit = Kit::new();
    let import = service::api::create_import(&kit.svc, TENANT, CONTACTS.as_bytes(), None).await.unwrap();
    let early = sweep::run(&kit.svc, time_fmt::now() + Duration::minutes(5)).await.unwrap();
    assert_eq!(early.expired, 0, "its upload URL still holds");
    assert_eq!(kit.import(&import.id).await.status, Status::AwaitingUpload);

    let later = time_fmt::now() + Duration::minutes(16);
    assert_eq!(sweep::run(&kit.svc, later).await.unwrap().expired, 1);
    assert_eq!(sweep::run(&kit.svc, later).await.unwrap().expired, 0);
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Expired);
    assert_eq!(kit.events(&import.id), ["created", "expired"]);
}

#[tokio::test]
async fn a_run_without_progress_times_out_and_its_late_batches_count_no_more() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(5, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    for chunk in kit.queue.take(Queue::Transform) {
        kit.deliver(Queue::Transform, &chunk).await.unwrap();
    }
    let swept = sweep::run(&kit.svc, time_fmt::now() + Duration::minutes(31)).await.unwrap();
    assert_eq!(swept.timed_out, 1);
    assert_eq!(kit.import(&import.id).await.status, Status::TimedOut);

    kit.drain().await.unwrap();
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
    assert_eq!(kit.events(&import.id), ["created", "started", "timed_out"]);
}

#[tokio::test]
async fn an_import_past_its_retention_is_deleted_with_its_files() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[2])).await.unwrap();
    kit.run_import(&key).await.unwrap();
    assert!(kit.files.keys().iter().any(|k| k.contains(&import.id)));

    let expires_at = kit.import(&import.id).await.expires_at;
    let swept = sweep::run(&kit.svc, expires_at + Duration::seconds(1)).await.unwrap();
    assert_eq!(swept.deleted, 1);
    assert!(kit.svc.imports.get(TENANT, &import.id).await.unwrap().is_none());
    assert!(!kit.files.keys().iter().any(|k| k.contains(&import.id)), "{:?}", kit.files.keys());
    assert!(kit.store.ledger_units(TENANT, &import.id).is_empty());
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact).len(), 2, "records outlive their import");
}

#[tokio::test]
async fn an_event_its_step_failed_to_publish_is_sent_by_the_sweeper_once() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    // The import completes, but the answer is lost before `completed` is published; the
    // redelivered finish finds it completed already.
    kit.store.faults.lose_answer_next("complete", 1);
    assert!(kit.run_import(&key).await.is_err());
    kit.drain().await.unwrap();
    assert_eq!(kit.import(&import.id).await.status, Status::Completed);
    assert_eq!(kit.events(&import.id), ["created", "started"]);

    let later = time_fmt::now() + Duration::minutes(3);
    assert_eq!(sweep::run(&kit.svc, later).await.unwrap().events_sent, 1);
    assert_eq!(sweep::run(&kit.svc, later).await.unwrap().events_sent, 0);
    assert_eq!(kit.events(&import.id), ["created", "started", "completed"]);
}
