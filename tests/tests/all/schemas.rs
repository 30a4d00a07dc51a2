//! Tenant schemas (docs/api.md, Tenant schemas): field definitions of a tenant's own, every type
//! and rule checked per row, typed values stored, a version per import.

use serde_json::{json, Value};
use tests::{download, host, stat, wait_for, IMPORT_TIMEOUT};

async fn put_schema(client: &local::client::Client, resource: &str, body: Value) -> (u16, Value) {
    client.call(reqwest::Method::PUT, &format!("/v1/schemas/{resource}"), Some(&body)).await.unwrap()
}

/// Each error row's number and codes.
async fn error_codes(import: &Value) -> Vec<(u64, Vec<String>)> {
    let errors: Value = serde_json::from_slice(&download(&import["links"]["errors_json"]).await).unwrap();
    let mut rows: Vec<(u64, Vec<String>)> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let codes = e["errors"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string());
            (e["row"].as_u64().unwrap(), codes.collect())
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_rule_is_checked_and_values_are_stored_typed() {
    let host = host(|_| {}).await;
    let (client, other) = (host.client("acme"), host.client("globex"));
    assert_eq!(client.get("/v1/schemas/contact").await.unwrap().0, 404, "none yet");
    assert_eq!(client.get("/v1/schemas/robot").await.unwrap().0, 404);

    // A definition that cannot hold is a 400 naming each wrong part.
    let bad = json!({"fields": {
        "custom.a": {"type": "colour"},
        "custom.b": {"type": "integer", "min": 5, "max": 1},
        "custom.c": {"type": "string", "pattern": "(a)\\1"},
        "custom.d": {"type": "enum"},
        "nickname": {"required": true},
    }});
    let (status, refused) = put_schema(&client, "contact", bad).await;
    assert_eq!(status, 400, "{refused}");
    let mut fields: Vec<&str> =
        refused["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "fields.custom.a.type",
            "fields.custom.b.min",
            "fields.custom.c.pattern",
            "fields.custom.d.values",
            "fields.nickname"
        ],
        "{refused}"
    );

    let schema = json!({"fields": {
        "custom.plan": {"type": "enum", "values": ["free", "pro"]},
        "custom.seats": {"type": "integer", "min": 1, "max": 100000},
        "custom.renewal": {"type": "date"},
        "custom.seen": {"type": "datetime"},
        "custom.sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$", "max_length": 32},
        "custom.note": {"type": "string", "max_length": 5},
        "custom.vip": {"type": "boolean"},
        "custom.score": {"type": "decimal", "min": 0, "max": 10},
        "custom.backup": {"type": "email"},
        "custom.mobile": {"type": "phone"},
        "custom.site": {"type": "url"},
        "phone": {"required": true},
    }});
    let (status, stored) = put_schema(&client, "contact", schema).await;
    assert_eq!((status, &stored["version"], &stored["resource_type"]), (200, &json!(1), &json!("contact")), "{stored}");
    assert_eq!(stored["fields"]["custom.seats"]["max"], 100000);
    assert_eq!(other.get("/v1/schemas/contact").await.unwrap().0, 404, "a tenant's own");

    let headers = [
        "email", "phone", "plan", "seats", "renewal", "seen", "sku", "note", "vip", "score", "backup", "mobile", "site",
    ];
    let good = [
        "ann@example.com",
        "+47 22 33 44 55",
        "Pro",
        "1,200",
        "2026-03-01",
        "2026-03-01T10:00:00+02:00",
        "ABC-1234",
        "hi",
        "yes",
        "7.5",
        "ann@backup.example.com",
        "+1 555 0100",
        "https://example.com/ann",
    ];
    // One bad value per rule and type, each in a row that is otherwise good.
    let bad: [(&str, &str, &str); 15] = [
        ("phone", "", "required"),
        ("seats", "many", "invalid_type"),
        ("seats", "0", "out_of_range"),
        ("note", "toolong", "too_long"),
        ("sku", "abc-1234", "pattern_mismatch"),
        ("plan", "gold", "invalid_enum"),
        ("vip", "maybe", "invalid_type"),
        ("renewal", "2026-13-45", "invalid_type"),
        ("seen", "yesterday", "invalid_type"),
        ("score", "abc", "invalid_type"),
        ("score", "10.5", "out_of_range"),
        ("backup", "nope", "invalid_type"),
        ("mobile", "call me", "invalid_type"),
        ("site", "ftp://example.com", "invalid_type"),
        ("seats", "1.5", "invalid_type"),
    ];
    let mut file = headers.join(",") + "\n";
    file.push_str(&good.map(|v| format!("\"{v}\"")).join(","));
    file.push('\n');
    for (i, (column, value, _)) in bad.iter().enumerate() {
        let at = headers.iter().position(|h| h == column).unwrap();
        let mut row = good.map(String::from);
        row[0] = format!("row{i}@example.com");
        row[at] = value.to_string();
        file.push_str(&row.map(|v| format!("\"{v}\"")).join(","));
        file.push('\n');
    }
    let mappings: Value = headers[2..].iter().map(|h| (h.to_string(), json!(format!("custom.{h}")))).collect();
    let body = json!({"resource_type": "contact", "mappings": mappings});
    let done = client.import_file(&body, file.into_bytes(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["schema_version"], 1);
    assert_eq!([stat(&done, "rows"), stat(&done, "created"), stat(&done, "errors")], [16, 1, 15], "{done}");
    let expected: Vec<(u64, Vec<String>)> =
        bad.iter().enumerate().map(|(i, (_, _, code))| (i as u64 + 2, vec![code.to_string()])).collect();
    assert_eq!(error_codes(&done).await, expected);

    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!(
        ann["custom"],
        json!({"plan": "pro", "seats": 1200, "renewal": "2026-03-01", "seen": "2026-03-01T08:00:00Z", "sku": "ABC-1234",
            "note": "hi", "vip": true, "score": 7.5, "backup": "ann@backup.example.com", "mobile": "+1 555 0100",
            "site": "https://example.com/ann"}),
        "{ann}"
    );

    // A preview's samples are checked too.
    let body = json!({"resource_type": "contact", "in_preview": true, "mappings": {"seats": "custom.seats"}});
    let preview = client.create_import(&body).await.unwrap();
    client
        .upload(
            &preview,
            b"email,phone,seats
zed@example.com,1234567,0
"
            .to_vec(),
        )
        .await
        .unwrap();
    let preview = wait_for(&client, preview["id"].as_str().unwrap(), "preview_ready").await;
    assert_eq!(preview["sample_records"][0]["errors"][0]["code"], "out_of_range", "{preview}");

    // Constants are checked and typed at create, as a column's values are.
    let inputs = json!([{"email": "kim@example.com", "phone": "1234567"}]);
    let body = json!({"resource_type": "contact", "mode": "sync", "inputs": inputs, "constants": {"custom.seats": "12", "custom.vip": "no"}});
    let (status, done) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!((status, &done["status"]), (201, &json!("completed")), "{done}");
    assert_eq!(done["constants"], json!({"custom.seats": 12, "custom.vip": false}));
    let (_, kim) = client.get("/v1/records/contact/kim@example.com").await.unwrap();
    assert_eq!((&kim["custom"]["seats"], &kim["custom"]["vip"]), (&json!(12), &json!(false)), "{kim}");
    let body = json!({"resource_type": "contact", "constants": {"custom.seats": 0, "custom.plan": "gold"}});
    let (status, refused) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    let codes: Vec<(&str, &str)> = refused["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        (status, codes),
        (400, vec![("constants.custom.plan", "invalid_enum"), ("constants.custom.seats", "out_of_range")]),
        "{refused}"
    );

    // A change applies to imports created after it: one created before keeps its version.
    let before = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let (status, v2) =
        put_schema(&client, "contact", json!({"fields": {"custom.plan": {"type": "enum", "values": ["free"]}}})).await;
    assert_eq!((status, &v2["version"]), (200, &json!(2)), "{v2}");
    client.upload(&before, b"email,phone\nbo@example.com,\n".to_vec()).await.unwrap();
    let before = client.wait_final(before["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((&before["schema_version"], stat(&before, "errors")), (&json!(1), 1), "phone was required: {before}");
    let after = client
        .import_file(&json!({"resource_type": "contact"}), b"email,phone\nbo@example.com,\n".to_vec(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!((&after["schema_version"], stat(&after, "created")), (&json!(2), 1), "{after}");
    let (_, mut read) = client.get("/v1/schemas/contact").await.unwrap();
    assert_eq!((&read["version"], read["fields"].as_object().unwrap().len()), (&json!(2), 1), "{read}");
    // What a GET answers goes back with a PUT, changed.
    read["fields"]["custom.vip"] = json!({"type": "boolean"});
    let (status, v3) = put_schema(&client, "contact", read).await;
    assert_eq!(
        (status, &v3["version"], &v3["fields"]["custom.vip"]["type"]),
        (200, &json!(3), &json!("boolean")),
        "{v3}"
    );
}
