//! prevalidate over the in-memory adapters: the upload is planned into chunks once, whatever
//! the deliveries of its event.

use domain::import::{upload_key, Phase, Status};
use domain::messages::{decode, TransformMessage};
use service::pipeline::complete::SOURCE_REPLACED;
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{contacts_csv, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

fn small_chunks() -> Kit {
    Kit::with_settings(&[("CHUNK_ROWS", "4")])
}

#[tokio::test]
async fn an_upload_is_planned_into_one_transform_message_per_chunk() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(10, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();

    let stored = kit.svc.imports.get(TENANT, &import.id).await.unwrap().unwrap();
    assert_eq!(stored.import.status, Status::Queued);
    assert_eq!(stored.import.phase, Some(Phase::Transforming));
    assert_eq!(stored.import.stats.rows, 10);
    assert_eq!(stored.import.file_headers[0], "Email Address");
    assert_eq!(stored.import.mappings.get("Email Address"), Some(&Some("email".to_string())));
    assert!(stored.progress.planned);
    assert_eq!(stored.progress.chunks_total, 3);
    assert!(stored.source_etag.is_some(), "the plan pins the upload it read");
    let chunks: Vec<TransformMessage> = kit.queue.sent(Queue::Transform).iter().map(|b| decode(b).unwrap()).collect();
    let rows: Vec<u64> = chunks.iter().map(|m| m.chunk.rows).collect();
    assert_eq!(rows, [4, 4, 2]);
    assert!(chunks.iter().all(|m| m.run == 0 && m.import_id == import.id && m.source.key == key));
}

#[tokio::test]
async fn a_redelivered_upload_event_plans_again_but_every_chunk_counts_once() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(10, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    assert_eq!(kit.queue.waiting(Queue::Transform), 6, "a run still queued is planned again");

    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Completed);
    assert_eq!((import.stats.rows, import.stats.processed, import.stats.created), (10, 10, 10));
    assert_eq!(kit.store.records(TENANT, domain::record::ResourceType::Contact).len(), 10);
    assert_eq!(kit.events(&import.id), ["created", "started", "completed"]);
}

#[tokio::test]
async fn once_a_chunk_is_counted_the_upload_event_sends_nothing_again() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(10, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let first = kit.queue.take(Queue::Transform);
    kit.deliver(Queue::Transform, &first[0]).await.unwrap();
    assert_eq!(kit.import(&import.id).await.status, Status::Processing);

    prevalidate::run(&kit.svc, &key).await.unwrap();
    assert_eq!(kit.queue.sent(Queue::Transform).len(), 3, "no chunk sent again");
}

#[tokio::test]
async fn a_binary_file_fails_its_import_with_a_reason_and_sends_no_chunk() {
    let kit = Kit::new();
    let mut file = b"Email Address\r\n".to_vec();
    file.extend((0..4096u32).map(|i| (i % 7) as u8));
    let (import, key) = kit.upload(CONTACTS, &file).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Failed);
    assert!(import.reason.as_deref().is_some_and(|r| !r.is_empty()), "{:?}", import.reason);
    assert!(kit.queue.sent(Queue::Transform).is_empty());
    assert_eq!(kit.events(&import.id), ["created", "failed"]);
}

#[tokio::test]
async fn a_store_error_while_saving_the_plan_leaves_the_import_waiting_for_the_retry() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(10, &[])).await.unwrap();
    kit.store.faults.fail_next("save_plan", 1);
    assert!(prevalidate::run(&kit.svc, &key).await.is_err());
    assert_eq!(kit.import(&import.id).await.status, Status::AwaitingUpload);
    assert!(kit.queue.sent(Queue::Transform).is_empty());

    prevalidate::run(&kit.svc, &key).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.created), (Status::Completed, 10));
}

#[tokio::test]
async fn a_failed_send_of_the_chunks_is_healed_by_the_redelivery() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(10, &[])).await.unwrap();
    kit.queue.faults.fail_next("send", 1);
    assert!(prevalidate::run(&kit.svc, &key).await.is_err());
    assert_eq!(kit.import(&import.id).await.status, Status::Queued, "planned, its chunks unsent");

    prevalidate::run(&kit.svc, &key).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.rows, import.stats.created), (Status::Completed, 10, 10));
}

#[tokio::test]
async fn a_preview_stops_with_sample_records_and_sends_no_chunk() {
    let kit = Kit::new();
    let body = r#"{"resource_type": "contact", "in_preview": true}"#;
    let (import, key) = kit.upload(body, &contacts_csv(5, &[2])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::PreviewReady);
    assert!(!import.sample_records.is_empty());
    assert!(kit.queue.sent(Queue::Transform).is_empty());
    assert_eq!(kit.events(&import.id), ["created", "preview_ready"]);
}

#[tokio::test]
async fn an_upload_replaced_after_its_preview_fails_the_run_it_starts() {
    let kit = Kit::new();
    let body = r#"{"resource_type": "contact", "in_preview": true}"#;
    let (import, key) = kit.upload(body, &contacts_csv(5, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    kit.svc.files.put(&upload_key(TENANT, &import.id), contacts_csv(6, &[])).await.unwrap();

    service::api::patch_import(&kit.svc, TENANT, &import.id, br#"{"in_preview": false}"#).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Failed);
    assert_eq!(import.reason.as_deref(), Some(SOURCE_REPLACED));
    assert_eq!(kit.store.records(TENANT, domain::record::ResourceType::Contact).len(), 0);
}

#[tokio::test]
async fn an_import_interrupted_before_its_upload_arrived_is_not_planned() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    service::api::patch_import(&kit.svc, TENANT, &import.id, br#"{"interrupt": true}"#).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Interrupted);
    assert!(import.file.is_none(), "nothing planned");
    assert!(kit.queue.sent(Queue::Transform).is_empty());
}

fn zipped(name: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_store_read_that_fails_under_the_zip_reader_is_retried_not_blamed_on_the_file() {
    let kit = small_chunks();
    let (import, key) = kit.upload(CONTACTS, &zipped("contacts.csv", &contacts_csv(10, &[]))).await.unwrap();
    // The first open reads the upload's first bytes; the next is the zip directory's.
    kit.files.faults().fail_after("open", 1);
    assert!(prevalidate::run(&kit.svc, &key).await.is_err(), "the event is delivered again");
    assert_eq!(kit.import(&import.id).await.status, Status::AwaitingUpload, "nothing is decided");

    prevalidate::run(&kit.svc, &key).await.unwrap();
    let planned = kit.import(&import.id).await;
    assert_eq!((planned.status, planned.stats.rows), (Status::Queued, 10));
    assert_eq!(planned.file.map(|f| f.compression), Some("zip".to_string()));
}
