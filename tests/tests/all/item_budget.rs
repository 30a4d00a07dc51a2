//! Issue 16 item 4: what a file puts on its import item (headers, mappings, samples, their
//! errors, distinct values) stays within one budget far below DynamoDB's 400 KB, so any file
//! either plans or fails with a reason: none is left `awaiting_upload` to turn `expired`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use tests::{host, wait_for, IMPORT_TIMEOUT};

/// The stored size of the import's item, as DynamoDB counts it: names and values.
async fn item_bytes(host: &local::LocalHost, tenant_id: &str, id: &str) -> usize {
    fn size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + size(v)).sum::<usize>(),
            AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + size(v)).sum::<usize>(),
            AttributeValue::Ss(items) | AttributeValue::Ns(items) => items.iter().map(String::len).sum(),
            _ => 1,
        }
    }
    let out = host
        .clients
        .dynamo
        .get_item()
        .table_name(&host.settings.imports_table)
        .key("pk", AttributeValue::S(tenant_id.into()))
        .key("sk", AttributeValue::S(id.into()))
        .send()
        .await
        .expect("get the import item");
    out.item().expect("the import item").iter().map(|(k, v)| k.len() + size(v)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_of_60_000_character_emails_is_clipped_and_small() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let mut file = String::from("email,first_name\n");
    for i in 0..8 {
        file.push_str(&format!("{}{i}@example.com,Ann\n", "a".repeat(60_000)));
    }
    file.push_str("ann@example.com,Ann\n");
    let import = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, file.into_bytes()).await.unwrap();
    let preview = wait_for(&client, id, "preview_ready").await;

    let samples = preview["sample_records"].as_array().unwrap();
    assert!(!samples.is_empty(), "{}", head(&preview));
    let message = samples[0]["errors"][0]["message"].as_str().unwrap();
    assert_eq!(samples[0]["errors"][0]["code"], "invalid_email");
    assert!(message.len() < 2048 && message.ends_with('…'), "the message is clipped and says so: {message}");
    assert!(preview["clipped"]["values"].as_u64().unwrap() >= 1, "{}", preview["clipped"]);
    let bytes = item_bytes(&host, "acme", id).await;
    assert!(bytes < 128 * 1024, "the import item holds {bytes} bytes");
}

/// A header line of 500,000 characters, as one cell or as 500 long names, fails the import
/// with a reason that says what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_line_of_500_000_characters_fails_with_a_reason() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let one_cell = format!("email,{}\na@example.com,x\n", "N".repeat(500_000));
    let names: Vec<String> = (1..500).map(|i| format!("{i:04}{}", "n".repeat(998))).collect();
    let many = format!("email,{}\na@example.com{}\n", names.join(","), ",x".repeat(names.len()));
    for (file, says) in [(one_cell, "column 2"), (many, "header")] {
        let body = json!({"resource_type": "contact"});
        let done = client.import_file(&body, file.into_bytes(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(done["status"], "failed", "{}", head(&done));
        let reason = done["reason"].as_str().unwrap();
        assert!(reason.contains(says) && reason.len() < 1024, "{reason}");
        let id = done["id"].as_str().unwrap();
        assert!(item_bytes(&host, "acme", id).await < 128 * 1024);
    }
}

/// The start of an import, to show when an assertion fails.
fn head(import: &Value) -> String {
    import.to_string().chars().take(2000).collect()
}
