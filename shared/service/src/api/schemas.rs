//! `/v1/schemas/{resource_type}` (docs/api.md, Tenant schemas): the tenant's own field
//! definitions of a type, versioned. An import checks its rows against the version in force
//! when it was created.

use serde_json::{Map, Value};

use super::bodies::decode_object;
use crate::ports::{DocumentKind, Versioned};
use crate::services::Services;
use domain::error::{Error, FieldError, Result};
use domain::record::ResourceType;
use domain::schema::{self, Schema};
use domain::time_fmt;

const KIND: DocumentKind = DocumentKind::Schema;

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
    Ok(shown(doc))
}

/// `GET /v1/schemas/{resource_type}`.
pub async fn get_schema(svc: &Services, tenant_id: &str, resource_type: &str) -> Result<Value> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let doc = svc.documents.get(KIND, tenant_id, resource.as_str(), None).await?;
    doc.map(shown).ok_or(Error::NotFound)
}

/// The tenant's schema of `resource` in force now, with its version, if it has one.
pub(crate) async fn current(svc: &Services, tenant_id: &str, resource: ResourceType) -> Result<Option<(u32, Schema)>> {
    let Some(doc) = svc.documents.get(KIND, tenant_id, resource.as_str(), None).await? else { return Ok(None) };
    let schema = serde_json::from_value(doc.body).map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
    Ok(Some((doc.version, schema)))
}

/// The constants checked against the schema and given their types, as a column's values are:
/// a constant that breaks it is a 400 naming it, not an error on every row.
pub(crate) fn typed_constants(schema: Option<&Schema>, constants: &mut Map<String, Value>) -> Result<()> {
    let Some(schema) = schema else { return Ok(()) };
    let mut errors = Vec::new();
    for (field, value) in constants.iter_mut() {
        match schema.field(field).map(|def| def.check_constant(value)) {
            None => {}
            Some(Ok(typed)) => *value = typed,
            Some(Err((code, message))) => errors.push(FieldError::new(format!("constants.{field}"), code, message)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// The schema an import runs with (`Import::schema_version`).
pub(crate) async fn of_import(svc: &Services, import: &domain::import::Import) -> Result<Option<Schema>> {
    let Some(version) = import.schema_version else { return Ok(None) };
    let resource = import.resource_type.as_str();
    let doc = svc.documents.get(KIND, &import.tenant_id, resource, Some(version)).await?;
    let doc = doc.ok_or_else(|| Error::Internal(format!("schema {resource} version {version} is gone")))?;
    serde_json::from_value(doc.body).map(Some).map_err(|e| Error::Internal(format!("stored schema: {e}")))
}

fn shown(doc: Versioned) -> Value {
    let mut object = Map::new();
    object.insert("resource_type".into(), doc.id.into());
    object.insert("version".into(), doc.version.into());
    if let Value::Object(body) = doc.body {
        object.extend(body);
    }
    object.insert("created_at".into(), time_fmt::rfc3339(doc.created_at).into());
    object.insert("updated_at".into(), time_fmt::rfc3339(doc.updated_at).into());
    Value::Object(object)
}
