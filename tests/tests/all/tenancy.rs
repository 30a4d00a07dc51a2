//! A tenant never sees another's imports or records; no token or a bad one is a 401.

use serde_json::json;
use tests::{all_records, host, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_import_and_records_answer_404() {
    let host = host(|_| {}).await;
    let acme = host.client("acme");
    let globex = host.client("globex");
    let file = "email,first_name\nann@acme.example,Ann\n";
    let import = acme.import_file(&json!({"resource_type": "contact"}), file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let id = import["id"].as_str().unwrap();

    let (status, _) = acme.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(status, 200);
    let (status, body) = globex.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, _) = globex.get("/v1/records/contact/ann@acme.example").await.unwrap();
    assert_eq!(status, 404);
    let (_, list) = globex.get("/v1/imports").await.unwrap();
    assert_eq!(list["data"], json!([]));
    assert!(all_records(&globex, "contact").await.is_empty());
    assert_eq!(all_records(&acme, "contact").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_a_bad_signature_answers_401() {
    let host = host(|_| {}).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/imports", host.api_url);

    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let forged = local::jwt::mint("not-the-secret", "acme", 60);
    let bad = http.get(&url).bearer_auth(forged).send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let post = http.post(&url).bearer_auth("garbage").json(&json!({"resource_type": "contact"})).send().await.unwrap();
    assert_eq!(post.status(), 401);
    let good = http.get(&url).bearer_auth(host.token("acme")).send().await.unwrap();
    assert_eq!(good.status(), 200);
}

/// Tenant ids end up in S3 keys and paths: `.` and `..` are refused wherever claims are read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_dot_dot_tenants_answer_401() {
    let host = host(|_| {}).await;
    for tenant in [".", ".."] {
        let client = host.client(tenant);
        let (status, body) = client.get("/v1/imports").await.unwrap();
        assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")), "{tenant}: {body}");
        let (status, body) = client
            .call(reqwest::Method::POST, "/v1/imports", Some(&json!({"resource_type": "contact"})))
            .await
            .unwrap();
        assert_eq!(status, 401, "{tenant}: {body}");
    }
    let (status, _) = host.client("a.b").get("/v1/imports").await.unwrap();
    assert_eq!(status, 200, "a dot inside an id is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_host_refuses_an_empty_jwt_secret() {
    let mut options = local::Options::new("empty-secret", "127.0.0.1:0".parse().unwrap());
    options.jwt_secret = String::new();
    let refused = local::LocalHost::start(options).await.err().expect("an empty secret is refused");
    assert!(refused.to_string().contains("LOCAL_JWT_SECRET"), "{refused}");
}
