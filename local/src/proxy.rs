//! A loopback HTTP proxy in front of the AWS emulator. It counts what the service asks of AWS
//! (requests by service and operation, writes to an import's own state item, by the message
//! whose handling made them when the client says ([`MessageTag`]), SQS messages consumed) and
//! can answer DynamoDB the way a busy table does: unprocessed items and keys,
//! throttling errors, transactions cancelled for throttling. Faults are picked by counters, not
//! at random, so a test over them behaves the same on every run.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

use crate::capacity::{self, array, tables, Capacity};
use crate::Error;

/// Which faults to inject: each kind hits the first request it applies to and every n-th after
/// (0: never).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// BatchWriteItem: half of each table's items are not written and come back unprocessed.
    pub unprocessed_items_every: u64,
    /// BatchGetItem: half of each table's keys are not read and come back unprocessed.
    pub unprocessed_keys_every: u64,
    /// Other reads and writes (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan): a 400
    /// `ThrottlingException` instead of an answer, on an operation's first attempt only, so the
    /// SDK's own retry gets through.
    pub throttle_every: u64,
    /// TransactWriteItems: cancelled, nothing written, with a `ThrottlingError` reason.
    pub cancel_every: u64,
    /// TransactWriteItems: cancelled, nothing written, with a `TransactionConflict` reason on its
    /// second item (for a batch, its counter shard: another transaction on it at the time).
    pub conflict_every: u64,
    /// A process batch's TransactWriteItems (its first item a `batch#` ledger entry) that
    /// succeeded: answered with an error all the same, as if the function died after the write,
    /// so its message is delivered again.
    pub lost_batch_answer_every: u64,
    /// DynamoDB's per-partition write limit, scaled down (`LOCAL_PARTITION_WCU`; 0: none): each
    /// partition key of each table takes this many write units a second, as [`capacity`] counts
    /// them, and a write to one that has spent its second's units is throttled the way DynamoDB
    /// throttles it (a ThrottlingException, a batch's items unprocessed, a transaction cancelled).
    /// A partition may go into debt by one request, so no write is too large to ever pass.
    pub partition_wcu: u64,
}

/// The variable that sets [`Faults::partition_wcu`] where a proxy is started for the user
/// (`make run`, `make bench`).
pub const PARTITION_WCU_VAR: &str = "LOCAL_PARTITION_WCU";

/// `LOCAL_PARTITION_WCU`: a whole number of write units a second per partition, or none.
pub fn partition_wcu_from_env() -> Result<Option<u64>, Error> {
    match std::env::var(PARTITION_WCU_VAR) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => {
                Err(Error::Setup(format!("{PARTITION_WCU_VAR} must be write units a second (1 or more), not {text:?}")))
            }
        },
    }
}

impl Faults {
    /// Every kind often enough that a few hundred rows meet each several times.
    pub fn mixed() -> Self {
        Self {
            unprocessed_items_every: 2,
            unprocessed_keys_every: 2,
            throttle_every: 5,
            cancel_every: 3,
            ..Self::default()
        }
    }
}

/// The header naming the message whose handling made a call.
pub const MESSAGE_HEADER: &str = "x-local-message-id";

/// Tags each DynamoDB call made while a message is handled (`lambda_edge::sqs::MESSAGE_ID`)
/// with its id, for the proxy to count each message's writes.
#[derive(Debug)]
pub struct MessageTag;

impl Intercept for MessageTag {
    fn name(&self) -> &'static str {
        "MessageTag"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(id) = lambda_edge::sqs::MESSAGE_ID.try_with(String::clone) {
            context.request_mut().headers_mut().insert(MESSAGE_HEADER, id);
        }
        Ok(())
    }
}

/// What went through the proxy since it started (or was reset).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// `dynamodb`, `s3` and `sqs`.
    pub by_service: BTreeMap<&'static str, u64>,
    /// `service:Operation` (S3: the HTTP method).
    pub by_operation: BTreeMap<String, u64>,
    /// Puts, updates and deletes of an import item or counter shard, alone, in transactions and
    /// in batches, that DynamoDB applied: one refused (a failed condition, a cancelled
    /// transaction, an injected fault) wrote nothing.
    pub state_writes: u64,
    /// [`Self::state_writes`] by the message whose handling made them ([`MESSAGE_HEADER`]); those
    /// of calls no message made are under "".
    pub state_writes_by_message: BTreeMap<String, u64>,
    /// Messages deleted from a queue: consumed, their work done.
    pub messages_consumed: u64,
    /// Items DynamoDB read to answer: those a query or scan went through (`ScannedCount`, its
    /// filter not yet applied), an item got, the items of a batch get.
    pub items_read: u64,
    /// The request units DynamoDB would bill for what was asked of it ([`crate::capacity`]).
    pub capacity: Capacity,
    /// Puts, updates and deletes DynamoDB applied, by table and partition key.
    pub writes_by_partition: BTreeMap<(String, String), u64>,
    pub injected_unprocessed_items: u64,
    pub injected_unprocessed_keys: u64,
    pub injected_throttles: u64,
    pub injected_cancellations: u64,
    pub injected_conflicts: u64,
    /// Writes refused by the partition limit ([`Faults::partition_wcu`]).
    pub partition_throttles: u64,
}

impl Counts {
    pub fn service(&self, name: &str) -> u64 {
        self.by_service.get(name).copied().unwrap_or(0)
    }
}

/// A running proxy; dropping it stops accepting connections.
pub struct Proxy {
    /// Where clients reach it: an `AWS_ENDPOINT_URL`.
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    upstream: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    faults: Faults,
    /// Per fault kind, how many requests it applied to so far.
    seen: [AtomicU64; 6],
    counts: Mutex<Counts>,
    /// Each partition's write units left this second and when they were counted.
    partitions: Mutex<HashMap<(String, String), (f64, Instant)>>,
}

const ITEMS: usize = 0;
const KEYS: usize = 1;
const THROTTLE: usize = 2;
const CANCEL: usize = 3;
const LOST: usize = 4;
const CONFLICT: usize = 5;

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, faults: Faults) -> Result<Self, Error> {
        let upstream: Uri = upstream.parse().map_err(|e| Error::Setup(format!("upstream {upstream}: {e}")))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Setup(format!("proxy cannot listen: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::Setup(e.to_string()))?;
        let shared = Arc::new(Shared::new(upstream, faults));
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "proxy accept failed");
                        continue;
                    }
                };
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| shared.clone().handle(req));
                    let conn =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "proxy connection ended");
                    }
                });
            }
        });
        Ok(Self { url: format!("http://{addr}"), shared, task })
    }

    pub fn counts(&self) -> Counts {
        self.shared.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The counts once the queues' last deletes are in: a step's message is deleted after the
    /// step returns, so right after an import ends some are still on their way (up to 30 s).
    pub async fn settled(&self) -> Counts {
        let mut settled = self.counts();
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let now = self.counts();
            if now.messages_consumed == settled.messages_consumed {
                break;
            }
            settled = now;
        }
        settled
    }

    /// Starts counting again from zero (what set-up did is not the measure).
    pub fn reset(&self) {
        *self.shared.counts.lock().unwrap_or_else(PoisonError::into_inner) = Counts::default();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a request asks of AWS.
#[derive(Debug, PartialEq, Eq)]
struct Call {
    service: &'static str,
    operation: String,
}

impl Call {
    fn of(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Self {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
            return Self { service: "dynamodb", operation: op.to_string() };
        }
        if let Some(op) = target.strip_prefix("AmazonSQS.") {
            return Self { service: "sqs", operation: op.to_string() };
        }
        // SQS's query protocol names the action in the form body or the query string.
        let form = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let action =
            |text: &[u8]| url::form_urlencoded::parse(text).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned());
        let action = query.and_then(|q| action(q.as_bytes())).or_else(|| form.then(|| action(body)).flatten());
        match action {
            Some(op) => Self { service: "sqs", operation: op },
            None => Self { service: "s3", operation: String::new() },
        }
    }
}

/// The key attribute `pk` of an item or key, as DynamoDB JSON.
fn pk(item: Option<&Value>) -> Option<&str> {
    item?.get("pk")?.get("S")?.as_str()
}

/// An import's state is its item, `pk = tenant` (every other partition, ledger, idempotency
/// keys, records and their indexes, has a `#` in its key, and tenant ids cannot), and its
/// counter shards, `sk = count#…` in its ledger.
fn is_import_state(item: Option<&Value>) -> bool {
    let counter = item.and_then(|i| i.get("sk")?.get("S")?.as_str()).is_some_and(|sk| sk.starts_with("count#"));
    pk(item).is_some_and(|pk| !pk.contains('#')) || counter
}

/// How many of a DynamoDB request's writes go to an import's state.
fn state_writes(operation: &str, body: &Value) -> u64 {
    let write = |op: &Value| {
        let target = op.get("Item").or_else(|| op.get("Key"));
        u64::from(is_import_state(target))
    };
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => write(body),
        "TransactWriteItems" => array(body, "TransactItems")
            .filter_map(|t| t.get("Put").or_else(|| t.get("Update")).or_else(|| t.get("Delete")))
            .map(write)
            .sum(),
        "BatchWriteItem" => tables(body, "RequestItems")
            .flat_map(|(_, requests)| requests.as_array().into_iter().flatten())
            .filter_map(|r| r.get("PutRequest").or_else(|| r.get("DeleteRequest")))
            .map(write)
            .sum(),
        _ => 0,
    }
}

/// How many items a DynamoDB answer says were read.
fn items_read(operation: &str, answer: &Value) -> u64 {
    match operation {
        "GetItem" => u64::from(answer.get("Item").is_some()),
        "BatchGetItem" => {
            tables(answer, "Responses").map(|(_, items)| items.as_array().map_or(0, Vec::len) as u64).sum()
        }
        "Query" | "Scan" => answer.get("ScannedCount").and_then(Value::as_u64).unwrap_or(0),
        _ => 0,
    }
}

/// How many messages an SQS request deletes (JSON protocol, or the query protocol's entries).
fn messages_deleted(operation: &str, body: &[u8]) -> u64 {
    match operation {
        "DeleteMessage" => 1,
        "DeleteMessageBatch" => match serde_json::from_slice::<Value>(body) {
            Ok(v) => array(&v, "Entries").count() as u64,
            Err(_) => url::form_urlencoded::parse(body).filter(|(k, _)| k.ends_with(".ReceiptHandle")).count() as u64,
        },
        _ => 0,
    }
}

/// Splits a batch request: each table keeps the first half (rounded up) of its entries, the rest
/// is returned as what would come back unprocessed; None when no table has two entries.
/// `entries` finds a table's list of entries inside its value.
fn split(request: &mut Value, entries: fn(&mut Value) -> Option<&mut Vec<Value>>) -> Option<Map<String, Value>> {
    let mut held = Map::new();
    for (table, value) in request.get_mut("RequestItems")?.as_object_mut()? {
        let mut rest = value.clone();
        let Some(list) = entries(value).filter(|l| l.len() >= 2) else { continue };
        let tail = list.split_off(list.len().div_ceil(2));
        if let Some(rest_list) = entries(&mut rest) {
            *rest_list = tail;
        }
        held.insert(table.clone(), rest);
    }
    (!held.is_empty()).then_some(held)
}

/// Whether `split` would hold part of the request back.
fn splits(request: &Value, entries: fn(&mut Value) -> Option<&mut Vec<Value>>) -> bool {
    split(&mut request.clone(), entries).is_some()
}

fn write_requests(v: &mut Value) -> Option<&mut Vec<Value>> {
    v.as_array_mut()
}

fn get_keys(v: &mut Value) -> Option<&mut Vec<Value>> {
    v.get_mut("Keys")?.as_array_mut()
}

/// Adds the held entries to what the emulator left unprocessed, under `field`.
fn merge_unprocessed(response: &[u8], field: &str, held: Map<String, Value>) -> Option<Vec<u8>> {
    let mut response: Value = serde_json::from_slice(response).ok()?;
    let unprocessed = response.as_object_mut()?.entry(field).or_insert_with(|| json!({}));
    let unprocessed = unprocessed.as_object_mut()?;
    for (table, rest) in held {
        match (unprocessed.get_mut(&table), rest) {
            (Some(Value::Array(list)), Value::Array(more)) => list.extend(more),
            (Some(Value::Object(existing)), Value::Object(more)) => {
                if let (Some(Value::Array(list)), Some(Value::Array(keys))) =
                    (existing.get_mut("Keys"), more.get("Keys").cloned())
                {
                    list.extend(keys);
                }
            }
            (_, rest) => {
                unprocessed.insert(table, rest);
            }
        }
    }
    serde_json::to_vec(&response).ok()
}

/// A DynamoDB error answer, as the service sends it.
fn dynamo_error(body: Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    resp
}

fn throttled() -> Response<Full<Bytes>> {
    dynamo_error(json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate exceeded",
    }))
}

/// A batch write answered with every item unprocessed.
fn unprocessed(body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(json!({"UnprocessedItems": body["RequestItems"]}).to_string())));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    resp
}

/// A transaction cancelled because one of its items was throttled (the last one here).
fn cancelled(items: usize) -> Response<Full<Bytes>> {
    let throttled =
        json!({"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table."});
    cancelled_for(items, items.saturating_sub(1), throttled)
}

/// A transaction cancelled for `reason`, given for its item `at`.
fn cancelled_for(items: usize, at: usize, reason: Value) -> Response<Full<Bytes>> {
    let reasons: Vec<Value> =
        (0..items).map(|i| if i == at { reason.clone() } else { json!({"Code": "None"}) }).collect();
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
    dynamo_error(json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
        "CancellationReasons": reasons,
    }))
}

/// Whether a transaction's first item is a process batch's ledger entry.
fn batch_ledger_first(body: &Value) -> bool {
    let first = array(body, "TransactItems").next();
    let key = first.and_then(|i| i.get("Put").map(|p| &p["Item"]).or_else(|| i.get("Update").map(|u| &u["Key"])));
    key.and_then(|k| k["sk"]["S"].as_str()).is_some_and(|sk| sk.starts_with("batch#"))
}

fn bad_gateway(message: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(message)));
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}

/// Whether this is the SDK's first attempt at an operation (`amz-sdk-request: attempt=1; …`).
fn first_attempt(headers: &HeaderMap) -> bool {
    headers.get("amz-sdk-request").and_then(|v| v.to_str().ok()).is_none_or(|v| v.starts_with("attempt=1;"))
}

/// A fault to inject into one DynamoDB request.
enum Fault {
    /// Forward this smaller request, then add these entries to the answer's `field`.
    Hold { request: Vec<u8>, field: &'static str, held: Map<String, Value> },
    /// Answer this instead of forwarding.
    Answer(Response<Full<Bytes>>),
}

impl Shared {
    fn new(upstream: Uri, faults: Faults) -> Self {
        Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            faults,
            seen: Default::default(),
            counts: Mutex::default(),
            partitions: Mutex::default(),
        }
    }

    /// Whether the fault kind `kind`, every `every` requests, hits this one.
    fn hits(&self, kind: usize, every: u64) -> bool {
        every > 0 && self.seen[kind].fetch_add(1, Ordering::Relaxed).is_multiple_of(every)
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Whether the partition limit refuses this write: a partition it writes to has no unit
    /// left this second. Otherwise its units are spent.
    fn over_partition_limit(&self, operation: &str, body: &Value) -> bool {
        let limit = self.faults.partition_wcu as f64;
        if limit == 0.0 {
            return false;
        }
        let wants = capacity::partition_writes(operation, body);
        let now = Instant::now();
        let mut partitions = self.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut left = |key: &(String, String)| {
            let (units, at) = partitions.entry(key.clone()).or_insert((limit, now));
            *units = (*units + now.duration_since(*at).as_secs_f64() * limit).min(limit);
            *at = now;
            *units
        };
        if wants.keys().any(|key| left(key) <= 0.0) {
            return true;
        }
        for (key, asked) in wants {
            if let Some((left, _)) = partitions.get_mut(&key) {
                *left -= asked.units;
            }
        }
        false
    }

    fn fault(&self, operation: &str, headers: &HeaderMap, body: &Value) -> Option<Fault> {
        if self.over_partition_limit(operation, body) {
            self.count(|c| c.partition_throttles += 1);
            return Some(Fault::Answer(match operation {
                "BatchWriteItem" => unprocessed(body),
                "TransactWriteItems" => cancelled(array(body, "TransactItems").count()),
                _ => throttled(),
            }));
        }
        let f = self.faults;
        match operation {
            // Only requests that can be cut in two take a turn, so the faults are met however
            // many single-item requests come first.
            "BatchWriteItem"
                if f.unprocessed_items_every > 0
                    && splits(body, write_requests)
                    && self.hits(ITEMS, f.unprocessed_items_every) =>
            {
                let mut request = body.clone();
                let held = split(&mut request, write_requests)?;
                self.count(|c| c.injected_unprocessed_items += 1);
                Some(Fault::Hold { request: serde_json::to_vec(&request).ok()?, field: "UnprocessedItems", held })
            }
            "BatchGetItem"
                if f.unprocessed_keys_every > 0
                    && splits(body, get_keys)
                    && self.hits(KEYS, f.unprocessed_keys_every) =>
            {
                let mut request = body.clone();
                let held = split(&mut request, get_keys)?;
                self.count(|c| c.injected_unprocessed_keys += 1);
                Some(Fault::Hold { request: serde_json::to_vec(&request).ok()?, field: "UnprocessedKeys", held })
            }
            "TransactWriteItems" if self.hits(CANCEL, f.cancel_every) => {
                self.count(|c| c.injected_cancellations += 1);
                Some(Fault::Answer(cancelled(array(body, "TransactItems").count())))
            }
            "TransactWriteItems" if self.hits(CONFLICT, f.conflict_every) => {
                self.count(|c| c.injected_conflicts += 1);
                let conflict = json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"});
                Some(Fault::Answer(cancelled_for(array(body, "TransactItems").count(), 1, conflict)))
            }
            "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan"
                if first_attempt(headers) && self.hits(THROTTLE, f.throttle_every) =>
            {
                self.count(|c| c.injected_throttles += 1);
                Some(Fault::Answer(throttled()))
            }
            _ => None,
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (mut parts, body) = req.into_parts();
        let mut body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Ok(bad_gateway(format!("reading the request: {e}"))),
        };
        let call = Call::of(&parts.headers, parts.uri.query(), &body);
        let json: Value = match call.service {
            "s3" => Value::Null,
            _ => serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        self.count(|c| {
            *c.by_service.entry(call.service).or_default() += 1;
            let op = match call.service {
                "s3" => parts.method.as_str(),
                _ => call.operation.as_str(),
            };
            *c.by_operation.entry(format!("{}:{op}", call.service)).or_default() += 1;
            if call.service == "sqs" {
                c.messages_consumed += messages_deleted(&call.operation, &body);
            }
        });
        // Counted once DynamoDB answers that it wrote them.
        let state = match call.service {
            "dynamodb" => state_writes(&call.operation, &json),
            _ => 0,
        };
        let message = parts.headers.get(MESSAGE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let mut hold = None;
        // The request as sent on when it is not the client's: that is what is billed.
        let mut changed = None;
        let mut sized = false;
        if call.service == "dynamodb" {
            changed = match self.fault(&call.operation, &parts.headers, &json) {
                Some(Fault::Answer(resp)) => return Ok(resp),
                Some(Fault::Hold { request, field, held }) => {
                    hold = Some((field, held));
                    let shortened = serde_json::from_slice(&request).ok();
                    body = Bytes::from(request);
                    shortened
                }
                None => {
                    let asked = capacity::ask_for_sizes(&call.operation, &json);
                    if let Some(request) = asked.as_ref().and_then(|r| serde_json::to_vec(r).ok()) {
                        body = Bytes::from(request);
                        sized = true;
                    }
                    asked
                }
            };
        }
        let sent = changed.as_ref().unwrap_or(&json);

        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match format!("{}{}", self.upstream.to_string().trim_end_matches('/'), path).parse() {
            Ok(uri) => uri,
            Err(e) => return Ok(bad_gateway(format!("upstream address: {e}"))),
        };
        // The body is forwarded whole: its length is known, and may have changed; the client's
        // `Expect: 100-continue` was answered here.
        parts.headers.remove(TRANSFER_ENCODING);
        parts.headers.remove(EXPECT);
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let resp = match self.client.request(Request::from_parts(parts, Full::new(body))).await {
            Ok(resp) => resp,
            Err(e) => return Ok(bad_gateway(format!("upstream: {e}"))),
        };
        let (mut parts, body) = resp.into_parts();
        let mut body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Ok(bad_gateway(format!("reading the answer: {e}"))),
        };
        // DynamoDB's answer, read once for what it bills, read and wrote.
        let mut answer = Value::Null;
        if call.service == "dynamodb" {
            answer = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if capacity::billed(parts.status.as_u16(), &answer) {
                let used = capacity::consumed(&call.operation, sent, &answer);
                self.count(|c| c.capacity.add(used));
            }
            // The client did not ask for the item: it gets the answer it asked for.
            if let Some(fields) = answer.as_object_mut().filter(|_| sized) {
                fields.remove("Attributes");
                if let Ok(plain) = serde_json::to_vec(&answer) {
                    body = Bytes::from(plain);
                    parts.headers.remove("x-amz-crc32");
                }
            }
        }
        if call.service == "dynamodb" && parts.status.is_success() {
            let read = items_read(&call.operation, &answer);
            // What a batch left unprocessed was not written.
            let mut written = capacity::partition_writes(&call.operation, sent);
            let unprocessed = json!({"RequestItems": answer["UnprocessedItems"]});
            for (partition, left) in capacity::partition_writes(&call.operation, &unprocessed) {
                written.entry(partition).and_modify(|w| w.items = w.items.saturating_sub(left.items));
            }
            self.count(|c| {
                c.items_read += read;
                for (partition, asked) in written {
                    *c.writes_by_partition.entry(partition).or_default() += asked.items;
                }
                c.state_writes += state;
                if state > 0 {
                    *c.state_writes_by_message.entry(message).or_default() += state;
                }
            });
            if call.operation == "TransactWriteItems"
                && batch_ledger_first(&json)
                && self.hits(LOST, self.faults.lost_batch_answer_every)
            {
                return Ok(dynamo_error(json!({
                    "__type": "com.amazon.coral.validate#ValidationException",
                    "message": "injected: the transaction was written and its answer lost",
                })));
            }
        }
        if let Some((field, held)) = hold.filter(|_| parts.status.is_success()) {
            if let Some(merged) = merge_unprocessed(&body, field, held) {
                body = Bytes::from(merged);
                // The checksum was of the emulator's body.
                parts.headers.remove("x-amz-crc32");
            }
        }
        parts.headers.remove(TRANSFER_ENCODING);
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_told_apart_by_target_action_or_neither() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", HeaderValue::from_static("DynamoDB_20120810.BatchGetItem"));
        assert_eq!(Call::of(&headers, None, b"{}"), Call { service: "dynamodb", operation: "BatchGetItem".into() });
        headers.insert("x-amz-target", HeaderValue::from_static("AmazonSQS.ReceiveMessage"));
        assert_eq!(Call::of(&headers, None, b"{}").operation, "ReceiveMessage");
        let mut form = HeaderMap::new();
        form.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"));
        assert_eq!(Call::of(&form, None, b"Action=SendMessage&QueueUrl=x").service, "sqs");
        assert_eq!(Call::of(&HeaderMap::new(), Some("list-type=2&prefix=a"), b"").service, "s3");
    }

    #[test]
    fn state_writes_are_those_to_import_items_and_counter_shards() {
        let import = json!({"pk": {"S": "acme"}, "sk": {"S": "imp_1"}});
        let shard = json!({"pk": {"S": "ledger#acme#imp_1"}, "sk": {"S": "count#0000#07"}});
        assert_eq!(state_writes("UpdateItem", &json!({"Key": shard})), 1);
        let ledger = json!({"pk": {"S": "ledger#acme#imp_1"}, "sk": {"S": "chunk#0001"}});
        let record = json!({"pk": {"S": "acme#contact"}, "sk": {"S": "a@b.c"}});
        assert_eq!(state_writes("UpdateItem", &json!({"Key": import})), 1);
        assert_eq!(state_writes("PutItem", &json!({"Item": record})), 0);
        let transaction = json!({"TransactItems": [
            {"Put": {"Item": ledger}}, {"Update": {"Key": import}}, {"Put": {"Item": record}},
            {"ConditionCheck": {"Key": import}},
        ]});
        assert_eq!(state_writes("TransactWriteItems", &transaction), 1);
        let batch =
            json!({"RequestItems": {"t": [{"DeleteRequest": {"Key": import}}, {"PutRequest": {"Item": ledger}}]}});
        assert_eq!(state_writes("BatchWriteItem", &batch), 1);
        assert_eq!(state_writes("GetItem", &json!({"Key": import})), 0);
    }

    #[test]
    fn items_read_are_those_scanned_got_or_batch_got() {
        assert_eq!(items_read("Query", &json!({"Count": 1, "ScannedCount": 40, "Items": [{}]})), 40);
        assert_eq!(items_read("GetItem", &json!({"Item": {}})), 1);
        assert_eq!(items_read("GetItem", &json!({})), 0);
        assert_eq!(items_read("BatchGetItem", &json!({"Responses": {"a": [{}, {}], "b": [{}]}})), 3);
        assert_eq!(items_read("PutItem", &json!({"ScannedCount": 3})), 0);
    }

    #[test]
    fn held_entries_come_back_merged_with_the_emulators() {
        let mut request = json!({"RequestItems": {
            "a": {"Keys": [1, 2, 3], "ConsistentRead": true},
            "b": {"Keys": [4]},
        }});
        let held = split(&mut request, get_keys).expect("a has keys to hold");
        assert_eq!(request["RequestItems"]["a"]["Keys"], json!([1, 2]));
        assert_eq!(request["RequestItems"]["b"]["Keys"], json!([4]));
        let answer = br#"{"Responses": {}, "UnprocessedKeys": {"a": {"Keys": [0], "ConsistentRead": true}}}"#;
        let merged: Value =
            serde_json::from_slice(&merge_unprocessed(answer, "UnprocessedKeys", held).unwrap()).unwrap();
        assert_eq!(merged["UnprocessedKeys"]["a"], json!({"Keys": [0, 3], "ConsistentRead": true}));

        let mut writes = json!({"RequestItems": {"t": [1, 2, 3, 4]}});
        let held = split(&mut writes, write_requests).expect("t has items to hold");
        assert_eq!(writes["RequestItems"]["t"], json!([1, 2]));
        let merged: Value =
            serde_json::from_slice(&merge_unprocessed(b"{}", "UnprocessedItems", held).unwrap()).unwrap();
        assert_eq!(merged["UnprocessedItems"]["t"], json!([3, 4]));
        assert!(split(&mut json!({"RequestItems": {"t": [1]}}), write_requests).is_none());
    }

    #[test]
    fn a_partition_past_its_write_units_is_throttled_until_they_come_back() {
        let shared =
            Shared::new(Uri::from_static("http://127.0.0.1:1"), Faults { partition_wcu: 100, ..Faults::default() });
        let put = |pk: &str, n: usize| {
            let item = json!({"pk": {"S": pk}, "sk": {"S": "a"}});
            json!({"RequestItems": {"records": vec![json!({"PutRequest": {"Item": item}}); n]}})
        };
        let refused = |body: &Value| shared.fault("BatchWriteItem", &HeaderMap::new(), body).is_some();
        // 60 units, then 60 more (into debt), then none left.
        assert!(!refused(&put("acme#contact", 60)));
        assert!(!refused(&put("acme#contact", 60)));
        assert!(refused(&put("acme#contact", 1)));
        // Another partition has its own units; reads are never limited.
        assert!(!refused(&put("acme#contact#01", 25)));
        assert!(shared.fault("Query", &HeaderMap::new(), &json!({"TableName": "records"})).is_none());
        // A tenth of a second gives back 10 units: the debt of 20 is not paid yet; a quarter more is.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(refused(&put("acme#contact", 1)));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(!refused(&put("acme#contact", 1)));
        assert_eq!(shared.counts.lock().unwrap().partition_throttles, 2);
    }

    #[test]
    fn faults_hit_every_nth_and_throttles_spare_retries() {
        let shared =
            Shared::new(Uri::from_static("http://127.0.0.1:1"), Faults { throttle_every: 2, ..Faults::default() });
        let mut first = HeaderMap::new();
        first.insert("amz-sdk-request", HeaderValue::from_static("attempt=1; max=3"));
        let mut retry = HeaderMap::new();
        retry.insert("amz-sdk-request", HeaderValue::from_static("attempt=2; max=3"));
        let hit = |h: &HeaderMap| shared.fault("GetItem", h, &Value::Null).is_some();
        assert_eq!(
            [hit(&first), hit(&first), hit(&retry), hit(&first), hit(&first)],
            [true, false, false, true, false]
        );
        assert!(shared.fault("TransactWriteItems", &first, &Value::Null).is_none(), "cancel_every is off");
        assert_eq!(shared.counts.lock().unwrap().injected_throttles, 2);
    }
}
