//! Dead letters end imports: a work message that fails on every delivery, or an upload event
//! prevalidate keeps failing on, ends its import `failed` with reason `internal_error` and the
//! step within a minute (the local queues dead-letter after 3 deliveries, 5 s apart), publishes
//! `failed`, and leaves the body in the bucket for the operator; the reason names the kind of
//! error its last delivery recorded. A revert unit's letter ends the revert `failed` instead,
//! and asking again resumes it. A late or unreadable letter is kept and changes nothing.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use local::LocalHost;
use serde_json::{json, Value};
use service::pipeline::dead_letters::{error_key, PREFIX};
use tests::{all_records, fields_only, host, objects, receive_all, revert, revert_ends, IMPORT_TIMEOUT};

/// The product's promise (a minute), with slack for a loaded machine.
const PROMISE: Duration = Duration::from_secs(90);

async fn send(host: &LocalHost, queue_url: &str, body: &str) {
    host.clients.sqs.send_message().queue_url(queue_url).message_body(body).send().await.expect("send");
}

/// The import's `failed` events on the events queue.
/// The import's `failed` events on the events queue, once `at_least` of them are there (or
/// PROMISE passed), and then what one more pass over the queue adds: the step marks the import
/// failed before it publishes, so a test that saw the status may look before the event is sent.
async fn failed_events(host: &LocalHost, id: &str, at_least: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    let mut events = Vec::new();
    loop {
        let bodies = receive_all(host, &host.settings.events_queue_url).await;
        let arrived = bodies.iter().map(|b| serde_json::from_str::<Value>(b).unwrap());
        let had = events.len();
        events.extend(arrived.filter(|e| e["import_id"] == id && e["type"] == "failed"));
        if events.len() == had && (events.len() >= at_least || started.elapsed() > PROMISE) {
            return events;
        }
    }
}

/// The bodies kept for the dead-letter queue named `queue`, waiting for `count` of them.
async fn kept(host: &LocalHost, queue: &str, count: usize) -> Vec<String> {
    let prefix = format!("{PREFIX}{queue}/");
    let started = std::time::Instant::now();
    loop {
        let keys = objects(host, &prefix).await;
        if keys.len() >= count {
            let svc = host.clients.services(host.settings.clone()).expect("services");
            let mut bodies = Vec::new();
            for key in keys {
                bodies.push(String::from_utf8(svc.files.read(&key).await.unwrap()).unwrap());
            }
            return bodies;
        }
        assert!(started.elapsed() < PROMISE, "{count} letters kept under {prefix}: {keys:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The last segment of a queue URL: the queue's name, which the letters are kept by.
fn name(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

/// Until nothing is left on the queue, visible or in flight.
async fn drained(host: &LocalHost, queue_url: &str) {
    let started = std::time::Instant::now();
    loop {
        let out = host
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let left: u64 = out.attributes().unwrap().values().map(|v| v.parse::<u64>().unwrap()).sum();
        if left == 0 {
            return;
        }
        assert!(started.elapsed() < PROMISE, "{left} messages left on {queue_url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_fails_on_every_delivery_fails_its_import() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    // A chunk of an upload that is not there: no delivery can read it.
    let chunk = json!({
        "kind": "chunk", "tenant_id": "acme", "import_id": id, "run": 0,
        "chunk": {"index": 0, "start": 6, "end": 40, "first_row": 1, "rows": 2, "skip_rows": []},
        "source": {"key": domain::import::upload_key("acme", id), "etag": null, "encoding": "utf-8", "delimiter": ","},
    })
    .to_string();
    send(&host, &host.settings.transform_queue_url, &chunk).await;

    let failed = client.wait_final(id, PROMISE).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    // Reading the missing upload failed: a storage error, recorded by the last delivery under the
    // message id the dead letter still has.
    assert_eq!(failed["reason"], "internal_error: transform failed (storage)", "{failed}");
    let events = failed_events(&host, id, 1).await;
    assert_eq!(events.len(), 1, "one failed event: {events:?}");
    assert_eq!(events[0]["reason"], failed["reason"]);
    let dlq = format!("{}-dlq", host.settings.transform_queue_url);
    assert_eq!(kept(&host, &name(&dlq), 1).await, [chunk]);
    let letter = objects(&host, &format!("{PREFIX}{}/", name(&dlq))).await;
    let message_id = letter[0].rsplit('/').next().unwrap();
    assert_eq!(objects(&host, &error_key(message_id)).await, [error_key(message_id)]);
    drained(&host, &dlq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_event_prevalidate_keeps_failing_on_fails_its_import() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    // The event of an object deleted before prevalidate read it: every attempt finds no object.
    let key = domain::import::upload_key("acme", id);
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-02T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "x",
            "bucket": {"name": host.settings.uploads_bucket, "arn": "arn:aws:s3:::b"},
            "object": {"key": key.replace('/', "%2F"), "size": 20, "eTag": "0c"}},
    }]})
    .to_string();
    // The stack's queues share its prefix: the upload events' is named like the others.
    let prefix = host.settings.transform_queue_url.strip_suffix("-transform").unwrap();
    let upload_events = format!("{prefix}-upload-events");
    send(&host, &upload_events, &event).await;

    let failed = client.wait_final(id, PROMISE).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["reason"], "internal_error: prevalidate failed (every delivery failed)", "{failed}");
    assert_eq!(failed_events(&host, id, 1).await.len(), 1);
    assert_eq!(kept(&host, &name(&format!("{upload_events}-dlq")), 1).await, [event]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_unreadable_letters_are_kept_and_change_nothing() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let file = b"email\nann@example.com\n".to_vec();
    let done = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let id = done["id"].as_str().unwrap();
    receive_all(&host, &host.settings.events_queue_url).await;

    // A batch of the finished run dead-lettered late, and bodies that name no import.
    let late = json!({"kind": "write_batch", "tenant_id": "acme", "import_id": id, "resource_type": "contact",
        "chunk": 0, "batch": 0, "records": [], "run": 0, "dry_run": false})
    .to_string();
    let process_dlq = format!("{}-dlq", host.settings.process_queue_url);
    send(&host, &process_dlq, &late).await;
    let webhooks_dlq = format!("{}-dlq", host.settings.webhooks_queue_url);
    send(&host, &webhooks_dlq, "not json").await;
    send(&host, &webhooks_dlq, r#"{"tenant_id": "acme"}"#).await;

    assert_eq!(kept(&host, &name(&process_dlq), 1).await, [late]);
    let mut garbage = kept(&host, &name(&webhooks_dlq), 2).await;
    garbage.sort();
    assert_eq!(garbage, ["not json", r#"{"tenant_id": "acme"}"#]);
    // Handled once each, not looped: the queues empty.
    drained(&host, &process_dlq).await;
    drained(&host, &webhooks_dlq).await;
    let (_, after) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!((&after["status"], &after["reason"]), (&json!("completed"), &Value::Null), "{after}");
    assert!(failed_events(&host, id, 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_unit_that_fails_on_every_delivery_fails_the_revert_and_asking_again_resumes_it() {
    // Two rows a chunk: two units of work, so two revert units.
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let body = json!({"resource_type": "contact"});
    let seed = "email,city\nann@example.com,Berlin\nbob@example.com,Paris\ncy@example.com,Rome\n";
    client.import_file(&body, seed.into(), IMPORT_TIMEOUT).await.unwrap();
    let before: Vec<Value> = all_records(&client, "contact").await.iter().map(fields_only).collect();
    let file = "email,city\nann@example.com,Oslo\nbob@example.com,Lima\ncy@example.com,Milan\ndee@example.com,Nice\n";
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    let id = import["id"].as_str().unwrap();
    receive_all(&host, &host.settings.events_queue_url).await;

    // One unit's before-images are gone: every delivery of that unit fails to read them.
    let images = objects(&host, &format!("{}before/", domain::error_files::prefix("acme", id))).await;
    assert_eq!(images.len(), 2, "{images:?}");
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let kept_images = svc.files.read(&images[0]).await.unwrap();
    let s3 = &host.clients.s3;
    s3.delete_object().bucket(&host.settings.uploads_bucket).key(&images[0]).send().await.expect("delete");

    let failed = revert_ends(&client, id, "failed", PROMISE).await;
    let r = &failed["revert"];
    assert_eq!(r["reason"], "internal_error: revert failed (storage)", "{failed}");
    assert_eq!([&r["units_total"], &r["units_done"]], [2, 1], "the other unit applied: {failed}");
    assert_eq!((&failed["status"], &failed["reason"]), (&json!("completed"), &Value::Null), "{failed}");
    let (_, import) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(import["revert"]["status"], "failed", "it stays failed: {import}");

    // Back in place, the revert is asked again: only the unit left applies.
    svc.files.put(&images[0], kept_images).await.unwrap();
    let reverted = revert(&client, id).await;
    let r = &reverted["revert"];
    assert_eq!((&r["units_total"], &r["units_done"], &r["reason"]), (&json!(2), &json!(2), &Value::Null), "{reverted}");
    assert_eq!([&r["deleted"], &r["restored"], &r["conflicts"]], [1, 3, 0], "{reverted}");
    let now: Vec<Value> = all_records(&client, "contact").await.iter().map(fields_only).collect();
    assert_eq!(now, before, "the records are as before the import");
    let events = receive_all(&host, &host.settings.events_queue_url).await;
    let events: Vec<Value> = events.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    let types: Vec<&str> = events.iter().filter(|e| e["import_id"] == id).filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["reverted"], "no event for the failed revert, one when it is reverted");
}
