//! Where the file goes (docs/api.md, Uploads of any size): one signed PUT, or a multipart upload
//! whose parts the client PUTs itself, several at once, asking again for the part URLs after any
//! failure (what the bucket holds is marked `uploaded`), then completes; or aborts.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::services::Services;
use domain::error::{Error, Result};
use domain::import::{self, Import, MultipartLink, Status, UploadLink, MAX_PARTS, MULTIPART_WINDOW_SECS};
use domain::time_fmt;

/// Part URLs handed out a page at a time.
const PAGE: u32 = 100;

/// The link the client uploads to: multipart when the import's `upload` says so (over 100 MiB, or
/// asked), which opens the multipart upload now.
pub(super) async fn link(svc: &Services, import: &Import) -> Result<UploadLink> {
    let key = import::upload_key(&import.tenant_id, &import.id);
    match import.upload.filter(|u| u.is_multipart()) {
        None => Ok(UploadLink::Put(svc.files.presign_upload(&key, svc.settings.upload_url_ttl_secs).await?)),
        Some(upload) => {
            svc.uploads.start(&key).await?;
            let base = format!("/v1/imports/{}/upload", import.id);
            Ok(UploadLink::Multipart(MultipartLink {
                method: "MULTIPART".into(),
                part_size: upload.part_size(),
                parts: upload.parts(),
                parts_url: format!("{base}/parts"),
                complete_url: format!("{base}/complete"),
                expires_at: time_fmt::now() + time::Duration::seconds(MULTIPART_WINDOW_SECS),
            }))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PartsPage {
    pub data: Vec<PartLink>,
    pub next_from: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct PartLink {
    pub part_number: u32,
    pub url: String,
    pub method: &'static str,
    /// What this part must hold: the part size, or the rest of the file for the last.
    pub size: u64,
    pub uploaded: bool,
    pub etag: Option<String>,
}

/// The import, while its multipart upload is open to parts.
async fn awaiting_parts(svc: &Services, tenant_id: &str, import_id: &str) -> Result<(Import, MultipartLink)> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let import = svc.imports.get(tenant_id, import_id).await?.map(|s| s.import).ok_or(Error::NotFound)?;
    let Some(UploadLink::Multipart(link)) = import.links.upload.clone() else {
        return Err(Error::Conflict("the import's upload is not multipart: PUT the file to links.upload.url".into()));
    };
    Ok((import, link))
}

/// What part `number` must hold.
fn part_bytes(import: &Import, link: &MultipartLink, number: u32) -> u64 {
    match (import.upload.and_then(|u| u.size), link.parts) {
        (Some(size), Some(parts)) if number == parts => size - link.part_size * u64::from(parts - 1),
        _ => link.part_size,
    }
}

/// `GET /v1/imports/{id}/upload/parts?from=&count=`: signed PUT URLs of `count` parts (at most
/// 100) from part `from`, each marked with what the bucket already holds.
pub async fn parts(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    query: &HashMap<String, String>,
) -> Result<PartsPage> {
    let number = |name: &str, default: u32, most: u32| match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=most).contains(n))
            .ok_or_else(|| Error::invalid(name, "invalid", format!("a whole number from 1 to {most}"))),
    };
    let (from, count) = (number("from", 1, MAX_PARTS as u32)?, number("count", PAGE, PAGE)?);
    let (import, link) = awaiting_parts(svc, tenant_id, import_id).await?;
    if import.status != Status::AwaitingUpload {
        return Err(Error::Conflict(format!("the upload is complete (the import is {})", import.status.as_str())));
    }
    let key = import::upload_key(tenant_id, import_id);
    let upload_id = svc.uploads.open_upload(&key).await?.ok_or_else(closed)?;
    let held: BTreeMap<u32, String> =
        svc.uploads.parts(&key, &upload_id).await?.into_iter().map(|p| (p.number, p.etag)).collect();
    let last = link.parts.unwrap_or(MAX_PARTS as u32);
    let end = from.saturating_add(count - 1).min(last);
    let ttl = svc.settings.upload_url_ttl_secs;
    let mut data = Vec::new();
    for number in from..=end {
        data.push(PartLink {
            part_number: number,
            url: svc.uploads.presign_part(&key, &upload_id, number, ttl).await?,
            method: "PUT",
            size: part_bytes(&import, &link, number),
            uploaded: held.contains_key(&number),
            etag: held.get(&number).cloned(),
        });
    }
    Ok(PartsPage { data, next_from: (end < last).then_some(end + 1) })
}

fn closed() -> Error {
    Error::Conflict("no multipart upload is open for this import: it was completed or aborted".into())
}

/// `POST /v1/imports/{id}/upload/complete`: the parts become the file, and the import goes on
/// as after a single PUT; 409 naming the parts missing or of the wrong size. Asked again once
/// complete, it answers the import.
pub async fn complete(svc: &Services, tenant_id: &str, import_id: &str) -> Result<Import> {
    let (import, link) = awaiting_parts(svc, tenant_id, import_id).await?;
    let key = import::upload_key(tenant_id, import_id);
    let Some(upload_id) = svc.uploads.open_upload(&key).await? else {
        let uploaded = import.status != Status::AwaitingUpload || !svc.files.list(&key).await?.is_empty();
        return if uploaded { super::get_import(svc, tenant_id, import_id).await } else { Err(closed()) };
    };
    let held = svc.uploads.parts(&key, &upload_id).await?;
    let last = link.parts.or_else(|| held.iter().map(|p| p.number).max()).unwrap_or(0);
    if last == 0 {
        return Err(Error::Conflict("no part was uploaded".into()));
    }
    let sizes: BTreeMap<u32, u64> = held.iter().map(|p| (p.number, p.size)).collect();
    let missing: Vec<u32> = (1..=last).filter(|n| !sizes.contains_key(n)).collect();
    let wrong: Vec<String> = (1..=last)
        .filter_map(|n| {
            let (got, want) = (*sizes.get(&n)?, part_bytes(&import, &link, n));
            // Without a declared size the last part holds the rest.
            let fits = got == want || (link.parts.is_none() && n == last && got <= want);
            (!fits).then(|| format!("part {n} holds {got} bytes, not {want}"))
        })
        .collect();
    if !missing.is_empty() || !wrong.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("parts missing: {}", listed(&missing)));
        }
        if !wrong.is_empty() {
            problems.push(wrong.join("; "));
        }
        return Err(Error::Conflict(format!("the upload is not complete: {}", problems.join("; "))));
    }
    let parts: Vec<_> = held.into_iter().filter(|p| p.number <= last).collect();
    svc.uploads.complete(&key, &upload_id, &parts).await?;
    tracing::info!(tenant_id, import_id, parts = parts.len(), "multipart upload completed");
    super::get_import(svc, tenant_id, import_id).await
}

/// Part numbers, the first 20 of them.
fn listed(numbers: &[u32]) -> String {
    let shown: Vec<String> = numbers.iter().take(20).map(u32::to_string).collect();
    match numbers.len() - shown.len() {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// `DELETE /v1/imports/{id}/upload`: aborts the multipart upload, freeing its parts; the
/// import, which can no longer receive its file, is interrupted.
pub async fn abort(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let (import, _) = awaiting_parts(svc, tenant_id, import_id).await?;
    if import.status != Status::AwaitingUpload {
        return Err(Error::Conflict(format!("the upload is complete (the import is {})", import.status.as_str())));
    }
    svc.uploads.abort(&import::upload_key(tenant_id, import_id)).await?;
    super::interrupt(svc, &import).await?;
    Ok(())
}
