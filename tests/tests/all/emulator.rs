//! The local emulator keeps what it is sent: every test and figure of the project stands on it.
//! moto's DeleteMessage rebuilt a queue's messages without the lock a send takes, so a message
//! sent while a consumer deleted others was answered as sent and never received
//! (`scripts/moto_server.py`).

use std::collections::BTreeSet;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use tests::host;

/// A backlog long enough that each delete goes through many messages while sends go on.
const BACKLOG: usize = 1_500;
const SENT_MEANWHILE: usize = 500;
const DELETERS: usize = 4;
const SENDERS: usize = 2;

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    let entries = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build())
        .collect::<Result<Vec<_>, _>>()
        .expect("entries");
    let out = sqs.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await.expect("send");
    assert!(out.failed().is_empty(), "{:?}", out.failed());
}

/// Receives and deletes until the queue is empty; the bodies it deleted.
async fn drain(sqs: aws_sdk_sqs::Client, url: String) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        let entries = out
            .messages()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("delete");
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_string)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_others_are_deleted_is_received() {
    let host = host(|_| {}).await;
    let sqs = host.clients.sqs.clone();
    let name = format!("race-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let url = sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url().expect("url").to_string();
    let backlog: Vec<String> = (0..BACKLOG).map(|i| format!("backlog-{i}")).collect();
    for group in backlog.chunks(10) {
        send(&sqs, &url, group).await;
    }

    let deleters: Vec<_> = (0..DELETERS).map(|_| tokio::spawn(drain(sqs.clone(), url.clone()))).collect();
    let sent: Vec<String> = (0..SENT_MEANWHILE).map(|i| format!("sent-{i}")).collect();
    let senders: Vec<_> = sent
        .chunks(SENT_MEANWHILE / SENDERS)
        .map(|bodies| {
            let (sqs, url, bodies) = (sqs.clone(), url.clone(), bodies.to_vec());
            tokio::spawn(async move {
                for group in bodies.chunks(10) {
                    send(&sqs, &url, group).await;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    let mut received = BTreeSet::new();
    for deleter in deleters {
        received.extend(deleter.await.expect("deleter"));
    }
    // Whatever the deleters stopped short of.
    received.extend(drain(sqs.clone(), url.clone()).await);

    let lost: Vec<&String> = backlog.iter().chain(&sent).filter(|b| !received.contains(*b)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} messages sent were never received: {lost:?}",
        lost.len(),
        BACKLOG + SENT_MEANWHILE
    );
    sqs.delete_queue().queue_url(&url).send().await.expect("queue deleted");
}
