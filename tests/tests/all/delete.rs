//! `DELETE /v1/imports/{id}`: an import that is not running goes, with its files and
//! its ledger; a running one is a 409 until it is interrupted.

use serde_json::json;
use tests::{download, host, ledger_items, objects, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_import_is_deleted_with_its_files() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let file = "email\nann@example.com\nbad\ncy@example.com\n";
    let import = client.import_file(&json!({"resource_type": "contact"}), file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [2, 1], "{import}");
    let id = import["id"].as_str().unwrap();
    let source = import["links"]["source"].clone();
    assert_eq!(download(&source).await, file.as_bytes());

    let path = format!("/v1/imports/{id}");
    let (status, body) = client.call(reqwest::Method::DELETE, &path, None).await.unwrap();
    assert_eq!((status, body), (204, serde_json::Value::Null));
    assert_eq!(client.get(&path).await.unwrap().0, 404);
    // S3 answers a signed GET of a missing key 403 when the signer may not list the bucket (and
    // the emulator does for a link with response-* overrides), 404 otherwise.
    let gone = reqwest::get(source.as_str().unwrap()).await.unwrap().status().as_u16();
    assert!(matches!(gone, 403 | 404), "the upload is gone: {gone}");
    assert_eq!(objects(&host, &format!("uploads/acme/{id}/")).await, Vec::<String>::new());
    assert_eq!(objects(&host, &format!("results/acme/{id}/")).await, Vec::<String>::new(), "errors, results and parts");
    assert_eq!(ledger_items(&host, "acme", id).await, 0, "the ledger is gone");
    assert_eq!(client.get("/v1/records/contact/ann@example.com").await.unwrap().0, 200, "records stay");
    assert_eq!(client.call(reqwest::Method::DELETE, &path, None).await.unwrap().0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_import_is_refused_until_interrupted() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, b"email\na@example.com\n".to_vec()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();
    let path = format!("/v1/imports/{id}");
    let (status, answer) = client.call(reqwest::Method::DELETE, &path, None).await.unwrap();
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("interrupt"), "{answer}");
    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(client.call(reqwest::Method::DELETE, &path, None).await.unwrap().0, 204);
    // Another tenant cannot delete it, nor tell that it exists.
    let other = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let other_path = format!("/v1/imports/{}", other["id"].as_str().unwrap());
    assert_eq!(host.client("globex").call(reqwest::Method::DELETE, &other_path, None).await.unwrap().0, 404);
}
