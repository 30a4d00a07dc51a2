//! The rules of each record field (SPEC §6): what a value must look like and how it is
//! normalized. Values arrive trimmed; the empty string is null.

use std::str::FromStr;

use serde_json::{Number, Value};

use crate::record::ResourceType;

/// A value that breaks its field's rule: a machine code and a message for people.
pub type Violation = (&'static str, String);

/// Contact statuses (SPEC §5 `sync_actions`).
pub const STATUSES: [&str; 4] = ["subscribed", "unsubscribed", "bounced", "pending"];

/// Short text fields: names and places, not notes.
const MAX_SHORT: usize = 1024;

pub fn check(resource: ResourceType, field: &str, value: &str) -> Result<Value, Violation> {
    if value.is_empty() {
        return Ok(Value::Null);
    }
    use ResourceType::*;
    match (resource, field) {
        (Contact, "email") if !is_valid_email(value) => {
            Err(("invalid_email", format!("`{value}` is not a valid email address")))
        }
        (Contact | Account, "country") => country(value),
        (Contact | Account, "phone") => phone(value),
        (Contact, "status") => status(value),
        (Contact, "groups") | (_, "tags") => Ok(list(value)),
        (Account, "employees") => integer(value),
        (Account, "annual_revenue") => decimal(value),
        (Account, "domain") => domain(value),
        (_, f) if !f.starts_with("custom.") && f != "description" && value.len() > MAX_SHORT => {
            Err(("value_too_long", format!("{} bytes; `{f}` takes at most {MAX_SHORT}", value.len())))
        }
        _ => Ok(Value::String(value.to_string())),
    }
}

/// A practical address check: what mail systems accept, not every RFC 5322 corner.
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    s.len() <= 254 && local_ok && domain_ok
}

/// ISO 3166 alpha-2, from a code (alpha-2, alpha-3, numeric) or an English name.
fn country(value: &str) -> Result<Value, Violation> {
    let key: String = value.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    // Common names the ISO tables leave out.
    let key = match key.as_str() {
        "uk" | "england" | "scotland" | "wales" | "northernireland" => "gb",
        "korea" => "kr",
        "holland" => "nl",
        other => other,
    };
    celes::Country::from_str(key)
        .map(|c| Value::String(c.alpha2.to_string()))
        .map_err(|_| ("unknown_country", format!("`{value}` is not a country name or ISO 3166 code")))
}

/// Digits with the usual separators, an optional leading `+` and an extension.
fn phone(value: &str) -> Result<Value, Violation> {
    let lower = value.to_lowercase();
    let cut = ["ext", "x", "#"].iter().filter_map(|m| lower.find(m)).min().unwrap_or(lower.len());
    let main = lower[..cut].trim();
    let digits = main.chars().filter(char::is_ascii_digit).count();
    let allowed =
        main.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || " -.()/".contains(c) || (c == '+' && i == 0));
    if allowed && (5..=20).contains(&digits) {
        Ok(Value::String(value.to_string()))
    } else {
        Err(("invalid_phone", format!("`{value}` is not a phone number")))
    }
}

fn status(value: &str) -> Result<Value, Violation> {
    let lower = value.to_lowercase();
    match STATUSES.iter().find(|s| **s == lower) {
        Some(s) => Ok(Value::String(s.to_string())),
        None => Err(("invalid_value", format!("`{value}` is not one of {}", STATUSES.join(", ")))),
    }
}

/// `a, b; c` → `["a", "b", "c"]`, without repeats.
fn list(value: &str) -> Value {
    let mut items: Vec<Value> = Vec::new();
    for item in value.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        let item = Value::String(item.to_string());
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Value::Array(items)
}

/// Thousands separators (`,` `_` space) are allowed.
fn integer(value: &str) -> Result<Value, Violation> {
    let plain: String = value.chars().filter(|c| !matches!(c, ',' | '_' | ' ')).collect();
    plain
        .parse::<u64>()
        .map(|n| Value::Number(Number::from(n)))
        .map_err(|_| ("wrong_type", format!("`{value}` is not a whole number")))
}

/// Kept as text, so no digit is lost to floating point.
fn decimal(value: &str) -> Result<Value, Violation> {
    let plain: String = value.chars().filter(|c| !matches!(c, ',' | '_' | ' ')).collect();
    let digits = plain.strip_prefix('-').unwrap_or(&plain);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or("0");
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && !fraction.is_empty()
        && fraction.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(Value::String(plain))
    } else {
        Err(("wrong_type", format!("`{value}` is not a decimal number")))
    }
}

/// `https://www.Example.com/about` → `www.example.com`.
fn domain(value: &str) -> Result<Value, Violation> {
    let lower = value.to_lowercase();
    let host = lower.split("://").last().unwrap_or_default().split(['/', '?', '#']).next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if ok {
        Ok(Value::String(host.to_string()))
    } else {
        Err(("invalid_domain", format!("`{value}` is not a domain")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.com", "o'hara@sub.example.org", "josé@exämple.de"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in
            ["", "plain", "a@b", "a@b.c", "@b.com", "a@.com", "a..b@c.com", "a b@c.com", "a@-b.com", "invalidemail!"]
        {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    fn ok(resource: ResourceType, field: &str, value: &str) -> Value {
        check(resource, field, value).unwrap_or_else(|e| panic!("{field}={value}: {e:?}"))
    }

    fn code(resource: ResourceType, field: &str, value: &str) -> &'static str {
        check(resource, field, value).unwrap_err().0
    }

    #[test]
    fn countries_become_alpha_2() {
        for (given, want) in
            [("US", "US"), ("usa", "US"), ("United States", "US"), ("Deu", "DE"), ("UK", "GB"), ("Viet Nam", "VN")]
        {
            assert_eq!(ok(ResourceType::Contact, "country", given), json!(want), "{given}");
        }
        assert_eq!(code(ResourceType::Contact, "country", "Atlantis"), "unknown_country");
    }

    #[test]
    fn phones_statuses_and_lists() {
        assert_eq!(ok(ResourceType::Contact, "phone", "+1 (213) 222-3333 ext 4"), json!("+1 (213) 222-3333 ext 4"));
        assert_eq!(code(ResourceType::Contact, "phone", "(213)BAD-PHONE"), "invalid_phone");
        assert_eq!(ok(ResourceType::Contact, "status", "Subscribed"), json!("subscribed"));
        assert_eq!(code(ResourceType::Contact, "status", "Partner - Pray"), "invalid_value");
        assert_eq!(
            ok(ResourceType::Contact, "tags", "christmas-card,      family; family"),
            json!(["christmas-card", "family"])
        );
    }

    #[test]
    fn account_numbers_and_domains() {
        assert_eq!(ok(ResourceType::Account, "employees", "1,200"), json!(1200));
        assert_eq!(code(ResourceType::Account, "employees", "lots"), "wrong_type");
        assert_eq!(ok(ResourceType::Account, "annual_revenue", "-1,234.50"), json!("-1234.50"));
        assert_eq!(code(ResourceType::Account, "annual_revenue", "$12"), "wrong_type");
        assert_eq!(ok(ResourceType::Account, "domain", "https://WWW.Example.com/about"), json!("www.example.com"));
        assert_eq!(code(ResourceType::Account, "domain", "not a domain"), "invalid_domain");
    }

    #[test]
    fn short_fields_have_a_length_limit() {
        assert_eq!(code(ResourceType::Contact, "first_name", &"x".repeat(1025)), "value_too_long");
        assert!(check(ResourceType::Contact, "custom.notes", &"x".repeat(5000)).is_ok());
    }
}
