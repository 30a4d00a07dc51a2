//! `POST /v1/imports/{id}/revert` (docs/api.md, Revert an import): records the import created are deleted, records it
//! updated, deleted or removed get their previous values back, unless a later import changed
//! them since: those are reported, not clobbered.

use serde_json::{json, Value};
use tests::{all_records, emails, fields_only, host, receive_all, record, revert, stat, IMPORT_TIMEOUT};

const SEED: &str = "email,external_id,first_name,city\n\
    ann@example.com,C-1,Ann,Berlin\nbob@example.com,C-2,Bob,Paris\ncy@example.com,C-3,Cy,Rome\ndee@example.com,C-4,Dee,\n";

async fn merge_then_revert(deliver_twice: bool) {
    let host = host(|o| {
        o.chunk_rows = Some(2);
        o.deliver_twice = deliver_twice;
    })
    .await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    let before: Vec<Value> = all_records(&client, "contact").await.iter().map(fields_only).collect();

    let file = "email,external_id,first_name,city\n\
        ann@example.com,C-9,Annie,Berlin\nbob@example.com,C-2,Bob,Paris\ncy@example.com,C-3,Cy,Milan\neve@example.com,C-5,Eve,Oslo\n";
    let body = json!({"resource_type": "contact"});
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(["created", "updated", "unchanged"].map(|s| stat(&import, s)), [1, 2, 1], "{import}");
    // A later import changes cy again: the revert must leave that alone.
    let later = "email,city\ncy@example.com,Naples\n";
    client.import_file(&body, later.into(), IMPORT_TIMEOUT).await.unwrap();

    let id = import["id"].as_str().unwrap();
    let reverted = revert(&client, id).await;
    let r = &reverted["revert"];
    assert_eq!([&r["deleted"], &r["restored"], &r["conflicts"]], [1, 1, 1], "{reverted}");
    assert_eq!(r["conflict_identifiers"], json!(["cy@example.com"]));
    assert_eq!(reverted["status"], "completed", "the import's own status stays");

    let now = all_records(&client, "contact").await;
    assert_eq!(emails(&now), ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]);
    assert_eq!(fields_only(&now[0]), before[0], "ann has her previous values back");
    assert_eq!(fields_only(&now[1]), before[1], "bob was never changed");
    assert_eq!(now[2]["city"], "Naples", "cy keeps the later import's value");
    // ann's external_id is hers again, and the one the import gave her is free.
    let probe = "email,external_id\nfay@example.com,C-1\ngus@example.com,C-9\nhal@example.com,C-5\n";
    let probe = client.import_file(&body, probe.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&probe, "created"), stat(&probe, "errors")], [2, 1], "{probe}");

    let events: Vec<Value> = receive_all(&host, &host.settings.events_queue_url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .filter(|e: &Value| e["import_id"] == id && e["type"] == "reverted")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");

    let path = format!("/v1/imports/{id}/revert");
    let (status, again) = client.call(reqwest::Method::POST, &path, None).await.unwrap();
    assert_eq!(status, 409, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_restores_every_changed_record_and_reports_one_changed_later() {
    merge_then_revert(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_counts_once_when_every_message_comes_twice() {
    merge_then_revert(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_brings_back_what_an_overwrite_removed_and_a_delete_deleted() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    let before: Vec<Value> = all_records(&client, "contact").await.iter().map(fields_only).collect();

    let body = json!({"resource_type": "contact", "action": "overwrite"});
    let file = "email,first_name\nann@example.com,Annie\nbob@example.com,Bob\n";
    let overwrite = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&overwrite, "removed"), stat(&overwrite, "updated")], [2, 1], "{overwrite}");
    let reverted = revert(&client, overwrite["id"].as_str().unwrap()).await;
    let r = &reverted["revert"];
    assert_eq!([&r["deleted"], &r["restored"], &r["conflicts"]], [0, 3, 0], "{reverted}");
    let now: Vec<Value> = all_records(&client, "contact").await.iter().map(fields_only).collect();
    assert_eq!(now, before);

    let body = json!({"resource_type": "contact", "action": "delete"});
    let deleted = client.import_file(&body, "email\ncy@example.com\n".into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&deleted, "deleted"), 1);
    revert(&client, deleted["id"].as_str().unwrap()).await;
    let cy = record(&client, "contact", "cy@example.com").await;
    assert_eq!(fields_only(&cy), before[2]);
    // Its external_id is claimed again.
    let probe = client
        .import_file(
            &json!({"resource_type": "contact"}),
            "email,external_id\nfay@example.com,C-3\n".into(),
            IMPORT_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(stat(&probe, "errors"), 1, "{probe}");

    // Only a completed import that wrote records can be reverted.
    let dry = json!({"resource_type": "contact", "dry_run": true});
    let dry = client.import_file(&dry, "email\nzed@example.com\n".into(), IMPORT_TIMEOUT).await.unwrap();
    let path = format!("/v1/imports/{}/revert", dry["id"].as_str().unwrap());
    assert_eq!(client.call(reqwest::Method::POST, &path, None).await.unwrap().0, 409);
    let (status, _) = host.client("globex").call(reqwest::Method::POST, &path, None).await.unwrap();
    assert_eq!(status, 404, "another tenant's import is not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_and_created_again_since_is_a_conflict() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let body = json!({"resource_type": "contact"});
    let created = client.import_file(&body, "email,city\nzoe@example.com,Lima\n".into(), IMPORT_TIMEOUT).await.unwrap();
    let delete = json!({"resource_type": "contact", "action": "delete"});
    client.import_file(&delete, "email\nzoe@example.com\n".into(), IMPORT_TIMEOUT).await.unwrap();
    // Created anew: the same identifier, at version 1 again, with other values.
    client.import_file(&body, "email,city\nzoe@example.com,Quito\n".into(), IMPORT_TIMEOUT).await.unwrap();

    let reverted = revert(&client, created["id"].as_str().unwrap()).await;
    let r = &reverted["revert"];
    assert_eq!([&r["deleted"], &r["restored"], &r["conflicts"]], [0, 0, 1], "{reverted}");
    assert_eq!(record(&client, "contact", "zoe@example.com").await["city"], "Quito");
}
