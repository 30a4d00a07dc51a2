//! Dead letters over the in-memory adapters: a message that failed on every delivery ends its
//! import (or its revert) at once, and its body is kept.

use domain::import::Status;
use domain::revert_state::RevertStatus;
use domain::Error;
use service::api;
use service::pipeline::dead_letters::{self, DeadLetter};
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{contacts_csv, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

/// An import transformed, its one process message taken.
async fn stuck_batch(kit: &Kit) -> (String, String) {
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    for chunk in kit.queue.take(Queue::Transform) {
        kit.deliver(Queue::Transform, &chunk).await.unwrap();
    }
    let mut batches = kit.queue.take(Queue::Process);
    assert_eq!(batches.len(), 1);
    (import.id, batches.remove(0))
}

fn letter<'a>(message_id: &'a str, body: &'a str) -> DeadLetter<'a> {
    DeadLetter { queue: "process-dlq", message_id, body }
}

#[tokio::test]
async fn a_dead_batch_fails_its_import_with_the_step_and_kind_and_keeps_the_body() {
    let kit = Kit::new();
    let (id, batch) = stuck_batch(&kit).await;
    dead_letters::record_error(&kit.files, "m-1", &Error::Contention("batch kept conflicting".into())).await.unwrap();
    dead_letters::handle(&kit.svc, letter("m-1", &batch)).await.unwrap();

    let import = kit.import(&id).await;
    assert_eq!(import.status, Status::Failed);
    let reason = import.reason.unwrap();
    assert!(reason.starts_with("internal_error: process failed ("), "{reason}");
    assert!(!reason.contains("conflicting"), "the error's message stays private: {reason}");
    assert_eq!(kit.files.text(&dead_letters::key("process-dlq", "m-1")).as_deref(), Some(batch.as_str()));
    assert_eq!(kit.events(&id), ["created", "started", "failed"]);
    assert!(kit.store.counter_closed(TENANT, &id, 0), "its other batches count no more");
}

#[tokio::test]
async fn a_dead_letter_read_twice_ends_its_import_once() {
    let kit = Kit::new();
    let (id, batch) = stuck_batch(&kit).await;
    dead_letters::handle(&kit.svc, letter("m-2", &batch)).await.unwrap();
    dead_letters::handle(&kit.svc, letter("m-2", &batch)).await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!(import.reason.as_deref(), Some("internal_error: process failed (every delivery failed)"));
    assert_eq!(kit.events(&id).iter().filter(|e| *e == "failed").count(), 1);
}

#[tokio::test]
async fn a_dead_letter_of_a_finished_run_changes_nothing() {
    let kit = Kit::new();
    let (id, batch) = stuck_batch(&kit).await;
    kit.deliver(Queue::Process, &batch).await.unwrap();
    kit.drain().await.unwrap();
    assert_eq!(kit.import(&id).await.status, Status::Completed);

    dead_letters::handle(&kit.svc, letter("m-3", &batch)).await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.reason), (Status::Completed, None));
    assert!(kit.files.get(&dead_letters::key("process-dlq", "m-3")).is_some(), "kept all the same");
}

#[tokio::test]
async fn a_dead_revert_unit_fails_the_revert_which_can_be_asked_again() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    kit.run_import(&key).await.unwrap();
    api::revert_import(&kit.svc, TENANT, &import.id).await.unwrap();
    let plan = kit.queue.take(Queue::Transform);
    kit.deliver(Queue::Transform, &plan[0]).await.unwrap();
    let unit = kit.queue.take(Queue::Process).remove(0);

    dead_letters::handle(&kit.svc, letter("m-4", &unit)).await.unwrap();
    let failed = kit.import(&import.id).await;
    assert_eq!(failed.status, Status::Completed, "the import stays completed");
    let revert = failed.revert.unwrap();
    assert_eq!(revert.status, RevertStatus::Failed);
    assert_eq!(revert.reason.as_deref(), Some("internal_error: revert failed (every delivery failed)"));

    api::revert_import(&kit.svc, TENANT, &import.id).await.unwrap();
    kit.drain().await.unwrap();
    let revert = kit.import(&import.id).await.revert.unwrap();
    assert_eq!((revert.status, revert.deleted, revert.reason), (RevertStatus::Reverted, 3, None));
    assert!(kit.store.records(TENANT, domain::record::ResourceType::Contact).is_empty());
}

#[tokio::test]
async fn a_letter_that_names_no_import_is_only_kept() {
    let kit = Kit::new();
    dead_letters::handle(&kit.svc, letter("m-5", "not json at all")).await.unwrap();
    assert_eq!(kit.files.text(&dead_letters::key("process-dlq", "m-5")).as_deref(), Some("not json at all"));
    assert!(kit.queue.log().is_empty());
}
