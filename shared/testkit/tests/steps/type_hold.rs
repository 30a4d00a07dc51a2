//! Who writes a type: a first import into an empty type holds it alone and writes its creates
//! unconditioned; any other run joins the type's writers, revoking a hold it finds and waiting
//! out its grace before it writes.

use domain::import::Status;
use domain::record::ResourceType;
use domain::time_fmt;
use service::pipeline::transform::UNREAD_BATCH_RECORDS;
use service::pipeline::{prevalidate, type_hold};
use service::ports::{Queue, TypeHolds};
use testkit::{contacts_csv, Kit, TENANT};

use crate::process::{person2_is_merged_not_replaced, transformed};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

#[tokio::test]
async fn a_first_import_into_an_empty_type_holds_it_until_it_completes() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert_eq!((hold.holder, hold.revoked_at), (Some((id.clone(), 0)), None));
    assert!(hold.writers.is_empty());

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    assert_eq!(kit.import(&id).await.stats.created, 5);
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert!(hold.revoked_at.is_some(), "given up when the run ended: {hold:?}");

    // The next import finds records: it joins the writers instead, and leaves when it ends.
    let (second, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert_eq!(hold.writers.iter().collect::<Vec<_>>(), [&second]);
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    assert_eq!(kit.import(&second).await.stats.unchanged, 5);
    assert!(kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap().writers.is_empty());
}

#[tokio::test]
async fn creates_written_before_a_crash_are_written_and_counted_once_by_the_redelivery() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(5, &[])).await;
    // The creates are written unconditioned; the delivery stops before the ledger entry.
    kit.store.faults.fail_next("apply_batch_ledger", 1);
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err());
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact).len(), 5, "written before the ledger entry");
    assert!(kit.store.ledger_units(TENANT, &id).is_empty());

    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.created, import.stats.processed), (Status::Completed, 5, 5));
    let records = kit.store.records(TENANT, ResourceType::Contact);
    assert!(records.iter().all(|r| r.version == 1 && r.last_import_id == id), "{records:?}");
}

#[tokio::test]
async fn a_held_run_s_batches_are_hundreds_of_rows_each_written_whole() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(1_000, &[])).await;
    let rows = UNREAD_BATCH_RECORDS;
    assert_eq!(batches.len(), 1_000usize.div_ceil(rows), "unread batches are cut at {rows} rows");
    // Outside a transaction, not in parts of one: all its creates go before its ledger entry.
    kit.store.faults.fail_next("apply_batch_ledger", 1);
    assert!(kit.deliver(Queue::Process, &batches[0]).await.is_err());
    assert_eq!(kit.store.records(TENANT, ResourceType::Contact).len(), rows);
    for batch in &batches {
        kit.deliver(Queue::Process, batch).await.unwrap();
    }
    kit.drain().await.unwrap();
    let import = kit.import(&id).await;
    assert_eq!((import.status, import.stats.created), (Status::Completed, 1_000));
    assert_eq!(kit.store.records_written(), 1_000 + rows as u64, "the first batch twice, the rest once");
}

#[tokio::test]
async fn a_run_that_joins_a_held_type_revokes_the_hold_and_waits_out_its_grace() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    // Another run joins, and writes person2 once it waited.
    type_hold::join(&kit.svc, TENANT, ResourceType::Contact, "imp_other", None).await.unwrap();
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    let revoked_at = hold.revoked_at.expect("revoked");
    assert!(time_fmt::now().unix_timestamp() >= revoked_at + kit.svc.settings.type_hold_grace_secs as i64);
    // The holder's batch writes conditioned now.
    person2_is_merged_not_replaced(&kit, &id, &batches[0]).await;
}

#[tokio::test]
async fn a_running_writer_keeps_a_first_import_from_holding_the_type_and_one_that_ended_does_not() {
    let kit = Kit::new();
    // A run of another import that creates nothing writes the type.
    let (import, key) =
        kit.upload(r#"{"resource_type": "contact", "import_rule": "update_only"}"#, b"email\nx@y.io\n").await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let running = kit.import(&import.id).await;
    assert_eq!(running.status, Status::Queued);
    let (id, _) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert_eq!(hold.holder, None);
    assert!(hold.writers.contains(&id) && hold.writers.contains(&running.id));

    // One whose import is gone is dropped by the next that would hold the type.
    let kit = Kit::new();
    kit.store.join_type(TENANT, ResourceType::Contact, "imp_gone").await.unwrap();
    let (id, _) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert_eq!((hold.holder, hold.writers.len()), (Some((id, 0)), 0));
}

#[tokio::test]
async fn a_stopped_holder_gives_up_the_type_and_its_late_batches_write_nothing() {
    let kit = Kit::new();
    let (id, batches) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    service::api::patch_import(&kit.svc, TENANT, &id, br#"{"interrupt": true}"#).await.unwrap();
    assert!(kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap().revoked_at.is_some());
    kit.deliver(Queue::Process, &batches[0]).await.unwrap();
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty());
}

#[tokio::test]
async fn a_sync_import_that_would_wait_longer_than_its_request_fails_with_a_reason() {
    let kit = Kit::with_settings(&[("TYPE_HOLD_GRACE_SECONDS", "60")]);
    let (id, _) = transformed(&kit, CONTACTS, &contacts_csv(3, &[])).await;
    let sync = br#"{"resource_type": "contact", "mode": "sync", "inputs": [{"email": "ann@example.com"}]}"#;
    let import = service::api::create_import(&kit.svc, TENANT, sync, None).await.unwrap();
    assert_eq!(import.status, Status::Failed);
    let reason = import.reason.unwrap_or_default();
    assert!(reason.starts_with("type_held: import ") && reason.contains(&id), "{reason}");
    assert!(kit.store.records(TENANT, ResourceType::Contact).is_empty(), "nothing written");
    let hold = kit.store.type_hold(TENANT, ResourceType::Contact).await.unwrap();
    assert!(hold.revoked_at.is_some(), "revoked all the same: the holder's batches write conditioned");
}

/// A run planned again after its first plan's delivery died while sending, its records partly
/// written meanwhile, still holds the type: its chunks are cut into the batches of the first
/// plan, and none is counted twice.
#[tokio::test]
async fn a_run_planned_again_after_some_of_its_records_are_written_still_holds_the_type() {
    let kit = Kit::new();
    let (import, _) = kit.upload(CONTACTS, &contacts_csv(5, &[])).await.unwrap();
    assert!(type_hold::claim(&kit.svc, &import, 0).await.unwrap(), "the type is empty");
    let written = vec![testkit::contact("someone@example.com", serde_json::json!({}), time_fmt::now())];
    kit.svc.records.create_missing(TENANT, ResourceType::Contact, &written).await.unwrap();
    assert!(type_hold::claim(&kit.svc, &import, 0).await.unwrap(), "the same run, planned again");
    let (other, _) = kit.upload(CONTACTS, &contacts_csv(5, &[])).await.unwrap();
    assert!(!type_hold::claim(&kit.svc, &other, 0).await.unwrap(), "another import joins");
}
