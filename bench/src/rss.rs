//! Peak memory of prevalidate, transform, process (ten messages at once, as Lambda hands them
//! over) and the run's completion (results and errors files) over a large hard file (issues 5
//! and 20), a process per step: the bench runs itself as `bench rss STEP`, each child runs the
//! step's entry point over the disk stores and the testkit's store (`memory`) and prints its own
//! peak RSS; the next child reads what the previous one queued.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use domain::import::{upload_key, Status};
use domain::messages::TransformJob;
use serde::{Deserialize, Serialize};
use service::pipeline::{prevalidate, process, transform};
use service::ports::Queue;

use crate::contacts;
use crate::memory::{self, JsonLines};

const TENANT: &str = "bench";
/// Messages Lambda hands process at once (the template's `BatchSize`), handled together.
const LAMBDA_BATCH: usize = 10;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Step {
    Prevalidate,
    Transform,
    Process,
    /// The run's completion (`FinishRun`, on the transform queue): the results and errors files
    /// assembled from every batch's outcomes.
    Finish,
}

#[derive(clap::Args)]
pub struct StepArgs {
    step: Step,
    /// The upload.
    #[arg(long)]
    file: PathBuf,
    /// Where the steps keep the import, objects and queued messages.
    #[arg(long)]
    dir: PathBuf,
}

/// What a child prints as its last line.
#[derive(Serialize, Deserialize)]
struct Report {
    peak_rss_mb: f64,
    /// Messages handled (prevalidate: the chunks it planned).
    messages: u64,
    /// Records written (process only).
    records: u64,
    seconds: f64,
}

#[derive(Serialize)]
pub struct Peaks {
    pub prevalidate_peak_rss_mb: f64,
    pub transform_peak_rss_mb: f64,
    /// Process with ten messages at once, as Lambda hands them over.
    pub process_peak_rss_mb: f64,
    pub finish_peak_rss_mb: f64,
    /// Prevalidate over a JSON array holding one string of `HUGE_STRING_MB` (issue 16).
    pub prevalidate_huge_json_string_peak_rss_mb: f64,
}

/// The one string value of the hostile JSON file.
const HUGE_STRING_MB: u64 = 300;

impl Peaks {
    pub fn print(&self) {
        for (step, mb) in [
            ("prevalidate", self.prevalidate_peak_rss_mb),
            ("transform", self.transform_peak_rss_mb),
            ("process, 10 messages at once", self.process_peak_rss_mb),
            ("completion (results, errors files)", self.finish_peak_rss_mb),
            ("prevalidate, a 300 MB JSON string", self.prevalidate_huge_json_string_peak_rss_mb),
        ] {
            println!("{:<44} {:>12.1} MB", format!("{step}: peak RSS"), mb);
        }
    }
}

/// This process's peak resident set so far, in MB: `VmHWM`, the high-water mark of this
/// program's own memory. (`getrusage`'s `ru_maxrss` would not do: it carries the parent's peak
/// over fork and exec.)
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .expect("VmHWM in /proc/self/status (Linux)");
    kb / 1024.0
}

/// The child: one step, then its report on stdout.
pub fn child(args: StepArgs) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let (messages, records) = runtime.block_on(run_step(&args)).unwrap_or_else(|e| panic!("{:?}: {e}", args.step));
    let report = Report { peak_rss_mb: peak_rss_mb(), messages, records, seconds: started.elapsed().as_secs_f64() };
    println!("{}", serde_json::to_string(&report).expect("report"));
}

async fn run_step(args: &StepArgs) -> domain::Result<(u64, u64)> {
    let (svc, store) = memory::services(&args.dir)?;
    let internal = |e: std::io::Error| domain::Error::Internal(e.to_string());
    let queued = |queue| -> domain::Result<_> {
        let file = std::fs::File::open(JsonLines::path(&args.dir, queue)).map_err(internal)?;
        Ok(std::io::BufReader::new(file).lines())
    };
    let mut messages = 0;
    match args.step {
        Step::Prevalidate => {
            // The import as the API creates it, then its upload: the file itself, linked.
            let body: &[u8] = match args.file.extension().and_then(|e| e.to_str()) {
                Some("json") => br#"{"resource_type": "contact", "format": "json"}"#,
                _ => br#"{"resource_type": "contact"}"#,
            };
            let import = service::api::create_import(&svc, TENANT, body, None).await?;
            let key = upload_key(TENANT, &import.id);
            let path = args.dir.join("objects").join(&key);
            std::fs::create_dir_all(path.parent().unwrap_or(&args.dir)).map_err(internal)?;
            std::os::unix::fs::symlink(std::fs::canonicalize(&args.file).map_err(internal)?, path).map_err(internal)?;
            prevalidate::run(&svc, &key).await?;
            let stored = svc.imports.get(TENANT, &import.id).await?.ok_or(domain::Error::NotFound)?;
            if !stored.progress.planned {
                return Err(domain::Error::Internal(format!("not planned: {:?}", stored.import.reason)));
            }
            messages = stored.progress.chunks_total;
        }
        Step::Transform => {
            for line in queued(Queue::Transform)? {
                transform::run(&svc, &line.map_err(internal)?).await?;
                messages += 1;
            }
        }
        Step::Process => {
            let mut lines = queued(Queue::Process)?;
            loop {
                let batch = lines.by_ref().take(LAMBDA_BATCH).collect::<Result<Vec<_>, _>>().map_err(internal)?;
                if batch.is_empty() {
                    break;
                }
                messages += batch.len() as u64;
                futures::future::try_join_all(batch.iter().map(|body| process::run(&svc, body))).await?;
            }
        }
        Step::Finish => {
            for line in queued(Queue::Transform)? {
                let line = line.map_err(internal)?;
                if let Ok(TransformJob::FinishRun(job)) = domain::messages::decode(&line) {
                    transform::run(&svc, &line).await?;
                    messages += 1;
                    let stored = svc.imports.get(TENANT, &job.import_id).await?.ok_or(domain::Error::NotFound)?;
                    let import = stored.import;
                    let errors_kept = import.has_errors_file || import.stats.errors == 0;
                    if import.status != Status::Completed || !import.has_results_file || !errors_kept {
                        return Err(domain::Error::Internal(format!("not completed with its files: {import:?}")));
                    }
                }
            }
            if messages == 0 {
                return Err(domain::Error::Internal("process sent no FinishRun".into()));
            }
        }
    }
    memory::save(&args.dir, &store)?;
    Ok((messages, store.records_written()))
}

/// The hard contacts file (`contacts::hard`: 1 % bad rows, so an errors file too) of `mb` MB
/// under `dir`, generated once: reused when its size fits.
fn big_file(dir: &Path, mb: u64) -> PathBuf {
    let bytes = mb * 1024 * 1024;
    let path = dir.join(format!("contacts-hard-{mb}mb.csv"));
    // The generator stops after the row that reaches the size; a row is far under 1 KB.
    let fits = |len: u64| (bytes..bytes + 1024).contains(&len);
    if std::fs::metadata(&path).is_ok_and(|m| fits(m.len())) {
        return path;
    }
    println!("generating {}", path.display());
    std::fs::create_dir_all(dir).expect("bench directory");
    let part = path.with_extension("part");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&part).expect("create the file"));
    contacts::write_hard(&mut out, bytes).expect("write the file");
    out.into_inner().expect("flush the file");
    std::fs::rename(&part, &path).expect("name the file");
    path
}

/// `[{"email": ..., "notes": "xxx…"}]` with a notes string of `HUGE_STRING_MB`, generated once.
fn huge_json_file(dir: &Path) -> PathBuf {
    let path = dir.join(format!("huge-string-{HUGE_STRING_MB}mb.json"));
    let (head, tail) = (br#"[{"email": "a@example.com", "notes": ""#, br#""}]"#);
    let size = head.len() as u64 + (HUGE_STRING_MB << 20) + tail.len() as u64;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return path;
    }
    std::fs::create_dir_all(dir).expect("bench directory");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the file"));
    out.write_all(head).expect("write the file");
    let block = vec![b'x'; 1 << 20];
    for _ in 0..HUGE_STRING_MB {
        out.write_all(&block).expect("write the file");
    }
    out.write_all(tail).expect("write the file");
    out.flush().expect("flush the file");
    path
}

/// Runs the three steps, each in a child process, over a file of `mb` MB; then prevalidate over
/// a JSON file of one huge string.
pub fn measure(dir: &Path, mb: u64) -> Peaks {
    let file = big_file(dir, mb);
    let huge = huge_json_file(dir);
    let work = dir.join("rss");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work directory");
    let exe = std::env::current_exe().expect("own path");
    let run = |step: &str, file: &Path, work: &Path| {
        let out = Command::new(&exe)
            .args(["rss", step, "--file"])
            .arg(file)
            .arg("--dir")
            .arg(work)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("start the step");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Report = stdout
            .lines()
            .last()
            .filter(|_| out.status.success())
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{step} failed ({}): {stdout}", out.status));
        println!(
            "  {step}: {:.1} MB peak, {} messages, {} records, {:.1} s",
            report.peak_rss_mb, report.messages, report.records, report.seconds
        );
        report.peak_rss_mb
    };
    let huge_work = dir.join("rss-huge");
    let _ = std::fs::remove_dir_all(&huge_work);
    std::fs::create_dir_all(&huge_work).expect("work directory");
    let peaks = Peaks {
        prevalidate_peak_rss_mb: run("prevalidate", &file, &work),
        transform_peak_rss_mb: run("transform", &file, &work),
        process_peak_rss_mb: run("process", &file, &work),
        finish_peak_rss_mb: run("finish", &file, &work),
        prevalidate_huge_json_string_peak_rss_mb: run("prevalidate", &huge, &huge_work),
    };
    let _ = std::fs::remove_dir_all(&huge_work);
    // What the steps wrote is as large as the file again: not kept.
    let _ = std::fs::remove_dir_all(&work);
    peaks
}
