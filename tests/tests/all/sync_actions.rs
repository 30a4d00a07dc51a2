//! `sync_actions` and `tags`: contacts are added to and removed from groups (a group
//! that does not exist is created as a group record) and get a status; tags are added to what
//! every record has.

use serde_json::json;
use tests::{all_records, fields_only, host, record, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_actions_status_and_tags_change_every_record() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let seed = "email,groups,tags,status\n\
        ann@example.com,Prospects;Staff,old,pending\nbob@example.com,Donors,,subscribed\n";
    client.import_file(&json!({"resource_type": "contact"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();
    let group = json!({"resource_type": "group"});
    client.import_file(&group, "name,description\nDonors,Gave before\n".into(), IMPORT_TIMEOUT).await.unwrap();

    let body = json!({
        "resource_type": "contact",
        "tags": ["fair-2026"],
        "sync_actions": [
            {"action": "add", "group": "Donors"},
            {"action": "add", "group": "Newsletter"},
            {"action": "remove", "group": "Prospects"},
            {"action": "set_status", "status": "bounced"},
        ],
    });
    let file = "email,first_name\nann@example.com,Ann\nbob@example.com,\ncy@example.com,Cy\n";
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["sync_actions"], body["sync_actions"]);
    let counts = ["created", "updated", "unchanged", "errors"].map(|s| stat(&import, s));
    assert_eq!(counts, [1, 2, 0, 0], "{import}");

    let ann = record(&client, "contact", "ann@example.com").await;
    assert_eq!(
        fields_only(&ann),
        json!({"email": "ann@example.com", "first_name": "Ann", "groups": ["Staff", "Donors", "Newsletter"],
               "tags": ["old", "fair-2026"], "status": "bounced"})
    );
    let bob = record(&client, "contact", "bob@example.com").await;
    assert_eq!(
        fields_only(&bob),
        json!({"email": "bob@example.com", "groups": ["Donors", "Newsletter"], "tags": ["fair-2026"], "status": "bounced"})
    );
    let cy = record(&client, "contact", "cy@example.com").await;
    assert_eq!(
        fields_only(&cy),
        json!({"email": "cy@example.com", "first_name": "Cy", "groups": ["Donors", "Newsletter"],
               "tags": ["fair-2026"], "status": "bounced"})
    );
    // The missing group exists now; the one that existed is as it was.
    let groups = all_records(&client, "group").await;
    let groups: Vec<_> = groups.iter().map(fields_only).collect();
    assert_eq!(groups, [json!({"name": "Donors", "description": "Gave before"}), json!({"name": "Newsletter"})]);

    // The same import again changes nothing.
    let again = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(["created", "updated", "unchanged"].map(|s| stat(&again, s)), [0, 0, 3], "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sync_actions_are_named() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let cases = [
        (json!({"resource_type": "contact", "sync_actions": [{"action": "add"}]}), "sync_actions[0]"),
        (
            json!({"resource_type": "contact", "sync_actions": [{"action": "set_status", "status": "gone"}]}),
            "sync_actions[0]",
        ),
        (
            json!({"resource_type": "contact", "sync_actions": [{"action": "add", "group": "A", "x": 1}]}),
            "sync_actions[0]",
        ),
        (json!({"resource_type": "contact", "sync_actions": {"action": "add"}}), "sync_actions"),
        (json!({"resource_type": "account", "sync_actions": [{"action": "add", "group": "A"}]}), "sync_actions"),
        (json!({"resource_type": "contact", "action": "delete", "sync_actions": []}), "sync_actions"),
    ];
    for (body, field) in cases {
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{body}: {answer}");
    }
}
