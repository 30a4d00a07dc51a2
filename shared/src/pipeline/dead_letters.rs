//! Dead letters: a work message that failed on every delivery, or an upload event prevalidate
//! failed on after its retries. Its import ends `failed` with reason `internal_error`, the step
//! and the kind of error, at once instead of when the sweeper would time it out; a webhook
//! delivery that died is a lost notification and ends nothing. Every body is kept in the bucket
//! for the operator first, so a letter is never lost, whatever it holds.

use serde::Deserialize;

use crate::edge::s3::decode_key;
use crate::error::Result;
use crate::import::{parse_upload_key, Status};
use crate::messages::{ProcessWork, TransformWork};
use crate::services::Services;
use crate::webhook::DeliveryMessage;

use super::complete::fail;

/// Where the bodies are kept: outside every import's prefix, so deleting an import (its
/// retention) leaves them to the bucket's lifecycle rule.
pub const PREFIX: &str = "dead-letters/";

/// The statuses a dead letter ends: those in which a step is still owed (a preview waits for
/// its client, not for a step).
const RUNNING: [Status; 3] = [Status::AwaitingUpload, Status::Queued, Status::Processing];

/// One message of a dead-letter queue (or of prevalidate's failure destination).
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The queue it was read from, as named in its ARN.
    pub queue: &'a str,
    pub message_id: &'a str,
    pub body: &'a str,
}

/// What a dead letter is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A step of this import failed for good: the import ends failed with `reason`. Without a
    /// run, the import's current one.
    EndImport { tenant_id: String, import_id: String, run: Option<u32>, reason: String },
    /// A webhook delivery that could not be handled: the import is done already.
    LostWebhook { tenant_id: String, import_id: String },
    /// Names no import.
    Unknown,
}

/// Keeps the body, then ends the import it names. An error (the bucket or the table
/// unreachable) leaves the letter on its queue to be read again.
pub async fn handle(svc: &Services, letter: DeadLetter<'_>) -> Result<()> {
    let key = key(letter.queue, letter.message_id);
    svc.files.put(&key, letter.body.as_bytes().to_vec()).await?;
    match judge(letter.body) {
        Verdict::EndImport { tenant_id, import_id, run, reason } => {
            let (tenant_id, import_id) = (tenant_id.as_str(), import_id.as_str());
            let run = match run {
                Some(run) => run,
                None => match svc.imports.progress(tenant_id, import_id).await? {
                    Some(progress) => progress.run,
                    None => {
                        tracing::warn!(tenant_id, import_id, key, "dead letter of an unknown import; kept");
                        return Ok(());
                    }
                },
            };
            let ended = fail(svc, tenant_id, import_id, run, &RUNNING, &reason).await?;
            if ended {
                tracing::error!(tenant_id, import_id, run, reason, key, "dead letter ended its import");
            } else {
                tracing::warn!(
                    tenant_id,
                    import_id,
                    run,
                    key,
                    "dead letter of a finished run or an unknown import; kept"
                );
            }
        }
        Verdict::LostWebhook { tenant_id, import_id } => {
            tracing::error!(
                tenant_id,
                import_id,
                key,
                "webhook delivery dead-lettered: the notification is lost; kept"
            );
        }
        Verdict::Unknown => tracing::error!(queue = letter.queue, key, "dead letter names no import; kept"),
    }
    Ok(())
}

/// The object a letter is kept as: by queue and message id, both cut to characters that are
/// safe in a key (both are plain already, as SQS names them).
pub fn key(queue: &str, message_id: &str) -> String {
    let safe = |s: &str| -> String {
        let kept: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
        if kept.is_empty() {
            "unnamed".into()
        } else {
            kept
        }
    };
    format!("{PREFIX}{}/{}", safe(queue), safe(message_id))
}

/// The step that failed, as the reason names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Prevalidate,
    Transform,
    Process,
    Cleanup,
    Revert,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Prevalidate => "prevalidate",
            Step::Transform => "transform",
            Step::Process => "process",
            Step::Cleanup => "cleanup",
            Step::Revert => "revert",
        }
    }
}

/// An SQS dead letter carries its body only: all that is known is that every delivery failed
/// (each failure is logged by its step, with the error).
const EVERY_DELIVERY: &str = "every delivery failed";

/// The public reason: the code clients match on, then the step and the kind of error. Never the
/// error's message, which may quote records or keys.
fn reason(step: Step, kind: &str) -> String {
    format!("internal_error: {} failed ({kind})", step.as_str())
}

/// Reads what a body names. The kinds are told apart by the fields only each has: an
/// asynchronous invocation's failure record, an S3 event (a dead letter of a queue the upload
/// events go through), a process message, a transform message, a webhook delivery. A process
/// batch also has every field of a transform plan, so process work is tried first.
pub fn judge(body: &str) -> Verdict {
    if let Ok(failure) = serde_json::from_str::<InvocationFailure>(body) {
        return upload(&failure.request_payload, &failure.kind());
    }
    if let Ok(event) = serde_json::from_str::<UploadEvent>(body) {
        return upload(&event, EVERY_DELIVERY);
    }
    let end = |tenant_id: String, import_id: String, run: Option<u32>, step: Step| Verdict::EndImport {
        tenant_id,
        import_id,
        run,
        reason: reason(step, EVERY_DELIVERY),
    };
    if let Ok(work) = serde_json::from_str::<ProcessWork>(body) {
        return match work {
            ProcessWork::Batch(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Process),
            ProcessWork::Removal(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Cleanup),
            ProcessWork::Revert(m) => end(m.tenant_id, m.import_id, None, Step::Revert),
        };
    }
    if let Ok(work) = serde_json::from_str::<TransformWork>(body) {
        return match work {
            TransformWork::Chunk(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Transform),
            TransformWork::Plan(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Transform),
            TransformWork::Finish(m) => end(m.tenant_id, m.import_id, None, Step::Transform),
            TransformWork::Revert(m) => end(m.tenant_id, m.import_id, None, Step::Revert),
        };
    }
    if let Ok(delivery) = serde_json::from_str::<DeliveryMessage>(body) {
        return Verdict::LostWebhook { tenant_id: delivery.tenant_id, import_id: delivery.import_id };
    }
    Verdict::Unknown
}

/// The import an upload event's first object names (S3 sends one object an event).
fn upload(event: &UploadEvent, kind: &str) -> Verdict {
    let named = event.records.iter().find_map(|r| {
        let key = decode_key(&r.s3.object.key);
        parse_upload_key(&key).map(|(tenant, import)| (tenant.to_string(), import.to_string()))
    });
    match named {
        Some((tenant_id, import_id)) => {
            Verdict::EndImport { tenant_id, import_id, run: None, reason: reason(Step::Prevalidate, kind) }
        }
        None => Verdict::Unknown,
    }
}

/// Lambda's on-failure destination record of an asynchronous invocation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationFailure {
    request_context: RequestContext,
    request_payload: UploadEvent,
    #[serde(default)]
    response_payload: Option<FunctionError>,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    /// `RetriesExhausted` or `EventAgeExceeded`.
    condition: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionError {
    #[serde(default)]
    error_type: String,
    #[serde(default)]
    error_message: String,
}

impl InvocationFailure {
    /// The kind of error, from the runtime's error type and the first words of the service's
    /// errors (`shared::Error`'s messages start with what failed).
    fn kind(&self) -> String {
        if self.request_context.condition == "EventAgeExceeded" {
            return "event too old".into();
        }
        let Some(FunctionError { error_type, error_message }) = &self.response_payload else {
            return "retries exhausted".into();
        };
        let (kind, message) = (error_type.to_ascii_lowercase(), error_message.to_ascii_lowercase());
        let kind = if message.contains("timed out") || kind.contains("timeout") || kind.contains("timedout") {
            "timeout"
        } else if message.contains("throttl") || message.contains("rate exceeded") || kind.contains("toomanyrequests") {
            "throttled"
        } else if kind.contains("outofmemory") || kind.contains("exit") {
            "crashed"
        } else if message.starts_with("contention") {
            "contention"
        } else if message.starts_with("malformed message") {
            "decode"
        } else if message.contains(" call failed") {
            "storage"
        } else if message.starts_with("internal error") {
            "internal"
        } else {
            "unknown error"
        };
        kind.into()
    }
}

/// What an upload event says of its objects: their keys (URL-encoded, as S3 sends them).
#[derive(Debug, Deserialize)]
struct UploadEvent {
    #[serde(rename = "Records")]
    records: Vec<UploadRecord>,
}

#[derive(Debug, Deserialize)]
struct UploadRecord {
    s3: UploadEntity,
}

#[derive(Debug, Deserialize)]
struct UploadEntity {
    object: UploadObject,
}

#[derive(Debug, Deserialize)]
struct UploadObject {
    key: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const ID: &str = "imp_01m83sq0b34f9z50ppezf6fnv1";

    fn ends(body: &Value) -> (Option<u32>, String) {
        match judge(&body.to_string()) {
            Verdict::EndImport { tenant_id, import_id, run, reason } => {
                assert_eq!((tenant_id.as_str(), import_id.as_str()), ("acme", ID), "{body}");
                (run, reason)
            }
            other => panic!("{body}: {other:?}"),
        }
    }

    fn upload_event(key: &str) -> Value {
        json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 3}}}]})
    }

    fn failure(condition: &str, error: Value) -> Value {
        json!({
            "version": "1.0",
            "requestContext": {"requestId": "r", "condition": condition, "approximateInvokeCount": 3},
            "requestPayload": upload_event(&format!("uploads/acme/{ID}/source")),
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": error,
        })
    }

    #[test]
    fn each_work_message_names_its_step_and_run() {
        let process = json!({"tenant_id": "acme", "import_id": ID, "resource_type": "contact", "chunk": 0,
            "batch": 0, "records": [], "run": 2, "dry_run": false});
        assert_eq!(ends(&process), (Some(2), "internal_error: process failed (every delivery failed)".into()));
        let removal = json!({"tenant_id": "acme", "import_id": ID, "run": 1, "removal": {"after": null}});
        assert_eq!(ends(&removal), (Some(1), "internal_error: cleanup failed (every delivery failed)".into()));
        let unit = json!({"tenant_id": "acme", "import_id": ID, "unit": "batch#0", "before_images": "results/x"});
        assert_eq!(ends(&unit), (None, "internal_error: revert failed (every delivery failed)".into()));
        let chunk = json!({"tenant_id": "acme", "import_id": ID, "run": 0,
            "chunk": {"index": 0, "start": 90, "end": 4317, "first_row": 1, "rows": 50, "skip_rows": []},
            "source": {"key": "k", "etag": null, "encoding": "utf-8", "delimiter": ","}});
        assert_eq!(ends(&chunk), (Some(0), "internal_error: transform failed (every delivery failed)".into()));
        let plan = json!({"tenant_id": "acme", "import_id": ID, "run": 3});
        assert_eq!(ends(&plan).0, Some(3));
        let finish = json!({"tenant_id": "acme", "import_id": ID, "finish": true});
        assert_eq!(ends(&finish), (None, "internal_error: transform failed (every delivery failed)".into()));
        let revert = json!({"tenant_id": "acme", "import_id": ID, "revert": true});
        assert_eq!(ends(&revert).1, "internal_error: revert failed (every delivery failed)");
    }

    #[test]
    fn a_failed_upload_event_says_what_kind_of_error_and_never_its_message() {
        let cases = [
            (
                json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 900.00 seconds"}),
                "timeout",
            ),
            (json!({"errorType": "Error", "errorMessage": "dynamodb call failed: ThrottlingException"}), "throttled"),
            (
                json!({"errorType": "Error", "errorMessage": "contention: acme/ann@example.com kept changing"}),
                "contention",
            ),
            (json!({"errorType": "Error", "errorMessage": "s3 call failed: NoSuchKey uploads/acme/x"}), "storage"),
            (json!({"errorType": "Runtime.OutOfMemory", "errorMessage": "Runtime exited"}), "crashed"),
            (json!({"errorType": "Error", "errorMessage": "something else"}), "unknown error"),
            (Value::Null, "retries exhausted"),
        ];
        for (error, kind) in cases {
            let (run, reason) = ends(&failure("RetriesExhausted", error.clone()));
            assert_eq!(run, None, "the import's current run");
            assert_eq!(reason, format!("internal_error: prevalidate failed ({kind})"), "{error}");
            assert!(!reason.contains("example.com"));
        }
        assert_eq!(
            ends(&failure("EventAgeExceeded", Value::Null)).1,
            "internal_error: prevalidate failed (event too old)"
        );
    }

    #[test]
    fn an_upload_event_from_a_dead_letter_queue_names_its_import_by_the_encoded_key() {
        let (run, reason) = ends(&upload_event(&format!("uploads%2Facme/{ID}/source")));
        assert_eq!((run, reason.as_str()), (None, "internal_error: prevalidate failed (every delivery failed)"));
    }

    #[test]
    fn webhook_deliveries_end_nothing_and_garbage_names_no_import() {
        let delivery = json!({"tenant_id": "acme", "import_id": ID, "event_id": "evt_1", "url": "https://x",
            "body": "{}", "attempts": 3, "waited_secs": 10, "not_before": 0});
        assert_eq!(
            judge(&delivery.to_string()),
            Verdict::LostWebhook { tenant_id: "acme".into(), import_id: ID.into() }
        );
        for garbage in [
            "".to_string(),
            "not json".into(),
            json!({"tenant_id": "acme"}).to_string(),
            upload_event("results/acme/x.csv").to_string(),
            json!({"Records": []}).to_string(),
        ] {
            assert_eq!(judge(&garbage), Verdict::Unknown, "{garbage}");
        }
    }

    #[test]
    fn letters_are_kept_by_queue_and_message_id_under_one_prefix() {
        assert_eq!(
            key("stack-ProcessDeadLetterQueue-AB12", "0f8e-11"),
            "dead-letters/stack-ProcessDeadLetterQueue-AB12/0f8e-11"
        );
        assert_eq!(key("../x", "a/b c"), "dead-letters/..x/abc");
        assert_eq!(key("", "/"), "dead-letters/unnamed/unnamed");
    }
}
