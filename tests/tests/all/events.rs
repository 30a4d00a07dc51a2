//! Lifecycle events (docs/api.md, Lifecycle events): each status change of an import is published once to the
//! import-events queue, with the import's status, reason and stats at that point; one its step
//! failed to publish is sent by the sweeper, once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use service::pipeline::{prevalidate, process, sweep, transform};
use service::ports::{Queue, WorkQueue};
use service::services::Services;
use tests::{host, receive_all, wait_for, IMPORT_TIMEOUT};
use time::Duration;

/// Every event on the queue, by import, in the order received.
async fn events(host: &local::LocalHost) -> BTreeMap<String, Vec<Value>> {
    let mut by_import: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for body in receive_all(host, &host.settings.events_queue_url).await {
        let event: Value = serde_json::from_str(&body).unwrap();
        by_import.entry(event["import_id"].as_str().unwrap().to_string()).or_default().push(event);
    }
    by_import
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lifecycle_change_is_published_once() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let file = "email\nann@example.com\nbob@example.com\ncy@example.com\n";
    let done = client.import_file(&json!({"resource_type": "contact"}), file.into(), IMPORT_TIMEOUT).await.unwrap();
    let failed = client.import_file(&json!({"resource_type": "contact"}), "name\nAnn\n".into(), IMPORT_TIMEOUT).await;
    let failed = failed.unwrap();

    let preview = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let preview_id = preview["id"].as_str().unwrap();
    client.upload(&preview, file.into()).await.unwrap();
    wait_for(&client, preview_id, "preview_ready").await;
    let path = format!("/v1/imports/{preview_id}");
    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 200);

    let all = events(&host).await;
    let of = |import: &Value| all.get(import["id"].as_str().unwrap()).cloned().unwrap_or_default();
    let completed = of(&done);
    assert_eq!(kinds(&completed), ["created", "started", "completed"], "{completed:?}");
    assert_eq!(completed[2]["stats"]["created"], 3);
    assert_eq!(completed[2]["status"], "completed");
    assert_eq!(completed[0]["tenant_id"], "acme");
    let failed = of(&failed);
    assert_eq!(kinds(&failed), ["created", "failed"], "{failed:?}");
    assert!(failed[1]["reason"].as_str().unwrap().contains("identifier"), "{failed:?}");
    let previewed = all.get(preview_id).cloned().unwrap_or_default();
    assert_eq!(kinds(&previewed), ["created", "preview_ready", "interrupted"], "{previewed:?}");
    let ids: BTreeSet<&str> = all.values().flatten().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.values().map(Vec::len).sum::<usize>(), "every event has its own id");

    // Each was recorded as published: the sweeper owes none of them.
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let swept = sweep::run(&svc, domain::time_fmt::now() + Duration::minutes(3)).await.unwrap();
    assert_eq!(swept.events_sent, 0);
    assert!(events(&host).await.is_empty());
}

/// The events queue refuses the first send of each `started`, `completed` and `preview_ready`
/// event, as a queue outage just after the step's change would: the step fails, after its change.
struct LosesFirst {
    svc: Services,
    refused: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl WorkQueue for LosesFirst {
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> domain::error::Result<()> {
        for body in bodies.iter().filter(|_| queue == Queue::Events) {
            let event: Value = serde_json::from_str(body).unwrap();
            let first = self.refused.lock().unwrap().insert(event["id"].as_str().unwrap().to_string());
            if first && matches!(event["type"].as_str(), Some("started" | "completed" | "preview_ready")) {
                return Err(domain::error::Error::aws("sqs", "injected: the events queue is unavailable"));
            }
        }
        self.svc.queue.send(queue, tenant_id, bodies).await
    }

    async fn send_after(
        &self,
        queue: Queue,
        tenant_id: &str,
        body: String,
        delay_secs: u32,
    ) -> domain::error::Result<()> {
        self.svc.queue.send_after(queue, tenant_id, body, delay_secs).await
    }
}

/// Every message until the queues are empty; one that fails comes again, as SQS redelivers it.
/// How many failed.
async fn drive(host: &local::LocalHost, svc: &Services) -> usize {
    let mut failed = 0;
    loop {
        let transforms = receive_all(host, &host.settings.transform_queue_url).await;
        let processes = receive_all(host, &host.settings.process_queue_url).await;
        if transforms.is_empty() && processes.is_empty() {
            return failed;
        }
        for body in &transforms {
            if transform::run(svc, body).await.is_err() {
                failed += 1;
                transform::run(svc, body).await.unwrap();
            }
        }
        for body in &processes {
            process::run(svc, body).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_step_failed_to_publish_are_sent_late_once() {
    let host = host(|o| {
        o.workers = 0;
        o.chunk_rows = Some(2);
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let lossy = Services { queue: Arc::new(LosesFirst { svc: svc.clone(), refused: Mutex::default() }), ..svc.clone() };
    let client = host.client("acme");
    let file = "email\nann@example.com\nbob@example.com\ncy@example.com\n";
    let upload = |id: &str| domain::import::upload_key("acme", id);

    // A run whose start and completion are not published by their steps.
    let plain = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let plain_id = plain["id"].as_str().unwrap();
    client.upload(&plain, file.into()).await.unwrap();
    prevalidate::run(&lossy, &upload(plain_id)).await.unwrap();
    assert_eq!(drive(&host, &lossy).await, 2, "the step that started the run and the one that completed it failed");
    let (_, import) = client.get(&format!("/v1/imports/{plain_id}")).await.unwrap();
    assert_eq!((import["status"].as_str(), import["stats"]["created"].as_u64()), (Some("completed"), Some(3)));

    // A preview whose `preview_ready` is lost: the import waits for its user.
    let preview = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let preview_id = preview["id"].as_str().unwrap();
    client.upload(&preview, file.replace("example.com", "example.org").into()).await.unwrap();
    assert!(prevalidate::run(&lossy, &upload(preview_id)).await.is_err(), "its publish was refused");
    prevalidate::run(&lossy, &upload(preview_id)).await.unwrap();
    let early = events(&host).await;
    assert_eq!(kinds(&early[plain_id]), ["created"], "the redelivered steps found their changes made");
    assert_eq!(kinds(&early[preview_id]), ["created"]);

    // The sweeper: not while a step may still be publishing; then once, as the import is now.
    let now = domain::time_fmt::now();
    assert_eq!(sweep::run(&svc, now + Duration::seconds(30)).await.unwrap().events_sent, 0);
    assert!(events(&host).await.is_empty());
    assert_eq!(sweep::run(&svc, now + Duration::minutes(3)).await.unwrap().events_sent, 3);
    let late = events(&host).await;
    let ids = |id: &str| late[id].iter().map(|e| e["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (plain_short, preview_short) = (plain_id.trim_start_matches("imp_"), preview_id.trim_start_matches("imp_"));
    assert_eq!(ids(plain_id), [format!("evt_{plain_short}_started_0"), format!("evt_{plain_short}_completed_0")]);
    assert_eq!(ids(preview_id), [format!("evt_{preview_short}_preview_ready_0")]);
    let completed = &late[plain_id][1];
    assert_eq!((completed["status"].as_str(), completed["stats"]["created"].as_u64()), (Some("completed"), Some(3)));
    assert_eq!(late[preview_id][0]["stats"]["rows"], 3);
    assert_eq!(sweep::run(&svc, now + Duration::minutes(6)).await.unwrap().events_sent, 0);
    assert!(events(&host).await.is_empty());

    // Started for real: its run is 1, and its events are told apart from run 0's.
    let path = format!("/v1/imports/{preview_id}");
    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"in_preview": false}))).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(drive(&host, &svc).await, 0);
    let run1: Vec<String> = events(&host).await[preview_id].iter().map(|e| e["id"].as_str().unwrap().into()).collect();
    assert_eq!(run1, [format!("evt_{preview_short}_started_1"), format!("evt_{preview_short}_completed_1")]);
}

/// Hands each transform message to the transform before `send` returns: the chunks are handled
/// before prevalidation has sent them all, as a fast queue can do.
struct Eager(Services);

#[async_trait]
impl WorkQueue for Eager {
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> domain::error::Result<()> {
        if queue != Queue::Transform {
            return self.0.queue.send(queue, tenant_id, bodies).await;
        }
        for body in bodies {
            transform::run(&self.0, &body).await?;
        }
        Ok(())
    }

    async fn send_after(
        &self,
        queue: Queue,
        tenant_id: &str,
        body: String,
        delay_secs: u32,
    ) -> domain::error::Result<()> {
        self.0.queue.send_after(queue, tenant_id, body, delay_secs).await
    }
}

async fn drain_process(host: &local::LocalHost, svc: &Services) {
    for body in receive_all(host, &host.settings.process_queue_url).await {
        process::run(svc, &body).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_handled_while_the_plan_is_being_sent_start_and_complete_the_import() {
    let host = host(|o| {
        o.workers = 0;
        o.chunk_rows = Some(2);
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let eager = Services { queue: Arc::new(Eager(svc.clone())), ..svc.clone() };
    let client = host.client("acme");
    let file = "email\nann@example.com\nbob@example.com\ncy@example.com\n";

    // A first run, from the upload.
    let first = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let first_id = first["id"].as_str().unwrap();
    client.upload(&first, file.into()).await.unwrap();
    prevalidate::run(&eager, &domain::import::upload_key("acme", first_id)).await.unwrap();
    drain_process(&host, &eager).await;

    // A later run, planned after a preview.
    let preview = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let preview_id = preview["id"].as_str().unwrap();
    client.upload(&preview, file.replace("example.com", "example.org").into()).await.unwrap();
    prevalidate::run(&svc, &domain::import::upload_key("acme", preview_id)).await.unwrap();
    let path = format!("/v1/imports/{preview_id}");
    let (status, answer) =
        client.call(reqwest::Method::PATCH, &path, Some(&json!({"in_preview": false}))).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    for body in receive_all(&host, &host.settings.transform_queue_url).await {
        transform::run(&eager, &body).await.unwrap();
    }
    drain_process(&host, &eager).await;

    let all = events(&host).await;
    for (id, before) in [(first_id, vec![]), (preview_id, vec!["preview_ready"])] {
        let (_, import) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
        assert_eq!(
            (import["status"].as_str(), import["stats"]["created"].as_u64()),
            (Some("completed"), Some(3)),
            "{import}"
        );
        let expected: Vec<&str> = ["created"].into_iter().chain(before).chain(["started", "completed"]).collect();
        assert_eq!(kinds(&all[id]), expected, "{id}");
    }
}
