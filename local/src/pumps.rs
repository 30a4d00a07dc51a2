//! Stands in for Lambda's event source mappings: drains the queues and hands each batch to the
//! same handler function the Lambda binary runs, deleting only what the handler did not fail.
//!
//! The transform and process queues are fair queues (a tenant is a message group): SQS serves a
//! quiet tenant's messages ahead of another tenant's backlog. The emulator hands them out in the
//! order sent, so each pump reads far ahead into a buffer and hands out batches taken
//! round-robin across the groups it holds, as AWS would.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use service::Services;
use tokio::sync::Notify;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Prevalidate,
    Transform,
    Process,
    Webhooks,
    /// A dead-letter queue (`service::pipeline::dead_letters`).
    DeadLetters,
}

impl Target {
    /// How long a message handed to a handler stays hidden, as the template's VisibilityTimeout
    /// of its queue (six times its function's timeout); prevalidate, which S3 invokes
    /// directly, for its function's timeout.
    pub fn visibility_timeout(self) -> Duration {
        Duration::from_secs(match self {
            Target::Prevalidate => 900,
            Target::Transform => 5_400,
            Target::Process => 720,
            Target::Webhooks => 360,
            Target::DeadLetters => 180,
        })
    }
}

/// How a pump hands its messages out.
#[derive(Debug, Clone, Default)]
pub struct Handing {
    /// Hand every transform and process batch to its handler twice.
    pub deliver_twice: bool,
    /// Overrides `Target::visibility_timeout`. A handed-out message's hide is not renewed: a
    /// handler slower than this sees its message handed to another consumer, as in AWS.
    pub visibility_timeout: Option<Duration>,
    /// What the consumers sharing it were handed.
    pub deliveries: Arc<Deliveries>,
}

/// What the consumers of one or more hosts were handed, to show redelivery happening.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Messages the queue had handed out before (`ApproximateReceiveCount` over 1): after a
    /// lapsed hide, a failure or a consumer that died.
    redelivered: AtomicU64,
    /// Messages handed to a consumer while another consumer was still handling them.
    at_once: AtomicU64,
    /// Each message being handled, by id: how many consumers have it.
    handling: Mutex<HashMap<String, u32>>,
    /// Per function, its invocations and the time its handler took: what Lambda bills.
    busy: Mutex<HashMap<Target, (u64, Duration)>>,
}

impl Deliveries {
    pub fn redelivered(&self) -> u64 {
        self.redelivered.load(Ordering::Relaxed)
    }

    pub fn handled_at_once(&self) -> u64 {
        self.at_once.load(Ordering::Relaxed)
    }

    /// Per function, its invocations and the time its handler took since the host started
    /// (the local host's, on the emulator: longer than in AWS).
    pub fn busy(&self) -> HashMap<Target, (u64, Duration)> {
        self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn note_busy(&self, target: Target, took: Duration) {
        let mut busy = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (invocations, time) = busy.entry(target).or_default();
        *invocations += 1;
        *time += took;
    }

    fn in_hand(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.handling.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes a batch handed out; the guard notes it settled when dropped.
    fn handing<'a>(&'a self, messages: &[Message]) -> InHand<'a> {
        let ids: Vec<String> = messages.iter().filter_map(|m| m.message_id().map(str::to_string)).collect();
        let again = messages.iter().filter(|m| receive_count(m) > 1).count();
        self.redelivered.fetch_add(again as u64, Ordering::Relaxed);
        let mut in_hand = self.in_hand();
        for id in &ids {
            let consumers = in_hand.entry(id.clone()).or_default();
            if *consumers > 0 {
                self.at_once.fetch_add(1, Ordering::Relaxed);
            }
            *consumers += 1;
        }
        InHand { deliveries: self, ids }
    }
}

struct InHand<'a> {
    deliveries: &'a Deliveries,
    ids: Vec<String>,
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        let mut in_hand = self.deliveries.in_hand();
        for id in &self.ids {
            if let Some(consumers) = in_hand.get_mut(id) {
                *consumers -= 1;
                if *consumers == 0 {
                    in_hand.remove(id);
                }
            }
        }
    }
}

/// A message the handler failed comes back after this long, the queue's own visibility timeout.
pub const RETRY_SECS: i32 = 5;
/// How far a pump reads ahead: far enough to see a small tenant's message behind a large
/// import's backlog, within the emulator's memory.
const LOOKAHEAD_MESSAGES: usize = 5_000;
const LOOKAHEAD_BYTES: usize = 128 * 1024 * 1024;
/// Lambda invokes prevalidate once per S3 event, concurrently: each consumer of the upload
/// events takes one event at a time, and there are this many per worker.
const PREVALIDATE_PER_WORKER: usize = 2;

/// Drains one queue forever with `workers` consumers; run as a task and abort it to stop.
pub async fn run(
    sqs: aws_sdk_sqs::Client,
    services: Arc<Services>,
    queue_url: String,
    target: Target,
    workers: usize,
    handing: Handing,
) {
    let visibility = handing.visibility_timeout.unwrap_or(target.visibility_timeout());
    let lookahead = Arc::new(Lookahead::new(visibility));
    let (consumers, batch) = match target {
        Target::Prevalidate => (workers * PREVALIDATE_PER_WORKER, 1),
        Target::Transform | Target::Process | Target::Webhooks | Target::DeadLetters => (workers, 10),
    };
    // Dropped with this task, which aborts the consumers.
    let mut tasks = JoinSet::new();
    for _ in 0..consumers {
        let (sqs, services, url, lookahead) = (sqs.clone(), services.clone(), queue_url.clone(), lookahead.clone());
        let handing = handing.clone();
        tasks.spawn(async move {
            loop {
                let arrived = lookahead.arrived.notified();
                let messages = lookahead.take(batch, Instant::now());
                if messages.is_empty() {
                    arrived.await;
                    continue;
                }
                let messages = hide_while_handled(&sqs, &url, visibility, messages).await;
                let _in_hand = handing.deliveries.handing(&messages);
                handle(&sqs, &services, &url, target, &handing, &messages).await;
            }
        });
    }
    loop {
        renew(&sqs, &queue_url, &lookahead).await;
        if lookahead.is_full() {
            let _ = tokio::time::timeout(Duration::from_secs(1), lookahead.taken.notified()).await;
            continue;
        }
        let asked = Instant::now();
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(secs(lookahead.poll()))
            .visibility_timeout(secs(lookahead.hide))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await;
        match received {
            Ok(out) => lookahead.push(out.messages.unwrap_or_default(), asked + lookahead.hide),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Hands a batch to the handler and settles each message: deleted when handled, back soon if not.
async fn handle(
    sqs: &aws_sdk_sqs::Client,
    services: &Services,
    queue_url: &str,
    target: Target,
    handing: &Handing,
    messages: &[Message],
) {
    let mut done: Vec<&Message> = Vec::new();
    // Each message S3 sends is an invocation of its own; a queue's batch is one.
    match target {
        Target::Prevalidate => {
            for m in messages {
                let started = Instant::now();
                if deliver(services, m).await {
                    done.push(m);
                }
                handing.deliveries.note_busy(target, started.elapsed());
            }
        }
        Target::Transform | Target::Process | Target::Webhooks | Target::DeadLetters => {
            let started = Instant::now();
            let mut failed = invoke_sqs(services, target, queue_url, messages).await;
            handing.deliveries.note_busy(target, started.elapsed());
            // A webhook is delivered at least once as it is: twice would start a second chain
            // of attempts.
            if handing.deliver_twice && target != Target::Webhooks {
                // At-least-once: the same batch again, as SQS may redeliver it.
                failed.extend(invoke_sqs(services, target, queue_url, messages).await);
            }
            done.extend(messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id())));
        }
    }
    let failed: Vec<&Message> =
        messages.iter().filter(|m| !done.iter().any(|d| d.message_id() == m.message_id())).collect();
    delete(sqs, queue_url, &done).await;
    retry_soon(sqs, queue_url, &failed).await;
}

/// The tenant a message belongs to; messages without one (S3 events) share one group.
fn group_of(message: &Message) -> &str {
    message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId)).map_or("", String::as_str)
}

struct Buffered {
    message: Message,
    hidden_until: Instant,
}

#[derive(Default)]
struct Held {
    /// Each group's messages in the order received; the group at the front is served next.
    groups: VecDeque<(String, VecDeque<Buffered>)>,
    count: usize,
    bytes: usize,
}

/// The messages a pump has received and not yet handed out.
struct Lookahead {
    held: Mutex<Held>,
    arrived: Notify,
    taken: Notify,
    /// How long a buffered message is hidden at a time: renewed once half of it is gone.
    hide: Duration,
}

/// A buffered message is hidden for the queue's visibility timeout within these bounds at a
/// time: the messages a killed host held come back soon, and a short visibility timeout does
/// not have buffered messages lapse and received again (each receive counts towards the
/// dead-letter queue). Handing one out hides it for the visibility timeout.
const BUFFER_HIDE: Duration = Duration::from_secs(120);
const BUFFER_HIDE_MIN: Duration = Duration::from_secs(10);

impl Lookahead {
    fn new(visibility: Duration) -> Self {
        Self {
            held: Mutex::default(),
            arrived: Notify::new(),
            taken: Notify::new(),
            hide: visibility.clamp(BUFFER_HIDE_MIN, BUFFER_HIDE),
        }
    }

    /// How long a receive waits for messages when there are none. As long as SQS allows (an idle
    /// queue costs a request per wait), but the loop must come round to renew the buffered
    /// messages' hides (`to_renew`) before `take` would let them go.
    fn poll(&self) -> Duration {
        (self.hide / 8).clamp(Duration::from_secs(1), Duration::from_secs(20))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding the lock leaves plain data behind: still consistent enough to serve.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_full(&self) -> bool {
        let held = self.held();
        held.count >= LOOKAHEAD_MESSAGES || held.bytes >= LOOKAHEAD_BYTES
    }

    fn push(&self, messages: Vec<Message>, hidden_until: Instant) {
        if messages.is_empty() {
            return;
        }
        let mut held = self.held();
        for message in messages {
            held.count += 1;
            held.bytes += message.body().map_or(0, str::len);
            let group = group_of(&message).to_string();
            let buffered = Buffered { message, hidden_until };
            match held.groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, queue)) => queue.push_back(buffered),
                None => held.groups.push_back((group, VecDeque::from([buffered]))),
            }
        }
        drop(held);
        self.arrived.notify_waiters();
    }

    /// Up to `n` messages, one from each group in turn. One whose hide could lapse before it is
    /// hidden for its handling is let go: the queue delivers it again.
    fn take(&self, n: usize, now: Instant) -> Vec<Message> {
        let mut held = self.held();
        let mut batch = Vec::new();
        while batch.len() < n {
            let Some((group, mut queue)) = held.groups.pop_front() else { break };
            if let Some(b) = queue.pop_front() {
                held.count -= 1;
                held.bytes -= b.message.body().map_or(0, str::len);
                if b.hidden_until >= now + self.hide / 4 {
                    batch.push(b.message);
                }
            }
            if !queue.is_empty() {
                held.groups.push_back((group, queue));
            }
        }
        drop(held);
        self.taken.notify_waiters();
        batch
    }

    /// Receipt handles of the messages whose hide must be renewed by `now`.
    fn to_renew(&self, now: Instant) -> Vec<(String, String)> {
        let due = now + self.hide / 2;
        let held = self.held();
        let waiting = held.groups.iter().flat_map(|(_, q)| q.iter()).filter(|b| b.hidden_until < due);
        waiting
            .filter_map(|b| Some((b.message.message_id()?.to_string(), b.message.receipt_handle()?.to_string())))
            .collect()
    }

    fn renewed(&self, message_ids: &[String], hidden_until: Instant) {
        let mut held = self.held();
        for b in held.groups.iter_mut().flat_map(|(_, q)| q.iter_mut()) {
            if b.message.message_id().is_some_and(|id| message_ids.iter().any(|r| r == id)) {
                b.hidden_until = hidden_until;
            }
        }
    }
}

/// Keeps the buffered messages hidden while they wait; one that could not be renewed is let go
/// when its turn comes (`Lookahead::take`).
async fn renew(sqs: &aws_sdk_sqs::Client, queue_url: &str, lookahead: &Lookahead) {
    let asked = Instant::now();
    let due = lookahead.to_renew(asked);
    let handles: Vec<&str> = due.iter().map(|(_, handle)| handle.as_str()).collect();
    let ok = change_visibility(sqs, queue_url, &handles, lookahead.hide).await;
    let ok: Vec<String> = ok.into_iter().map(|i| due[i].0.clone()).collect();
    lookahead.renewed(&ok, asked + lookahead.hide);
}

/// Hides the messages of a batch for their handling, without renewal after: the ones that are
/// hidden, each to be handled once unless its handler outlives `visibility`.
async fn hide_while_handled(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    visibility: Duration,
    messages: Vec<Message>,
) -> Vec<Message> {
    let handles: Vec<&str> = messages.iter().map(|m| m.receipt_handle().unwrap_or_default()).collect();
    let ok = change_visibility(sqs, queue_url, &handles, visibility).await;
    messages.into_iter().enumerate().filter(|(i, _)| ok.contains(i)).map(|(_, m)| m).collect()
}

/// How many times the queue has handed this message out, this time included.
fn receive_count(message: &Message) -> u64 {
    let attributes = message.attributes();
    let count = attributes.and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount));
    count.and_then(|c| c.parse().ok()).unwrap_or(1)
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Sets the visibility timeout of the messages with these receipt handles; the indexes of the
/// ones changed.
async fn change_visibility(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    handles: &[&str],
    timeout: Duration,
) -> Vec<usize> {
    let mut changed = Vec::new();
    for (n, chunk) in handles.chunks(10).enumerate() {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id((n * 10 + i).to_string())
                    .receipt_handle(*handle)
                    .visibility_timeout(secs(timeout))
                    .build()
                    .ok()
            })
            .collect();
        let sent = sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await;
        match sent {
            Ok(out) => changed.extend(out.successful().iter().filter_map(|s| s.id().parse::<usize>().ok())),
            Err(e) => tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "visibility not changed"),
        }
    }
    changed
}

/// One S3 notification, as the S3 trigger would invoke prevalidate with it.
async fn deliver(services: &Services, message: &Message) -> bool {
    let Some(event) = s3_event(message.body().unwrap_or_default()) else {
        tracing::info!("not an S3 event (the emulator's s3:TestEvent); dropped");
        return true;
    };
    let handled = prevalidate::handler(services, LambdaEvent::new(event, Context::default()));
    let id = message.message_id().unwrap_or_default().to_string();
    match lambda_edge::sqs::MESSAGE_ID.scope(id, handled).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "prevalidate failed; the event will be retried");
            false
        }
    }
}

/// The notification as Lambda's S3 trigger delivers it. The emulator leaves out fields AWS
/// always sends (`userIdentity`, `requestParameters`, `responseElements`): fill them in.
fn s3_event(body: &str) -> Option<S3Event> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    for record in value.get_mut("Records")?.as_array_mut()? {
        let record = record.as_object_mut()?;
        record.entry("userIdentity").or_insert_with(|| json!({ "principalId": "local" }));
        record.entry("requestParameters").or_insert_with(|| json!({ "sourceIPAddress": "127.0.0.1" }));
        record.entry("responseElements").or_insert_with(|| json!({}));
    }
    serde_json::from_value(value).ok()
}

/// Returns the ids of the messages the handler reported failed (all of them if it errored).
async fn invoke_sqs(services: &Services, target: Target, queue_url: &str, messages: &[Message]) -> Vec<String> {
    // The queue's ARN as Lambda passes it: the dead-letter function names letters by its queue.
    let queue_arn = format!("arn:aws:sqs:us-east-1:000000000000:{}", queue_url.rsplit('/').next().unwrap_or_default());
    let records: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                // Lambda passes a fair queue's message group on.
                "attributes": match group_of(m) {
                    "" => json!({}),
                    group => json!({ "MessageGroupId": group }),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event: SqsEvent = match serde_json::from_value(json!({ "Records": records })) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "could not build an SQS event");
            return messages.iter().filter_map(|m| m.message_id().map(str::to_string)).collect();
        }
    };
    let lambda_event = LambdaEvent::new(event, Context::default());
    let result: Result<SqsBatchResponse, _> = match target {
        Target::Transform => transform::handler(services, lambda_event).await,
        Target::Webhooks => deliver_webhooks::handler(services, lambda_event).await,
        Target::DeadLetters => dead_letters::handler(services, lambda_event).await,
        _ => process::handler(services, lambda_event).await,
    };
    match result {
        Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        Err(e) => {
            tracing::error!(error = %e, "handler failed the whole batch");
            messages.iter().filter_map(|m| m.message_id().map(str::to_string)).collect()
        }
    }
}

async fn retry_soon(sqs: &aws_sdk_sqs::Client, queue_url: &str, failed: &[&Message]) {
    let handles: Vec<&str> = failed.iter().filter_map(|m| m.receipt_handle()).collect();
    change_visibility(sqs, queue_url, &handles, Duration::from_secs(RETRY_SECS as u64)).await;
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, done: &[&Message]) {
    if done.is_empty() {
        return;
    }
    let entries: Vec<_> = done
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(m.receipt_handle()?).build().ok()
        })
        .collect();
    if let Err(e) = sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; messages will be redelivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, group: &str) -> Message {
        let m = Message::builder().message_id(id).receipt_handle(id).body(id);
        match group {
            "" => m.build(),
            g => m.attributes(MessageSystemAttributeName::MessageGroupId, g).build(),
        }
    }

    const HIDE: Duration = BUFFER_HIDE;

    fn ids(messages: &[Message]) -> Vec<&str> {
        messages.iter().filter_map(Message::message_id).collect()
    }

    #[test]
    fn batches_are_taken_round_robin_across_groups() {
        let lookahead = Lookahead::new(Target::Process.visibility_timeout());
        let now = Instant::now();
        let hidden = now + HIDE;
        let flood: Vec<Message> = (1..=12).map(|i| message(&format!("a{i}"), "a")).collect();
        lookahead.push(flood, hidden);
        lookahead.push(vec![message("b1", "b"), message("b2", "b"), message("c1", "c")], hidden);
        assert_eq!(ids(&lookahead.take(4, now)), ["a1", "b1", "c1", "a2"]);
        // The turn carries over from one batch to the next.
        assert_eq!(ids(&lookahead.take(3, now)), ["b2", "a3", "a4"]);
        assert_eq!(lookahead.take(10, now).len(), 8);
        assert!(lookahead.take(10, now).is_empty());
    }

    #[test]
    fn a_message_whose_hide_would_lapse_while_handled_is_let_go() {
        let lookahead = Lookahead::new(Target::Process.visibility_timeout());
        let now = Instant::now();
        lookahead.push(vec![message("old", "")], now + HIDE / 4 - Duration::from_secs(1));
        lookahead.push(vec![message("new", "")], now + HIDE);
        assert_eq!(lookahead.to_renew(now), [("old".to_string(), "old".to_string())]);
        assert_eq!(ids(&lookahead.take(10, now)), ["new"]);

        lookahead.push(vec![message("renewed", "")], now + HIDE / 4 - Duration::from_secs(1));
        lookahead.renewed(&["renewed".to_string()], now + HIDE);
        assert!(lookahead.to_renew(now).is_empty());
        assert_eq!(ids(&lookahead.take(10, now)), ["renewed"]);
    }

    #[test]
    fn a_message_handed_out_while_still_handled_counts_as_handled_at_once() {
        let deliveries = Deliveries::default();
        let again = Message::builder()
            .message_id("m")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let first = deliveries.handing(&[message("m", "")]);
        let second = deliveries.handing(std::slice::from_ref(&again));
        assert_eq!((deliveries.redelivered(), deliveries.handled_at_once()), (1, 1));
        drop((first, second));
        // Settled, the same message again is a redelivery, not a second handling at once.
        drop(deliveries.handing(&[again]));
        assert_eq!((deliveries.redelivered(), deliveries.handled_at_once()), (2, 1));
    }

    #[test]
    fn a_short_visibility_timeout_keeps_buffered_messages_hidden_a_while() {
        assert_eq!(Lookahead::new(Duration::from_secs(1)).hide, BUFFER_HIDE_MIN);
        assert_eq!(Lookahead::new(Duration::from_secs(30)).hide, Duration::from_secs(30));
        assert_eq!(Lookahead::new(Target::Transform.visibility_timeout()).hide, BUFFER_HIDE);
    }

    #[test]
    fn the_lookahead_is_bounded() {
        let lookahead = Lookahead::new(Target::Process.visibility_timeout());
        let hidden = Instant::now() + HIDE;
        lookahead.push((0..LOOKAHEAD_MESSAGES).map(|i| message(&i.to_string(), "a")).collect(), hidden);
        assert!(lookahead.is_full());
        lookahead.take(1, Instant::now());
        assert!(!lookahead.is_full());
    }

    #[test]
    fn emulator_notifications_become_lambda_events() {
        let body = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-23T08:52:09.448Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "x", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"}, "object": {"key": "uploads%2Fx%2Fy+z%2B%2Fsource", "size": 1, "eTag": "0c"}}}]}"#;
        let event = s3_event(body).expect("parses");
        assert_eq!(event.records[0].s3.object.key.as_deref(), Some("uploads%2Fx%2Fy+z%2B%2Fsource"));
        assert!(s3_event(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).is_none());
    }
}
