//! `/v1/schemas/{resource_type}` (docs/api.md, Tenant schemas): the tenant's own field
//! definitions of a type, versioned. An import checks its rows against the version in force
//! when it was created.

use serde_json::Value;

use super::bodies::decode_object;
use crate::ports::Versioned;
use crate::schemas::KIND;
use crate::services::Services;
use domain::error::{Error, Result};
use domain::record::ResourceType;
use domain::schema;
use domain::time_fmt;

/// `PUT /v1/schemas/{resource_type}`: the next version.
pub async fn put_schema(svc: &Services, tenant_id: &str, resource_type: &str, body: &[u8]) -> Result<Value> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let mut body = decode_object(body).map_err(|e| Error::Invalid(vec![e]))?;
    // What the API adds to a schema: a schema read can be sent back changed.
    if body.get("resource_type").is_some_and(|r| r.as_str() != Some(resource.as_str())) {
        return Err(Error::invalid("resource_type", "invalid", format!("this is the {} schema", resource.as_str())));
    }
    for shown in ["resource_type", "version", "created_at", "updated_at"] {
        body.remove(shown);
    }
    let body = Value::Object(body);
    let schema = schema::parse(resource, &body).map_err(Error::Invalid)?;
    let body = serde_json::to_value(&schema).map_err(|e| Error::Internal(e.to_string()))?;
    let now = time_fmt::now();
    let latest = svc.documents.get(KIND, tenant_id, resource.as_str(), None).await?;
    let doc = match latest {
        Some(latest) => Versioned { version: latest.version + 1, body, updated_at: now, ..latest },
        None => Versioned { id: resource.as_str().into(), version: 1, body, created_at: now, updated_at: now },
    };
    if !svc.documents.put_version(KIND, tenant_id, &doc).await? {
        return Err(Error::Conflict("the schema changed meanwhile; read it and try again".into()));
    }
    tracing::info!(tenant_id, resource_type, version = doc.version, "schema stored");
    Ok(doc.shown("resource_type"))
}

/// `GET /v1/schemas/{resource_type}`.
pub async fn get_schema(svc: &Services, tenant_id: &str, resource_type: &str) -> Result<Value> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let doc = svc.documents.get(KIND, tenant_id, resource.as_str(), None).await?;
    doc.map(|d| d.shown("resource_type")).ok_or(Error::NotFound)
}
