//! Completion over the in-memory adapters: the finish message assembles the files and
//! completes the import once.

use domain::error_files::{errors_csv_key, errors_json_key};
use domain::import::{Phase, Status};
use domain::messages::{decode, ImportRef, TransformJob};
use domain::results::results_csv_key;
use service::pipeline::complete::send_finish_if_done;
use service::pipeline::prevalidate;
use service::ports::Queue;
use service::services::Services;
use testkit::{contacts_csv, Kit, TENANT};

const CONTACTS: &str = r#"{"resource_type": "contact"}"#;

#[tokio::test]
async fn the_files_are_assembled_in_row_order_across_chunks() {
    let kit = Kit::with_settings(&[("CHUNK_ROWS", "3")]);
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(8, &[2, 7])).await.unwrap();
    kit.run_import(&key).await.unwrap();

    let import = kit.import(&import.id).await;
    assert_eq!((import.status, import.stats.created, import.stats.errors), (Status::Completed, 6, 2));
    // The phase it ended in: a merge has no cleanup.
    assert_eq!(import.phase, Some(Phase::Processing));
    let errors = kit.files.get(&errors_csv_key(TENANT, &import.id)).unwrap();
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(errors.as_slice()).records().map(Result::unwrap).collect();
    let failed: Vec<&str> = rows.iter().map(|r| &r[5]).collect();
    assert_eq!(failed, ["2", "7"]);
    let json = kit.files.text(&errors_json_key(TENANT, &import.id)).unwrap();
    assert!(json.contains("broken-7-at-example"), "{json}");
    let results = kit.files.text(&results_csv_key(TENANT, &import.id)).unwrap();
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines.len(), 9, "a header and a line a row: {results}");
    assert!(lines[1].contains("person1@example.com") && lines[8].contains("person8@example.com"), "{results}");
}

#[tokio::test]
async fn a_second_finish_message_completes_nothing_again() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let mut finishes = Vec::new();
    while let Some(message) = kit.queue.pop(&[Queue::Transform, Queue::Process]) {
        if matches!(decode::<TransformJob>(&message.body), Ok(TransformJob::FinishRun(_))) {
            finishes.push(message.body.clone());
        }
        kit.deliver(message.queue, &message.body).await.unwrap();
    }
    assert_eq!(finishes.len(), 1);
    let completed = kit.import(&import.id).await;

    kit.deliver(Queue::Transform, &finishes[0]).await.unwrap();
    let again = kit.import(&import.id).await;
    assert_eq!(
        (again.status, again.completed_at, again.stats),
        (Status::Completed, completed.completed_at, completed.stats)
    );
    assert_eq!(kit.events(&import.id), ["created", "started", "completed"]);
}

#[tokio::test]
async fn the_steps_that_learn_together_that_a_run_is_done_send_one_finish_and_a_failed_send_is_tried_again() {
    let kit = Kit::new();
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(3, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    while let Some(message) = kit.queue.pop(&[Queue::Transform, Queue::Process]) {
        if !matches!(decode::<TransformJob>(&message.body), Ok(TransformJob::FinishRun(_))) {
            kit.deliver(message.queue, &message.body).await.unwrap();
        }
    }
    // Every unit is counted and no finish is on the queue: an instance that has sent none.
    let svc = Services { finishes: Default::default(), ..kit.svc.clone() };
    kit.queue.faults.fail_next("send", 1);
    assert!(send_finish_if_done(&svc, TENANT, &import.id).await.is_err());
    assert!(kit.queue.take(Queue::Transform).is_empty());

    let together = (0..5).map(|_| send_finish_if_done(&svc, TENANT, &import.id));
    for sent in futures::future::join_all(together).await {
        sent.unwrap();
    }
    assert_eq!(kit.queue.take(Queue::Transform).len(), 1);
}

#[tokio::test]
async fn a_finish_message_of_an_unfinished_run_changes_nothing() {
    let kit = Kit::with_settings(&[("CHUNK_ROWS", "2")]);
    let (import, key) = kit.upload(CONTACTS, &contacts_csv(4, &[])).await.unwrap();
    prevalidate::run(&kit.svc, &key).await.unwrap();
    let chunks = kit.queue.take(Queue::Transform);
    kit.deliver(Queue::Transform, &chunks[0]).await.unwrap();
    let early = TransformJob::FinishRun(ImportRef { tenant_id: TENANT.into(), import_id: import.id.clone() });

    kit.deliver(Queue::Transform, &domain::messages::encode(&early).unwrap()).await.unwrap();
    let import = kit.import(&import.id).await;
    assert_eq!(import.status, Status::Processing);
    assert!(!import.has_results_file);
    assert!(kit.files.get(&results_csv_key(TENANT, &import.id)).is_none());
}
