//! `Idempotency-Key` on create: the same key and body give the same import, the same
//! key with another body is a 409, and keys belong to their tenant.

use serde_json::{json, Value};
use tests::host;

async fn create(host: &local::LocalHost, tenant: &str, key: &str, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/imports", host.api_url))
        .bearer_auth(host.token(tenant))
        .header("content-type", "application/json")
        .header("Idempotency-Key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_and_body_give_the_same_import() {
    let host = host(|_| {}).await;
    let body = r#"{"resource_type": "contact", "reference": "crm-1"}"#;
    let (status, first) = create(&host, "acme", "order-42", body).await;
    assert_eq!(status, 201, "{first}");
    // The same JSON written another way is the same body.
    let (status, again) = create(&host, "acme", "order-42", r#"{"reference":"crm-1","resource_type":"contact"}"#).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]), "{again}");
    let (status, other) = create(&host, "acme", "order-42", r#"{"resource_type": "group"}"#).await;
    assert_eq!(status, 409, "{other}");
    assert_eq!(other["error"]["code"], "conflict");

    let (status, elsewhere) = create(&host, "globex", "order-42", body).await;
    assert_eq!(status, 201);
    assert_ne!(elsewhere["id"], first["id"], "keys belong to their tenant");
    let (status, fresh) = create(&host, "acme", "order-43", body).await;
    assert_eq!(status, 201);
    assert_ne!(fresh["id"], first["id"]);

    let (status, bad) = create(&host, "acme", &"k".repeat(300), body).await;
    assert_eq!((status, &bad["error"]["details"][0]["field"]), (400, &json!("Idempotency-Key")), "{bad}");
    let (status, _) = create(&host, "acme", "order-44", r#"{"resource_type": "nope"}"#).await;
    assert_eq!(status, 400, "a bad body is a 400 whatever the key");
    let (_, list) = host.client("acme").get("/v1/imports").await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "one import per key: {list}");
}
