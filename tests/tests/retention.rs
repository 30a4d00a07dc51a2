//! `retention` (SPEC §5): `expires_at` says when the import lapses, and the stored item carries
//! the same instant as its DynamoDB TTL attribute, so the table deletes it then.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use tests::host;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_at_is_the_items_ttl() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    for (retention, days) in [(None, 7), (Some("P1D"), 1), (Some("P2W"), 14), (Some("P90D"), 90)] {
        let mut body = json!({"resource_type": "contact"});
        if let Some(r) = retention {
            body["retention"] = json!(r);
        }
        let import = client.create_import(&body).await.unwrap();
        assert_eq!(import["retention"], retention.unwrap_or("P7D"));
        let parse = |v: &serde_json::Value| {
            time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
        };
        let (created, expires) = (parse(&import["created_at"]), parse(&import["expires_at"]));
        assert_eq!(expires - created, time::Duration::days(days), "{import}");

        let item = host
            .clients
            .dynamo
            .get_item()
            .table_name(&host.settings.imports_table)
            .key("pk", AttributeValue::S("acme".into()))
            .key("sk", AttributeValue::S(import["id"].as_str().unwrap().into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        assert_eq!(ttl, expires.unix_timestamp(), "the TTL attribute is expires_at");
    }
    let ttl =
        host.clients.dynamo.describe_time_to_live().table_name(&host.settings.imports_table).send().await.unwrap();
    let spec = ttl.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some("ttl"));
}
