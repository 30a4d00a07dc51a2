//! `/v1/templates` (docs/api.md, Templates): a tenant's saved import settings, versioned. A
//! stored version is never changed: an import pinned to it gets what it held.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::bodies::decode_object;
use super::listing::{check_query, limit, Listing};
use super::requests::parse_object;
use crate::ports::{Page, Versioned};
use crate::services::Services;
use crate::templates::{all, is_of, stored, KIND};
use domain::error::{Error, FieldError, Result};
use domain::record::ResourceType;
use domain::template::{self, MAX_TEMPLATES, SETTINGS};
use domain::time_fmt;

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
    Ok(doc.shown("id"))
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
    Ok(doc.shown("id"))
}

/// `GET /v1/templates/{id}?version=`.
pub async fn get_template(svc: &Services, tenant_id: &str, id: &str, query: &HashMap<String, String>) -> Result<Value> {
    let mut errors = Vec::new();
    check_query(query, &["version"], &mut errors);
    let version = match query.get("version") {
        None => None,
        // A version past any stored is not there (404), not a wrong number.
        Some(v) => match v.parse::<u64>() {
            Ok(v) if v >= 1 => Some(u32::try_from(v).unwrap_or(u32::MAX)),
            _ => {
                errors.push(FieldError::new("version", "invalid", "must be a whole number from 1"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    stored(svc, tenant_id, id, version).await.map(|d| d.shown("id"))
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
    Ok(Listing { data: items.into_iter().map(|d| d.shown("id")).collect(), next_cursor })
}

/// `DELETE /v1/templates/{id}`: every version.
pub async fn delete_template(svc: &Services, tenant_id: &str, id: &str) -> Result<()> {
    if !template::is_template_id(id) || !svc.documents.delete(KIND, tenant_id, id).await? {
        return Err(Error::NotFound);
    }
    tracing::info!(tenant_id, template_id = id, "template deleted");
    Ok(())
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
