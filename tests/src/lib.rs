//! Helpers of the integration tests: a local host of its own per test (a unique prefix keeps
//! stacks apart on one emulator), sample files, and listing helpers.

use std::time::{Duration, Instant};

use local::{LocalHost, Options};
use serde_json::Value;

/// Generous: the emulator is slow on a loaded 2-core machine, and a test waits only on failure.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// A host on a fresh stack; the emulator comes from `AWS_ENDPOINT_URL` (`make test` sets it).
pub async fn host(configure: impl FnOnce(&mut Options)) -> LocalHost {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the integration tests with `make test`"
    );
    for (k, v) in [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")] {
        if std::env::var(k).is_err() {
            // Tests share one process; every thread sets the same values.
            unsafe { std::env::set_var(k, v) };
        }
    }
    lambda_edge::logging::init();
    let prefix = format!("t{}", ulid::Ulid::generate().to_string().to_lowercase());
    let mut options = Options::new(prefix, "127.0.0.1:0".parse().expect("address"));
    options.jwt_secret = "test-secret".into();
    configure(&mut options);
    LocalHost::start(options).await.expect("local host starts")
}

/// The contacts CSV the step unit tests import too.
pub use testkit::contacts_csv;

/// Every record of a type, following the cursors.
pub async fn all_records(client: &local::client::Client, resource: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/records/{resource}?limit=100&cursor={c}"),
            None => format!("/v1/records/{resource}?limit=100"),
        };
        let (status, page) = client.get(&path).await.expect("list records");
        assert_eq!(status, 200, "{page}");
        out.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// The `email` of each contact record, in order.
pub fn emails(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["email"].as_str().unwrap_or_default()).collect()
}

/// A record without what differs between two runs of the same import.
pub fn fields_only(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(m) = r.as_object_mut() {
        for k in ["created_at", "updated_at", "last_import_id"] {
            m.remove(k);
        }
    }
    r
}

pub fn stat(import: &Value, name: &str) -> u64 {
    import["stats"][name].as_u64().unwrap_or_else(|| panic!("stats.{name} missing in {import}"))
}

/// Downloads a signed link of an import.
pub async fn download(url: &Value) -> Vec<u8> {
    let url = url.as_str().unwrap_or_else(|| panic!("no link: {url}"));
    let resp = reqwest::get(url).await.expect("download");
    assert_eq!(resp.status(), 200, "{url}");
    resp.bytes().await.expect("download body").to_vec()
}

/// Polls an import until it reaches `status` (or any final status, which fails the test).
pub async fn wait_for(client: &local::client::Client, id: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (code, import) = client.get(&format!("/v1/imports/{id}")).await.expect("poll");
        assert_eq!(code, 200, "{import}");
        let now = import["status"].as_str().unwrap_or_default();
        if now == status {
            return import;
        }
        let is_final = matches!(now, "completed" | "failed" | "expired" | "timed_out" | "interrupted");
        assert!(!is_final && started.elapsed() < IMPORT_TIMEOUT, "waiting for {status}: {import}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The keys under a prefix of the uploads bucket, listed over the wire.
pub async fn objects(host: &LocalHost, prefix: &str) -> Vec<String> {
    let out = host
        .clients
        .s3
        .list_objects_v2()
        .bucket(&host.settings.uploads_bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list objects");
    out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}

/// How many items an import's ledger (chunk and batch entries, counter shards) still holds.
pub async fn ledger_items(host: &LocalHost, tenant_id: &str, import_id: &str) -> i32 {
    ledger_items_where(host, tenant_id, import_id, None).await
}

/// How many of an import's ledger items pass `filter` (a DynamoDB filter expression).
pub async fn ledger_items_where(host: &LocalHost, tenant_id: &str, import_id: &str, filter: Option<&str>) -> i32 {
    let out = host
        .clients
        .dynamo
        .query()
        .table_name(&host.settings.imports_table)
        .key_condition_expression("pk = :pk")
        .set_filter_expression(filter.map(str::to_string))
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ledger#{tenant_id}#{import_id}")),
        )
        .send()
        .await
        .expect("query the ledger");
    out.count()
}

/// Sets attributes of an import item as if time had passed: in `expression`, `:t` is `at` as the
/// item's RFC 3339 text and `:due` (where it is named) `at` in epoch seconds, as `sweep_at` is.
pub async fn backdate(host: &LocalHost, tenant_id: &str, import_id: &str, expression: &str, at: time::OffsetDateTime) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut update = host
        .clients
        .dynamo
        .update_item()
        .table_name(&host.settings.imports_table)
        .key("pk", AttributeValue::S(tenant_id.into()))
        .key("sk", AttributeValue::S(import_id.into()))
        .update_expression(expression)
        .expression_attribute_values(":t", AttributeValue::S(domain::time_fmt::rfc3339(at)));
    if expression.contains(":due") {
        update = update.expression_attribute_values(":due", AttributeValue::N(at.unix_timestamp().to_string()));
    }
    update.send().await.expect("backdate the import item");
}

/// Asks for the import's revert and waits until it is done.
pub async fn revert(client: &local::client::Client, id: &str) -> Value {
    revert_ends(client, id, "reverted", IMPORT_TIMEOUT).await
}

/// Asks for the revert and polls the import until its revert is `status` (`reverted` or
/// `failed`), failing the test on the other one.
pub async fn revert_ends(client: &local::client::Client, id: &str, status: &str, within: Duration) -> Value {
    let path = format!("/v1/imports/{id}/revert");
    let (code, accepted) = client.call(reqwest::Method::POST, &path, None).await.unwrap();
    assert_eq!(code, 202, "{accepted}");
    assert!(accepted["revert"]["status"].is_string(), "{accepted}");
    let deadline = Instant::now() + within;
    loop {
        let (_, import) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
        let now = import["revert"]["status"].as_str().unwrap_or_default();
        if now == status {
            return import;
        }
        assert!(now == "reverting" && Instant::now() < deadline, "waiting for a revert {status}: {import}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One record, which must exist.
pub async fn record(client: &local::client::Client, resource: &str, id: &str) -> Value {
    let (status, record) = client.get(&format!("/v1/records/{resource}/{id}")).await.expect("get record");
    assert_eq!(status, 200, "{resource}/{id}: {record}");
    record
}

/// Every message on a queue now, deleted as received: for tests that drive or read queues.
pub async fn receive_all(host: &LocalHost, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = host
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            let handle = m.receipt_handle().unwrap_or_default();
            host.clients.sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await.expect("delete");
        }
    }
}

/// Runs what the transform queue holds: chunks, plans, and the messages that complete imports.
pub async fn run_transform_queue(host: &LocalHost, svc: &service::services::Services) {
    for body in receive_all(host, &host.settings.transform_queue_url).await {
        service::pipeline::transform::run(svc, &body).await.expect("transform");
    }
}
