//! Who writes a type, over the wire: the hold item's conditional writes as DynamoDB takes them,
//! and a first import that holds its type followed by one that joins it.

use domain::record::ResourceType;
use local::proxy::{Faults, Proxy};
use serde_json::json;
use tests::{all_records, host, stat, IMPORT_TIMEOUT};

#[tokio::test]
async fn holding_joining_and_revoking_are_conditional_writes_of_one_item() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let (store, contact) = (&svc.records, ResourceType::Contact);

    assert!(store.hold_type("t1", contact, "imp_a", 0, 0).await.unwrap());
    assert!(store.hold_type("t1", contact, "imp_a", 0, 0).await.unwrap(), "its own hold, taken again");
    assert!(!store.hold_type("t1", contact, "imp_b", 0, 0).await.unwrap(), "held by another");
    assert!(store.hold_type("t1", ResourceType::Group, "imp_b", 0, 0).await.unwrap(), "another type");

    let hold = store.join_type("t1", contact, "imp_c").await.unwrap();
    assert_eq!((hold.holder, hold.revoked_at), (Some(("imp_a".to_string(), 0)), None));
    let hold = store.revoke_hold("t1", contact, "imp_a", 1_000).await.unwrap();
    assert_eq!(hold.revoked_at, Some(1_000));
    let hold = store.revoke_hold("t1", contact, "imp_a", 2_000).await.unwrap();
    assert_eq!(hold.revoked_at, Some(1_000), "revoked once");
    assert_eq!(store.revoke_hold("t1", contact, "imp_x", 3_000).await.unwrap().revoked_at, Some(1_000));

    // Past its grace a revoked hold is free, but not while a run writes beside.
    assert!(!store.hold_type("t1", contact, "imp_d", 0, 1_001).await.unwrap());
    store.leave_type("t1", contact, &["imp_c".to_string()]).await.unwrap();
    assert!(!store.hold_type("t1", contact, "imp_d", 0, 1_000).await.unwrap(), "within the grace");
    assert!(store.hold_type("t1", contact, "imp_d", 0, 1_001).await.unwrap());
    let hold = store.type_hold("t1", contact).await.unwrap();
    assert_eq!((hold.holder, hold.revoked_at, hold.writers.len()), (Some(("imp_d".to_string(), 0)), None, 0));
    store.leave_type("t1", ResourceType::Account, &["imp_c".to_string()]).await.unwrap();
    assert_eq!(store.type_hold("t1", ResourceType::Account).await.unwrap(), Default::default());
}

#[tokio::test]
async fn an_import_after_a_first_import_into_an_empty_type_merges_into_what_it_wrote() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let rows = |name: &str| -> Vec<u8> {
        let mut csv = String::from("email,first_name\n");
        for i in 0..300 {
            csv.push_str(&format!("p{i}@example.com,{name}{i}\n"));
        }
        csv.into_bytes()
    };
    let first = client.import_file(&json!({"resource_type": "contact"}), rows("A"), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((first["status"].as_str(), stat(&first, "created")), (Some("completed"), 300), "{first}");
    let svc = host.clients.services(host.settings.clone()).expect("services");
    // The hold is given up after the `completed` event, a moment after the status shows.
    let mut hold = svc.records.type_hold("acme", ResourceType::Contact).await.unwrap();
    for _ in 0..50 {
        if hold.revoked_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        hold = svc.records.type_hold("acme", ResourceType::Contact).await.unwrap();
    }
    assert_eq!(hold.holder.map(|(id, _)| id).as_deref(), first["id"].as_str(), "the first import held it");
    assert!(hold.revoked_at.is_some(), "and gave it up when it completed");

    let body = json!({"resource_type": "contact", "mappings": {"email": "email", "first_name": "last_name"}});
    let second = client.import_file(&body, rows("B"), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((stat(&second, "updated"), stat(&second, "created")), (300, 0), "{second}");
    let record = svc.records.get("acme", ResourceType::Contact, "p7@example.com").await.unwrap().unwrap();
    assert_eq!((record.fields["first_name"].as_str(), record.fields["last_name"].as_str()), (Some("A7"), Some("B7")));
    assert_eq!(record.version, 2);
}

/// A held run's creates are written before its batch's ledger transaction. When that transaction
/// conflicts with another on its counter shard (DynamoDB's TransactionConflict), deciding the
/// batch again would read the creates back as unchanged: the entry alone is tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_batch_whose_ledger_transaction_conflicts_counts_its_creates_once() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run with scripts/test.sh");
    let proxy = Proxy::start(&emulator, Faults { conflict_every: 2, ..Faults::default() }).await.expect("proxy");
    let host = host(|o| o.aws_endpoint = Some(proxy.url.clone())).await;
    let client = host.client("acme");
    let rows = 2_500;
    let import = client
        .import_file(&json!({"resource_type": "contact"}), tests::contacts_csv(rows, &[]), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let counted = ["created", "unchanged", "errors"].map(|name| stat(&import, name));
    assert_eq!(counted, [rows as u64, 0, 0], "{import}");
    assert_eq!(all_records(&client, "contact").await.len(), rows);
    assert!(proxy.counts().injected_conflicts > 0, "the conflicts happened");
}
