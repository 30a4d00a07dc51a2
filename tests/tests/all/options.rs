//! Create-body options that shape rows: constants, tags, value_mappings,
//! duplicates and max_error_ratio, end to end; and a 400 naming each bad option.

use serde_json::json;
use tests::{all_records, host, receive_all, run_transform_queue, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constants_tags_and_value_mappings_shape_every_record() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let file = "email,Opted In,Tags,Country\nann@example.com,Yes,vip,Deutschland\nbob@example.com,no,,germany\n";
    let body = json!({
        "resource_type": "contact",
        "mappings": {"Opted In": "status"},
        "value_mappings": {"status": {"Yes": "subscribed", "No": "unsubscribed"}, "country": {"Deutschland": "DE"}},
        "constants": {"company": "Acme GmbH", "custom.source": "fair-2026"},
        "tags": ["imported", "vip"],
    });
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(stat(&import, "created"), 2, "{import}");
    assert_eq!(import["constants"]["company"], "Acme GmbH");
    assert_eq!(import["tags"], json!(["imported", "vip"]));
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!(ann["status"], "subscribed");
    assert_eq!(ann["country"], "DE");
    assert_eq!(ann["company"], "Acme GmbH");
    assert_eq!(ann["custom"]["source"], "fair-2026");
    assert_eq!(ann["tags"], json!(["vip", "imported"]));
    let (_, bob) = client.get("/v1/records/contact/bob@example.com").await.unwrap();
    assert_eq!(bob["status"], "unsubscribed", "value mappings ignore case when no exact key matches");
    assert_eq!(bob["tags"], json!(["imported", "vip"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_first_and_error() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let file = "email,first_name\na@example.com,One\nb@example.com,Bee\nA@example.com,Two\na@example.com,Three\n";

    let first = client
        .import_file(&json!({"resource_type": "contact", "duplicates": "first"}), file.into(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!([stat(&first, "created"), stat(&first, "duplicates"), stat(&first, "warnings")], [2, 2, 2], "{first}");
    assert_eq!(stat(&first, "processed"), 4);
    let (_, a) = client.get("/v1/records/contact/a@example.com").await.unwrap();
    assert_eq!(a["first_name"], "One");

    let other = host.client("globex");
    let error = other
        .import_file(&json!({"resource_type": "contact", "duplicates": "error"}), file.into(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!([stat(&error, "created"), stat(&error, "errors"), stat(&error, "duplicates")], [1, 3, 3], "{error}");
    assert_eq!(stat(&error, "processed"), 4);
    assert_eq!(all_records(&other, "contact").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_error_ratio_and_max_errors_stop_the_import() {
    // The queues are driven by hand, a chunk at a time, so when the import fails is certain.
    let host = host(|o| (o.chunk_rows, o.workers) = (Some(10), 0)).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let (host, svc, client) = (&host, &svc, &client);
    let run = |body: serde_json::Value, file: Vec<u8>| async move {
        let created = client.create_import(&body).await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        client.upload(&created, file).await.unwrap();
        service::pipeline::prevalidate::run(svc, &domain::import::upload_key("acme", &id)).await.unwrap();
        run_transform_queue(host, svc).await;
        for batch in receive_all(host, &host.settings.process_queue_url).await {
            service::pipeline::process::run(svc, &batch).await.unwrap();
        }
        // The finish message, when the import got that far.
        run_transform_queue(host, svc).await;
        client.get(&format!("/v1/imports/{id}")).await.unwrap().1
    };
    let mut file = String::from("email\n");
    for i in 0..100 {
        file.push_str(&if i % 2 == 0 { format!("p{i}@example.com\n") } else { format!("bad-{i}\n") });
    }
    let import = run(json!({"resource_type": "contact", "max_error_ratio": 0.2}), file.clone().into_bytes()).await;
    assert_eq!(import["status"], "failed", "{import}");
    assert_eq!(import["reason"], "too_many_errors");
    // The first chunk (half errors) fails it; the nine after it are dropped.
    assert_eq!(stat(&import, "errors"), 5, "later chunks are dropped: {import}");

    // A count: 5 errors a chunk pass 12 in the third chunk, which fails it.
    let import = run(json!({"resource_type": "contact", "max_errors": 12}), file.clone().into_bytes()).await;
    assert_eq!((&import["status"], &import["reason"]), (&json!("failed"), &json!("too_many_errors")), "{import}");
    assert_eq!((stat(&import, "errors"), &import["max_errors"]), (15, &json!(12)), "{import}");
    // 50 errors in all are not more than 50.
    let import = run(json!({"resource_type": "contact", "max_errors": 50}), file.into_bytes()).await;
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!((stat(&import, "errors"), stat(&import, "created")), (50, 50), "{import}");

    let lenient = json!({"resource_type": "contact", "max_error_ratio": 0.6});
    let import = run(lenient, b"email\na@example.com\nbad\n".to_vec()).await;
    assert_eq!(import["status"], "completed", "{import}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_a_400_naming_each() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let body = json!({
        "resource_type": "contact",
        "constants": {"country": "Atlantis", "email": "x@example.com", "shoe": "9"},
        "tags": "vip",
        "value_mappings": {"status": {"Yes": 1}},
        "duplicates": "newest",
        "max_error_ratio": 2,
    });
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 400, "{answer}");
    let mut fields: Vec<&str> =
        answer["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "constants.country",
            "constants.email",
            "constants.shoe",
            "duplicates",
            "max_error_ratio",
            "tags",
            "value_mappings.status"
        ]
    );
}
