//! A scan that goes on in other invocations (`STEP_TIME_BUDGET_SECONDS`): each chunk a part of
//! its own here, and the import comes out as the one-invocation scan has it, whatever the
//! duplicates policy, with every message delivered twice, and with a bad row far into the file.

use std::collections::BTreeMap;

use domain::import::{Import, Status};
use domain::record::ResourceType;
use service::pipeline::prevalidate;
use service::ports::Queue;
use testkit::{Kit, TENANT};

/// 60 rows of 23 people, each copy far from the others (rows 7, 30, 53 are one person), so
/// copies fall in different parts.
fn spread_copies() -> Vec<u8> {
    let mut out = String::from("Email Address,First Name\r\n");
    for row in 1..=60 {
        out.push_str(&format!("person{}@example.com,First{row}\r\n", row % 23));
    }
    out.into_bytes()
}

/// Chunks of 4 rows; with a budget of a nanosecond, each chunk is a part.
fn kit(in_parts: bool) -> Kit {
    if in_parts {
        Kit::with_settings(&[("CHUNK_ROWS", "4"), ("STEP_TIME_BUDGET_SECONDS", "0.000000001")])
    } else {
        Kit::with_settings(&[("CHUNK_ROWS", "4")])
    }
}

/// Runs an import to its end, each transform message delivered `times` times.
async fn import(kit: &Kit, body: &str, file: &[u8], times: usize) -> (Import, BTreeMap<String, String>) {
    let (import, key) = kit.upload(body, file).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    while let Some(message) = kit.queue.pop(&[Queue::Transform, Queue::Process]) {
        let times = if message.queue == Queue::Transform { times } else { 1 };
        for _ in 0..times {
            kit.deliver(message.queue, &message.body).await.unwrap();
        }
    }
    let records = kit
        .store
        .records(TENANT, ResourceType::Contact)
        .into_iter()
        .map(|r| (r.identifier.clone(), r.fields["first_name"].as_str().unwrap_or_default().to_string()))
        .collect();
    (kit.import(&import.id).await, records)
}

/// The parts a scan was written in.
async fn parts(kit: &Kit, import: &Import) -> usize {
    let prefix = format!("results/{TENANT}/{}/scan/0/", import.id);
    let keys = kit.svc.files.list(&prefix).await.unwrap();
    keys.iter().filter(|k| k.ends_with(".json") && k.contains("/part-")).count()
}

fn stats(import: &Import) -> [u64; 5] {
    let s = &import.stats;
    [s.rows, s.created, s.duplicates, s.errors, s.processed]
}

#[tokio::test]
async fn a_scan_in_parts_imports_as_one_scan_does_under_each_duplicates_policy() {
    for (policy, expected) in
        [("last", [60, 23, 37, 0, 60]), ("first", [60, 23, 37, 0, 60]), ("error", [60, 0, 60, 60, 60])]
    {
        let body = format!(r#"{{"resource_type": "contact", "duplicates": "{policy}"}}"#);
        let (whole, whole_records) = import(&kit(false), &body, &spread_copies(), 1).await;
        let parted = kit(true);
        let (import, records) = import(&parted, &body, &spread_copies(), 1).await;
        assert_eq!(import.status, Status::Completed, "{policy}: {:?}", import.reason);
        assert_eq!(stats(&import), expected, "{policy}: {:?}", import.stats);
        assert_eq!(stats(&import), stats(&whole), "{policy}");
        assert_eq!(records, whole_records, "{policy}");
        assert_eq!(import.file.as_ref().map(|f| f.rows), Some(60));
        assert_eq!(parts(&parted, &import).await, 15, "{policy}: a part per chunk");
        assert_eq!(parts(&kit(false), &whole).await, 0);
    }
    // Under `last` the last copy's values win, under `first` the first's.
    let body = r#"{"resource_type": "contact", "duplicates": "last"}"#;
    let (_, records) = import(&kit(true), body, &spread_copies(), 1).await;
    assert_eq!(records["person7@example.com"], "First53");
    let body = r#"{"resource_type": "contact", "duplicates": "first"}"#;
    let (_, records) = import(&kit(true), body, &spread_copies(), 1).await;
    assert_eq!(records["person7@example.com"], "First7");
}

#[tokio::test]
async fn every_step_of_a_scan_in_parts_delivered_twice_counts_once() {
    let body = r#"{"resource_type": "contact"}"#;
    let (import, records) = import(&kit(true), body, &spread_copies(), 2).await;
    assert_eq!(import.status, Status::Completed, "{:?}", import.reason);
    assert_eq!(stats(&import), [60, 23, 37, 0, 60]);
    assert_eq!(records.len(), 23);
}

#[tokio::test]
async fn a_bad_row_in_a_later_part_fails_the_import_with_its_row() {
    let mut file = spread_copies();
    file.extend_from_slice(b"person1@example.com,\"never closed\r\n");
    let body = r#"{"resource_type": "contact"}"#;
    let kit = kit(true);
    let (import, records) = import(&kit, body, &file, 1).await;
    assert_eq!(import.status, Status::Failed);
    assert!(import.reason.as_deref().is_some_and(|r| r.contains("61")), "{:?}", import.reason);
    assert!(records.is_empty(), "nothing was written");
    assert!(parts(&kit, &import).await >= 10);
}

/// A part whose delivery died after it stored its state, before it sent the next part, is
/// delivered again: it sends the next part then, and the import completes as if nothing
/// happened.
#[tokio::test]
async fn a_part_that_died_before_sending_the_next_sends_it_when_delivered_again() {
    let kit = kit(true);
    let (import, key) = kit.upload(r#"{"resource_type": "contact"}"#, &spread_copies()).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let part_one = kit.queue.take(Queue::Transform).pop().expect("part 1 is sent");
    assert!(part_one.contains(r#""stage":"part""#) && part_one.contains(r#""part":1"#), "{part_one}");
    kit.deliver(Queue::Transform, &part_one).await.unwrap();
    assert_eq!(kit.queue.take(Queue::Transform).len(), 1, "part 2 is sent");
    // As if the delivery had died between storing part 1 and sending part 2.
    let scan = format!("results/{TENANT}/{}/scan/0/", import.id);
    kit.svc.files.delete_prefix(&format!("{scan}sent-000001")).await.unwrap();
    kit.deliver(Queue::Transform, &part_one).await.unwrap();
    let again = kit.queue.sent(Queue::Transform);
    assert!(again.last().is_some_and(|m| m.contains(r#""part":2"#)), "{again:?}");
    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Completed, "{:?}", import.reason);
    assert_eq!(stats(&import), [60, 23, 37, 0, 60]);
}

/// An upload event delivered again while the first delivery's parts go on, with time enough to
/// scan the whole file, stops where the first delivery stopped: one plan, each chunk sent once.
#[tokio::test]
async fn a_redelivery_with_more_time_stops_where_the_first_delivery_stopped() {
    let kit = kit(true);
    let (import, key) = kit.upload(r#"{"resource_type": "contact"}"#, &spread_copies()).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let mut unhurried = kit.svc.clone();
    unhurried.settings.step_time_budget = None;
    prevalidate::run(&unhurried, &key).await.unwrap();
    kit.drain().await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Completed, "{:?}", import.reason);
    assert_eq!(stats(&import), [60, 23, 37, 0, 60]);
    let chunks = kit.queue.sent(Queue::Transform).iter().filter(|m| m.contains(r#""kind":"chunk""#)).count();
    assert_eq!(chunks, 15, "each chunk sent once");
}
