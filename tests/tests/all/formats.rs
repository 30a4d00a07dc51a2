//! Formats and what a client says of its file (`format`, `inputs`, `mode`, `csv`):
//! JSON and JSON lines, UTF-16, inline inputs async and sync, and CSV overrides.

use serde_json::{json, Value};
use tests::{download, host, record, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_arrays_and_lines_import_with_nested_custom_fields_and_lists() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let file = json!([
        {"email": "Ann@Example.com", "first_name": "Ann", "tags": ["vip", "fair"], "custom": {"plan": "gold", "seats": 3}},
        {"email": "bob@example.com", "first_name": "Bob, \"Bobby\"\nJr.", "phone": null, "subscribed": true},
        {"email": "not-an-email"},
    ]);
    let body = json!({"resource_type": "contact", "format": "json"});
    let import = client.import_file(&body, serde_json::to_vec(&file).unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "rows"), stat(&import, "created"), stat(&import, "errors")], [3, 2, 1], "{import}");
    assert_eq!(import["file"]["detected_encoding"], "utf-8");
    assert_eq!(import["unmapped_headers"], json!(["subscribed"]));
    let ann = record(&client, "contact", "ann@example.com").await;
    assert_eq!(ann["tags"], json!(["vip", "fair"]));
    assert_eq!(ann["custom"], json!({"plan": "gold", "seats": "3"}));
    let bob = record(&client, "contact", "bob@example.com").await;
    assert_eq!(bob["first_name"], "Bob, \"Bobby\"\nJr.");

    let lines = "{\"external_id\": \"A-1\", \"name\": \"Acme\", \"employees\": 250}\n\n\
                 {\"external_id\": \"A-2\", \"name\": \"Globex\", \"employees\": \"many\"}\r\n";
    let body = json!({"resource_type": "account", "format": "jsonl"});
    let import = client.import_file(&body, lines.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&import, "rows"), stat(&import, "created"), stat(&import, "errors")], [2, 1, 1], "{import}");
    assert_eq!(record(&client, "account", "A-1").await["employees"], 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_json_fails_with_where() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let cases: [(&str, &[u8], &str); 4] = [
        ("json", b"[{\"email\": \"a@x.io\"},\n {\"email\": }]", "line 2"),
        ("json", b"{\"email\": \"a@x.io\"}", "not an array"),
        ("json", b"[{\"email\": \"a@x.io\"}, 7]", "not an object"),
        ("jsonl", b"{\"email\": \"a@x.io\"}\n{oops\n", "line 2"),
    ];
    for (format, file, reason) in cases {
        let body = json!({"resource_type": "contact", "format": format});
        let import = client.import_file(&body, file.to_vec(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "failed", "{import}");
        let got = import["reason"].as_str().unwrap();
        assert!(got.contains(reason), "{format}: {got:?} should say {reason:?}");
    }
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf16_files_are_re_encoded_and_chunked() {
    let host = host(|o| o.chunk_rows = Some(1)).await;
    let client = host.client("acme");
    let text =
        "email;first_name;city\r\nzoe@example.com;Zoë;Köln\r\nyu@example.com;\"Yū;\r\n日本\";東京\r\nbad;X;Y\r\n";
    let import = client.import_file(&json!({"resource_type": "contact"}), utf16le(text), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [2, 1], "{import}");
    let file = &import["file"];
    assert_eq!(
        [&file["detected_encoding"], &file["delimiter"], &file["had_bom"], &file["line_ending"]],
        [&json!("utf-16le"), &json!(";"), &json!(true), &json!("crlf")]
    );
    assert_eq!(file["size"], utf16le(text).len());
    assert_eq!(record(&client, "contact", "zoe@example.com").await["city"], "Köln");
    assert_eq!(record(&client, "contact", "yu@example.com").await["first_name"], "Yū;\r\n日本");
    assert_eq!(download(&import["links"]["source"]).await, utf16le(text), "the source is the upload as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_options_override_detection() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    // No header: columns are column_1, column_2, ... and the first line is data.
    let body = json!({
        "resource_type": "contact",
        "csv": {"has_header": false, "delimiter": "|"},
        "mappings": {"column_1": "email", "column_2": "first_name"},
    });
    let file = "ann@example.com|Ann, A.\nbob@example.com|Bob\n";
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["file_headers"], json!(["column_1", "column_2"]));
    assert_eq!([stat(&import, "rows"), stat(&import, "created")], [2, 2], "{import}");
    assert_eq!(record(&client, "contact", "ann@example.com").await["first_name"], "Ann, A.");

    // A declared encoding wins over detection: these UTF-8 bytes read as Windows-1252.
    let body = json!({"resource_type": "contact", "csv": {"encoding": "windows-1252"}});
    let import = client.import_file(&body, "email,city\ncy@example.com,Café\n".into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["file"]["detected_encoding"], "windows-1252", "{import}");
    assert_eq!(record(&client, "contact", "cy@example.com").await["city"], "CafÃ©");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_inputs_run_async_or_within_the_request() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let inputs = json!([{"email": "ann@example.com", "first_name": "Ann"}, {"email": "bad"}]);
    let created = client.create_import(&json!({"resource_type": "contact", "inputs": inputs})).await.unwrap();
    assert_eq!(created["format"], "json");
    assert!(created["links"]["upload"].is_null(), "inline inputs need no upload: {created}");
    let done = client.wait_final(created["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&done, "created"), stat(&done, "errors")], [1, 1], "{done}");
    let source: Value = serde_json::from_slice(&download(&done["links"]["source"]).await).unwrap();
    assert_eq!(source, inputs);

    let inputs =
        json!([{"email": "cy@example.com", "tags": ["a", "b"]}, {"email": "ann@example.com", "first_name": "Annie"}]);
    let body = json!({"resource_type": "contact", "mode": "sync", "inputs": inputs, "dry_run": false});
    let (status, sync) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 201, "{sync}");
    assert_eq!(sync["status"], "completed", "a sync import answers final: {sync}");
    assert_eq!([stat(&sync, "created"), stat(&sync, "updated")], [1, 1], "{sync}");
    assert_eq!(record(&client, "contact", "ann@example.com").await["first_name"], "Annie");

    let refused = [
        (json!({"resource_type": "contact", "mode": "sync"}), "mode"),
        (json!({"resource_type": "contact", "inputs": {"email": "a@x.io"}}), "inputs"),
        (json!({"resource_type": "contact", "inputs": [1]}), "inputs[0]"),
        (json!({"resource_type": "contact", "inputs": [{}], "format": "csv"}), "format"),
        (json!({"resource_type": "contact", "mode": "sync", "inputs": [{}], "in_preview": true}), "in_preview"),
        (json!({"resource_type": "contact", "format": "json", "csv": {"delimiter": ";"}}), "csv"),
        (json!({"resource_type": "contact", "csv": {"delimiter": "x"}}), "csv.delimiter"),
        (json!({"resource_type": "contact", "csv": {"encoding": "ebcdic"}}), "csv.encoding"),
        (json!({"resource_type": "contact", "dry_run": "yes"}), "dry_run"),
    ];
    for (body, field) in refused {
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!(status, 400, "{body}: {answer}");
        let fields: Vec<&str> =
            answer["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{body}: {fields:?} should name {field}");
    }
    let many: Vec<Value> = (0..1001).map(|i| json!({"email": format!("p{i}@example.com")})).collect();
    let body = json!({"resource_type": "contact", "mode": "sync", "inputs": many});
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!((status, &answer["error"]["details"][0]["field"]), (400, &json!("inputs")), "{answer}");
}
