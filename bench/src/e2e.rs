//! End to end on the local stack (issues 5 and 20): imports from create to `completed` through a
//! local host whose AWS clients go through the counting proxy: wall time, rows/s, requests per
//! 1,000 rows by service, writes to the import's own item per queue message consumed, and the
//! request units DynamoDB would bill per row for a first import, the same file again and a file
//! that updates half its rows.

use std::time::{Duration, Instant};

use aws_adapters::{hold_pk, Clients};
use domain::import::Status;
use domain::record::ResourceType;
use local::proxy::{Counts, Faults, Proxy};
use local::{LocalHost, Options};
use serde::Serialize;
use serde_json::json;

use crate::contacts;

const TENANT: &str = "bench";
/// How long an import may take: an hour, or 100 rows a second when that is longer (the emulator
/// wrote about 180 rows/s through a million-row import here).
fn timeout(rows: u64) -> Duration {
    Duration::from_secs(3600.max(rows / 100))
}

/// On-demand prices, us-east-1 (DynamoDB's from November 2024), in dollars: DynamoDB per million
/// request units, S3 Standard per thousand requests (PUT, COPY, POST, LIST; GET and the rest),
/// SQS standard per million requests, Lambda arm64 (the template's default) per GB-second and
/// per million invocations.
pub const DOLLARS_PER_MILLION_WRU: f64 = 0.625;
pub const DOLLARS_PER_MILLION_RRU: f64 = 0.125;
pub const DOLLARS_PER_1K_S3_WRITES: f64 = 0.005;
pub const DOLLARS_PER_1K_S3_READS: f64 = 0.0004;
pub const DOLLARS_PER_MILLION_SQS: f64 = 0.40;
pub const DOLLARS_PER_LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
pub const DOLLARS_PER_MILLION_INVOCATIONS: f64 = 0.20;
/// Every function's memory in the template, in GB.
const FUNCTION_GB: f64 = 0.25;

#[derive(Serialize)]
pub struct Figures {
    pub e2e_rows: u64,
    pub e2e_seconds: f64,
    pub e2e_rows_s: f64,
    pub dynamodb_requests_per_1k_rows: f64,
    pub s3_requests_per_1k_rows: f64,
    pub sqs_requests_per_1k_rows: f64,
    pub state_writes_per_message: f64,
    /// The most import-state writes any one message made (the calls no message made, the
    /// create's, left out).
    pub state_writes_max_per_message: u64,
    /// Request units DynamoDB would bill per row (`local::capacity`): a first import into an
    /// empty type, the same file again (every row unchanged), then a file that updates half.
    pub wru_per_row_first: f64,
    pub rru_per_row_first: f64,
    pub wru_per_row_unchanged: f64,
    pub rru_per_row_unchanged: f64,
    /// Writes to the records table by the import of the unchanged file.
    pub record_writes_unchanged: u64,
    pub wru_per_row_half_updated: f64,
    pub rru_per_row_half_updated: f64,
    /// What a first import's DynamoDB requests cost per million rows, at the prices above.
    pub dynamodb_dollars_per_million_rows_first: f64,
    /// The functions' time in their handlers, as Lambda would bill it at the template's memory;
    /// measured on the local host against the emulator, which is slower than AWS.
    pub lambda_gb_seconds_per_1k_rows_first: f64,
    pub lambda_invocations_per_1k_rows_first: f64,
    /// A first import's DynamoDB, S3, SQS and Lambda bill per million rows, at the prices above.
    pub dollars_per_million_rows: f64,
    pub e2e_seconds_unchanged: f64,
    pub e2e_seconds_half_updated: f64,
    /// The naive loop (`bench/batch_writer.py`) over the first file on the same emulator, and
    /// its time over the pipeline's: above 1, the pipeline is faster.
    pub batch_writer_seconds: f64,
    pub e2e_vs_batch_writer: f64,
}

impl Figures {
    pub fn print(&self) {
        println!("{:<44} {:>12.1} s", format!("end to end, {} rows: wall time", self.e2e_rows), self.e2e_seconds);
        println!("{:<44} {:>9.0} rows/s", "end to end: throughput", self.e2e_rows_s);
        for (service, n) in [
            ("DynamoDB", self.dynamodb_requests_per_1k_rows),
            ("S3", self.s3_requests_per_1k_rows),
            ("SQS", self.sqs_requests_per_1k_rows),
        ] {
            println!("{:<44} {:>12.1}", format!("{service} requests per 1,000 rows"), n);
        }
        println!("{:<44} {:>12.2}", "import-state writes per message consumed", self.state_writes_per_message);
        println!("{:<44} {:>12}", "import-state writes, most by one message", self.state_writes_max_per_message);
        for (what, wru, rru) in [
            ("first import", self.wru_per_row_first, self.rru_per_row_first),
            ("unchanged file", self.wru_per_row_unchanged, self.rru_per_row_unchanged),
            ("half the rows updated", self.wru_per_row_half_updated, self.rru_per_row_half_updated),
        ] {
            println!("{:<44} {:>7.2} WRU {:>5.2} RRU", format!("per row, {what}"), wru, rru);
        }
        println!("{:<44} {:>12}", "record writes, unchanged file", self.record_writes_unchanged);
        println!(
            "{:<44} {:>10.2} $",
            "DynamoDB per million rows, first import", self.dynamodb_dollars_per_million_rows_first
        );
        println!(
            "{:<44} {:>12.2}",
            "Lambda GB-seconds per 1,000 rows, first import", self.lambda_gb_seconds_per_1k_rows_first
        );
        println!("{:<44} {:>10.2} $", "all of it per million rows, first import", self.dollars_per_million_rows);
        println!(
            "{:<44} {:>12.1} s = {:.2}x the pipeline's speed",
            "naive batch_writer loop, same file", self.batch_writer_seconds, self.e2e_vs_batch_writer
        );
    }
}

/// One import's measures: how it ended, its time, and what went through the proxy.
pub(crate) struct Run {
    pub(crate) seconds: f64,
    pub(crate) counts: local::proxy::Counts,
    /// The create's writes: a request's, not a message's.
    create_writes: u64,
    /// The functions' invocations and their seconds in the handler.
    invocations: u64,
    handler_seconds: f64,
}

impl Run {
    /// What its DynamoDB requests would cost, in dollars, at the prices above.
    fn dynamodb_dollars(&self) -> f64 {
        let c = &self.counts.capacity;
        (c.wru * DOLLARS_PER_MILLION_WRU + c.rru * DOLLARS_PER_MILLION_RRU) / 1e6
    }

    /// What its requests and invocations would cost, in dollars, at the prices above.
    fn dollars(&self) -> f64 {
        let c = &self.counts;
        let op = |name: &str| c.by_operation.get(name).copied().unwrap_or(0) as f64;
        let s3_writes = op("s3:PUT") + op("s3:POST");
        let s3_reads = c.service("s3") as f64 - s3_writes - op("s3:DELETE");
        self.dynamodb_dollars()
            + s3_writes * DOLLARS_PER_1K_S3_WRITES / 1e3
            + s3_reads * DOLLARS_PER_1K_S3_READS / 1e3
            + c.service("sqs") as f64 * DOLLARS_PER_MILLION_SQS / 1e6
            + self.handler_seconds * FUNCTION_GB * DOLLARS_PER_LAMBDA_GB_SECOND
            + self.invocations as f64 * DOLLARS_PER_MILLION_INVOCATIONS / 1e6
    }
}

/// Imports `rows` generated contacts on a fresh stack of the emulator at `AWS_ENDPOINT_URL`, then
/// the same file again, then a revision of it that updates half its rows.
pub fn measure(rows: u64) -> Figures {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(rows))
}

async fn run(rows: u64) -> Figures {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: `make bench` starts an emulator");
    let proxy = Proxy::start(&emulator, Faults::default()).await.expect("proxy");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut options = Options::new(format!("bench{stamp}"), "127.0.0.1:0".parse().expect("address"));
    options.aws_endpoint = Some(proxy.url.clone());
    let host = LocalHost::start(options).await.expect("local host");
    let records_table = host.settings.records_table.clone();
    let file = |revision| {
        let mut file = Vec::new();
        contacts::write_revision(&mut file, rows, revision).expect("generate");
        file
    };
    let original = file(0);
    let naive = batch_writer(&original, rows);
    let first = import(&host, &proxy, original.clone(), rows, [rows, 0, 0]).await;
    let unchanged = import(&host, &proxy, original, rows, [0, 0, rows]).await;
    let half = rows.div_ceil(2);
    let half_updated = import(&host, &proxy, file(1), rows, [0, half, rows - half]).await;

    let settled = &first.counts;
    let per_1k = |n: u64| n as f64 * 1000.0 / rows as f64;
    let per_row = |n: f64| n / rows as f64;
    let state_writes = settled.state_writes - first.create_writes;
    Figures {
        e2e_rows: rows,
        e2e_seconds: first.seconds,
        e2e_rows_s: rows as f64 / first.seconds,
        dynamodb_requests_per_1k_rows: per_1k(first.counts.service("dynamodb")),
        s3_requests_per_1k_rows: per_1k(first.counts.service("s3")),
        sqs_requests_per_1k_rows: per_1k(first.counts.service("sqs")),
        state_writes_per_message: state_writes as f64 / settled.messages_consumed.max(1) as f64,
        state_writes_max_per_message: settled
            .state_writes_by_message
            .iter()
            .filter(|(message, _)| !message.is_empty())
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0),
        wru_per_row_first: per_row(first.counts.capacity.wru),
        rru_per_row_first: per_row(first.counts.capacity.rru),
        wru_per_row_unchanged: per_row(unchanged.counts.capacity.wru),
        rru_per_row_unchanged: per_row(unchanged.counts.capacity.rru),
        record_writes_unchanged: record_writes(&unchanged.counts, &records_table),
        wru_per_row_half_updated: per_row(half_updated.counts.capacity.wru),
        rru_per_row_half_updated: per_row(half_updated.counts.capacity.rru),
        dynamodb_dollars_per_million_rows_first: first.dynamodb_dollars() * 1e6 / rows as f64,
        lambda_gb_seconds_per_1k_rows_first: first.handler_seconds * FUNCTION_GB * 1000.0 / rows as f64,
        lambda_invocations_per_1k_rows_first: per_1k(first.invocations),
        dollars_per_million_rows: first.dollars() * 1e6 / rows as f64,
        e2e_seconds_unchanged: unchanged.seconds,
        e2e_seconds_half_updated: half_updated.seconds,
        batch_writer_seconds: naive,
        e2e_vs_batch_writer: naive / first.seconds,
    }
}

/// Writes of records and their index entries: the type's hold item, joined and left by every
/// run beside the records, is not one.
fn record_writes(counts: &Counts, records_table: &str) -> u64 {
    let hold = hold_pk(TENANT, ResourceType::Contact);
    let records = counts.writes_by_partition.iter().filter(|((table, pk), _)| table == records_table && *pk != hold);
    records.map(|(_, n)| n).sum()
}

/// Runs the naive loop over `file` on the emulator itself; its seconds.
fn batch_writer(file: &[u8], rows: u64) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("contacts.csv");
    std::fs::write(&path, file).expect("the file written");
    // `python` is the venv's: `make bench` puts it first on the PATH.
    let out = std::process::Command::new("python")
        .arg("bench/batch_writer.py")
        .arg(&path)
        .output()
        .expect("python runs bench/batch_writer.py");
    assert!(out.status.success(), "batch_writer.py: {}", String::from_utf8_lossy(&out.stderr));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(said["items"].as_u64(), Some(rows), "{said}");
    said["seconds"].as_f64().expect("seconds")
}

/// One import of `file` from create to `completed`, its stats checked against `[created,
/// updated, unchanged]`; the proxy's counts are of it alone, once its messages are deleted.
pub(crate) async fn import(host: &LocalHost, proxy: &Proxy, file: Vec<u8>, rows: u64, expect: [u64; 3]) -> Run {
    // Progress is read straight from the emulator: polling must not count as the import's work.
    let direct = Clients::load(None).await.services(host.settings.clone()).expect("direct services");
    let client = host.client(TENANT);
    let busy = || {
        let busy = host.deliveries.busy();
        (busy.values().map(|(n, _)| n).sum::<u64>(), busy.values().map(|(_, t)| t.as_secs_f64()).sum::<f64>())
    };
    let busy_before = busy();
    proxy.reset();
    let started = Instant::now();
    let created = client.create_import(&json!({"resource_type": "contact"})).await.expect("create");
    let create_writes = proxy.counts().state_writes;
    let id = created["id"].as_str().expect("an import id").to_string();
    client.upload(&created, file).await.expect("upload");
    let mut said = Instant::now();
    let import = loop {
        let stored = direct.imports.get(TENANT, &id).await.expect("poll").expect("the import exists");
        if stored.import.status.is_final() {
            break stored.import;
        }
        let limit = timeout(rows);
        assert!(started.elapsed() < limit, "import {id} still {} after {limit:?}", stored.import.status.as_str());
        if said.elapsed() > Duration::from_secs(30) {
            let p = stored.progress;
            println!(
                "  {:.0} s: {} of {} batches written",
                started.elapsed().as_secs_f64(),
                p.batches_done,
                p.batches_planned
            );
            said = Instant::now();
        }
        // Each poll is a read the emulator serves beside the import's own: four a second.
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    // Messages are divided by once their deletes are in.
    let counts = proxy.settled().await;
    let busy_after = busy();
    assert_eq!(import.status, Status::Completed, "{:?}", import.reason);
    let s = import.stats;
    assert_eq!((s.rows, s.processed, s.errors), (rows, rows, 0), "{s:?}");
    assert_eq!([s.created, s.updated, s.unchanged], expect, "{s:?}");
    println!("  {:.1} s; requests by operation: {:?}", seconds, counts.by_operation);
    println!(
        "  import-state writes {} (and {create_writes} by the create), messages consumed {}, {:.0} WRU, {:.0} RRU",
        counts.state_writes - create_writes,
        counts.messages_consumed,
        counts.capacity.wru,
        counts.capacity.rru
    );
    let (invocations, handler_seconds) = (busy_after.0 - busy_before.0, busy_after.1 - busy_before.1);
    Run { seconds, counts, create_writes, invocations, handler_seconds }
}
