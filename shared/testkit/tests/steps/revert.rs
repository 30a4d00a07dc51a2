//! A revert over the in-memory adapters: each unit of work puts its records back once, and
//! records changed since are left alone and listed.

use domain::import::Status;
use domain::messages::{decode, ProcessJob};
use domain::record::ResourceType;
use domain::revert_state::RevertStatus;
use domain::time_fmt;
use serde_json::json;
use service::api;
use service::ports::Queue;
use testkit::{contact, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

/// `p1` stored before; the import changes it and creates `p2`. Returns the import's id.
async fn merged(kit: &Kit) -> String {
    let before = time_fmt::now() - time::Duration::hours(1);
    kit.store.put_records(
        TENANT,
        ResourceType::Contact,
        &[contact("p1@example.com", json!({"first_name": "Old"}), before)],
    );
    let file = b"email,first_name\r\np1@example.com,New\r\np2@example.com,Two\r\n";
    let (import, key) = kit.upload(CONTACTS, file).await.unwrap();
    kit.run_import(&key).await.unwrap();
    assert_eq!(kit.import(&import.id).await.status, Status::Completed);
    import.id
}

fn record(kit: &Kit, email: &str) -> Option<domain::record::StoredRecord> {
    kit.store.records(TENANT, ResourceType::Contact).into_iter().find(|r| r.identifier == email)
}

fn is_unit(body: &str) -> bool {
    matches!(decode::<ProcessJob>(body), Ok(ProcessJob::RevertUnit(_)))
}

#[tokio::test]
async fn a_revert_deletes_what_the_import_created_and_restores_what_it_changed() {
    let kit = Kit::new();
    let id = merged(&kit).await;
    api::revert_import(&kit.svc, TENANT, &id).await.unwrap();
    kit.drain().await.unwrap();

    let revert = kit.import(&id).await.revert.unwrap();
    assert_eq!(revert.status, RevertStatus::Reverted);
    assert_eq!((revert.deleted, revert.restored, revert.conflicts), (1, 1, 0));
    assert_eq!((revert.units_total, revert.units_done), (Some(1), 1));
    assert!(record(&kit, "p2@example.com").is_none());
    let p1 = record(&kit, "p1@example.com").unwrap();
    assert_eq!((p1.fields["first_name"].as_str(), p1.version), (Some("Old"), 3));
    assert_eq!(kit.events(&id).last().map(String::as_str), Some("reverted"));
}

#[tokio::test]
async fn created_records_keep_no_before_image_and_a_revert_deletes_them_unless_changed_since() {
    let kit = Kit::new();
    let file = b"email,first_name\r\na@example.com,A\r\nb@example.com,B\r\nc@example.com,C\r\n";
    let (import, key) = kit.upload(CONTACTS, file).await.unwrap();
    kit.run_import(&key).await.unwrap();
    assert_eq!(kit.import(&import.id).await.stats.created, 3);
    let images = |kit: &Kit| kit.files.keys().into_iter().filter(|k| k.contains("/before/")).count();
    assert_eq!(images(&kit), 0, "creates are named in the ledger, not in an object");
    // Another import changes b: the revert leaves it, and deletes a and c.
    let (_, key) = kit.upload(CONTACTS, b"email,first_name\r\nb@example.com,Bee\r\n").await.unwrap();
    kit.run_import(&key).await.unwrap();
    assert_eq!(images(&kit), 1, "an update keeps its before-image");

    api::revert_import(&kit.svc, TENANT, &import.id).await.unwrap();
    kit.drain().await.unwrap();
    let revert = kit.import(&import.id).await.revert.unwrap();
    assert_eq!((revert.status, revert.deleted, revert.restored, revert.conflicts), (RevertStatus::Reverted, 2, 0, 1));
    assert_eq!(revert.conflict_identifiers, ["b@example.com"]);
    let left: Vec<String> =
        kit.store.records(TENANT, ResourceType::Contact).into_iter().map(|r| r.identifier).collect();
    assert_eq!(left, ["b@example.com"]);
}

#[tokio::test]
async fn a_redelivered_revert_unit_puts_nothing_back_twice() {
    let kit = Kit::new();
    let id = merged(&kit).await;
    api::revert_import(&kit.svc, TENANT, &id).await.unwrap();
    let mut units = 0;
    while let Some(message) = kit.queue.pop(&[Queue::Transform, Queue::Process]) {
        kit.deliver(message.queue, &message.body).await.unwrap();
        if is_unit(&message.body) {
            units += 1;
            kit.deliver(message.queue, &message.body).await.unwrap();
        }
    }
    assert_eq!(units, 1);

    let revert = kit.import(&id).await.revert.unwrap();
    assert_eq!((revert.status, revert.deleted, revert.restored, revert.units_done), (RevertStatus::Reverted, 1, 1, 1));
    assert_eq!(record(&kit, "p1@example.com").unwrap().version, 3, "restored once");
    assert_eq!(kit.events(&id).iter().filter(|e| *e == "reverted").count(), 1);
}

#[tokio::test]
async fn a_record_changed_since_is_left_alone_and_listed() {
    let kit = Kit::new();
    let id = merged(&kit).await;
    let later = b"email,first_name\r\np1@example.com,Later\r\n";
    let (_, key) = kit.upload(CONTACTS, later).await.unwrap();
    kit.run_import(&key).await.unwrap();

    api::revert_import(&kit.svc, TENANT, &id).await.unwrap();
    kit.drain().await.unwrap();
    let revert = kit.import(&id).await.revert.unwrap();
    assert_eq!(revert.status, RevertStatus::Reverted);
    assert_eq!((revert.deleted, revert.restored, revert.conflicts), (1, 0, 1));
    assert_eq!(revert.conflict_identifiers, ["p1@example.com"]);
    assert_eq!(record(&kit, "p1@example.com").unwrap().fields["first_name"], "Later");
}

#[tokio::test]
async fn a_store_error_mid_revert_is_retried_and_counts_once() {
    let kit = Kit::new();
    let id = merged(&kit).await;
    api::revert_import(&kit.svc, TENANT, &id).await.unwrap();
    kit.store.faults.lose_answer_next("apply_revert", 1);
    assert!(kit.drain().await.is_err());
    assert_eq!(kit.import(&id).await.revert.unwrap().status, RevertStatus::Reverting);

    kit.drain().await.unwrap();
    let revert = kit.import(&id).await.revert.unwrap();
    assert_eq!((revert.status, revert.deleted, revert.restored, revert.units_done), (RevertStatus::Reverted, 1, 1, 1));
}

#[tokio::test]
async fn reverting_an_overwrite_brings_back_what_it_changed_and_removed() {
    let kit = Kit::new();
    let before = time_fmt::now() - time::Duration::hours(1);
    let seeded: Vec<_> = (1..=4)
        .map(|i| contact(&format!("p{i}@example.com"), json!({"first_name": format!("Old{i}")}), before))
        .collect();
    kit.store.put_records(TENANT, ResourceType::Contact, &seeded);
    let body = r#"{"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.5}"#;
    let file = b"email,first_name\r\np1@example.com,New1\r\np2@example.com,Old2\r\np3@example.com,Old3\r\n";
    let (import, key) = kit.upload(body, file).await.unwrap();
    kit.run_import(&key).await.unwrap();
    let stats = kit.import(&import.id).await.stats;
    assert_eq!((stats.updated, stats.unchanged, stats.removed), (1, 2, 1));

    api::revert_import(&kit.svc, TENANT, &import.id).await.unwrap();
    kit.drain().await.unwrap();
    let revert = kit.import(&import.id).await.revert.unwrap();
    assert_eq!((revert.status, revert.deleted, revert.restored), (RevertStatus::Reverted, 0, 2));
    let names: Vec<String> = kit
        .store
        .records(TENANT, ResourceType::Contact)
        .iter()
        .map(|r| format!("{}={}", r.identifier, r.fields["first_name"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(names, ["p1@example.com=Old1", "p2@example.com=Old2", "p3@example.com=Old3", "p4@example.com=Old4"]);
}
