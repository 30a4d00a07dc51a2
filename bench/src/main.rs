//! `make bench` (issue 5): measures, in one run over the same deterministic data, the raw `csv`
//! `ByteRecord` pass (the baseline), prevalidation's pass and the transform's row work, prints a
//! table and writes `target/bench/results.json`. Figures are ratios against the baseline, so
//! they mean the same on any machine. Then the peak RSS of prevalidate, transform and process
//! over a 1 GB file (`rss`), and one import end to end on the local stack (`e2e`).

mod contacts;
mod e2e;
mod memory;
mod rss;
mod sharding;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Instant;

use clap::{Parser, Subcommand};
use contacts::{hard, HARD_HEADER};
use domain::chunking::{self, Chunk, ScanRules};
use domain::dedup::Duplicates;
use domain::dialect::{Dialect, Encoding};
use domain::mapping;
use domain::merge::{ImportRule, UpdateRules};
use domain::messages::{self, ProcessMessage};
use domain::options::{Action, CsvOptions};
use domain::record::ResourceType;
use domain::stats::Tally;
use domain::sync::Changes;
use domain::validate::{RowOptions, RowRules};
use serde::Serialize;
use service::pipeline::transform::{transform_rows, ChunkRows, BATCH_RECORDS};

#[derive(Parser)]
struct Args {
    /// Size of the generated contacts file, in MB.
    #[arg(long, default_value_t = 64)]
    mb: usize,
    /// Rounds over the data, each running every measure once; each measure's best round counts.
    #[arg(long, default_value_t = 5)]
    passes: usize,
    #[arg(long, default_value = "target/bench/results.json")]
    out: String,
    /// Size of the file the peak-RSS runs import, in MB (kept under target/bench).
    #[arg(long, default_value_t = 1024)]
    rss_mb: u64,
    #[arg(long)]
    skip_rss: bool,
    /// Rows of the end-to-end import on the local stack (needs AWS_ENDPOINT_URL).
    #[arg(long, default_value_t = 200_000)]
    e2e_rows: u64,
    #[arg(long)]
    skip_e2e: bool,
    /// Rows of the sorted file imported under the partition write limit, with and without
    /// write shards (needs AWS_ENDPOINT_URL).
    #[arg(long, default_value_t = 4_000)]
    sharding_rows: u64,
    #[arg(long)]
    skip_sharding: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// One step of the peak-RSS runs, in a process of its own (the bench runs it).
    Rss(rss::StepArgs),
}

/// The keys issue 5 asks for that this run measures, numbers only.
#[derive(Serialize)]
struct Results {
    parse_mb_s: f64,
    prevalidate_mb_s: f64,
    prevalidate_ratio: f64,
    transform_rows_s: f64,
    transform_ratio: f64,
    rows: u64,
    bytes: u64,
    #[serde(flatten)]
    rss: Option<rss::Peaks>,
    #[serde(flatten)]
    e2e: Option<e2e::Figures>,
    #[serde(flatten)]
    sharding: Option<sharding::Figures>,
}

/// The best time of each measure, in seconds, over `rounds` rounds that run every measure once:
/// a slow spell of a shared machine then slows all measures of one round, not the baseline of
/// one ratio alone. Each measure returns the rows it saw, which must be `expect`.
fn best_in_rounds<const N: usize>(rounds: usize, expect: u64, measures: [&mut dyn FnMut() -> u64; N]) -> [f64; N] {
    let mut best = [f64::INFINITY; N];
    let mut measures = measures;
    for _ in 0..rounds {
        for (measure, best) in measures.iter_mut().zip(&mut best) {
            let start = Instant::now();
            let n = measure();
            assert_eq!(n, expect, "a pass saw {n} rows, not {expect}");
            *best = best.min(start.elapsed().as_secs_f64());
        }
    }
    best
}

fn main() {
    let args = Args::parse();
    // The local host's logs, when asked for (`RUST_LOG=warn`).
    if std::env::var_os("RUST_LOG").is_some() {
        lambda_edge::logging::init();
    }
    if let Some(Command::Rss(step)) = args.command {
        return rss::child(step);
    }
    let (data, rows) = hard(args.mb * 1024 * 1024);
    let mb = data.len() as f64 / (1024.0 * 1024.0);

    let mut parse_pass = || {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(data.as_slice());
        let mut record = csv::ByteRecord::new();
        let mut n = 0;
        while reader.read_byte_record(&mut record).expect("parse") {
            n += 1;
        }
        n
    };

    let no_mappings = BTreeMap::new();
    let options = RowOptions::default();
    let csv_options = CsvOptions::default();
    let rules = ScanRules {
        resource: ResourceType::Contact,
        identifier_field: "email",
        explicit: &no_mappings,
        options: &options,
        duplicates: Duplicates::default(),
        chunk_rows: 2_000,
        csv: &csv_options,
        preview: false,
        schema: None,
        action: Action::Merge,
    };
    let mut prevalidate_pass =
        || chunking::scan(Cursor::new(&data), data.len() as u64, &rules).expect("scan").file.rows;

    let headers: Vec<String> = HARD_HEADER.trim_end().split(',').map(str::to_string).collect();
    let columns = mapping::resolve(ResourceType::Contact, &headers, &no_mappings).expect("mapping");
    // The chunks prevalidation plans (2,000 rows each, its duplicates marked to skip), each
    // transformed on its own as a transform Lambda does.
    let chunks: Vec<Chunk> =
        chunking::scan(Cursor::new(&data), data.len() as u64, &rules).expect("scan").chunks.iter().collect();
    let message = ProcessMessage {
        tenant_id: "bench".into(),
        import_id: "01BENCH".into(),
        resource_type: ResourceType::Contact,
        match_on: None,
        action: Action::Merge,
        run: 1,
        import_rule: ImportRule::default(),
        update: UpdateRules::default(),
        dry_run: false,
        changes: Changes::default(),
        chunk: 0,
        batch: 0,
        records: vec![],
        keep: vec![],
        empty_type: false,
    };
    let works: Vec<ChunkRows> = chunks
        .iter()
        .map(|chunk| ChunkRows {
            rules: RowRules {
                resource: ResourceType::Contact,
                identifier_field: "email",
                headers: &headers,
                columns: &columns,
                options: &options,
                schema: None,
            },
            dialect: Dialect::for_reading(Encoding::Utf8, ','),
            chunk,
            keeps: false,
            batch_records: BATCH_RECORDS,
            message: &message,
        })
        .collect();
    // The transform Lambda's row work, chunk by chunk: parse, map, validate, normalize, encode
    // the process messages and write the results part. Once, untimed, every message is decoded
    // as the process step does: each row reaches one, is an error, or is a skipped duplicate.
    let (mut decoded, mut tally) = (0u64, Tally::default());
    for work in &works {
        let bytes = &data[work.chunk.start as usize..work.chunk.end as usize];
        let (counted, _, _) = transform_rows(bytes, work, |body| {
            decoded += messages::decode::<ProcessMessage>(&body)?.records.len() as u64;
            Ok(())
        })
        .expect("transform");
        tally.add(&counted);
    }
    assert_eq!(decoded + tally.errors + tally.skipped, rows, "every row is written, an error or skipped");
    assert!(tally.errors >= rows / 100 && tally.skipped >= rows / 50, "{tally:?}: the file's bad rows and repeats");
    let mut transform_pass = || {
        let mut encoded = 0;
        for work in &works {
            let bytes = &data[work.chunk.start as usize..work.chunk.end as usize];
            transform_rows(bytes, work, |body| {
                encoded += body.len();
                Ok(())
            })
            .expect("transform");
        }
        assert!(encoded > 0);
        chunks.iter().map(|c| c.rows).sum::<u64>()
    };
    let [parse, prevalidate, transform] =
        best_in_rounds(args.passes, rows, [&mut parse_pass, &mut prevalidate_pass, &mut transform_pass]);

    let results = Results {
        parse_mb_s: mb / parse,
        prevalidate_mb_s: mb / prevalidate,
        prevalidate_ratio: parse / prevalidate,
        transform_rows_s: rows as f64 / transform,
        transform_ratio: parse / transform,
        rows,
        bytes: data.len() as u64,
        rss: (!args.skip_rss).then(|| rss::measure(bench_dir(&args.out), args.rss_mb)),
        e2e: (!args.skip_e2e).then(|| e2e::measure(args.e2e_rows)),
        sharding: (!args.skip_sharding).then(|| sharding::measure(args.sharding_rows)),
    };
    println!("{:<44} {:>14} {:>10}", "measure (one core, best of rounds)", "figure", "vs parse");
    println!("{:<44} {:>11.1} MB/s {:>10}", "raw csv ByteRecord pass (baseline)", results.parse_mb_s, "1.00x");
    println!("{:<44} {:>11.1} MB/s {:>9.2}x", "prevalidate pass", results.prevalidate_mb_s, results.prevalidate_ratio);
    println!(
        "{:<44} {:>9.0} rows/s {:>9.2}x",
        "transform: map, validate, batch", results.transform_rows_s, results.transform_ratio
    );
    println!(
        "{} rows, {:.1} MB of 12-column contacts (the e-mail 11th, 1 % of rows bad, 2 % repeats), {} chunks",
        rows,
        mb,
        chunks.len()
    );
    if let Some(peaks) = &results.rss {
        peaks.print();
        println!("(over a {} MB file of the same contacts, CHUNK_ROWS as in the Lambdas)", args.rss_mb);
    }
    if let Some(e2e) = &results.e2e {
        e2e.print();
    }
    if let Some(sharding) = &results.sharding {
        sharding.print();
    }
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir).expect("results directory");
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&results).expect("json")).expect("write results");
    println!("written to {}", args.out);
}

/// Where the bench keeps its files: beside the results.
fn bench_dir(out: &str) -> &std::path::Path {
    std::path::Path::new(out).parent().unwrap_or(std::path::Path::new("."))
}
