//! The capacity DynamoDB bills a request on demand, worked out from the items in the request and
//! its answer (the emulator reports none), sized as DynamoDB sizes them
//! (`domain::item_size`):
//!
//! - a write: one write request unit (WRU) per KB of the item, rounded up, at least one; in a
//!   transaction, twice that; a write its condition refused is billed as if made; a batch write
//!   item by item, those that came back unprocessed excepted;
//! - a read: one read request unit (RRU) per 4 KB strongly consistent, half that eventually
//!   consistent, twice that in a transaction; a get per item (a key not found costs the
//!   minimum); a query or scan once for the items it went through, their sizes summed.
//!
//! What neither the request nor the answer shows is estimated, in the service's favour, so the
//! figures are lower bounds: a put that replaces a larger item is billed for the new one; an
//! update or delete outside a transaction for the item after (before) it, which
//! [`ask_for_sizes`] makes the emulator return (DynamoDB bills the larger of the two); an
//! update, delete or condition check inside a transaction for one KB (mostly counter shards,
//! ledger entries and marks; sometimes the import item, which can be larger); a read with a
//! projection for what it returns (DynamoDB bills the whole item); items a query's filter
//! dropped at the average size of those it kept.

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_dynamo::{AttributeValue, Item};
use serde_json::Value;

use domain::item_size;

const WRITE_UNIT: usize = 1024;
const READ_UNIT: usize = 4096;

/// Request units, as DynamoDB bills them on demand.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    pub wru: f64,
    pub rru: f64,
}

impl Capacity {
    pub fn add(&mut self, other: Capacity) {
        self.wru += other.wru;
        self.rru += other.rru;
    }
}

/// Whether a DynamoDB answer is billed: any success, and a write its condition refused.
pub fn billed(status: u16, answer: &Value) -> bool {
    let kind = answer.get("__type").and_then(Value::as_str).unwrap_or_default();
    status < 300 || kind.ends_with("#ConditionalCheckFailedException") || refused_by_condition(answer)
}

/// A transaction cancelled by a condition (not by throttling or a conflict).
fn refused_by_condition(answer: &Value) -> bool {
    let reasons = answer.get("CancellationReasons").and_then(Value::as_array).into_iter().flatten();
    let codes: Vec<&str> = reasons.filter_map(|r| r.get("Code")?.as_str()).collect();
    codes.contains(&"ConditionalCheckFailed") && codes.iter().all(|c| matches!(*c, "None" | "ConditionalCheckFailed"))
}

/// An update or delete that asks for nothing back, made to return the item after (before) it
/// for its size: the answer's `Attributes` are then the proxy's to take out again. None for any
/// other request, which goes on as it is.
pub fn ask_for_sizes(operation: &str, request: &Value) -> Option<Value> {
    let wanted = match operation {
        "UpdateItem" => "ALL_NEW",
        "DeleteItem" => "ALL_OLD",
        _ => return None,
    };
    if request.get("ReturnValues").and_then(Value::as_str).is_some_and(|v| v != "NONE") {
        return None;
    }
    let mut asked = request.clone();
    asked.as_object_mut()?.insert("ReturnValues".into(), Value::String(wanted.into()));
    Some(asked)
}

/// A request's or answer's list `name`, or nothing.
pub(crate) fn array<'v>(v: &'v Value, name: &str) -> impl Iterator<Item = &'v Value> {
    v.get(name).and_then(Value::as_array).into_iter().flatten()
}

/// A request's or answer's map of tables `name` (`RequestItems`, `Responses`), or nothing.
pub(crate) fn tables<'v>(v: &'v Value, name: &str) -> impl Iterator<Item = (&'v String, &'v Value)> {
    v.get(name).and_then(Value::as_object).into_iter().flatten()
}

/// What `operation` with this request and answer costs.
pub fn consumed(operation: &str, request: &Value, answer: &Value) -> Capacity {
    let consistent = |v: &Value| v.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
    let write = |wru: f64| Capacity { wru, rru: 0.0 };
    let read = |rru: f64| Capacity { wru: 0.0, rru };
    match operation {
        "PutItem" => write(write_units(size(request.get("Item")))),
        "UpdateItem" | "DeleteItem" => write(write_units(size(answer.get("Attributes")))),
        "BatchWriteItem" => {
            let units = |requests: &Value| -> f64 {
                let each = tables(requests, "RequestItems").flat_map(|(_, list)| list.as_array().into_iter().flatten());
                each.map(|r| write_units(size(r.get("PutRequest").and_then(|p| p.get("Item"))))).sum()
            };
            let unprocessed = answer.get("UnprocessedItems").map(|u| serde_json::json!({"RequestItems": u}));
            write(units(request) - unprocessed.as_ref().map_or(0.0, units))
        }
        "TransactWriteItems" => write(
            array(request, "TransactItems")
                .map(|t| 2.0 * write_units(size(t.get("Put").and_then(|p| p.get("Item")))))
                .sum(),
        ),
        "GetItem" => read(read_units(size(answer.get("Item")), consistent(request))),
        "BatchGetItem" => {
            let mut rru = 0.0;
            for (table, asked) in tables(request, "RequestItems") {
                let found = answer["Responses"][table].as_array().map(Vec::as_slice).unwrap_or_default();
                let left = answer["UnprocessedKeys"][table]["Keys"].as_array().map_or(0, Vec::len);
                let keys = asked["Keys"].as_array().map_or(0, Vec::len);
                let missing = keys.saturating_sub(found.len() + left);
                let units = |bytes: usize| read_units(bytes, consistent(asked));
                rru += found.iter().map(|item| units(size(Some(item)))).sum::<f64>() + missing as f64 * units(0);
            }
            read(rru)
        }
        "TransactGetItems" => {
            read(array(answer, "Responses").map(|r| 2.0 * read_units(size(r.get("Item")), true)).sum())
        }
        "Query" | "Scan" => {
            let items = answer.get("Items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let kept: usize = items.iter().map(|item| size(Some(item))).sum();
            let scanned = answer.get("ScannedCount").and_then(Value::as_u64).unwrap_or(items.len() as u64) as usize;
            let dropped = scanned.saturating_sub(items.len()) * kept.checked_div(items.len()).unwrap_or(0);
            read(read_units(kept + dropped, consistent(request)))
        }
        _ => Capacity::default(),
    }
}

/// What a write request asks of one partition.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PartitionWrites {
    /// Items put, updated or deleted.
    pub items: u64,
    /// Write units, as [`consumed`] bills them, an update or delete at the least (one unit;
    /// twice in a transaction).
    pub units: f64,
}

/// What a write request asks of each partition (table, `pk`).
pub fn partition_writes(operation: &str, request: &Value) -> BTreeMap<(String, String), PartitionWrites> {
    let mut writes = BTreeMap::new();
    let mut add = |table: Option<&str>, item: Option<&Value>, units: f64| {
        let pk = item.and_then(|i| i.get("pk")?.get("S")?.as_str());
        if let (Some(table), Some(pk)) = (table, pk) {
            let partition: &mut PartitionWrites = writes.entry((table.to_string(), pk.to_string())).or_default();
            partition.items += 1;
            partition.units += units;
        }
    };
    fn table(op: &Value) -> Option<&str> {
        op.get("TableName").and_then(Value::as_str)
    }
    match operation {
        "PutItem" => add(table(request), request.get("Item"), write_units(size(request.get("Item")))),
        "UpdateItem" | "DeleteItem" => add(table(request), request.get("Key"), 1.0),
        "BatchWriteItem" => {
            for (name, list) in tables(request, "RequestItems") {
                for r in list.as_array().into_iter().flatten() {
                    let put = r.get("PutRequest").and_then(|p| p.get("Item"));
                    let key = put.or_else(|| r.get("DeleteRequest").and_then(|d| d.get("Key")));
                    add(Some(name), key, write_units(size(put)));
                }
            }
        }
        "TransactWriteItems" => {
            for t in array(request, "TransactItems") {
                if let Some(put) = t.get("Put") {
                    add(table(put), put.get("Item"), 2.0 * write_units(size(put.get("Item"))));
                } else if let Some(op) = t.get("Update").or_else(|| t.get("Delete")) {
                    add(table(op), op.get("Key"), 2.0);
                }
            }
        }
        _ => {}
    }
    writes
}

/// One KB per write unit, at least one.
fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(WRITE_UNIT).max(1) as f64
}

/// Four KB per read unit, at least one; eventually consistent reads cost half.
fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// The size of an item in DynamoDB's JSON, or nothing.
fn size(item: Option<&Value>) -> usize {
    let Some(fields) = item.and_then(Value::as_object) else { return 0 };
    let item: HashMap<String, AttributeValue> =
        fields.iter().filter_map(|(name, v)| Some((name.clone(), attribute(v)?))).collect();
    item_size::of_item(&Item::from(item))
}

/// An attribute value from DynamoDB's JSON (`{"S": "x"}`, `{"N": "1"}`, ...).
fn attribute(v: &Value) -> Option<AttributeValue> {
    let (kind, inner) = v.as_object()?.iter().next()?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let texts = |v: &Value| v.as_array().map(|a| a.iter().filter_map(text).collect());
    let bytes = |v: &Value| STANDARD.decode(v.as_str()?).ok();
    Some(match kind.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(text(inner)?),
        "B" => AttributeValue::B(bytes(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(texts(inner)?),
        "NS" => AttributeValue::Ns(texts(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().filter_map(bytes).collect()),
        "L" => AttributeValue::L(inner.as_array()?.iter().filter_map(attribute).collect()),
        "M" => {
            AttributeValue::M(inner.as_object()?.iter().filter_map(|(k, v)| Some((k.clone(), attribute(v)?))).collect())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An item of about `bytes` bytes: `pk` and a string attribute `v`.
    fn item(bytes: usize) -> Value {
        json!({"pk": {"S": "p"}, "v": {"S": "x".repeat(bytes - 4)}})
    }

    #[test]
    fn items_are_sized_as_dynamodb_sizes_them() {
        assert_eq!(size(Some(&item(1024))), 1024);
        let nested = json!({"m": {"M": {"a": {"N": "12.50"}, "l": {"L": [{"BOOL": true}, {"NULL": true}]}}},
            "b": {"B": "AAEC"}, "ss": {"SS": ["ab", "c"]}});
        // m: 1 + (3 + (1 + 1 + 3) + (1 + 1 + (3 + 2 + 2))); b: 1 + 3; ss: 2 + 3.
        assert_eq!(size(Some(&nested)), 18 + 4 + 5);
        assert_eq!(size(None), 0);
    }

    #[test]
    fn writes_cost_a_unit_a_kb_and_twice_in_a_transaction() {
        let put = |bytes| consumed("PutItem", &json!({"Item": item(bytes)}), &json!({}));
        assert_eq!([put(10).wru, put(1024).wru, put(1025).wru], [1.0, 1.0, 2.0]);
        let transaction = json!({"TransactItems": [{"Put": {"Item": item(3000)}}, {"Update": {"Key": {}}},
            {"ConditionCheck": {"Key": {}}}]});
        assert_eq!(consumed("TransactWriteItems", &transaction, &json!({})).wru, 2.0 * 3.0 + 2.0 + 2.0);
        let updated = consumed("UpdateItem", &json!({}), &json!({"Attributes": item(2048)}));
        assert_eq!(updated, Capacity { wru: 2.0, rru: 0.0 });
        let batch = json!({"RequestItems": {"t": [{"PutRequest": {"Item": item(1500)}}, {"PutRequest": {"Item": item(10)}},
            {"DeleteRequest": {"Key": {}}}]}});
        let left = json!({"UnprocessedItems": {"t": [{"PutRequest": {"Item": item(1500)}}]}});
        assert_eq!(consumed("BatchWriteItem", &batch, &json!({})).wru, 4.0);
        assert_eq!(consumed("BatchWriteItem", &batch, &left).wru, 2.0, "what came back unprocessed is not billed");
    }

    #[test]
    fn reads_cost_half_a_unit_per_4_kb_eventually_and_a_query_rounds_once() {
        let got =
            |answer: Value, consistent: bool| consumed("GetItem", &json!({"ConsistentRead": consistent}), &answer).rru;
        assert_eq!(got(json!({"Item": item(5000)}), true), 2.0);
        assert_eq!(got(json!({"Item": item(5000)}), false), 1.0);
        assert_eq!(got(json!({}), false), 0.5, "a key not found costs the minimum");
        let query = json!({"Items": [item(1000), item(1000), item(1000)], "ScannedCount": 5});
        assert_eq!(consumed("Query", &json!({}), &query).rru, 1.0, "5 items of 1,000 bytes: two 4 KB units, halved");
        let batch = json!({"RequestItems": {"t": {"Keys": [1, 2, 3, 4], "ConsistentRead": true}}});
        let answer = json!({"Responses": {"t": [item(100), item(9000)]}, "UnprocessedKeys": {"t": {"Keys": [4]}}});
        assert_eq!(consumed("BatchGetItem", &batch, &answer).rru, 1.0 + 3.0 + 1.0, "found, found, missing");
    }

    #[test]
    fn refused_conditions_are_billed_throttles_are_not() {
        assert!(billed(200, &json!({})));
        let failed = json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"});
        assert!(billed(400, &failed));
        let cancelled = |codes: &[&str]| {
            let reasons: Vec<Value> = codes.iter().map(|c| json!({"Code": c})).collect();
            json!({"__type": "x#TransactionCanceledException", "CancellationReasons": reasons})
        };
        assert!(billed(400, &cancelled(&["None", "ConditionalCheckFailed"])));
        assert!(!billed(400, &cancelled(&["None", "ThrottlingError"])));
        assert!(!billed(400, &json!({"__type": "x#ThrottlingException"})));
    }

    #[test]
    fn updates_and_deletes_are_asked_for_their_item_unless_they_ask_themselves() {
        let update = ask_for_sizes("UpdateItem", &json!({"Key": {}})).unwrap();
        assert_eq!(update["ReturnValues"], "ALL_NEW");
        let delete = ask_for_sizes("DeleteItem", &json!({"Key": {}, "ReturnValues": "NONE"})).unwrap();
        assert_eq!(delete["ReturnValues"], "ALL_OLD");
        assert!(ask_for_sizes("UpdateItem", &json!({"ReturnValues": "UPDATED_OLD"})).is_none());
        assert!(ask_for_sizes("PutItem", &json!({})).is_none());
    }

    #[test]
    fn partition_writes_are_counted_by_table_and_key() {
        let put = |pk: &str| json!({"Put": {"TableName": "records", "Item": {"pk": {"S": pk}, "sk": {"S": "a"}}}});
        let update = json!({"Update": {"TableName": "imports", "Key": {"pk": {"S": "acme"}, "sk": {"S": "i"}}}});
        let request =
            json!({"TransactItems": [put("acme#contact#01"), put("acme#contact#01"), put("acme#contact#02"), update]});
        let writes = partition_writes("TransactWriteItems", &request);
        let key = |t: &str, pk: &str| (t.to_string(), pk.to_string());
        let asked = |items, units| Some(PartitionWrites { items, units });
        assert_eq!(writes.get(&key("records", "acme#contact#01")).copied(), asked(2, 4.0));
        assert_eq!(writes.get(&key("records", "acme#contact#02")).copied(), asked(1, 2.0));
        assert_eq!(writes.get(&key("imports", "acme")).copied(), asked(1, 2.0));
        let batch = json!({"RequestItems": {"records": [
            {"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"S": "a"}, "big": {"S": "x".repeat(3000)}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "b"}}}},
        ]}});
        assert_eq!(partition_writes("BatchWriteItem", &batch).get(&key("records", "p")).copied(), asked(2, 4.0));
        assert!(partition_writes("Query", &json!({"TableName": "records"})).is_empty());
    }
}
