//! pull over the in-memory adapters: a source is copied into the upload once, whatever the
//! deliveries of its message, and a source that does not have the file fails the import.

use domain::import::{upload_key, Status};
use service::pipeline::pull;
use service::ports::Queue;
use testkit::{contacts_csv, Kit, TENANT};

#[tokio::test]
async fn a_pulled_source_becomes_the_upload_once_and_imports_as_one() {
    let kit = Kit::new();
    let url = "https://files.example.com/contacts.csv";
    kit.sources.add(url, contacts_csv(5, &[]));
    let body = format!(r#"{{"resource_type": "contact", "source": {{"url": "{url}"}}}}"#);
    let import = service::api::create_import(&kit.svc, TENANT, body.as_bytes(), None).await.unwrap();
    assert!(import.links.upload.is_none());
    let pulls = kit.queue.sent(Queue::Transform);
    assert_eq!(pulls.len(), 1, "create asks for one pull");
    kit.drain().await.unwrap();
    let key = upload_key(TENANT, &import.id);
    assert_eq!(kit.files.get(&key), Some(contacts_csv(5, &[])));

    // The file changes at its source; a redelivered pull does not copy it again.
    kit.sources.add(url, contacts_csv(9, &[]));
    pull::run(&kit.svc, TENANT, &import.id).await.unwrap();
    assert_eq!(kit.files.get(&key), Some(contacts_csv(5, &[])));
    kit.run_import(&key).await.unwrap();
    let done = kit.import(&import.id).await;
    assert_eq!((done.status, done.stats.rows, done.stats.created), (Status::Completed, 5, 5));
}

#[tokio::test]
async fn a_source_without_the_file_fails_the_import_with_a_reason() {
    let kit = Kit::new();
    let body = r#"{"resource_type": "contact", "source": {"s3": {"bucket": "acme-exports", "key": "gone.csv"}}}"#;
    let import = service::api::create_import(&kit.svc, TENANT, body.as_bytes(), None).await.unwrap();
    kit.drain().await.unwrap();
    let failed = kit.import(&import.id).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.reason.as_deref(), Some("s3://acme-exports/gone.csv not found"));
    assert!(kit.files.get(&upload_key(TENANT, &import.id)).is_none());
}

#[tokio::test]
async fn the_services_own_bucket_is_no_source_even_for_another_tenants_upload_it_holds() {
    let kit = Kit::new();
    let (other, other_key) = kit.upload(r#"{"resource_type": "contact"}"#, &contacts_csv(3, &[])).await.unwrap();
    let bucket = &kit.svc.settings.uploads_bucket;
    kit.sources.add(&format!("s3://{bucket}/{other_key}"), contacts_csv(3, &[]));
    let body = format!(
        r#"{{"resource_type": "contact", "source": {{"s3": {{"bucket": "{bucket}", "key": "{other_key}"}}}}}}"#
    );
    let import = service::api::create_import(&kit.svc, TENANT, body.as_bytes(), None).await.unwrap();
    kit.drain().await.unwrap();
    let refused = kit.import(&import.id).await;
    assert_eq!(refused.status, Status::Failed);
    assert_eq!(refused.reason.as_deref(), Some("source.s3: the service's own bucket is not a source"));
    assert!(kit.files.get(&upload_key(TENANT, &import.id)).is_none(), "nothing of {} was copied", other.id);
}
