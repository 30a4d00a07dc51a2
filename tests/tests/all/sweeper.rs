//! The sweeper: uploads that never arrive expire, imports that make no progress for
//! `max_idle` time out, and neither touches an import that is on time, previewed or final. A
//! round reads only the imports due. Rounds are run with a chosen "now" instead of waiting.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use local::proxy::{Counts, Faults, Proxy};
use local::LocalHost;
use serde_json::{json, Value};
use service::pipeline::{prevalidate, process, sweep, transform};
use tests::{backdate, host, IMPORT_TIMEOUT};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_uploads_expire_and_slow_imports_time_out() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let now = domain::time_fmt::now();

    let waiting = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let running = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let running_id = running["id"].as_str().unwrap();
    client.upload(&running, b"email\na@example.com\n".to_vec()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", running_id)).await.unwrap();
    let status = |id: String| {
        let client = client.clone();
        async move { client.get(&format!("/v1/imports/{id}")).await.unwrap().1 }
    };
    assert_eq!(status(running_id.to_string()).await["status"], "queued");

    // On time: nothing changes.
    let swept = sweep::run(&svc, now + Duration::minutes(1)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (0, 0));

    // Past the upload URL's 15 minutes, not yet idle for max_idle's 30.
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
        service::pipeline::transform::run(&svc, m.body().unwrap()).await.unwrap();
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
    let swept = sweep::run(&svc, domain::time_fmt::now() + Duration::days(2)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out), (0, 0));
    let (_, after) = client.get(&format!("/v1/imports/{}", done["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(after["status"], "completed");
}

/// Issue 16: a round reads the imports due, from their index, not the table. With 5,000
/// finished imports stored (due only at their `expires_at`, days away) it asks DynamoDB exactly
/// what it asks with none, and reads as many items: those of the two imports due. The scan it replaced
/// read every item of the table, ledger included, and held every recent import in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_reads_only_what_is_due_however_many_imports_are_finished() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, Faults::default()).await.expect("proxy starts");
    let mut rounds = Vec::new();
    for finished in [0, 5_000] {
        let host = host(|o| o.aws_endpoint = Some(proxy.url.clone())).await;
        let svc = host.clients.services(host.settings.clone()).expect("services");
        let client = host.client("acme");
        let now = domain::time_fmt::now();
        client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
        let body = json!({"resource_type": "contact"});
        let done = client.import_file(&body, b"email\na@example.com\n".to_vec(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(done["status"], "completed", "{done}");
        store_finished_copies(&host, &done, finished).await;
        // The pipeline's last messages are in: the round alone is counted.
        proxy.settled().await;
        proxy.reset();
        // The upload URL lapsed; the completed import is due once, for the events it may owe.
        let swept = sweep::run(&svc, now + Duration::minutes(16)).await.unwrap();
        assert_eq!((swept.expired, swept.timed_out, swept.deleted, swept.events_sent), (1, 0, 0, 0));
        rounds.push(proxy.counts());
    }
    let dynamo = |c: &Counts| {
        c.by_operation.iter().filter(|(op, _)| op.starts_with("dynamodb:")).map(|(op, n)| (op.clone(), *n)).collect()
    };
    let (none, many): (Vec<_>, Vec<_>) = (dynamo(&rounds[0]), dynamo(&rounds[1]));
    assert_eq!(none, many, "the same requests with 5,000 finished imports as with none");
    assert_eq!(rounds[0].items_read, rounds[1].items_read, "{:?}", rounds[1]);
    // The two items, the completed one's counter shard, the 32 shards closed by the expiry, and
    // the marks of the events the two published.
    assert!(rounds[1].items_read < 50, "the imports due and their counters, no more: {:?}", rounds[1]);
    assert!(!rounds[1].by_operation.contains_key("dynamodb:Scan"), "{:?}", rounds[1]);
}

/// Stores `count` copies of a finished import's item under new ids (BatchWriteItem, 25 a call),
/// as the sweeper leaves finished imports once their events are settled: due at `expires_at`.
async fn store_finished_copies(host: &LocalHost, import: &Value, count: usize) {
    let (dynamo, table) = (&host.clients.dynamo, &host.settings.imports_table);
    let s = |v: &str| AttributeValue::S(v.to_string());
    let out = dynamo
        .get_item()
        .table_name(table)
        .key("pk", s(import["tenant_id"].as_str().unwrap()))
        .key("sk", s(import["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let item = out.item.expect("the import's item");
    let expires = OffsetDateTime::parse(import["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let copies: Vec<WriteRequest> = (0..count)
        .map(|_| {
            let id = domain::import::new_import_id();
            let mut copy = item.clone();
            copy.insert("sk".into(), s(&id));
            copy.insert("id".into(), s(&id));
            copy.insert("sweep_at".into(), AttributeValue::N(expires.unix_timestamp().to_string()));
            WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(copy)).build().unwrap()).build()
        })
        .collect();
    for batch in copies.chunks(25) {
        let out = dynamo.batch_write_item().request_items(table.as_str(), batch.to_vec()).send().await.unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()), "every copy written");
    }
}

/// `timed_out` means no counted unit for `max_idle` (30 minutes), never age. A run
/// that began two hours ago (past the old one-hour `max_duration`) and counts a chunk goes on; a
/// batch counted after the last chunk goes on too (batches count into the run's shards, not the
/// item); then 30 minutes without either time it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_time_out_for_lack_of_progress_not_for_their_age() {
    let host = host(|o| {
        o.workers = 0;
        o.chunk_rows = Some(2);
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    let file = "email\na@example.com\nb@example.com\nc@example.com\nd@example.com\n";
    client.upload(&import, file.into()).await.unwrap();
    prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();
    let chunks = receive(&host, &host.settings.transform_queue_url, 2).await;
    let api = &client;
    let status = || async move { api.get(&format!("/v1/imports/{id}")).await.unwrap().1 };
    // As if time had passed; `sweep_at` in the past makes it due.
    let set = |expression: &'static str, at: OffsetDateTime| backdate(&host, "acme", id, expression, at);

    // A chunk counted now, in a run that began two hours ago.
    transform::run(&svc, &chunks[0]).await.unwrap();
    let now = domain::time_fmt::now();
    set("SET started_at = :t, sweep_at = :due", now - Duration::hours(2)).await;
    let swept = sweep::run(&svc, now + Duration::minutes(10)).await.unwrap();
    assert_eq!(swept.timed_out, 0);
    assert_eq!(status().await["status"], "processing");

    // Its batch counted now, the item last changed 40 minutes ago.
    for batch in receive(&host, &host.settings.process_queue_url, 1).await {
        process::run(&svc, &batch).await.unwrap();
    }
    let now = domain::time_fmt::now();
    set("SET updated_at = :t, sweep_at = :due", now - Duration::minutes(40)).await;
    let swept = sweep::run(&svc, now + Duration::minutes(10)).await.unwrap();
    assert_eq!(swept.timed_out, 0);
    let running = status().await;
    assert_eq!((running["status"].as_str(), running["stats"]["processed"].as_u64()), (Some("processing"), Some(2)));

    // Then nothing for max_idle: the second chunk never came.
    let swept = sweep::run(&svc, now + Duration::minutes(31)).await.unwrap();
    assert_eq!(swept.timed_out, 1);
    let timed_out = status().await;
    assert_eq!(timed_out["status"], "timed_out", "{timed_out}");
    assert_eq!(timed_out["reason"], "no progress for max_idle");
}

/// Bodies of `count` messages received from a queue (waiting for them as long as they take).
async fn receive(host: &LocalHost, queue_url: &str, count: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    while bodies.len() < count {
        let out = host.clients.sqs.receive_message().queue_url(queue_url).wait_time_seconds(1).send().await.unwrap();
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_string)));
    }
    bodies
}
