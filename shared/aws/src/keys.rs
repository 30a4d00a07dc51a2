//! DynamoDB's key limits: a partition key is at most 2,048 bytes and a sort key at most 1,024
//! (UTF-8). The emulator takes longer ones, DynamoDB refuses the write every time it is sent: so
//! keys built from user values are fitted here, and the client refuses any key past a limit
//! before sending it ([`KeyLimits`]), so a test catches one.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
    get_item::GetItemInput, put_item::PutItemInput, query::QueryInput, transact_write_items::TransactWriteItemsInput,
    update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The bytes a fitted value's digest takes: `#` and the SHA-256 in hex.
const DIGEST_BYTES: usize = 1 + 64;

/// Whether `prefix` then `value` is within a sort key's limit as it is.
pub fn fits(prefix: &str, value: &str) -> bool {
    prefix.len() + value.len() <= MAX_SORT_KEY_BYTES
}

/// The sort key `prefix` then `value`: as it is when it fits, else the prefix, as much of the
/// value as leaves room, and `#` with the SHA-256 of the whole value, so two long values sharing
/// their beginning still differ. Short keys stay as they always were: stored items stay readable.
/// A fitted key does not give its value back: the item keeps it in an attribute of its own.
pub fn sort_key(prefix: &str, value: &str) -> String {
    if fits(prefix, value) {
        return format!("{prefix}{value}");
    }
    let mut head = MAX_SORT_KEY_BYTES.saturating_sub(prefix.len() + DIGEST_BYTES).min(value.len());
    while !value.is_char_boundary(head) {
        head -= 1;
    }
    let digest: String = Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}#{digest}", &value[..head])
}

/// A key past DynamoDB's limits, refused before it is sent.
#[derive(Debug, thiserror::Error)]
#[error("a DynamoDB {which} key of {bytes} bytes (the limit is {limit}) starting {start:?}")]
pub struct KeyTooLong {
    which: &'static str,
    bytes: usize,
    limit: usize,
    start: String,
}

/// The key in `item` (`pk` and, when it has one, `sk`), refused when either is past its limit.
fn check(item: &HashMap<String, AttributeValue>) -> Result<(), KeyTooLong> {
    for (name, which, limit) in [("pk", "partition", MAX_PARTITION_KEY_BYTES), ("sk", "sort", MAX_SORT_KEY_BYTES)] {
        let Some(AttributeValue::S(key)) = item.get(name) else { continue };
        if key.len() > limit {
            let start = key.chars().take(40).collect();
            return Err(KeyTooLong { which, bytes: key.len(), limit, start });
        }
    }
    Ok(())
}

/// The key that made the call fail before it was sent, if one did.
pub fn refused<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e KeyTooLong> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(too_long) = e.downcast_ref::<KeyTooLong>() {
            return Some(too_long);
        }
        cause = e.source();
    }
    None
}

/// Checks every key a request names (items written, keys read, updated, deleted or started from)
/// before the client sends it: one guard for every call, whoever built its keys.
#[derive(Debug)]
pub struct KeyLimits;

impl Intercept for KeyLimits {
    fn name(&self) -> &'static str {
        "KeyLimits"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let input = context.input();
        let mut keys: Vec<&HashMap<String, AttributeValue>> = Vec::new();
        if let Some(i) = input.downcast_ref::<GetItemInput>() {
            keys.extend(i.key());
        } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
            keys.extend(i.item());
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            keys.extend(i.key());
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            keys.extend(i.key());
        } else if let Some(i) = input.downcast_ref::<QueryInput>() {
            keys.extend(i.exclusive_start_key());
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            keys.extend(i.request_items().into_iter().flat_map(|r| r.values()).flat_map(|k| k.keys()));
        } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            for request in i.request_items().into_iter().flat_map(|r| r.values()).flatten() {
                keys.extend(request.put_request().map(|p| p.item()));
                keys.extend(request.delete_request().map(|d| d.key()));
            }
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in i.transact_items() {
                keys.extend(item.put().map(|p| p.item()));
                keys.extend(item.update().map(|u| u.key()));
                keys.extend(item.delete().map(|d| d.key()));
                keys.extend(item.condition_check().map(|c| c.key()));
            }
        }
        for key in keys {
            check(key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_fit_are_kept_as_they_are() {
        let id = "x".repeat(1014);
        assert_eq!(sort_key("seen#0000#", &id), format!("seen#0000#{id}"));
        assert_eq!(sort_key("", "ann@example.com"), "ann@example.com");
        assert!(fits("seen#0000#", &id) && !fits("seen#0000#", &format!("{id}x")));
    }

    #[test]
    fn long_values_get_a_digest_within_the_limit() {
        let id = "x".repeat(1020);
        let key = sort_key("seen#0000#", &id);
        assert_eq!(key.len(), MAX_SORT_KEY_BYTES);
        assert!(key.starts_with("seen#0000#xxxx"), "{key}");
        // The digest is of the whole value: known answer for 1,020 x's.
        let digest: String = Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert!(key.ends_with(&format!("#{digest}")), "{key}");
        assert_eq!(sort_key("seen#0000#", &id), key, "the same value, the same key");
        let huge = sort_key("", &"y".repeat(64 * 1024));
        assert_eq!(huge.len(), MAX_SORT_KEY_BYTES);
    }

    #[test]
    fn multibyte_values_are_cut_on_a_character() {
        // 'é' is two bytes: the head cannot end on every byte.
        for prefix in ["", "p", "seen#0000#"] {
            let key = sort_key(prefix, &"é".repeat(600));
            assert!(key.len() <= MAX_SORT_KEY_BYTES && key.len() >= MAX_SORT_KEY_BYTES - 1, "{}", key.len());
            assert!(key.starts_with(&format!("{prefix}éé")));
        }
        let emoji = sort_key("seen#0000#", &"🦀".repeat(300));
        assert!(emoji.len() <= MAX_SORT_KEY_BYTES);
    }

    #[test]
    fn long_values_sharing_a_beginning_get_keys_of_their_own() {
        let shared = "a".repeat(1000);
        let (one, two) = (format!("{shared}{}", "b".repeat(30)), format!("{shared}{}", "c".repeat(30)));
        let (k1, k2) = (sort_key("seen#0000#", &one), sort_key("seen#0000#", &two));
        assert_ne!(k1, k2);
        assert_eq!(k1[..k1.len() - 64], k2[..k2.len() - 64], "the readable part is the same");
    }

    #[test]
    fn keys_past_a_limit_are_refused() {
        let key = |pk: usize, sk: usize| {
            HashMap::from([
                ("pk".to_string(), AttributeValue::S("p".repeat(pk))),
                ("sk".into(), AttributeValue::S("s".repeat(sk))),
            ])
        };
        assert!(check(&key(MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES)).is_ok());
        assert_eq!(check(&key(MAX_PARTITION_KEY_BYTES + 1, 1)).unwrap_err().which, "partition");
        assert_eq!(check(&key(1, MAX_SORT_KEY_BYTES + 1)).unwrap_err().which, "sort");
    }

    #[tokio::test]
    async fn the_client_refuses_a_long_key_before_sending_it() {
        // Nothing listens there: an error that names the key was never sent.
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("id", "secret", None, None, "test"))
            .interceptor(KeyLimits)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let put = client
            .put_item()
            .table_name("t")
            .item("pk", AttributeValue::S("acme".into()))
            .item("sk", AttributeValue::S(format!("seen#0000#{}", "x".repeat(1020))))
            .send()
            .await;
        let err = put.expect_err("refused");
        let too_long = refused(&err).expect("refused for its key");
        assert_eq!((too_long.which, too_long.bytes), ("sort", 1030));
    }
}
