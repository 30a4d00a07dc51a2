//! Every sample in `events/` (the files `cargo lambda invoke` and `sam local invoke -e` use)
//! goes through its function's handler against the local stack, with the answer expected for a
//! stack that holds none of the sample's imports.

use std::path::{Path, PathBuf};

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tests::host;

enum Expect {
    Status(u16),
    Ok,
    /// The SQS message ids reported failed, exactly.
    Failures(&'static [&'static str]),
}

fn expectation(function: &str, name: &str) -> Expect {
    match (function, name) {
        ("create-import", "contact-csv.json" | "sync-inputs.json") => Expect::Status(201),
        ("create-import", "invalid-body.json") => Expect::Status(400),
        ("import-api", "list-imports.json" | "list-records.json" | "webhook-secret.json") => Expect::Status(200),
        ("import-api", "get-import.json" | "get-record.json" | "patch-import.json" | "revert-import.json") => {
            Expect::Status(404)
        }
        ("prevalidate", _) => Expect::Ok,
        ("transform", "one-malformed.json") => Expect::Failures(&["msg-2"]),
        // The address is refused: given up, not failed; a malformed message goes back.
        ("deliver-webhooks", "refused-and-malformed.json") => Expect::Failures(&["msg-2"]),
        // Kept, and the imports they name are unknown here: nothing to end, nothing failed.
        ("transform" | "process" | "dead-letters", _) => Expect::Failures(&[]),
        _ => panic!("events/{function}/{name} has no expectation here: add one"),
    }
}

fn samples() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("events/").flatten() {
        let function = dir.file_name().to_string_lossy().into_owned();
        if !dir.path().is_dir() || function == "data" {
            continue;
        }
        for file in std::fs::read_dir(dir.path()).expect("events/<function>").flatten() {
            out.push((function.clone(), file.path()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_runs_through_its_handler() {
    let host = host(|_| {}).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let samples = samples();
    assert!(samples.len() >= 8, "samples for every function: {samples:?}");
    for (function, path) in samples {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let what = format!("events/{function}/{name}");
        match (function.as_str(), expectation(&function, &name)) {
            ("create-import" | "import-api", Expect::Status(status)) => {
                let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
                let resp = if function == "create-import" {
                    create_import::handler(&svc, req).await
                } else {
                    import_api::handler(&svc, req).await
                }
                .unwrap();
                let body: Value = match resp.body() {
                    lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
                    _ => Value::Null,
                };
                assert_eq!(resp.status().as_u16(), status, "{what}: {body}");
            }
            ("prevalidate", Expect::Ok) => {
                let mut event: S3Event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
                // The sample names the deployed bucket; this stack's bucket has another name.
                for r in &mut event.records {
                    r.s3.bucket.name = Some(host.settings.uploads_bucket.clone());
                }
                prevalidate::handler(&svc, LambdaEvent::new(event, Context::default())).await.unwrap();
            }
            (_, Expect::Failures(expected)) => {
                let event: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
                let event = LambdaEvent::new(event, Context::default());
                let response = match function.as_str() {
                    "transform" => transform::handler(&svc, event).await,
                    "deliver-webhooks" => deliver_webhooks::handler(&svc, event).await,
                    "dead-letters" => dead_letters::handler(&svc, event).await,
                    _ => process::handler(&svc, event).await,
                }
                .unwrap();
                let failed: Vec<&str> =
                    response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
                assert_eq!(failed, expected, "{what}");
            }
            _ => panic!("{what}: expectation does not fit the function"),
        }
    }
}
