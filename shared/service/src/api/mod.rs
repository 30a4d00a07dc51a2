//! The HTTP API's operations, free of any HTTP framework: the handlers decode the request, call
//! one of these with the caller's tenant, and encode the answer.

mod bodies;
mod checks;
mod listing;
pub(crate) mod requests;
mod schemas;
mod templates;
pub mod uploads;

use std::collections::HashMap;

use serde_json::Value;

pub use checks::{MAX_INPUTS, MAX_INPUT_BYTES, MAX_SETTINGS_BYTES, MAX_SYNC_INPUTS};
pub use listing::Listing;
use listing::{check_query, limit};
pub use requests::{import_from_body, parse_patch, patch_settings, PatchRequest, TemplateChoice};
pub use schemas::{get_schema, put_schema};
pub use templates::{create_template, delete_template, get_template, list_templates, put_template};

pub use crate::deletion::delete_import;
use crate::pipeline::overwrite;
use crate::pipeline::revert;
use crate::pipeline::type_hold;
use crate::ports::{Download, Queue, Restart};
use crate::publishing;
use crate::services::Services;
use crate::webhooks;
use domain::error::{Error, FieldError, Result};
use domain::error_files;
use domain::events::Kind;
use domain::idempotency::{self, KeyClaim};
use domain::import::{self, Import, Mode, Status};
use domain::messages::{encode, ImportRef, PlanMessage, TransformJob};
use domain::options::Action;
use domain::record::{ResourceType, StoredRecord};
use domain::results;
use domain::revert_state::{RevertState, RevertStatus};
use domain::time_fmt;
use domain::validate::normalize_identifier;

pub async fn create_import(
    svc: &Services,
    tenant_id: &str,
    body: &[u8],
    idempotency_key: Option<&str>,
) -> Result<Import> {
    let mut object = bodies::decode_object(body).map_err(|e| Error::Invalid(vec![e]))?;
    let own_settings: Vec<String> =
        object.keys().filter(|k| domain::template::SETTINGS.contains(&k.as_str())).cloned().collect();
    let fingerprint = idempotency_key.map(|_| idempotency::fingerprint(&Value::Object(object.clone())));
    // A template named by id is the defaults of the body's own settings.
    let choice = object.get("template").and_then(|t| TemplateChoice::read(t).ok());
    let named = match choice.as_ref().and_then(TemplateChoice::named) {
        Some((id, version)) => Some(crate::templates::named(svc, tenant_id, id, version).await?),
        None => None,
    };
    if let Some(template) = &named {
        if object.get("resource_type").is_some_and(|r| Some(r) != template.body.get("resource_type")) {
            let message = "the template is for other records than the import's resource_type";
            return Err(Error::invalid("template", "invalid", message));
        }
        if !object.contains_key("resource_type") {
            object.insert("resource_type".into(), template.body.get("resource_type").cloned().unwrap_or_default());
        }
        // Inline inputs are a file known now: the template maps the headers it has.
        let headers = checks::inline_headers(object.get("inputs"));
        requests::under_template(&mut object, &template.body, headers.as_deref(), true);
    }
    let (mut import, inputs) = requests::import_from_object(tenant_id, object, svc.settings.allow_insecure_webhooks)?;
    if let Some(template) = &named {
        import.template = Some(crate::templates::used(template));
    }
    let schema = crate::schemas::current(svc, tenant_id, import.resource_type).await?;
    crate::schemas::typed_constants(schema.as_ref().map(|(_, s)| s.as_ref()), &mut import.options.constants)?;
    import.schema_version = schema.map(|(version, _)| version);
    if let (Some(key), Some(fingerprint)) = (idempotency_key, fingerprint) {
        idempotency::check_key(key)?;
        match svc.imports.claim_key(tenant_id, key, &fingerprint, &import.id).await? {
            KeyClaim::Claimed => {}
            KeyClaim::Held { fingerprint: held, .. } if held != fingerprint => {
                return Err(Error::Conflict("this Idempotency-Key was used with another body".into()));
            }
            KeyClaim::Held { import_id, .. } => match get_import(svc, tenant_id, &import_id).await {
                Err(Error::NotFound) => import.id = import_id, // the first request died before storing it
                found => return found,
            },
        }
    }
    // After the key: a retry of a stored overwrite answers with it, not with a conflict.
    if import.action == Action::Overwrite {
        refuse_overwrite_while_running(svc, tenant_id, import.resource_type).await?;
    }
    let key = import::upload_key(tenant_id, &import.id);
    // Inline inputs are the upload, and a pulled source: no link to send a file to.
    if inputs.is_none() && import.source.is_none() {
        import.links.upload = Some(uploads::link(svc, &import).await?);
    }
    if !svc.imports.create(&import, &own_settings).await? {
        // A concurrent retry with the same key stored it first.
        return get_import(svc, tenant_id, &import.id).await;
    }
    tracing::info!(tenant_id, import_id = import.id.as_str(), "import created");
    publishing::publish(svc, tenant_id, &import.id, Kind::Created, Some(0)).await?;
    if import.source.is_some() {
        let pull = TransformJob::Pull(ImportRef { tenant_id: tenant_id.into(), import_id: import.id.clone() });
        svc.queue.send(Queue::Transform, tenant_id, vec![encode(&pull)?]).await?;
    }
    if let Some(inputs) = inputs {
        // An async import goes on from the upload's event, as a file would; a sync one is run here.
        svc.files.put(&key, inputs).await?;
        if import.mode == Mode::Sync {
            if let Err(e) = crate::pipeline::inline::run(svc, tenant_id, &import.id).await {
                // Nothing redelivers an in-memory queue: the import says it failed.
                tracing::error!(tenant_id, import_id = import.id.as_str(), error = %e, "sync import failed");
                let reason = match e {
                    Error::Conflict(held) if held.starts_with(type_hold::HELD_REASON) => held,
                    _ => "internal_error".into(),
                };
                let from = [Status::AwaitingUpload, Status::Queued, Status::Processing];
                crate::pipeline::complete::fail(svc, tenant_id, &import.id, 0, &from, &reason).await?;
            }
            return get_import(svc, tenant_id, &import.id).await;
        }
    }
    Ok(import)
}

/// An overwrite refuses (409) while another import of its type runs, so it never
/// removes records a running import is about to name (its run checks again when it starts).
async fn refuse_overwrite_while_running(svc: &Services, tenant_id: &str, resource: ResourceType) -> Result<()> {
    match overwrite::running_beside(svc, tenant_id, "", resource).await? {
        Some(other) => Err(Error::Conflict(format!(
            "import {} of {} records is {}: an overwrite waits until it is final",
            other.id,
            resource.as_str(),
            other.status.as_str()
        ))),
        None => Ok(()),
    }
}

pub async fn get_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let import = svc.imports.get(tenant_id, import_id).await?.map(|s| s.import).ok_or(Error::NotFound)?;
    with_links(svc, import).await
}

/// Download links live at most 15 minutes.
const DOWNLOAD_TTL_SECS: u64 = 900;

/// The import with signed links to the files it has, each a download of a fixed type: the
/// source is the tenant's bytes as they came, never a page to render.
async fn with_links(svc: &Services, mut import: Import) -> Result<Import> {
    let (tenant, id) = (import.tenant_id.as_str(), import.id.as_str());
    let link = |key: String, suffix: String, content_type| async move {
        let download = Download { filename: format!("{id}{suffix}"), content_type };
        svc.files.presign_download(&key, DOWNLOAD_TTL_SECS, &download).await
    };
    if import.has_upload_file {
        let suffix = format!("-source{}", source_extension(&import));
        import.links.source = Some(link(import::upload_key(tenant, id), suffix, "application/octet-stream").await?);
    }
    if import.has_errors_file {
        let csv = link(error_files::errors_csv_key(tenant, id), "-errors.csv".into(), "text/csv").await?;
        let json = link(error_files::errors_json_key(tenant, id), "-errors.json".into(), "application/json").await?;
        (import.links.errors_csv, import.links.errors_json) = (Some(csv), Some(json));
    }
    if import.has_results_file {
        import.links.results_csv =
            Some(link(results::results_csv_key(tenant, id), "-results.csv".into(), "text/csv").await?);
    }
    Ok(import)
}

/// The upload's file name extension: what prevalidation found it to be (`.csv.gz`, `.xlsx`), else
/// the format the client named; none while `auto` is not yet decided.
fn source_extension(import: &Import) -> String {
    let (format, compression) = match &import.file {
        Some(file) if !file.format.is_empty() => (file.format.as_str(), file.compression.as_str()),
        _ => (import.format.as_str(), import.packing.compression.as_str()),
    };
    let packed = match compression {
        "gzip" => ".gz",
        "zstd" => ".zst",
        _ => "",
    };
    match (format, compression) {
        (_, "zip") => ".zip".into(),
        ("auto", _) => packed.into(),
        (format, _) => format!(".{format}{packed}"),
    }
}

/// `POST /v1/imports/{id}/revert` (docs/api.md, Revert an import): a completed import that wrote records starts
/// reverting; the import reports its progress in `revert`. Asked again while reverting, the plan
/// is sent again (a lost one resumes; units already reverted stay so); a failed revert
/// resumes the same way.
pub async fn revert_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let stored = svc.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    let import = &stored.import;
    if import.status != Status::Completed || import.dry_run {
        let what = if import.dry_run { "a dry run" } else { import.status.as_str() };
        return Err(Error::Conflict(format!(
            "only a completed import that wrote records can be reverted; this one is {what}"
        )));
    }
    match import.revert.as_ref().map(|r| r.status) {
        Some(RevertStatus::Reverted) => return Err(Error::Conflict("the import was reverted already".into())),
        Some(RevertStatus::Reverting) => {}
        // Lost to a concurrent request that resumed it: that one is as good.
        Some(RevertStatus::Failed) => {
            if !svc.imports.resume_revert(tenant_id, import_id).await?
                && !svc.imports.get(tenant_id, import_id).await?.is_some_and(|s| s.import.is_reverting())
            {
                return Err(Error::Conflict("the import changed meanwhile; read it again".into()));
            }
        }
        None => {
            let state = RevertState::requested(time_fmt::now());
            // Lost to a concurrent request for the same revert: that one is as good.
            if !svc.imports.begin_revert(tenant_id, import_id, &state).await?
                && !svc.imports.get(tenant_id, import_id).await?.is_some_and(|s| s.import.is_reverting())
            {
                return Err(Error::Conflict("the import changed meanwhile; read it again".into()));
            }
        }
    }
    revert::request(svc, tenant_id, import_id).await?;
    tracing::info!(tenant_id, import_id, "revert requested");
    get_import(svc, tenant_id, import_id).await
}

/// Any status before a final one → interrupted; 409 when it was final already.
async fn interrupt(svc: &Services, import: &Import) -> Result<()> {
    let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
    if !svc.imports.interrupt(tenant_id, import_id).await? {
        let status = import.status.as_str();
        return Err(Error::Conflict(format!("the import is already final (status {status})")));
    }
    tracing::info!(tenant_id, import_id, "import interrupted");
    publishing::publish(svc, tenant_id, import_id, Kind::Interrupted, None).await?;
    type_hold::leave(svc, tenant_id, import.resource_type, import_id).await
}

/// `PATCH /v1/imports/{id}`: see [`PatchRequest`].
pub async fn patch_import(svc: &Services, tenant_id: &str, import_id: &str, body: &[u8]) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let stored = svc.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    let (import, progress) = (&stored.import, stored.progress);
    let (from, sent, choice) = match parse_patch(body)? {
        PatchRequest::Interrupt => {
            interrupt(svc, import).await?;
            return get_import(svc, tenant_id, import_id).await;
        }
        PatchRequest::Run { from, settings, template } => (from, settings, template),
    };
    let template = match choice.as_ref().map(TemplateChoice::named) {
        None => None,
        Some(None) => best_for(svc, import).await?,
        Some(Some((id, version))) => Some(crate::templates::named(svc, tenant_id, id, version).await?),
    };
    if template.as_ref().is_some_and(|t| !crate::templates::is_of(t, import.resource_type)) {
        return Err(Error::invalid("template", "invalid", "the template is for other records than the import's"));
    }
    let template = template.as_ref().map(|t| (&t.body, crate::templates::used(t)));
    let mut settings = requests::patch_settings(sent, template, import, from)?;
    crate::schemas::type_run_constants(svc, import, &mut settings).await?;
    let restart =
        Restart { from, run: progress.run, settings, dry_run: from == Status::PreviewReady && import.dry_run };
    let mut changed = import.clone();
    restart.apply(&mut changed);
    if let Some(error) = checks::settings_over_budget(&changed) {
        return Err(Error::Invalid(vec![error]));
    }
    // A PATCH whose plan message was lost is sent again; planning the same run twice is harmless.
    // The run started with the settings it had: a resend that would change them is refused, not
    // answered as if they were taken.
    let resend = import.status == Status::Queued && progress.run > 0;
    if resend && !restart.settings.already(&stored.requested_mappings, import) {
        let message = "the import started already (status queued) with other settings; interrupt it and import again";
        return Err(Error::Conflict(message.into()));
    }
    if !resend {
        let ok = match from {
            Status::PreviewReady => import.status == Status::PreviewReady,
            _ => import.status == Status::Completed && import.dry_run,
        };
        if !ok {
            let what = if from == Status::PreviewReady { "is not preview_ready" } else { "is not a completed dry run" };
            return Err(Error::Conflict(format!("the import {what} (status {})", import.status.as_str())));
        }
        if import.action == Action::Overwrite {
            refuse_overwrite_while_running(svc, tenant_id, import.resource_type).await?;
        }
        if !svc.imports.restart(tenant_id, import_id, &restart).await? {
            return Err(Error::Conflict("the import changed meanwhile; read it and try again".into()));
        }
    }
    let run = if resend { progress.run } else { progress.run + 1 };
    let plan = PlanMessage { tenant_id: tenant_id.into(), import_id: import_id.into(), run };
    svc.queue.send(Queue::Transform, tenant_id, vec![encode(&TransformJob::PlanRun(plan))?]).await?;
    tracing::info!(tenant_id, import_id, run, "run started from the upload");
    get_import(svc, tenant_id, import_id).await
}

/// The template `import`'s headers match best, if any matches enough.
async fn best_for(svc: &Services, import: &Import) -> Result<Option<crate::ports::Versioned>> {
    let best = crate::templates::best_for(svc, &import.tenant_id, import.resource_type, &import.file_headers).await?;
    Ok(best.map(|(_, doc)| doc))
}

/// `limit` 1..=100 (default 20), an opaque `cursor` from the previous page, `status` filter.
pub async fn list_imports(svc: &Services, tenant_id: &str, query: &HashMap<String, String>) -> Result<Listing<Import>> {
    let mut errors = Vec::new();
    check_query(query, &["status", "limit", "cursor"], &mut errors);
    let limit = limit(query, &mut errors);
    let status = match query.get("status") {
        None => None,
        Some(s) => {
            let st = Status::parse(s);
            if st.is_none() {
                errors.push(FieldError::new("status", "invalid", "not an import status"));
            }
            st
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let page = svc.imports.list(tenant_id, status, limit, query.get("cursor").map(String::as_str)).await?;
    let mut data = Vec::with_capacity(page.items.len());
    for import in page.items {
        data.push(with_links(svc, import).await?);
    }
    Ok(Listing { data, next_cursor: page.next_cursor })
}

pub async fn list_records(
    svc: &Services,
    tenant_id: &str,
    resource_type: &str,
    query: &HashMap<String, String>,
) -> Result<Listing<Value>> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let mut errors = Vec::new();
    check_query(query, &["limit", "cursor"], &mut errors);
    let limit = limit(query, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let page = svc.records.list(tenant_id, resource, limit, query.get("cursor").map(String::as_str)).await?;
    Ok(Listing { data: page.items.iter().map(StoredRecord::to_json).collect(), next_cursor: page.next_cursor })
}

pub async fn get_record(svc: &Services, tenant_id: &str, resource_type: &str, identifier: &str) -> Result<Value> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let field = resource.default_identifier();
    let id = normalize_identifier(resource, field, identifier.trim());
    // No stored identifier is empty or longer than a DynamoDB sort key.
    if id.is_empty() || id.len() > domain::validate::MAX_IDENTIFIER_BYTES {
        return Err(Error::NotFound);
    }
    svc.records.get(tenant_id, resource, &id).await?.map(|r| r.to_json()).ok_or(Error::NotFound)
}

/// `GET /v1/webhooks/secret`.
pub async fn webhook_secret(svc: &Services, tenant_id: &str) -> Result<Value> {
    Ok(serde_json::json!({ "secret": webhooks::current_secret(svc, tenant_id).await? }))
}

/// `POST /v1/webhooks/secret/rotate`: the new secret; the old one signs 24 hours more.
pub async fn rotate_webhook_secret(svc: &Services, tenant_id: &str) -> Result<Value> {
    Ok(serde_json::json!({ "secret": webhooks::rotate_secret(svc, tenant_id).await? }))
}
