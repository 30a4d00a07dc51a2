//! The records table as the `TypeHolds`: one item a type (`pk = tenant#type#hold`) with its
//! holder, the holder's run, when the hold was revoked, and its writers (a string set).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use domain::error::Result;
use domain::record::ResourceType;
use service::ports::{TypeHold, TypeHolds};

use super::attributes::{n, s, text};
use super::errors::{conditional, ddb_err, held};
use super::layout::hold_key;
use super::store::DynamoStore;

fn decode(item: Option<&HashMap<String, AttributeValue>>) -> TypeHold {
    let Some(item) = item else { return TypeHold::default() };
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
    TypeHold {
        holder: text(item, "holder").map(|h| (h.to_string(), number("run").unwrap_or_default() as u32)),
        revoked_at: number("revoked_at"),
        writers: item.get("writers").and_then(|v| v.as_ss().ok()).into_iter().flatten().cloned().collect(),
    }
}

#[async_trait]
impl TypeHolds for DynamoStore {
    async fn type_hold(&self, tenant_id: &str, resource: ResourceType) -> Result<TypeHold> {
        let out = self
            .client
            .get_item()
            .table_name(&self.records)
            .set_key(Some(hold_key(tenant_id, resource)))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(decode(out.item.as_ref()))
    }

    async fn hold_type(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        run: u32,
        revoked_before: i64,
    ) -> Result<bool> {
        let update = self
            .client
            .update_item()
            .table_name(&self.records)
            .set_key(Some(hold_key(tenant_id, resource)))
            .update_expression("SET holder = :me, #run = :run REMOVE revoked_at")
            .condition_expression(
                "attribute_not_exists(writers) AND (attribute_not_exists(holder) OR revoked_at < :over \
                 OR (holder = :me AND #run = :run AND attribute_not_exists(revoked_at)))",
            )
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":me", s(import_id))
            .expression_attribute_values(":run", n(run))
            .expression_attribute_values(":over", n(revoked_before));
        conditional(update.send().await)
    }

    async fn join_type(&self, tenant_id: &str, resource: ResourceType, import_id: &str) -> Result<TypeHold> {
        let out = self
            .client
            .update_item()
            .table_name(&self.records)
            .set_key(Some(hold_key(tenant_id, resource)))
            .update_expression("ADD writers :me")
            .expression_attribute_values(":me", AttributeValue::Ss(vec![import_id.to_string()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(decode(out.attributes.as_ref()))
    }

    async fn leave_type(&self, tenant_id: &str, resource: ResourceType, import_ids: &[String]) -> Result<TypeHold> {
        if import_ids.is_empty() {
            return self.type_hold(tenant_id, resource).await;
        }
        // Only an item that exists: a DELETE from a set would otherwise create an empty one.
        let update = self
            .client
            .update_item()
            .table_name(&self.records)
            .set_key(Some(hold_key(tenant_id, resource)))
            .update_expression("DELETE writers :gone")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":gone", AttributeValue::Ss(import_ids.to_vec()))
            .return_values(ReturnValue::AllNew);
        Ok(held(update.send().await)?.map(|out| decode(out.attributes.as_ref())).unwrap_or_default())
    }

    async fn revoke_hold(&self, tenant_id: &str, resource: ResourceType, holder: &str, at: i64) -> Result<TypeHold> {
        let out = self
            .client
            .update_item()
            .table_name(&self.records)
            .set_key(Some(hold_key(tenant_id, resource)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":at", n(at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match held(out)? {
            Some(out) => Ok(decode(out.attributes.as_ref())),
            None => self.type_hold(tenant_id, resource).await,
        }
    }
}
