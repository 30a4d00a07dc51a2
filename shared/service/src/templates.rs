//! A tenant's templates as imports take them (docs/api.md, Templates): the one a body names, and
//! the one a file's headers match best.

use serde_json::Value;

use crate::ports::{DocumentKind, Versioned};
use crate::services::Services;
use domain::error::{Error, Result};
use domain::record::ResourceType;
use domain::template::{self, Candidate, TemplateRef, TemplateUse, MAX_TEMPLATES};

pub(crate) const KIND: DocumentKind = DocumentKind::Template;

/// The template an import names by id (latest or pinned version): its 400 names `template`.
pub(crate) async fn named(svc: &Services, tenant_id: &str, id: &str, version: Option<u32>) -> Result<Versioned> {
    match stored(svc, tenant_id, id, version).await {
        Err(Error::NotFound) => {
            let which = version.map_or(String::new(), |v| format!(" at version {v}"));
            Err(Error::invalid("template", "not_found", format!("no template {id}{which}")))
        }
        found => found,
    }
}

/// Every template of the tenant, latest versions.
pub(crate) async fn all(svc: &Services, tenant_id: &str) -> Result<Vec<Versioned>> {
    let mut docs = Vec::new();
    let mut cursor = None;
    loop {
        let page = svc.documents.list(KIND, tenant_id, 100, cursor.as_deref()).await?;
        docs.extend(page.items);
        match page.next_cursor {
            Some(next) if docs.len() < MAX_TEMPLATES => cursor = Some(next),
            _ => return Ok(docs),
        }
    }
}

/// The tenant's template of `resource` that `headers` match best (`template::best_match`).
pub(crate) async fn best_for(
    svc: &Services,
    tenant_id: &str,
    resource: ResourceType,
    headers: &[String],
) -> Result<Option<(template::Suggested, Versioned)>> {
    let docs: Vec<Versioned> = all(svc, tenant_id).await?.into_iter().filter(|d| is_of(d, resource)).collect();
    let candidates: Vec<Candidate> = docs
        .iter()
        .map(|d| Candidate {
            id: &d.id,
            version: d.version,
            name: d.body.get("name").and_then(Value::as_str).unwrap_or_default(),
            headers: d
                .body
                .get("mappings")
                .and_then(Value::as_object)
                .map_or(vec![], |m| m.keys().map(String::as_str).collect()),
            updated_at: d.updated_at.unix_timestamp(),
        })
        .collect();
    let Some(best) = template::best_match(headers, &candidates) else { return Ok(None) };
    let doc = docs.iter().find(|d| d.id == best.id).cloned();
    Ok(doc.map(|doc| (best, doc)))
}

/// What an import that took `doc` says of its template.
pub(crate) fn used(doc: &Versioned) -> TemplateUse {
    TemplateUse::Applied(TemplateRef { id: doc.id.clone(), version: doc.version })
}

pub(crate) fn is_of(doc: &Versioned, resource: ResourceType) -> bool {
    doc.body.get("resource_type").and_then(Value::as_str) == Some(resource.as_str())
}

pub(crate) async fn stored(svc: &Services, tenant_id: &str, id: &str, version: Option<u32>) -> Result<Versioned> {
    if !template::is_template_id(id) {
        return Err(Error::NotFound);
    }
    svc.documents.get(KIND, tenant_id, id, version).await?.ok_or(Error::NotFound)
}
