//! The rules of each record field (docs/api.md, Records and field rules): what a value must look like and how it is
//! normalized. Values arrive trimmed; the empty string is null.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::Hash;
use std::str::FromStr;

use serde_json::{Number, Value};

/// A value that breaks its field's rule: a machine code and a message for people.
pub type Violation = (&'static str, String);

/// Contact statuses (a contact's `status`, and `sync_actions` `set_status`).
pub const STATUSES: [&str; 4] = ["subscribed", "unsubscribed", "bounced", "pending"];

/// Short text fields: names and places, not notes.
const MAX_SHORT: usize = 1024;

/// A checked value. Text borrows the cell when the rule keeps it as it is, so the common row
/// allocates nothing for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked<'a> {
    Null,
    Text(Cow<'a, str>),
    /// Trimmed items, without repeats.
    List(Vec<&'a str>),
    /// A built-in whole number, or a number of a tenant schema's type.
    Number(Number),
    /// A tenant schema's boolean.
    Bool(bool),
}

impl Checked<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Checked::Null => Value::Null,
            Checked::Text(text) => Value::String(text.into_owned()),
            Checked::List(items) => Value::Array(items.into_iter().map(|i| Value::String(i.to_string())).collect()),
            Checked::Number(n) => Value::Number(n),
            Checked::Bool(b) => Value::Bool(b),
        }
    }

    /// Appends the value as `serde_json` writes `into_value()`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Checked::Null => out.extend_from_slice(b"null"),
            Checked::Text(text) => write_json_str(out, text),
            Checked::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, item);
                }
                out.push(b']');
            }
            // Writing into a Vec cannot fail.
            Checked::Number(n) => {
                let _ = serde_json::to_writer(out, n);
            }
            Checked::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
}

/// A JSON string as `serde_json` writes it: most values need no escape and are copied whole;
/// the others are escaped by `serde_json` itself.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Without an early exit the check runs on many bytes at a time.
    let plain = !s.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

/// The rule a field's values follow, found once per column rather than once per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Email,
    Country,
    Phone,
    Status,
    List,
    Integer,
    Decimal,
    Domain,
    /// Names and places: at most [`MAX_SHORT`] bytes.
    Short,
    /// Custom fields and descriptions: any length a field may have.
    Long,
}

impl Rule {
    /// `value` checked and normalized; `field` names it in messages.
    pub fn check<'a>(self, field: &str, value: &'a str) -> Result<Checked<'a>, Violation> {
        if value.is_empty() {
            return Ok(Checked::Null);
        }
        match self {
            Rule::Email if !is_valid_email(value) => {
                Err(("invalid_email", format!("`{value}` is not a valid email address")))
            }
            Rule::Country => country(value),
            Rule::Phone => phone(value),
            Rule::Status => status(value),
            Rule::List => Ok(list(value)),
            Rule::Integer => integer(value),
            Rule::Decimal => decimal(value),
            Rule::Domain => domain(value),
            Rule::Email | Rule::Short if value.len() > MAX_SHORT => {
                Err(("value_too_long", format!("{} bytes; `{field}` takes at most {MAX_SHORT}", value.len())))
            }
            Rule::Email | Rule::Short | Rule::Long => Ok(Checked::Text(Cow::Borrowed(value))),
        }
    }
}

/// A practical address check: what mail systems accept, not every RFC 5322 corner. It runs on
/// every row twice (prevalidation and transform), so ASCII is checked a byte at a time against
/// a table; other characters count when they are letters or digits.
pub fn is_valid_email(s: &str) -> bool {
    let Some(at) = memchr::memrchr(b'@', s.as_bytes()) else { return false };
    let (local, domain) = s.as_bytes().split_at(at);
    s.len() <= 254 && local_part_ok(local) && domain_ok(&domain[1..])
}

/// The ASCII bytes an address may hold in its local part, and in a domain's labels; a table of
/// every byte value, so looking one up needs no bounds check.
const LOCAL_BYTES: [bool; 256] = ascii_table(b"!#$%&'*+/=?^_`{|}~.-");
const LABEL_BYTES: [bool; 256] = ascii_table(b"-");

/// Letters, digits and `extra`; no byte past ASCII.
const fn ascii_table(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 128 {
        table[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// Each character of `s` is in `table` (ASCII), or is a letter or digit.
fn chars_in(s: &[u8], table: &[bool; 256]) -> bool {
    s.iter().all(|&b| table[usize::from(b)])
        || (!s.is_ascii()
            && std::str::from_utf8(s)
                .is_ok_and(|s| s.chars().all(|c| if c.is_ascii() { table[c as usize] } else { c.is_alphanumeric() })))
}

fn local_part_ok(local: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (local.first(), local.last()) else { return false };
    if local.len() > 64 || first == b'.' || last == b'.' {
        return false;
    }
    // One pass over ASCII; other characters take the slower way.
    let mut previous = 0u8;
    for &b in local {
        if !LOCAL_BYTES[usize::from(b)] || (b == b'.' && previous == b'.') {
            return !b.is_ascii() && !local.windows(2).any(|w| w == b"..") && chars_in(local, &LOCAL_BYTES);
        }
        previous = b;
    }
    true
}

/// A domain's labels: letters, digits and inner hyphens, at most 63 bytes; a top-level label
/// of two letters or more.
fn domain_ok(domain: &[u8]) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let label_ok = |label: &[u8]| matches!(label, [first, .., last] | [first @ last] if label.len() <= 63 && *first != b'-' && *last != b'-');
    // One pass over ASCII; other characters take the slower way.
    let (mut start, mut labels) = (0, 1);
    for (i, &b) in domain.iter().enumerate() {
        if b == b'.' {
            if !label_ok(&domain[start..i]) {
                return false;
            }
            (start, labels) = (i + 1, labels + 1);
        } else if !LABEL_BYTES[usize::from(b)] {
            return !b.is_ascii() && domain_by_chars(domain, label_ok);
        }
    }
    let tld = &domain[start..];
    labels > 1 && label_ok(tld) && tld.len() > 1 && tld.iter().all(u8::is_ascii_alphabetic)
}

fn domain_by_chars(domain: &[u8], label_ok: impl Fn(&[u8]) -> bool) -> bool {
    let mut count = 0;
    let mut tld: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if !label_ok(label) || !chars_in(label, &LABEL_BYTES) {
            return false;
        }
        (count, tld) = (count + 1, label);
    }
    // The labels are cut at an ASCII byte, so the last one is text.
    let tld = std::str::from_utf8(tld).unwrap_or_default();
    count > 1 && tld.chars().nth(1).is_some() && tld.chars().all(char::is_alphabetic)
}

/// ISO 3166 alpha-2, from a code (alpha-2, alpha-3, numeric) or an English name.
fn country(value: &str) -> Result<Checked<'_>, Violation> {
    let mut ascii = [0u8; 64];
    let owned: String;
    let key = match squash_ascii(value, &mut ascii) {
        Some(key) => key,
        None => {
            owned = value.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
            owned.as_str()
        }
    };
    // Common names the ISO tables leave out.
    let key = match key {
        "uk" | "england" | "scotland" | "wales" | "northernireland" => "gb",
        "korea" => "kr",
        "holland" => "nl",
        other => other,
    };
    celes::Country::from_str(key)
        .map(|c| Checked::Text(Cow::Borrowed(c.alpha2)))
        .map_err(|_| ("unknown_country", format!("`{value}` is not a country name or ISO 3166 code")))
}

/// An ASCII value's letters and digits, lower case, in `buf`; None when the value is not ASCII
/// or too long for it.
fn squash_ascii<'b>(value: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
    if !value.is_ascii() || value.len() > buf.len() {
        return None;
    }
    let mut len = 0;
    for b in value.bytes().filter(u8::is_ascii_alphanumeric) {
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// Digits with the usual separators, an optional leading `+` and an extension.
fn phone(value: &str) -> Result<Checked<'_>, Violation> {
    // Where the first of `ext`, `x` or `#` starts, in any case, in one pass. Bytes will do: no
    // other character makes a phone number, and these are ASCII.
    let bytes = value.as_bytes();
    let cut = (0..bytes.len())
        .find(|&i| {
            matches!(bytes[i].to_ascii_lowercase(), b'x' | b'#')
                || bytes[i..].get(..3).is_some_and(|b| b.eq_ignore_ascii_case(b"ext"))
        })
        .unwrap_or(bytes.len());
    let main = value[..cut].trim().as_bytes();
    let digits = main.iter().filter(|b| b.is_ascii_digit()).count();
    let allowed =
        main.iter().enumerate().all(|(i, &b)| b.is_ascii_digit() || b" -.()/".contains(&b) || (b == b'+' && i == 0));
    if allowed && (5..=20).contains(&digits) {
        Ok(Checked::Text(Cow::Borrowed(value)))
    } else {
        Err(("invalid_phone", format!("`{value}` is not a phone number")))
    }
}

fn status(value: &str) -> Result<Checked<'_>, Violation> {
    // Lower-casing is only needed (and only allocates) for text that is not ASCII.
    let found = match value.is_ascii() {
        true => STATUSES.iter().find(|s| s.eq_ignore_ascii_case(value)),
        false => STATUSES.iter().find(|s| **s == value.to_lowercase()),
    };
    match found {
        Some(s) => Ok(Checked::Text(Cow::Borrowed(s))),
        None => Err(("invalid_value", format!("`{value}` is not one of {}", STATUSES.join(", ")))),
    }
}

/// `a, b; c` → `["a", "b", "c"]`, without repeats.
fn list(value: &str) -> Checked<'_> {
    Checked::List(first_seen(value.split([',', ';']).map(str::trim).filter(|s| !s.is_empty())))
}

/// The items without repeats, each where it first appears. Hashed: a 64 KB cell of 11,000 items
/// costs 11,000 lookups, not 60 million comparisons.
fn first_seen<T: Eq + Hash + Copy>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

/// A number as written without its thousands separators (`,` `_` space); borrowed when it has none.
pub(crate) fn without_separators(value: &str) -> Cow<'_, str> {
    let separator = |c: char| matches!(c, ',' | '_' | ' ');
    match value.contains(separator) {
        true => Cow::Owned(value.chars().filter(|c| !separator(*c)).collect()),
        false => Cow::Borrowed(value),
    }
}

fn integer(value: &str) -> Result<Checked<'_>, Violation> {
    without_separators(value)
        .parse::<u64>()
        .map(|n| Checked::Number(n.into()))
        .map_err(|_| ("wrong_type", format!("`{value}` is not a whole number")))
}

/// Digits, with a leading minus and a fraction after a point or not (`-1234.50`), as
/// [`without_separators`] leaves them.
pub(crate) fn is_decimal(plain: &str) -> bool {
    let digits = plain.strip_prefix('-').unwrap_or(plain);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

/// Kept as text, so no digit is lost to floating point.
fn decimal(value: &str) -> Result<Checked<'_>, Violation> {
    let plain = without_separators(value);
    match is_decimal(&plain) {
        true => Ok(Checked::Text(plain)),
        false => Err(("wrong_type", format!("`{value}` is not a decimal number"))),
    }
}

/// `https://www.Example.com/about` → `www.example.com`.
fn domain(value: &str) -> Result<Checked<'_>, Violation> {
    let lower = value.to_lowercase();
    let host = lower.split("://").last().unwrap_or_default().split(['/', '?', '#']).next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if ok {
        Ok(Checked::Text(Cow::Owned(host.to_string())))
    } else {
        Err(("invalid_domain", format!("`{value}` is not a domain")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An item that counts how often it is compared.
    #[derive(Debug, Clone, Copy)]
    struct Counted<'a>(u32, &'a std::cell::Cell<u64>);

    impl PartialEq for Counted<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.1.set(self.1.get() + 1);
            self.0 == other.0
        }
    }

    impl Eq for Counted<'_> {}

    impl Hash for Counted<'_> {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    #[test]
    fn list_items_dedup_in_order_in_linear_comparisons() {
        assert_eq!(list(" b, a; b,,c ;a").into_value(), json!(["b", "a", "c"]));
        let comparisons = std::cell::Cell::new(0);
        // 11,000 distinct items then each once more: a tags cell of 64 KB.
        let n = 11_000;
        let items = (0..n).chain(0..n).map(|i| Counted(i, &comparisons));
        let kept = first_seen(items);
        assert_eq!(kept.iter().map(|c| c.0).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
        // Each repeat meets its first copy; a distinct item meets another only on a hash clash.
        assert!(comparisons.get() < 3 * u64::from(n), "{} comparisons for {n} items", comparisons.get());
    }

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

    /// The check as first written, on chars and string searches: the byte-wise one must agree.
    fn email_by_chars(s: &str) -> bool {
        let Some((local, domain)) = s.rsplit_once('@') else { return false };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
        s.len() <= 254 && local_ok && domain_ok
    }

    #[test]
    fn emails_agree_with_the_check_on_chars() {
        let alphabet = ['a', 'Z', '1', '.', '-', '@', '+', ' ', 'é', '٣', '"'];
        let mut word = vec![0usize; 1];
        let mut checked = 0;
        // Every string of up to 5 of these characters.
        while word.len() <= 5 {
            let s: String = word.iter().map(|&i| alphabet[i]).collect();
            assert_eq!(is_valid_email(&s), email_by_chars(&s), "{s:?}");
            checked += 1;
            match word.iter().rposition(|&i| i + 1 < alphabet.len()) {
                Some(p) => {
                    word[p] += 1;
                    word[p + 1..].iter_mut().for_each(|i| *i = 0);
                }
                None => word = vec![0; word.len() + 1],
            }
        }
        assert!(checked > 100_000);
        let long = format!("{}@{}.{}", "a".repeat(64), "b".repeat(63), "c".repeat(120));
        for s in [long.as_str(), &long[1..], "x@é.co", "x@b.é", "x@b.éé", "ü@b.co", "a@b.c٣"] {
            assert_eq!(is_valid_email(s), email_by_chars(s), "{s:?}");
        }
    }

    fn ok(rule: Rule, field: &str, value: &str) -> Value {
        rule.check(field, value).map(Checked::into_value).unwrap_or_else(|e| panic!("{field}={value}: {e:?}"))
    }

    fn code(rule: Rule, field: &str, value: &str) -> &'static str {
        rule.check(field, value).unwrap_err().0
    }

    #[test]
    fn countries_become_alpha_2() {
        for (given, want) in
            [("US", "US"), ("usa", "US"), ("United States", "US"), ("Deu", "DE"), ("UK", "GB"), ("Viet Nam", "VN")]
        {
            assert_eq!(ok(Rule::Country, "country", given), json!(want), "{given}");
        }
        assert_eq!(code(Rule::Country, "country", "Atlantis"), "unknown_country");
    }

    #[test]
    fn phones_statuses_and_lists() {
        assert_eq!(ok(Rule::Phone, "phone", "+1 (213) 222-3333 ext 4"), json!("+1 (213) 222-3333 ext 4"));
        assert_eq!(code(Rule::Phone, "phone", "(213)BAD-PHONE"), "invalid_phone");
        assert_eq!(ok(Rule::Status, "status", "Subscribed"), json!("subscribed"));
        assert_eq!(code(Rule::Status, "status", "Partner - Pray"), "invalid_value");
        assert_eq!(ok(Rule::List, "tags", "christmas-card,      family; family"), json!(["christmas-card", "family"]));
    }

    #[test]
    fn account_numbers_and_domains() {
        assert_eq!(ok(Rule::Integer, "employees", "1,200"), json!(1200));
        assert_eq!(code(Rule::Integer, "employees", "lots"), "wrong_type");
        assert_eq!(ok(Rule::Decimal, "annual_revenue", "-1,234.50"), json!("-1234.50"));
        assert_eq!(code(Rule::Decimal, "annual_revenue", "$12"), "wrong_type");
        assert_eq!(ok(Rule::Domain, "domain", "https://WWW.Example.com/about"), json!("www.example.com"));
        assert_eq!(code(Rule::Domain, "domain", "not a domain"), "invalid_domain");
    }

    #[test]
    fn short_fields_have_a_length_limit() {
        assert_eq!(code(Rule::Short, "first_name", &"x".repeat(1025)), "value_too_long");
        assert!(Rule::Long.check("custom.notes", &"x".repeat(5000)).is_ok());
    }

    #[test]
    fn statuses_and_phone_extensions_ignore_case() {
        assert_eq!(ok(Rule::Status, "status", "SubScribed"), json!("subscribed"));
        assert_eq!(ok(Rule::Status, "status", "BOUNCED"), json!("bounced"));
        assert_eq!(code(Rule::Status, "status", "bouncéd"), "invalid_value");
        assert_eq!(ok(Rule::Phone, "phone", "+1 213 222 3333 Ext 4"), json!("+1 213 222 3333 Ext 4"));
        assert_eq!(code(Rule::Status, "status", "\u{212a}ounced"), "invalid_value");
        assert_eq!(ok(Rule::Phone, "phone", "+1 213 222 3333 X 4"), json!("+1 213 222 3333 X 4"));
        for (phone, valid) in
            [("030 1234 #12", true), ("12345 e xt", false), ("0301234 extension 9", true), ("éé 12345", false)]
        {
            assert_eq!(Rule::Phone.check("phone", phone).is_ok(), valid, "{phone}");
        }
    }

    #[test]
    fn ascii_country_keys_are_the_unicode_ones() {
        let mut buf = [0u8; 64];
        for value in ["United States", "U.S.A.", "côte d'ivoire", "Viet-Nam 2", ""] {
            let slow: String = value.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
            match squash_ascii(value, &mut buf) {
                Some(fast) => assert_eq!(fast, slow, "{value}"),
                None => assert!(!value.is_ascii(), "{value}"),
            }
        }
        assert_eq!(squash_ascii(&"a".repeat(65), &mut buf), None);
        assert_eq!(ok(Rule::Country, "country", "Cote d'Ivoire"), json!("CI"));
    }

    #[test]
    fn domains_need_two_labels() {
        for bad in ["a@b.co.", "a@.b.co", "a@b..co", "a@com", "a@b.c0m", "a@b.-co"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert!(is_valid_email("a@b.c.co"));
    }

    #[test]
    fn checked_values_write_the_json_serde_writes() {
        let values = [
            (Rule::Short, "first_name", "Ann \"the\" \\ café\u{1}\n\u{2028}"),
            (Rule::Short, "first_name", ""),
            (Rule::List, "tags", "a, b; a ;\"q\""),
            (Rule::List, "tags", " ; , "),
            (Rule::Integer, "employees", "18,446,744,073,709,551,615"),
            (Rule::Decimal, "annual_revenue", "-1 234.5"),
            (Rule::Country, "country", "Deutschland"),
            (Rule::Country, "country", "germany"),
        ];
        let typed =
            [Number::from(-5), Number::from_f64(-0.5).unwrap(), Number::from_f64(1e21).unwrap()].map(Checked::Number);
        let checked = values.into_iter().filter_map(|(rule, field, value)| rule.check(field, value).ok());
        for checked in checked.chain(typed).chain([Checked::Bool(true), Checked::Bool(false)]) {
            let mut out = Vec::new();
            checked.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), checked.clone().into_value().to_string(), "{checked:?}");
        }
    }
}
