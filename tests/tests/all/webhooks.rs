//! Webhooks: an import's lifecycle events are queued, and the deliver-webhooks
//! function the local host runs POSTs them to its `webhook_url`, signed as Standard Webhooks
//! says, retrying with backoff and then giving up. No request waits for a receiver. Receivers
//! here listen on loopback; the local host allows `http://` to loopback (`ALLOW_INSECURE_WEBHOOKS`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use domain::webhook::RetryPolicy;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tests::{host, receive_all, IMPORT_TIMEOUT};
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone)]
struct Request {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

/// Records every request; answers 500 to the first `failures` deliveries of each event, 204 to
/// the others.
struct Receiver {
    requests: Mutex<Vec<Request>>,
    failures: usize,
}

impl Receiver {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` requests came.
    async fn wait_for(&self, n: usize) -> Vec<Request> {
        let started = Instant::now();
        while self.requests.lock().unwrap().len() < n {
            assert!(started.elapsed() < IMPORT_TIMEOUT, "{n} requests expected: {:?}", self.requests());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.requests()
    }
}

async fn hook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut requests = receiver.requests.lock().unwrap();
    let id = header("webhook-id");
    let before = requests.iter().filter(|r| r.id == id).count();
    requests.push(Request {
        id,
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    if before < receiver.failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A receiver on a free loopback port: its URL and what it records.
async fn receiver(failures: usize) -> (String, Arc<Receiver>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver { requests: Mutex::default(), failures });
    let app = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

/// Retries after a second, not minutes; attempts end after `timeout_secs`.
fn quick(give_up_after_secs: u64, timeout_secs: u64) -> RetryPolicy {
    RetryPolicy { first_secs: 1, max_secs: 1, give_up_after_secs, timeout_secs }
}

/// Standard Webhooks verification, as its specification writes it: the key is the base64 after
/// `whsec_`, decoded; the signed content `{webhook-id}.{webhook-timestamp}.{body}`; the header a
/// space-separated list of `v1,<base64 HMAC-SHA256>`. Which of the header's signatures verify.
fn verifying(secret: &str, r: &Request) -> Vec<bool> {
    let key = BASE64.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = BASE64.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .map(|entry| {
            let (version, signature) = entry.split_once(',').expect("version,signature");
            version == "v1" && signature == expected
        })
        .collect()
}

async fn secret(client: &local::client::Client) -> String {
    let (status, answer) = client.get("/v1/webhooks/secret").await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer["secret"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_gets_every_event_signed_through_a_rotation_and_failed_ones_again() {
    let host = host(|o| o.webhook_retry = Some(quick(60, 10))).await;
    let (url, receiver) = receiver(2).await;
    let client = host.client("acme");
    let a = secret(&client).await;
    assert!(a.starts_with("whsec_"), "{a}");
    assert_eq!(secret(&client).await, a, "the secret stays until rotated");
    assert_ne!(secret(&host.client("globex")).await, a, "each tenant has its own");

    let file = "email\nann@example.com\nbob@example.com\n";
    let body = json!({"resource_type": "contact", "webhook_url": url});
    let done = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["webhook_url"], url.as_str());
    // created, started, completed, each 500, 500, 204: the completed one goes out after the
    // status is stored, and the retries a second or so after their failures.
    let requests = receiver.wait_for(9).await;

    let queued: BTreeMap<String, String> = receive_all(&host, &host.settings.events_queue_url)
        .await
        .into_iter()
        .map(|body| (serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string(), body))
        .collect();
    let mut kinds = Vec::new();
    for r in &requests {
        let event: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(event["id"], r.id.as_str());
        assert_eq!(event["import_id"], done["id"]);
        assert_eq!(r.content_type, "application/json");
        assert!(r.timestamp.parse::<i64>().is_ok(), "{r:?}");
        assert_eq!(verifying(&a, r), [true], "one signature, by the tenant's secret: {r:?}");
        let on_queue = queued.get(&r.id).unwrap_or_else(|| panic!("{event} not on the queue"));
        assert_eq!(on_queue.as_bytes(), r.body, "the webhook body is the queue event");
        kinds.push(event["type"].as_str().unwrap().to_string());
    }
    // Each delivery got two 500s and was sent again each time, as it was.
    kinds.sort();
    assert_eq!(kinds, [["completed"; 3], ["created"; 3], ["started"; 3]].concat(), "{requests:?}");
    for id in queued.keys() {
        let sent: Vec<&Request> = requests.iter().filter(|r| &r.id == id).collect();
        assert!(sent.iter().all(|r| r.body == sent[0].body), "{sent:?}");
    }
    assert_eq!(queued.len(), 3, "{queued:?}");

    // A rotation: the new secret is served, and both sign for the next day.
    let (status, rotated) = client.call(reqwest::Method::POST, "/v1/webhooks/secret/rotate", None).await.unwrap();
    assert_eq!(status, 200, "{rotated}");
    let b = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(b, a);
    assert_eq!(secret(&client).await, b);
    let created = client.create_import(&body).await.unwrap();
    let after = receiver.wait_for(12).await;
    for r in &after[9..] {
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["import_id"], created["id"]);
        assert_eq!(r.signature.split(' ').count(), 2, "{r:?}");
        let (by_a, by_b) = (verifying(&a, r), verifying(&b, r));
        assert_eq!(by_a.iter().filter(|v| **v).count(), 1, "one signature by the old secret: {r:?}");
        assert_eq!(by_b.iter().filter(|v| **v).count(), 1, "one by the new one: {r:?}");
        assert!(by_a.iter().zip(&by_b).all(|(x, y)| x != y), "each signature by one secret: {r:?}");
    }
}

/// A receiver that accepts connections and never answers: how many it accepted, and how many
/// of them the caller gave up on (closed).
#[derive(Default)]
struct Silent {
    accepted: AtomicUsize,
    closed: AtomicUsize,
}

async fn silent() -> (String, Arc<Silent>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let silent = Arc::new(Silent::default());
    let counts = silent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counts.accepted.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                counts.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (url, silent)
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(IMPORT_TIMEOUT, f).await.unwrap_or_else(|_| panic!("{what}: no answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_no_request() {
    // An attempt waits for the receiver far longer than the test runs: whatever the create
    // waited for, it was not an attempt's end.
    let host = host(|o| o.webhook_retry = Some(quick(600, 60))).await;
    let (url, silent) = silent().await;
    let client = host.client("acme");

    let body = json!({"resource_type": "contact", "webhook_url": url});
    let created = within("create", client.create_import(&body)).await.unwrap();
    assert_eq!(created["status"], "awaiting_upload", "{created}");
    assert_eq!(silent.closed.load(Ordering::SeqCst), 0, "the create waited for a delivery to end");

    let sync = json!({
        "resource_type": "contact",
        "mode": "sync",
        "inputs": [{"email": "ann@example.com"}],
        "webhook_url": url,
    });
    let (status, done) =
        within("sync create", client.call(reqwest::Method::POST, "/v1/imports", Some(&sync))).await.unwrap();
    assert_eq!((status, done["status"].as_str()), (201, Some("completed")), "{done}");
    assert_eq!(silent.closed.load(Ordering::SeqCst), 0, "the sync import waited for a delivery to end");

    // Published, and being delivered by the function, not by the requests.
    let events = receive_all(&host, &host.settings.events_queue_url).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "created").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"completed".to_string()), "{kinds:?}");
    let started = Instant::now();
    while silent.accepted.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < IMPORT_TIMEOUT, "no delivery was attempted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn queued_messages(host: &local::LocalHost) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = host
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&host.settings.webhooks_queue_url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().cloned().unwrap_or_default();
    [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible, A::ApproximateNumberOfMessagesDelayed]
        .iter()
        .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_always_fails_is_given_up_per_the_policy() {
    // Waits of 1 s and at most 3 s of them: attempts at 0, 1, 2 and 3 s; a fifth would wait
    // past the limit.
    let host = host(|o| o.webhook_retry = Some(quick(3, 10))).await;
    let (url, receiver) = receiver(usize::MAX).await;
    let client = host.client("acme");
    let created = client.create_import(&json!({"resource_type": "contact", "webhook_url": url})).await.unwrap();
    let requests = receiver.wait_for(4).await;
    // Given up: nothing of the delivery is left on its queue, and no attempt came after.
    let started = Instant::now();
    while queued_messages(&host).await > 0 {
        assert!(started.elapsed() < IMPORT_TIMEOUT, "the delivery was never given up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = receiver.requests();
    assert_eq!(all.len(), 4, "{all:?}");
    for r in &requests {
        assert_eq!(r.id, format!("evt_{}_created_0", created["id"].as_str().unwrap().trim_start_matches("imp_")));
    }
}

async fn refused_fields(client: &local::client::Client, webhook_url: &str) -> Vec<String> {
    let body = json!({"resource_type": "contact", "webhook_url": webhook_url});
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 400, "{webhook_url}: {answer}");
    answer["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_webhook_urls_it_would_not_call() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    for url in [
        "http://example.com/x",
        "ftp://example.com/x",
        "not a url",
        "https://",
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://2852039166/",
        "https://10.0.0.1/",
        "https://[::]/",
        "https://[fd00::1]/",
        "https://100.64.0.1/",
    ] {
        assert_eq!(refused_fields(&client, url).await, ["webhook_url"], "{url}");
    }

    let strict = tests::host(|o| o.allow_insecure_webhooks = Some(false)).await;
    let client = strict.client("acme");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://0x7f.0.0.1/hook",
    ] {
        assert_eq!(refused_fields(&client, url).await, ["webhook_url"], "{url}");
    }
    let (status, listing) = client.get("/v1/imports").await.unwrap();
    assert_eq!((status, listing["data"].as_array().map(Vec::len)), (200, Some(0)), "nothing was created");
}
