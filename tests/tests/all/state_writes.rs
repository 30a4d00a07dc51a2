//! Issue 5: an import's state (its item and counter shards) takes at most one write for each
//! message consumed, each message, so the hot item never takes more writes than the queues
//! deliver. The upload event stores the plan (queued), each chunk its counts (the first one
//! counted also starts the run), each batch its shard, and the finish completes the run. Steps
//! that end together may each send a finish message; a late one finds the import completed and
//! writes nothing. The events a step publishes are marked in items of their own, beside the
//! state. The local host tags each call with the message it is made for, so the proxy counts
//! each message's writes.

use local::proxy::{Faults, Proxy};
use serde_json::json;
use tests::{contacts_csv, host, stat, IMPORT_TIMEOUT};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_writes_the_import_state_once() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, Faults::default()).await.expect("proxy starts");
    let host = host(|o| {
        o.aws_endpoint = Some(proxy.url.clone());
        // Chunks and batches side by side: each one could start or complete the run.
        o.chunk_rows = Some(100);
    })
    .await;
    let client = host.client("acme");
    let created = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    // The create is a request, not a message: counting starts with the upload.
    proxy.reset();
    client.upload(&created, contacts_csv(1_000, &[])).await.unwrap();
    let import = client.wait_final(created["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(stat(&import, "created"), 1_000);
    let at = |field: &str| {
        let text = import[field].as_str().unwrap_or_else(|| panic!("{field} is set: {import}"));
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    };
    assert!(at("created_at") <= at("started_at") && at("started_at") <= at("completed_at"), "{import}");

    let counts = proxy.settled().await;
    // The upload event, ten chunks, a batch or more each, and the finish.
    assert!(counts.messages_consumed >= 22, "{counts:?}");
    let by_message = &counts.state_writes_by_message;
    assert_eq!(by_message.get(""), None, "every state write was made for a message: {by_message:?}");
    let over: Vec<_> = by_message.iter().filter(|(_, &writes)| writes > 1).collect();
    assert!(over.is_empty(), "messages that wrote the import state more than once: {over:?}");
    // Each write counted is one message's: the chunks' and the finish's at least.
    assert!(by_message.len() as u64 <= counts.messages_consumed, "{counts:?}");
    assert!(by_message.len() >= 12, "{by_message:?}");
    assert_eq!(by_message.values().sum::<u64>(), counts.state_writes);
}
