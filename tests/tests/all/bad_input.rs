//! Bad input never gets a 5xx (docs/api.md, Errors): generated create and PATCH bodies with every field
//! given every kind of wrong value, odd paths and queries. Each answer is a 2xx or a 4xx that
//! names what is wrong.

use serde_json::{json, Value};
use tests::host;

/// Wrong values of every JSON kind, and a few right ones.
fn values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(0.5),
        json!(""),
        json!(" "),
        json!("x".repeat(70_000)),
        json!("contact"),
        json!("csv"),
        json!("sync"),
        json!("P1D"),
        json!("\u{0000}\u{feff}é"),
        json!([]),
        json!([1, "a", null]),
        json!([{}]),
        json!({}),
        json!({"a": {"b": {"c": [1]}}}),
        json!({"": null}),
        json!({"email": "custom.x"}),
        json!({"delimiter": ";", "has_header": "no"}),
    ]
}

const FIELDS: [&str; 29] = [
    "template",
    "max_errors",
    "resource_type",
    "action",
    "format",
    "compression",
    "zip_entry",
    "xlsx",
    "mode",
    "inputs",
    "identifier_field",
    "mappings",
    "constants",
    "duplicates",
    "value_mappings",
    "max_error_ratio",
    "dry_run",
    "tags",
    "csv",
    "in_preview",
    "reference",
    "reference_origin",
    "metadata",
    "retention",
    "webhook_url",
    "update_rule",
    "sync_actions",
    "colour",
    "",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bad_request_gets_a_server_error() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let mut answers = 0;
    for field in FIELDS {
        for value in values() {
            let mut body = json!({"resource_type": "contact", "mode": "async"});
            body[field] = value.clone();
            let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
            answers += 1;
            assert!(status == 201 || status == 400, "{field}={value:.80}: {status} {answer}");
            if status == 400 {
                let details = answer["error"]["details"].as_array().expect("a 400 names the fields");
                assert!(!details.is_empty(), "{field}: {answer}");
            }
        }
    }
    // An import to PATCH: awaiting its upload, so every PATCH is refused one way or another.
    let import = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    for field in ["in_preview", "dry_run", "mappings", "interrupt", "status", "template", "tags", "max_errors", ""] {
        for value in values() {
            let body = json!({ field: value });
            let (status, answer) =
                client.call(reqwest::Method::PATCH, &format!("/v1/imports/{id}"), Some(&body)).await.unwrap();
            answers += 1;
            // `{"interrupt": true}` is the one right body: it stops the import (once).
            let interrupts = field == "interrupt" && value == json!(true) && status == 200;
            assert!(interrupts || matches!(status, 400 | 409), "PATCH {field}={value:.80}: {status} {answer}");
        }
    }
    let paths = [
        "/v1/imports/imp_nope",
        "/v1/imports/%00",
        "/v1/imports?limit=0",
        "/v1/imports?limit=abc&cursor=%%%",
        "/v1/imports?status=done",
        "/v1/records/contact?cursor=not-base64!",
        "/v1/records/contact/%20",
        "/v1/records/widget",
        "/v1/records/contact/a%2Fb%40c",
        "/v1/nothing",
        "/v1/templates/tpl_nope",
        "/v1/templates/%00?version=1",
        "/v1/templates?limit=0",
        "/v1/templates?cursor=%%%",
        "/v1/templates?resource_type=robot",
        "/v1/schemas/robot",
    ];
    for path in paths {
        let (status, answer) = client.get(path).await.unwrap();
        answers += 1;
        assert!((400..500).contains(&status), "GET {path}: {status} {answer}");
    }
    for (method, body) in [(reqwest::Method::PATCH, None), (reqwest::Method::POST, Some(json!("a string")))] {
        let (status, _) = client.call(method.clone(), &format!("/v1/imports/{id}"), body.as_ref()).await.unwrap();
        assert!((400..500).contains(&status), "{method} without a proper body: {status}");
    }
    // Templates and schemas: every field of theirs with every value.
    for field in ["name", "resource_type", "mappings", "constants", "csv", "format", "tags", "retention", ""] {
        for value in values() {
            let mut body = json!({"name": "t", "resource_type": "contact"});
            body[field] = value.clone();
            let (status, answer) = client.call(reqwest::Method::POST, "/v1/templates", Some(&body)).await.unwrap();
            answers += 1;
            assert!(matches!(status, 201 | 400), "template {field}={value:.80}: {status} {answer}");
            let fields = json!({"fields": {"custom.x": {field: value.clone()}}, field: value.clone()});
            for body in [json!({"fields": {field: value.clone()}}), fields] {
                let (status, answer) =
                    client.call(reqwest::Method::PUT, "/v1/schemas/contact", Some(&body)).await.unwrap();
                answers += 1;
                assert!(matches!(status, 200 | 400), "schema {body:.80}: {status} {answer}");
            }
        }
    }
    assert!(answers > 900);
}
