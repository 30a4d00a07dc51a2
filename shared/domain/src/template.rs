//! Templates (docs/api.md, Templates): which one an import names, which one it ran with, and
//! which of a tenant's templates a file's headers match.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::mapping::squash;

/// The settings a template may hold, as create body fields.
pub const SETTINGS: [&str; 12] = [
    "mappings",
    "value_mappings",
    "constants",
    "tags",
    "update_rule",
    "update_rule_by_field",
    "import_rule",
    "duplicates",
    "csv",
    "format",
    "compression",
    "xlsx",
];

/// The settings of [`SETTINGS`] that say how to read the file: an `auto` template, chosen once the
/// file was read, and a PATCH, whose file is read already, leave them out.
pub const FILE_SETTINGS: [&str; 4] = ["csv", "format", "compression", "xlsx"];

/// A file's headers match a template when at least this share of them are the template's.
pub const MATCH_SHARE: f64 = 0.8;

/// A tenant holds at most this many templates: `auto` and suggestions read them all.
pub const MAX_TEMPLATES: usize = 200;

/// Template ids are ours: `tpl_` and a lower-case ULID.
pub fn new_template_id() -> String {
    format!("tpl_{}", ulid::Ulid::generate().to_string().to_lowercase())
}

pub fn is_template_id(s: &str) -> bool {
    s.strip_prefix("tpl_").is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A template at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: String,
    pub version: u32,
}

/// What an import says of its template: `"auto"` until its headers chose one (or none), then
/// the template it runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateUse {
    Applied(TemplateRef),
    Auto(AutoWord),
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoWord {
    Auto,
}

/// The template a preview's headers match best (`suggested_template`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggested {
    pub id: String,
    pub version: u32,
    pub name: String,
    /// The share of the file's headers that are the template's.
    pub matched: f64,
}

/// A template as matching sees it: its headers are its `mappings`' keys.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub version: u32,
    pub name: &'a str,
    pub headers: Vec<&'a str>,
    /// Newer wins a tie: when it was stored.
    pub updated_at: i64,
}

/// The candidate that matches `headers` best, if one matches at least [`MATCH_SHARE`] of them:
/// most of the file's headers matched, then fewest headers of its own the file lacks, then the
/// newest. Headers compare as auto-mapping compares them, ignoring case and punctuation.
pub fn best_match(headers: &[String], candidates: &[Candidate]) -> Option<Suggested> {
    let file: BTreeSet<String> = headers.iter().map(|h| squash(h)).filter(|h| !h.is_empty()).collect();
    if file.is_empty() {
        return None;
    }
    let scored = candidates.iter().filter_map(|c| {
        let own: BTreeSet<String> = c.headers.iter().map(|h| squash(h)).filter(|h| !h.is_empty()).collect();
        let matched = file.intersection(&own).count();
        let share = matched as f64 / file.len() as f64;
        (share >= MATCH_SHARE).then_some((matched, std::cmp::Reverse(own.len() - matched), c.updated_at, share, c))
    });
    let best = scored.max_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))?;
    let (.., share, c) = best;
    Some(Suggested { id: c.id.to_string(), version: c.version, name: c.name.to_string(), matched: share })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate<'a>(id: &'a str, headers: &[&'a str], updated_at: i64) -> Candidate<'a> {
        Candidate { id, version: 1, name: id, headers: headers.to_vec(), updated_at }
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_closest_of_overlapping_templates_wins() {
        let all = [
            candidate("basic", &["Email", "First Name", "Last Name"], 3),
            candidate("crm", &["Email", "First Name", "Last Name", "Plan", "Seats"], 2),
            candidate("events", &["Email", "Event", "Ticket"], 1),
        ];
        let pick = |h: &[&str]| best_match(&headers(h), &all).map(|s| s.id);
        assert_eq!(pick(&["email", "first-name", "LAST NAME"]).as_deref(), Some("basic"), "exact beats a superset");
        assert_eq!(pick(&["Email", "First Name", "Last Name", "Plan", "Seats"]).as_deref(), Some("crm"));
        assert_eq!(pick(&["Email", "Event", "Ticket", "Seat"]), None, "3 of 4 is under 80 %");
        assert_eq!(pick(&["Email", "Event", "Ticket", "Seat", "Row"]), None);
        assert_eq!(pick(&["Email", "Event", "Ticket"]).as_deref(), Some("events"));
        assert_eq!(pick(&[]), None);
        let s = best_match(&headers(&["Email", "First Name", "Last Name", "Plan", "Notes"]), &all).unwrap();
        assert_eq!((s.id.as_str(), s.matched), ("crm", 0.8));
    }

    #[test]
    fn a_tie_goes_to_the_newest() {
        let all = [candidate("old", &["a", "b"], 1), candidate("new", &["A", "B"], 2)];
        assert_eq!(best_match(&headers(&["a", "b"]), &all).unwrap().id, "new");
    }

    #[test]
    fn an_import_shows_auto_or_the_template_it_ran_with() {
        let auto: TemplateUse = serde_json::from_str(r#""auto""#).unwrap();
        assert_eq!(auto, TemplateUse::Auto(AutoWord::Auto));
        let applied = TemplateUse::Applied(TemplateRef { id: "tpl_x".into(), version: 2 });
        assert_eq!(serde_json::to_string(&applied).unwrap(), r#"{"id":"tpl_x","version":2}"#);
        assert!(is_template_id(&new_template_id()));
        assert!(!is_template_id("tpl_../x"));
    }
}
