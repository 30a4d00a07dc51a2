//! `/v1/templates` (docs/api.md, Templates): a tenant's saved import settings, versioned. A
//! stored version is never changed: an import pinned to it gets what it held.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::bodies::decode_object;
use super::requests::{parse_object, TemplateChoice};
use super::{check_query, limit, Listing};
use crate::ports::{DocumentKind, Page, Versioned};
use crate::services::Services;
use domain::error::{Error, FieldError, Result};
use domain::record::ResourceType;
use domain::template::{self, Candidate, MAX_TEMPLATES, SETTINGS};
use domain::time_fmt;

const KIND: DocumentKind = DocumentKind::Template;
/// A template's name, trimmed.
const MAX_NAME: usize = 200;

/// `POST /v1/templates`.
pub async fn create_template(svc: &Services, tenant_id: &str, body: &[u8]) -> Result<Value> {
    let body = checked(body)?;
    if all(svc, tenant_id).await?.len() >= MAX_TEMPLATES {
        let message = format!("a tenant keeps at most {MAX_TEMPLATES} templates; delete one first");
        return Err(Error::invalid("body", "too_many", message));
    }
    let now = time_fmt::now();
    let doc = Versioned { id: template::new_template_id(), version: 1, body, created_at: now, updated_at: now };
    if !svc.documents.put_version(KIND, tenant_id, &doc).await? {
        return Err(Error::Conflict("a template with this id exists; try again".into()));
    }
    tracing::info!(tenant_id, template_id = doc.id.as_str(), "template created");
    Ok(shown(doc))
}

/// `PUT /v1/templates/{id}`: the next version.
pub async fn put_template(svc: &Services, tenant_id: &str, id: &str, body: &[u8]) -> Result<Value> {
    let latest = stored(svc, tenant_id, id, None).await?;
    let body = checked(body)?;
    if body.get("resource_type") != latest.body.get("resource_type") {
        let message = "a template's resource_type cannot change; create another template";
        return Err(Error::invalid("resource_type", "invalid", message));
    }
    let doc = Versioned { version: latest.version + 1, body, updated_at: time_fmt::now(), ..latest };
    if !svc.documents.put_version(KIND, tenant_id, &doc).await? {
        return Err(Error::Conflict("the template changed meanwhile; read it and try again".into()));
    }
    tracing::info!(tenant_id, template_id = id, version = doc.version, "template versioned");
    Ok(shown(doc))
}

/// `GET /v1/templates/{id}?version=`.
pub async fn get_template(svc: &Services, tenant_id: &str, id: &str, query: &HashMap<String, String>) -> Result<Value> {
    let mut errors = Vec::new();
    check_query(query, &["version"], &mut errors);
    let version = match query.get("version") {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                errors.push(FieldError::new("version", "invalid", "must be a whole number from 1"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    stored(svc, tenant_id, id, version).await.map(shown)
}

/// `GET /v1/templates?resource_type=&limit=&cursor=`: latest versions, by id.
pub async fn list_templates(
    svc: &Services,
    tenant_id: &str,
    query: &HashMap<String, String>,
) -> Result<Listing<Value>> {
    let mut errors = Vec::new();
    check_query(query, &["resource_type", "limit", "cursor"], &mut errors);
    let limit = limit(query, &mut errors);
    let resource = query.get("resource_type").map(|r| {
        ResourceType::parse(r).ok_or_else(|| {
            let names = ResourceType::ALL.map(ResourceType::as_str).join(", ");
            errors.push(FieldError::new("resource_type", "invalid", format!("must be one of {names}")));
        })
    });
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let cursor = query.get("cursor").map(String::as_str);
    let Page { items, next_cursor } = match resource {
        // A tenant has few templates: the type is picked out of all of them.
        Some(Ok(resource)) => {
            let of_type = all(svc, tenant_id).await?.into_iter().filter(|d| is_of(d, resource));
            let after: Vec<Versioned> = of_type.filter(|d| cursor.is_none_or(|c| d.id.as_str() > c)).collect();
            let next_cursor = (after.len() > limit).then(|| after[limit - 1].id.clone());
            Page { items: after.into_iter().take(limit).collect(), next_cursor }
        }
        _ => svc.documents.list(KIND, tenant_id, limit, cursor).await?,
    };
    Ok(Listing { data: items.into_iter().map(shown).collect(), next_cursor })
}

/// `DELETE /v1/templates/{id}`: every version.
pub async fn delete_template(svc: &Services, tenant_id: &str, id: &str) -> Result<()> {
    if !template::is_template_id(id) || !svc.documents.delete(KIND, tenant_id, id).await? {
        return Err(Error::NotFound);
    }
    tracing::info!(tenant_id, template_id = id, "template deleted");
    Ok(())
}

/// The template an import names by id (latest or pinned version): its 400 names `template`.
pub(crate) async fn named(svc: &Services, tenant_id: &str, choice: &TemplateChoice) -> Result<Versioned> {
    let (id, version) = match choice {
        TemplateChoice::Latest(id) => (id, None),
        TemplateChoice::Version(id, version) => (id, Some(*version)),
        TemplateChoice::Auto => return Err(Error::Internal("auto names no template".into())),
    };
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

fn is_of(doc: &Versioned, resource: ResourceType) -> bool {
    doc.body.get("resource_type").and_then(Value::as_str) == Some(resource.as_str())
}

async fn stored(svc: &Services, tenant_id: &str, id: &str, version: Option<u32>) -> Result<Versioned> {
    if !template::is_template_id(id) {
        return Err(Error::NotFound);
    }
    svc.documents.get(KIND, tenant_id, id, version).await?.ok_or(Error::NotFound)
}

/// A template body checked as a create body with these settings is: `name`, `resource_type`
/// and settings of [`SETTINGS`] only. What the API adds to a template is left out, so a template
/// read can be sent back changed.
fn checked(body: &[u8]) -> Result<Value> {
    let mut object = decode_object(body).map_err(|e| Error::Invalid(vec![e]))?;
    for shown in ["id", "version", "created_at", "updated_at"] {
        object.remove(shown);
    }
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| !matches!(k.as_str(), "name" | "resource_type") && !SETTINGS.contains(&k.as_str()))
        .map(|k| {
            let takes = format!("a template takes name, resource_type, {}", SETTINGS.join(", "));
            FieldError::new(k, "unknown_field", takes)
        })
        .collect();
    match object.get("name").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() && name.len() <= MAX_NAME => {
            object.insert("name".into(), name.into());
        }
        _ => errors.push(FieldError::new("name", "invalid", format!("a name of 1 to {MAX_NAME} bytes is required"))),
    }
    let settings: Map<String, Value> =
        object.iter().filter(|(k, _)| k.as_str() != "name").map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Err(wrong) = parse_object(settings, false) {
        errors.extend(wrong);
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(Error::Invalid(errors));
    }
    Ok(Value::Object(object))
}

/// A template as the API shows it.
fn shown(doc: Versioned) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), doc.id.into());
    object.insert("version".into(), doc.version.into());
    if let Value::Object(body) = doc.body {
        object.extend(body);
    }
    object.insert("created_at".into(), time_fmt::rfc3339(doc.created_at).into());
    object.insert("updated_at".into(), time_fmt::rfc3339(doc.updated_at).into());
    Value::Object(object)
}
