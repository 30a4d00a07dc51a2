//! A second PUT to the signed URL while the first file is being imported: the planned byte
//! ranges belong to the first file, so the import fails with a reason instead of importing
//! the wrong rows. The queues are driven by hand here, to put the second PUT in between.

use serde_json::json;
use shared::messages::{decode, TransformMessage};
use tests::host;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_upload_fails_the_import_with_a_reason() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, b"email\na@example.com\nb@example.com\n".to_vec()).await.unwrap();

    let key = shared::import::upload_key("acme", id);
    shared::pipeline::prevalidate::run(&svc, &key).await.unwrap();
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
    shared::pipeline::transform::run(&svc, &body).await.unwrap();

    let (_, failed) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["reason"].as_str().unwrap().contains("replaced"), "{failed}");
    let (status, _) = client.get("/v1/records/contact/z@example.com").await.unwrap();
    assert_eq!(status, 404);
}
