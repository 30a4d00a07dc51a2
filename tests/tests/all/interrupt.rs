//! `PATCH {"interrupt": true}`: the import stops where it is; what was written stays
//! and is counted, work still queued is dropped. The queues are driven by hand, to interrupt
//! between two chunks.

use serde_json::json;
use tests::{all_records, host, receive_all, stat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_keeps_what_was_written_and_drops_the_rest() {
    let host = host(|o| {
        o.workers = 0;
        o.chunk_rows = Some(2);
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    let file = "email\na@example.com\nb@example.com\nc@example.com\nd@example.com\ne@example.com\n";
    client.upload(&import, file.into()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();

    let chunks = receive_all(&host, &host.settings.transform_queue_url).await;
    assert_eq!(chunks.len(), 3);
    service::pipeline::transform::run(&svc, &chunks[0]).await.unwrap();
    for batch in receive_all(&host, &host.settings.process_queue_url).await {
        service::pipeline::process::run(&svc, &batch).await.unwrap();
    }

    let path = format!("/v1/imports/{id}");
    let (status, stopped) =
        client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "interrupted");
    assert!(stopped["interrupted_at"].is_string(), "{stopped}");

    // The rest of the work arrives and is dropped; a redelivered chunk changes nothing either.
    for chunk in &chunks {
        service::pipeline::transform::run(&svc, chunk).await.unwrap();
    }
    for batch in receive_all(&host, &host.settings.process_queue_url).await {
        service::pipeline::process::run(&svc, &batch).await.unwrap();
    }
    let (_, after) = client.get(&path).await.unwrap();
    assert_eq!(after["status"], "interrupted");
    assert_eq!([stat(&after, "rows"), stat(&after, "processed"), stat(&after, "created")], [5, 2, 2], "{after}");
    assert_eq!(all_records(&client, "contact").await.len(), 2);

    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 409, "a final import cannot be interrupted");
    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": false}))).await.unwrap();
    assert_eq!(status, 400);
}
