//! End to end on the local stack (issue 5): one import from create to `completed` through a
//! local host whose AWS clients go through the counting proxy: wall time, rows/s, requests per
//! 1,000 rows by service, and writes to the import's own item per queue message consumed.

use std::time::{Duration, Instant};

use aws_adapters::Clients;
use domain::import::Status;
use local::proxy::{Faults, Proxy};
use local::{LocalHost, Options};
use serde::Serialize;
use serde_json::json;

use crate::contacts::{self, Until};

const TENANT: &str = "bench";
/// How long an import may take: an hour, or 100 rows a second when that is longer (the emulator
/// wrote about 180 rows/s through a million-row import here).
fn timeout(rows: u64) -> Duration {
    Duration::from_secs(3600.max(rows / 100))
}

#[derive(Serialize)]
pub struct Figures {
    pub e2e_rows: u64,
    pub e2e_seconds: f64,
    pub e2e_rows_s: f64,
    pub dynamodb_requests_per_1k_rows: f64,
    pub s3_requests_per_1k_rows: f64,
    pub sqs_requests_per_1k_rows: f64,
    pub state_writes_per_message: f64,
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
    }
}

/// Imports `rows` generated contacts on a fresh stack of the emulator at `AWS_ENDPOINT_URL`.
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
    // Progress is read straight from the emulator: polling must not count as the import's work.
    let direct = Clients::load(None).await.services(host.settings.clone()).expect("direct services");
    let mut file = Vec::new();
    contacts::write(&mut file, Until::Rows(rows)).expect("generate");
    let client = host.client(TENANT);

    proxy.reset();
    let started = Instant::now();
    let created = client.create_import(&json!({"resource_type": "contact"})).await.expect("create");
    // The create is a request, not a message: its write is left out of writes per message.
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let counts = proxy.counts();
    // Messages are divided by once their deletes are in.
    let settled = proxy.settled().await;

    assert_eq!(import.status, Status::Completed, "{:?}", import.reason);
    let stats = import.stats;
    assert_eq!((stats.rows, stats.processed, stats.created, stats.errors), (rows, rows, rows, 0), "{stats:?}");
    println!("  requests by operation: {:?}", counts.by_operation);
    let state_writes = settled.state_writes - create_writes;
    println!(
        "  import-state writes {state_writes} (and {create_writes} by the create), messages consumed {}",
        settled.messages_consumed
    );
    let per_1k = |n: u64| n as f64 * 1000.0 / rows as f64;
    Figures {
        e2e_rows: rows,
        e2e_seconds: seconds,
        e2e_rows_s: rows as f64 / seconds,
        dynamodb_requests_per_1k_rows: per_1k(counts.service("dynamodb")),
        s3_requests_per_1k_rows: per_1k(counts.service("s3")),
        sqs_requests_per_1k_rows: per_1k(counts.service("sqs")),
        state_writes_per_message: state_writes as f64 / settled.messages_consumed.max(1) as f64,
    }
}
