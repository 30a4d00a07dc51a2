//! An overwrite's cleanup over the in-memory adapters: the records its file did not name are
//! removed once, within its guard.

use domain::import::{Phase, Status};
use domain::messages::{decode, ProcessJob};
use domain::record::ResourceType;
use domain::time_fmt;
use serde_json::json;
use service::pipeline::overwrite::GUARD_REASON;
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{contact, Kit, TENANT};

/// `n` contacts `p1@example.com`... stored an hour before the test's import.
fn seed(kit: &Kit, n: usize) {
    let before = time_fmt::now() - time::Duration::hours(1);
    let records: Vec<_> = (1..=n).map(|i| contact(&format!("p{i}@example.com"), json!({}), before)).collect();
    kit.store.put_records(TENANT, ResourceType::Contact, &records);
}

/// A file naming `p{i}` for each of `named`, plus `new@example.com`.
fn file(named: impl Iterator<Item = usize>) -> Vec<u8> {
    let mut out = String::from("email,first_name\r\n");
    for i in named {
        out.push_str(&format!("p{i}@example.com,Kept{i}\r\n"));
    }
    out.push_str("new@example.com,New\r\n");
    out.into_bytes()
}

fn emails(kit: &Kit) -> Vec<String> {
    kit.store.records(TENANT, ResourceType::Contact).into_iter().map(|r| r.identifier).collect()
}

fn is_removal(body: &str) -> bool {
    matches!(decode::<ProcessJob>(body), Ok(ProcessJob::RemovePage(_)))
}

/// Delivers every queued message until none is left, each cleanup page twice; the pages handed.
async fn drain_delivering_pages_twice(kit: &Kit) -> usize {
    let mut pages = 0;
    while let Some(message) = kit.queue.pop(&[Queue::Transform, Queue::Process]) {
        kit.deliver(message.queue, &message.body).await.unwrap();
        if is_removal(&message.body) {
            pages += 1;
            kit.deliver(message.queue, &message.body).await.unwrap();
        }
    }
    pages
}

#[tokio::test]
async fn an_overwrite_removes_the_records_its_file_did_not_name() {
    let kit = Kit::new();
    seed(&kit, 10);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=6)).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.phase), (Status::Completed, Some(Phase::Cleanup)));
    assert_eq!((import.stats.created, import.stats.updated, import.stats.removed), (1, 6, 4));
    let mut expected: Vec<String> = (1..=6).map(|i| format!("p{i}@example.com")).collect();
    expected.insert(0, "new@example.com".into());
    expected.sort();
    assert_eq!(emails(&kit), expected);
    assert!(kit.store.records(TENANT, ResourceType::Contact).iter().all(|r| r.seen_by.as_deref() == Some(&import.id)));
}

#[tokio::test]
async fn an_overwrite_over_its_guard_removes_nothing_and_fails() {
    let kit = Kit::new();
    seed(&kit, 10);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=3)).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Failed);
    assert_eq!(import.reason.as_deref(), Some(GUARD_REASON));
    assert_eq!(import.stats.removed, 0);
    assert_eq!(emails(&kit).len(), 11, "the ten seeded and the new one");
}

#[tokio::test]
async fn a_redelivered_cleanup_page_removes_and_counts_nothing_twice() {
    let kit = Kit::new();
    seed(&kit, 10);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=6)).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    assert_eq!(drain_delivering_pages_twice(&kit).await, 1);

    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.removed), (Status::Completed, 4));
    assert_eq!(emails(&kit).len(), 7);
    assert_eq!(kit.events(&import.id), ["created", "started", "completed"]);
}

#[tokio::test]
async fn a_cleanup_page_delivered_again_once_ended_starts_no_second_chain() {
    let kit = Kit::new();
    seed(&kit, 450);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=300)).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    // Each page delivered again after it sent its next: it sends none.
    assert_eq!(drain_delivering_pages_twice(&kit).await, 3, "one chain of pages, not one more per delivery");
    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.removed), (Status::Completed, 150));
    assert_eq!(emails(&kit).len(), 301);
}

#[tokio::test]
async fn the_cleanup_pages_through_many_records() {
    let kit = Kit::new();
    seed(&kit, 450);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=300)).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let pages = kit.queue.sent(Queue::Process).iter().filter(|b| is_removal(b)).count();
    assert_eq!(pages, 3, "451 records, 200 a page");
    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.removed, import.stats.updated), (Status::Completed, 150, 300));
    assert_eq!(emails(&kit).len(), 301);
    assert!(!emails(&kit).contains(&"p301@example.com".to_string()));
}

#[tokio::test]
async fn a_dry_run_overwrite_counts_its_removals_and_changes_nothing() {
    let kit = Kit::new();
    seed(&kit, 10);
    let before = kit.store.records(TENANT, ResourceType::Contact);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "dry_run": true, "max_removed_ratio": 0.5}"#;
    let (import, key) = kit.upload(body, &file(1..=6)).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Completed);
    assert_eq!((import.stats.created, import.stats.updated, import.stats.removed), (1, 6, 4));
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact), before, "a dry run writes nothing");
}
