//! Tenants isolated in time: a small import of one tenant is not queued behind a large
//! import of another. Transform and process messages carry their tenant as the message group
//! (SQS fair queues) and the local pumps serve the groups round-robin, as AWS does.

use std::time::Instant;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::json;
use service::ports::Queue;
use tests::{contacts_csv, host, stat, wait_for, IMPORT_TIMEOUT};

const LARGE_ROWS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_import_completes_while_another_tenants_large_one_is_under_half_done() {
    let host = host(|_| {}).await;
    let (large_tenant, small_tenant) = (host.client("tenant-a"), host.client("tenant-b"));
    let large = large_tenant.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let small = small_tenant.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let large_path = format!("/v1/imports/{}", large["id"].as_str().unwrap());
    let small_path = format!("/v1/imports/{}", small["id"].as_str().unwrap());

    large_tenant.upload(&large, contacts_csv(LARGE_ROWS as usize, &[])).await.unwrap();
    // Once it is processing, the large import's chunks and first batches are queued ahead of
    // anything the small one sends.
    wait_for(&large_tenant, large["id"].as_str().unwrap(), "processing").await;
    small_tenant.upload(&small, contacts_csv(10, &[])).await.unwrap();

    let started = Instant::now();
    let done = loop {
        let (_, small_now) = small_tenant.get(&small_path).await.unwrap();
        if !matches!(small_now["status"].as_str(), Some("awaiting_upload" | "queued" | "processing")) {
            break small_now;
        }
        // Read after the small one: the large one's progress can only have grown since.
        let (_, large_now) = large_tenant.get(&large_path).await.unwrap();
        assert!(
            stat(&large_now, "processed") < LARGE_ROWS / 2,
            "the small import is still {} with the large one half done: {large_now}",
            small_now["status"]
        );
        assert!(started.elapsed() < 4 * IMPORT_TIMEOUT, "neither import moves: {small_now}");
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(stat(&done, "created"), 10, "{done}");
    let (_, large_now) = large_tenant.get(&large_path).await.unwrap();
    assert_eq!(large_now["status"], "processing", "{large_now}");
    assert!(stat(&large_now, "processed") < LARGE_ROWS / 2, "{large_now}");

    // The rest of the large import is not needed: stopped, its queued work is dropped.
    let (status, stopped) =
        large_tenant.call(reqwest::Method::PATCH, &large_path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "interrupted", "{stopped}");
}

/// The group is sent as SQS's own `MessageGroupId` on the standard queues, and the emulator
/// gives it back, which the local pumps rely on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_messages_carry_their_tenant_as_message_group() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let bodies: Vec<String> = (0..12).map(|i| format!("{{\"n\":{i}}}")).collect();
    svc.queue.send(Queue::Process, "tenant-a", bodies).await.unwrap();
    svc.queue.send(Queue::Process, "tenant-b", vec!["{}".into()]).await.unwrap();

    let mut groups = Vec::new();
    while groups.len() < 13 {
        let out = host
            .clients
            .sqs
            .receive_message()
            .queue_url(&host.settings.process_queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        assert!(!messages.is_empty(), "{groups:?}");
        for m in messages {
            groups.push(m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId)).cloned());
        }
    }
    groups.sort();
    let mut expected = vec![Some("tenant-a".to_string()); 12];
    expected.push(Some("tenant-b".to_string()));
    assert_eq!(groups, expected);
}
