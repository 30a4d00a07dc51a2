//! The sweeper (SPEC §5): uploads that never arrive expire, imports that do not finish time
//! out, and neither touches an import that is on time, previewed or final. Rounds are run with
//! a chosen "now" instead of waiting.

use serde_json::json;
use shared::pipeline::sweep;
use tests::{host, IMPORT_TIMEOUT};
use time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_uploads_expire_and_slow_imports_time_out() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let now = shared::time_fmt::now();

    let waiting = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let running = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let running_id = running["id"].as_str().unwrap();
    client.upload(&running, b"email\na@example.com\n".to_vec()).await.unwrap();
    shared::pipeline::prevalidate::run(&svc, &shared::import::upload_key("acme", running_id)).await.unwrap();
    let status = |id: String| {
        let client = client.clone();
        async move { client.get(&format!("/v1/imports/{id}")).await.unwrap().1 }
    };
    assert_eq!(status(running_id.to_string()).await["status"], "queued");

    // On time: nothing changes.
    let swept = sweep::run(&svc, now + Duration::minutes(1)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (0, 0));

    // Past the upload URL's 15 minutes, not yet past the hour.
    let swept = sweep::run(&svc, now + Duration::minutes(16)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (1, 0));
    let expired = status(waiting["id"].as_str().unwrap().to_string()).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(expired["reason"].as_str().unwrap().contains("upload never arrived"));

    let swept = sweep::run(&svc, now + Duration::minutes(61)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (0, 1), "each import is swept once");
    let timed_out = status(running_id.to_string()).await;
    assert_eq!(timed_out["status"], "timed_out", "{timed_out}");

    // Late work of a timed-out import is dropped.
    let chunks = host
        .clients
        .sqs
        .receive_message()
        .queue_url(&host.settings.transform_queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    for m in chunks.messages() {
        shared::pipeline::transform::run(&svc, m.body().unwrap()).await.unwrap();
    }
    assert_eq!(status(running_id.to_string()).await["stats"]["processed"], 0);
    assert_eq!(client.get("/v1/records/contact/a@example.com").await.unwrap().0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_and_previewed_imports_are_left_alone() {
    let host = host(|_| {}).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let done = client
        .import_file(&json!({"resource_type": "contact"}), b"email\na@example.com\n".to_vec(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    let preview = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    client.upload(&preview, b"email\nb@example.com\n".to_vec()).await.unwrap();
    tests::wait_for(&client, preview["id"].as_str().unwrap(), "preview_ready").await;
    let swept = sweep::run(&svc, shared::time_fmt::now() + Duration::days(2)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (0, 0));
    let (_, after) = client.get(&format!("/v1/imports/{}", done["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(after["status"], "completed");
}
