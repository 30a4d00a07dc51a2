//! Signed webhooks (SPEC §5 `webhook_url`, §9): an import's lifecycle events are POSTed to its
//! `webhook_url` with the queue event as the body, signed with the tenant's secret, and retried
//! when the receiver fails. Receivers here listen on loopback; the local host allows `http://`
//! to loopback (`ALLOW_INSECURE_WEBHOOKS`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tests::{host, receive_all, IMPORT_TIMEOUT};

#[derive(Debug, Clone)]
struct Request {
    event_id: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

/// Records every request; answers 500 to the first one, 204 to the others.
#[derive(Default)]
struct Receiver {
    requests: Mutex<Vec<Request>>,
}

async fn hook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut requests = receiver.requests.lock().unwrap();
    requests.push(Request {
        event_id: header("x-event-id"),
        signature: header("x-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    if requests.len() == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A receiver on a free loopback port: its URL and what it records.
async fn receiver() -> (String, Arc<Receiver>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The tenant's secret as the README tells an operator to derive it.
fn tenant_secret(tenant_id: &str) -> String {
    let key = std::env::var("WEBHOOK_SIGNING_KEY")
        .unwrap_or_else(|_| local::provision::LOCAL_WEBHOOK_SIGNING_KEY.to_string());
    hmac_hex(key.as_bytes(), tenant_id.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_receiver_gets_every_event_signed_and_a_failed_one_again() {
    let host = host(|_| {}).await;
    let (url, receiver) = receiver().await;
    let client = host.client("acme");
    let file = "email\nann@example.com\nbob@example.com\n";
    let body = json!({"resource_type": "contact", "webhook_url": url});
    let done = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["webhook_url"], url.as_str());

    // The completed event goes out after the status is stored: wait for it, then for strays.
    let started = Instant::now();
    while receiver.requests.lock().unwrap().len() < 4 {
        assert!(started.elapsed() < IMPORT_TIMEOUT, "{:?}", receiver.requests.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let requests = receiver.requests.lock().unwrap().clone();

    let queued: BTreeMap<String, String> = receive_all(&host, &host.settings.events_queue_url)
        .await
        .into_iter()
        .map(|body| (serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string(), body))
        .collect();
    let secret = tenant_secret("acme");
    let mut kinds = Vec::new();
    for r in &requests {
        let event: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(event["id"], r.event_id.as_str());
        assert_eq!(event["import_id"], done["id"]);
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.signature, format!("sha256={}", hmac_hex(secret.as_bytes(), &r.body)), "{event}");
        assert_ne!(r.signature, format!("sha256={}", hmac_hex(tenant_secret("globex").as_bytes(), &r.body)));
        let on_queue = queued.get(&r.event_id).unwrap_or_else(|| panic!("{event} not on the queue"));
        assert_eq!(on_queue.as_bytes(), r.body, "the webhook body is the queue event");
        kinds.push(event["type"].as_str().unwrap().to_string());
    }
    // The first delivery got a 500 and was sent again, as it was.
    assert_eq!(kinds, ["created", "created", "started", "completed"], "{requests:?}");
    assert_eq!((&requests[0].event_id, &requests[0].body), (&requests[1].event_id, &requests[1].body));
    assert_eq!(queued.len(), 3, "{queued:?}");
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
    for url in ["http://example.com/x", "ftp://example.com/x", "not a url", "https://"] {
        assert_eq!(refused_fields(&client, url).await, ["webhook_url"], "{url}");
    }

    let strict = tests::host(|o| o.allow_insecure_webhooks = Some(false)).await;
    let client = strict.client("acme");
    for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"] {
        assert_eq!(refused_fields(&client, url).await, ["webhook_url"], "{url}");
    }
    let (status, listing) = client.get("/v1/imports").await.unwrap();
    assert_eq!((status, listing["data"].as_array().map(Vec::len)), (200, Some(0)), "nothing was created");
}
