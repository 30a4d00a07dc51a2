//! Issue 5: an import's state (its item and counter shards) takes one write per message
//! consumed, so the hot item never takes more writes than the queues deliver. Beyond that a run
//! makes three: the create request, and two messages write twice (the upload event stores the
//! plan, then marks it sent; the run's first chunk starts the run, then counts itself). Steps
//! that end together may each send a finish message; each of those writes at most once (a
//! late one finds the import completed and writes nothing).

use local::proxy::{Faults, Proxy};
use serde_json::json;
use tests::{contacts_csv, host, stat, IMPORT_TIMEOUT};

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
    proxy.reset();
    let file = contacts_csv(1_000, &[]);
    let import = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(stat(&import, "created"), 1_000);

    let counts = proxy.settled().await;
    // The upload event, ten chunks, a batch or more each, and the finish.
    assert!(counts.messages_consumed >= 22, "{counts:?}");
    assert!(
        counts.state_writes <= counts.messages_consumed + 3,
        "{} import-state writes for {} messages",
        counts.state_writes,
        counts.messages_consumed
    );
}
