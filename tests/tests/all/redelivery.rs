//! At-least-once delivery changes nothing (docs/architecture.md, Exactly once). Every transform and process message is
//! handed to its handler twice, and the S3 event is delivered again after the import is done.

use serde_json::{json, Value};
use service::pipeline::{prevalidate, process};
use tests::{all_records, contacts_csv, fields_only, host, receive_all, run_transform_queue, stat, IMPORT_TIMEOUT};

async fn import_once(twice: bool, file: Vec<u8>) -> (Value, Vec<Value>, local::LocalHost) {
    let host = host(|o| {
        o.chunk_rows = Some(150);
        o.deliver_twice = twice;
    })
    .await;
    let client = host.client("acme");
    let import = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let records = all_records(&client, "contact").await.iter().map(fields_only).collect();
    (import, records, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_twice_gives_the_same_records_and_stats() {
    let mut file = contacts_csv(1000, &[10, 20, 30]);
    // A duplicate identifier across chunks too.
    file.extend_from_slice(b"person5@example.com,Again,Five,X,\r\n");
    let (single, single_records, _h1) = import_once(false, file.clone()).await;
    let (double, double_records, host) = import_once(true, file).await;

    assert_eq!(single["stats"], double["stats"]);
    assert_eq!(stat(&double, "rows"), 1001);
    assert_eq!(stat(&double, "processed"), 1001);
    assert_eq!(stat(&double, "created"), 997);
    assert_eq!(stat(&double, "duplicates"), 1);
    assert_eq!(stat(&double, "errors"), 3);
    assert_eq!(single_records, double_records);

    // The S3 event again, after completion: nothing is planned or counted twice.
    let services = host.clients.services(host.settings.clone()).expect("services");
    let id = double["id"].as_str().unwrap();
    service::pipeline::prevalidate::run(&services, &domain::import::upload_key("acme", id)).await.unwrap();
    let (_, after) = host.client("acme").get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(after["stats"], double["stats"]);
    assert_eq!(after["status"], "completed");
}

/// Matching on an alternate identifier, with its index, row errors decided in the process step
/// and the results file: the same whether each message comes once or twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_on_external_id_twice_gives_the_same_outcome() {
    async fn run(twice: bool) -> (Value, Vec<Value>, Vec<u8>) {
        let host = host(|o| {
            o.chunk_rows = Some(40);
            o.deliver_twice = twice;
        })
        .await;
        let client = host.client("acme");
        let mut seed = String::from("email,external_id\n");
        let mut file = String::from("external_id,email,first_name\n");
        for i in 0..120 {
            seed.push_str(&format!("p{i}@example.com,{}\n", if i % 2 == 0 { format!("X-{i}") } else { String::new() }));
            // Even rows match by id; odd ones by email (and take the id); every tenth has neither.
            let email = if i % 10 == 5 { String::new() } else { format!("p{i}@example.com") };
            file.push_str(&format!("X-{i},{email},Name {i}\n"));
        }
        let seeded = client.import_file(&json!({"resource_type": "contact"}), seed.into(), IMPORT_TIMEOUT).await;
        assert_eq!(seeded.unwrap()["status"], "completed");
        let body = json!({"resource_type": "contact", "identifier_field": "external_id"});
        let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "completed", "{import}");
        let records = all_records(&client, "contact").await.iter().map(fields_only).collect();
        let results = tests::download(&import["links"]["results_csv"]).await;
        (import["stats"].clone(), records, results)
    }
    let (single, single_records, single_results) = run(false).await;
    let (double, double_records, double_results) = run(true).await;
    assert_eq!(single, double);
    assert_eq!(single["updated"], 120 - 12, "{single}");
    assert_eq!(single["errors"], 12, "{single}");
    assert_eq!(single_records, double_records);
    assert_eq!(single_results, double_results);
}

/// The S3 event twice before any chunk ran (the run is still queued): the run is planned and its
/// chunks sent twice, and every row still counts once, with one `started` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_event_twice_while_queued_counts_once() {
    let host = host(|o| {
        o.workers = 0;
        o.chunk_rows = Some(150);
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let created = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = created["id"].as_str().unwrap();
    client.upload(&created, contacts_csv(1000, &[10])).await.unwrap();
    let key = domain::import::upload_key("acme", id);
    prevalidate::run(&svc, &key).await.unwrap();
    prevalidate::run(&svc, &key).await.unwrap();
    let path = format!("/v1/imports/{id}");
    let (_, queued) = client.get(&path).await.unwrap();
    assert_eq!((queued["status"].as_str(), queued["started_at"].as_str()), (Some("queued"), None), "{queued}");

    loop {
        run_transform_queue(&host, &svc).await;
        let batches = receive_all(&host, &host.settings.process_queue_url).await;
        if batches.is_empty() {
            break;
        }
        for body in batches {
            process::run(&svc, &body).await.unwrap();
        }
    }
    let (_, import) = client.get(&path).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let counted = ["rows", "processed", "created", "errors"].map(|s| stat(&import, s));
    assert_eq!(counted, [1000, 1000, 999, 1], "{import}");
    let kinds: Vec<String> = receive_all(&host, &host.settings.events_queue_url)
        .await
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap())
        .filter(|event| event["import_id"] == id)
        .map(|event| event["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["created", "started", "completed"]);
}
