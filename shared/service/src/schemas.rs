//! A tenant's schemas as imports take them (docs/api.md, Tenant schemas): the version in force
//! when an import is created, which its rows and constants are checked against.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::ports::{DocumentKind, RunSettings};
use crate::services::{SchemaKey, Services};
use domain::error::{Error, FieldError, Result};
use domain::import::Import;
use domain::record::ResourceType;
use domain::schema::Schema;

pub(crate) const KIND: DocumentKind = DocumentKind::Schema;

/// The tenant's schema of `resource` in force now, with its version, if it has one.
pub(crate) async fn current(
    svc: &Services,
    tenant_id: &str,
    resource: ResourceType,
) -> Result<Option<(u32, Arc<Schema>)>> {
    let Some(doc) = svc.documents.get(KIND, tenant_id, resource.as_str(), None).await? else { return Ok(None) };
    let version = doc.version;
    Ok(Some((version, compiled(svc, (tenant_id.to_string(), resource, version), doc.body)?)))
}

/// A stored schema as the cache holds it: read and compiled once per instance and version.
fn compiled(svc: &Services, key: SchemaKey, body: Value) -> Result<Arc<Schema>> {
    if let Some(schema) = svc.schemas.get(&key) {
        return Ok(schema);
    }
    let schema: Schema = serde_json::from_value(body).map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
    Ok(svc.schemas.keep(key, schema))
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
pub(crate) async fn of_import(svc: &Services, import: &Import) -> Result<Option<Arc<Schema>>> {
    let Some(version) = import.schema_version else { return Ok(None) };
    let key = (import.tenant_id.clone(), import.resource_type, version);
    if let Some(schema) = svc.schemas.get(&key) {
        return Ok(Some(schema));
    }
    let resource = import.resource_type.as_str();
    let doc = svc.documents.get(KIND, &import.tenant_id, resource, Some(version)).await?;
    let doc = doc.ok_or_else(|| Error::Internal(format!("schema {resource} version {version} is gone")))?;
    compiled(svc, key, doc.body).map(Some)
}

/// The constants a run's settings set, typed against the import's schema ([`typed_constants`]).
pub(crate) async fn type_run_constants(svc: &Services, import: &Import, settings: &mut RunSettings) -> Result<()> {
    match &mut settings.constants {
        Some(constants) => typed_constants(of_import(svc, import).await?.as_deref(), constants),
        None => Ok(()),
    }
}
