//! Dead letters: a work message that failed on every delivery, or an upload event prevalidate
//! failed on after its retries. Its import ends `failed` with reason `internal_error`, the step
//! and the kind of error, at once instead of when the sweeper would time it out; a revert's
//! ends the revert `failed` instead (the import stays completed); a webhook delivery that died
//! is a lost notification and ends nothing. Every body is kept in the bucket
//! for the operator first, so a letter is never lost, whatever it holds.

use serde::Deserialize;

use crate::ports::FileStore;
use crate::services::Services;
use domain::error::{Error, Result};
use domain::import::{decode_key, parse_upload_key, Status};
use domain::messages::{ProcessJob, TransformJob};
use domain::webhook::DeliveryMessage;

use super::complete::fail;
use super::type_hold;

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
    /// A revert unit or plan failed for good: the revert ends failed with `reason` (the import
    /// stays completed), and can be asked again.
    EndRevert { tenant_id: String, import_id: String, reason: String },
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
    // The bucket was just written: failing to read is the error's object being absent.
    let failed = svc.files.read(&error_key(letter.message_id)).await.ok().and_then(|b| String::from_utf8(b).ok());
    match judge(letter.body, failed.as_deref()) {
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
        Verdict::EndRevert { tenant_id, import_id, reason } => {
            let (tenant_id, import_id) = (tenant_id.as_str(), import_id.as_str());
            if svc.imports.fail_revert(tenant_id, import_id, &reason).await? {
                tracing::error!(tenant_id, import_id, reason, key, "dead letter ended its import's revert");
                type_hold::leave_import(svc, tenant_id, import_id).await?;
            } else {
                tracing::warn!(tenant_id, import_id, key, "dead letter of a revert that is not running; kept");
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
    format!("{PREFIX}{}/{}", safe(queue), safe(message_id))
}

fn safe(s: &str) -> String {
    let kept: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if kept.is_empty() {
        "unnamed".into()
    } else {
        kept
    }
}

/// Where a queue message's last failed delivery records the kind of its error, by the message
/// id, which SQS keeps when it moves the message to its dead-letter queue. Overwritten by each
/// failed delivery; a delivery that crashed or timed out records nothing.
pub fn error_key(message_id: &str) -> String {
    format!("{PREFIX}errors/{}", safe(message_id))
}

/// Records the kind of the error a queue message's delivery failed with (see `error_key`).
pub async fn record_error(files: &dyn FileStore, message_id: &str, err: &Error) -> Result<()> {
    files.put(&error_key(message_id), kind_of("", &err.to_string()).as_bytes().to_vec()).await
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

/// The kind of a queue's dead letter whose deliveries recorded no error (see `error_key`): each
/// failure is logged by its step, with the error.
const EVERY_DELIVERY: &str = "every delivery failed";

/// The public reason: the code clients match on, then the step and the kind of error. Never the
/// error's message, which may quote records or keys.
fn reason(step: Step, kind: &str) -> String {
    format!("internal_error: {} failed ({kind})", step.as_str())
}

/// Reads what a body names. The kinds are told apart by the fields only each has: an
/// asynchronous invocation's failure record, an S3 event (a dead letter of a queue the upload
/// events go through), a process message, a transform message, a webhook delivery. A process
/// batch also has every field of a transform plan, so process work is tried first. `failed`
/// is the kind of error its last delivery recorded, if it did.
pub fn judge(body: &str, failed: Option<&str>) -> Verdict {
    if let Ok(failure) = serde_json::from_str::<InvocationFailure>(body) {
        return upload(&failure.request_payload, failure.kind());
    }
    if let Ok(event) = serde_json::from_str::<UploadEvent>(body) {
        return upload(&event, failed.unwrap_or(EVERY_DELIVERY));
    }
    let reason = |step| reason(step, failed.unwrap_or(EVERY_DELIVERY));
    let end = |tenant_id: String, import_id: String, run: Option<u32>, step: Step| Verdict::EndImport {
        tenant_id,
        import_id,
        run,
        reason: reason(step),
    };
    let end_revert = |tenant_id, import_id| Verdict::EndRevert { tenant_id, import_id, reason: reason(Step::Revert) };
    if let Ok(work) = serde_json::from_str::<ProcessJob>(body) {
        return match work {
            ProcessJob::WriteBatch(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Process),
            ProcessJob::RemovePage(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Cleanup),
            ProcessJob::RevertUnit(m) => end_revert(m.tenant_id, m.import_id),
        };
    }
    if let Ok(work) = serde_json::from_str::<TransformJob>(body) {
        return match work {
            TransformJob::Chunk(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Transform),
            TransformJob::PlanRun(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Transform),
            TransformJob::Scan(m) => end(m.tenant_id, m.import_id, Some(m.run), Step::Prevalidate),
            TransformJob::FinishRun(m) | TransformJob::Pull(m) => end(m.tenant_id, m.import_id, None, Step::Transform),
            TransformJob::PlanRevert(m) => end_revert(m.tenant_id, m.import_id),
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
    fn kind(&self) -> &'static str {
        if self.request_context.condition == "EventAgeExceeded" {
            return "event too old";
        }
        match &self.response_payload {
            Some(FunctionError { error_type, error_message }) => kind_of(error_type, error_message),
            None => "retries exhausted",
        }
    }
}

/// The kind of an error, from its type as the Lambda runtime names it (empty for the service's
/// own errors) and its message, whose first words say what failed (`domain::Error`'s messages
/// start so). Only the kind is ever shown: the message may quote records or keys.
pub fn kind_of(error_type: &str, message: &str) -> &'static str {
    let (kind, message) = (error_type.to_ascii_lowercase(), message.to_ascii_lowercase());
    if message.contains("timed out") || kind.contains("timeout") || kind.contains("timedout") {
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
        match judge(&body.to_string(), None) {
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
        let process = json!({"kind": "write_batch", "tenant_id": "acme", "import_id": ID, "resource_type": "contact",
            "chunk": 0, "batch": 0, "records": [], "run": 2, "dry_run": false});
        assert_eq!(ends(&process), (Some(2), "internal_error: process failed (every delivery failed)".into()));
        let removal = json!({"kind": "remove_page", "tenant_id": "acme", "import_id": ID, "run": 1, "after": null});
        assert_eq!(ends(&removal), (Some(1), "internal_error: cleanup failed (every delivery failed)".into()));
        let chunk = json!({"kind": "chunk", "tenant_id": "acme", "import_id": ID, "run": 0,
            "chunk": {"index": 0, "start": 90, "end": 4317, "first_row": 1, "rows": 50, "skip_rows": []},
            "source": {"key": "k", "etag": null, "encoding": "utf-8", "delimiter": ","}});
        assert_eq!(ends(&chunk), (Some(0), "internal_error: transform failed (every delivery failed)".into()));
        let plan = json!({"kind": "plan_run", "tenant_id": "acme", "import_id": ID, "run": 3});
        assert_eq!(ends(&plan).0, Some(3));
        let finish = json!({"kind": "finish_run", "tenant_id": "acme", "import_id": ID});
        assert_eq!(ends(&finish), (None, "internal_error: transform failed (every delivery failed)".into()));
    }

    #[test]
    fn a_revert_letter_ends_the_revert_not_the_import() {
        let unit = json!({"kind": "revert_unit", "tenant_id": "acme", "import_id": ID, "unit": "batch#0", "before_images": "results/x"});
        let plan = json!({"kind": "plan_revert", "tenant_id": "acme", "import_id": ID});
        for (body, failed, kind) in [(unit, Some("storage"), "storage"), (plan, None, "every delivery failed")] {
            assert_eq!(
                judge(&body.to_string(), failed),
                Verdict::EndRevert {
                    tenant_id: "acme".into(),
                    import_id: ID.into(),
                    reason: format!("internal_error: revert failed ({kind})")
                }
            );
        }
    }

    #[test]
    fn a_queue_letter_names_the_kind_its_last_delivery_recorded() {
        let plan = json!({"kind": "plan_run", "tenant_id": "acme", "import_id": ID, "run": 3}).to_string();
        let errors = [
            (Error::aws("s3", "NoSuchKey: uploads/acme/x"), "storage"),
            (Error::aws("dynamodb", "ThrottlingException: Rate exceeded"), "throttled"),
            (Error::Contention("acme/ann@example.com kept changing".into()), "contention"),
            (Error::BadMessage("expected value".into()), "decode"),
            (Error::Internal("x".into()), "internal"),
            (Error::SourceChanged, "unknown error"),
        ];
        for (err, kind) in errors {
            let recorded = kind_of("", &err.to_string());
            assert_eq!(recorded, kind, "{err}");
            let Verdict::EndImport { reason, .. } = judge(&plan, Some(recorded)) else { panic!("{err}") };
            assert_eq!(reason, format!("internal_error: transform failed ({kind})"));
        }
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
            judge(&delivery.to_string(), Some("storage")),
            Verdict::LostWebhook { tenant_id: "acme".into(), import_id: ID.into() }
        );
        for garbage in [
            "".to_string(),
            "not json".into(),
            json!({"tenant_id": "acme"}).to_string(),
            upload_event("results/acme/x.csv").to_string(),
            json!({"Records": []}).to_string(),
        ] {
            assert_eq!(judge(&garbage, None), Verdict::Unknown, "{garbage}");
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
        assert_eq!(error_key("0f8e-11/.."), "dead-letters/errors/0f8e-11..");
    }
}
