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

/// Each refusal says in words what is wrong with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_a_bad_one_answers_401_saying_why() {
    let host = host(|_| {}).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/imports", host.api_url);
    let refused = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")), "{body}");
        body["error"]["message"].as_str().unwrap().to_string()
    };

    let none = refused(http.get(&url).send().await.unwrap()).await;
    assert!(none.starts_with("no token: send the header `Authorization: Bearer <token>`"), "{none}");
    let forged = local::jwt::mint("not-the-secret", "acme", 60);
    let bad = refused(http.get(&url).bearer_auth(forged).send().await.unwrap()).await;
    assert!(bad.contains("signature does not match"), "{bad}");
    let post = http.post(&url).bearer_auth("garbage").json(&json!({"resource_type": "contact"}));
    let garbage = refused(post.send().await.unwrap()).await;
    assert!(garbage.contains("malformed"), "{garbage}");
    let now = local::jwt::now();
    let expired = local::jwt::sign(&host.jwt_secret, &json!({"tenant_id": "acme", "exp": now - 600}));
    let expired = refused(http.get(&url).bearer_auth(expired).send().await.unwrap()).await;
    assert!(expired.contains("expired"), "{expired}");
    let anonymous = local::jwt::sign(&host.jwt_secret, &json!({"sub": "someone", "exp": now + 600}));
    let anonymous = refused(http.get(&url).bearer_auth(anonymous).send().await.unwrap()).await;
    assert_eq!(anonymous, "the token has no tenant_id claim");
    for said in [&none, &bad, &garbage, &expired, &anonymous] {
        assert!(!said.contains("Invalid") && !said.contains("Error"), "no Rust names: {said}");
    }
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
