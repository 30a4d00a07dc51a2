//! What DynamoDB counts an item as weighing, for its limits: 400 KB an item, 4 MB and 100 items a
//! transaction. The local emulator enforces none of them, so the code sizes its writes itself.
//!
//! An item weighs the UTF-8 bytes of its attribute names plus its values: a string its UTF-8
//! bytes, a number about one byte per two significant digits plus one, binary its bytes, a
//! boolean or null one byte, a list or map three bytes plus one byte and the size of each
//! element (a map's keys counted as names), a set the sum of its elements.

use serde::Serialize;
use serde_dynamo::{AttributeValue, Item};

use crate::error::{Error, Result};

/// The largest item DynamoDB stores.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The most a transaction's items may weigh together.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// The most items a transaction may write.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// What a unit of work's ledger entry and counter update may take of its transaction, beside
/// its record writes: their keys, the outcome codes of at most a batch's rows, a before-images
/// key, counts.
pub const LEDGER_ITEMS: usize = 2;
pub const LEDGER_BYTES: usize = 16 * 1024;

/// The size of an item.
pub fn of_item(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + of_value(value)).sum()
}

/// The size of what `value` serializes to as an item.
pub fn of<T: Serialize>(value: &T) -> Result<usize> {
    let item: Item = serde_dynamo::to_item(value).map_err(|e| Error::Internal(format!("item sizing: {e}")))?;
    Ok(of_item(&item))
}

fn of_value(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => of_number(n),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| of_number(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(Vec::len).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + of_value(v)).sum::<usize>(),
        AttributeValue::M(entries) => 3 + entries.iter().map(|(k, v)| 1 + k.len() + of_value(v)).sum::<usize>(),
    }
}

/// Significant digits only: leading and trailing zeros are not stored.
fn of_number(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn item(entries: &[(&str, AttributeValue)]) -> Item {
        entries.iter().cloned().map(|(k, v)| (k.to_string(), v)).collect::<HashMap<_, _>>().into()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn a_string_weighs_its_name_and_its_utf8_bytes() {
        // "shirt-color": "R" is 11 + 1 bytes; "é" is two bytes in UTF-8.
        assert_eq!(of_item(&item(&[("shirt-color", s("R"))])), 12);
        assert_eq!(of_item(&item(&[("name", s("José"))])), 4 + 5);
    }

    #[test]
    fn a_number_weighs_a_byte_per_two_significant_digits_plus_one() {
        assert_eq!(of_number("12345"), 4);
        assert_eq!(of_number("1"), 2);
        // Leading and trailing zeros are not significant.
        assert_eq!(of_number("000120000"), 2);
        assert_eq!(of_number("-3.14159"), 4);
        assert_eq!(of_item(&item(&[("version", AttributeValue::N("42".into()))])), 7 + 2);
    }

    #[test]
    fn binary_bool_and_null_weigh_their_bytes_or_one() {
        let it = item(&[
            ("b", AttributeValue::B(vec![0; 10])),
            ("t", AttributeValue::Bool(true)),
            ("z", AttributeValue::Null(true)),
        ]);
        assert_eq!(of_item(&it), (1 + 10) + (1 + 1) + (1 + 1));
    }

    #[test]
    fn a_list_or_map_weighs_three_bytes_plus_a_byte_and_the_size_of_each_element() {
        assert_eq!(of_value(&AttributeValue::L(vec![])), 3);
        assert_eq!(of_value(&AttributeValue::M(HashMap::new())), 3);
        assert_eq!(of_value(&AttributeValue::L(vec![s("ab"), s("cde")])), 3 + (1 + 2) + (1 + 3));
        let map = AttributeValue::M(HashMap::from([("key".to_string(), s("value"))]));
        assert_eq!(of_item(&item(&[("custom", map)])), 6 + 3 + 1 + 3 + 5);
        let sets = item(&[("tags", AttributeValue::Ss(vec!["a".into(), "bc".into()]))]);
        assert_eq!(of_item(&sets), 4 + 3);
    }

    #[test]
    fn what_a_value_serializes_to_is_sized_the_same() {
        #[derive(Serialize)]
        struct Row {
            pk: String,
            tags: Vec<String>,
        }
        let row = Row { pk: "t#contact".into(), tags: vec!["vip".into()] };
        assert_eq!(of(&row).unwrap(), (2 + 9) + (4 + 3 + 1 + 3));
    }
}
