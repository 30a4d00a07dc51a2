//! What listings share: the page they answer and the query parameters they take.

use std::collections::HashMap;

use serde::Serialize;

use domain::error::FieldError;

/// A page of a listing as the API answers it.
#[derive(Debug, Serialize)]
pub struct Listing<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

pub(super) fn check_query(query: &HashMap<String, String>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    for key in query.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(FieldError::new(key, "unknown_parameter", format!("allowed: {}", allowed.join(", "))));
    }
}

pub(super) fn limit(query: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> usize {
    match query.get("limit") {
        None => 20,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("limit", "invalid", "must be a whole number from 1 to 100"));
                20
            }
        },
    }
}
