//! A second PUT to the signed URL while the first file is being imported: the planned byte
//! ranges belong to the first file, so the import fails with a reason instead of importing
//! the wrong rows. The queues are driven by hand here, to put the second PUT in between. A
//! preview or a dry run started after a second PUT fails the same way: the run is pinned to
//! the object the preview or dry run read.

use domain::messages::{decode, TransformMessage};
use serde_json::{json, Value};
use tests::{host, wait_for, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_upload_fails_the_import_with_a_reason() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, b"email\na@example.com\nb@example.com\n".to_vec()).await.unwrap();

    let key = domain::import::upload_key("acme", id);
    service::pipeline::prevalidate::run(&svc, &key).await.unwrap();
    let (_, queued) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(queued["status"], "queued", "{queued}");

    client.upload(&import, b"email\nz@example.com\n".to_vec()).await.unwrap();
    let out = host
        .clients
        .sqs
        .receive_message()
        .queue_url(&host.settings.transform_queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let body = out.messages()[0].body().unwrap().to_string();
    let message: TransformMessage = decode(&body).unwrap();
    assert!(message.source.etag.is_some(), "the plan pins the upload's ETag");
    service::pipeline::transform::run(&svc, &body).await.unwrap();

    let (_, failed) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["reason"].as_str().unwrap().contains("replaced"), "{failed}");
    let (status, _) = client.get("/v1/records/contact/z@example.com").await.unwrap();
    assert_eq!(status, 404);
}

/// Starts `import` (at `ready`) with `patch` after its upload was replaced by another file, and
/// checks that the run fails with a reason and imports neither file.
async fn replaced_before_the_start(create: Value, ready: &str, patch: Value) {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import = client.create_import(&create).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, b"email\na@example.com\nb@example.com\n".to_vec()).await.unwrap();
    let read = wait_for(&client, id, ready).await;
    assert_eq!(read["stats"]["rows"], 2, "{read}");

    // The signed URL still takes a PUT: the stored file is now another one.
    client.upload(&import, b"email\nz@example.com\n".to_vec()).await.unwrap();
    let (status, body) = client.call(reqwest::Method::PATCH, &format!("/v1/imports/{id}"), Some(&patch)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let done = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["reason"].as_str().unwrap().contains("replaced"), "{done}");
    for email in ["a@example.com", "z@example.com"] {
        let (status, _) = client.get(&format!("/v1/records/contact/{email}")).await.unwrap();
        assert_eq!(status, 404, "{email} was imported");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_started_after_its_upload_was_replaced_fails() {
    let create = json!({"resource_type": "contact", "in_preview": true});
    replaced_before_the_start(create, "preview_ready", json!({"in_preview": false})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_run_for_real_after_its_upload_was_replaced_fails() {
    let create = json!({"resource_type": "contact", "dry_run": true});
    replaced_before_the_start(create, "completed", json!({"dry_run": false})).await;
}
