//! `mode: sync` over the in-memory adapters: the create request runs every step inline.

use domain::import::Status;
use domain::record::ResourceType;
use service::api;
use service::ports::Queue;
use testkit::{Kit, TENANT};

const SYNC: &str = r#"{"resource_type": "contact", "mode": "sync",
    "inputs": [{"email": "a@example.com", "first_name": "A"}, {"email": "not-an-email"}, {"email": "b@example.com"}]}"#;

#[tokio::test]
async fn a_sync_import_is_completed_by_its_create_request() {
    let kit = Kit::new();
    let import = api::create_import(&kit.svc, TENANT, SYNC.as_bytes(), None).await.unwrap();
    assert_eq!(import.status, Status::Completed);
    assert_eq!((import.stats.created, import.stats.errors, import.stats.processed), (2, 1, 3));
    let ids: Vec<String> = kit.store.records(TENANT, ResourceType::Contact).into_iter().map(|r| r.identifier).collect();
    assert_eq!(ids, ["a@example.com", "b@example.com"]);
    assert!(kit.queue.sent(Queue::Transform).is_empty() && kit.queue.sent(Queue::Process).is_empty(), "all inline");
    assert_eq!(kit.events(&import.id), ["created", "started", "completed"]);
}

#[tokio::test]
async fn a_sync_import_whose_step_fails_ends_failed() {
    let kit = Kit::new();
    kit.store.faults.fail_next("apply_batch", 1);
    let import = api::create_import(&kit.svc, TENANT, SYNC.as_bytes(), None).await.unwrap();
    assert_eq!(import.status, Status::Failed, "nothing redelivers an inline step");
    assert_eq!(import.reason.as_deref(), Some("internal_error"));
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
}
