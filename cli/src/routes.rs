//! The API's routes as the CLI names them: every path part and query value escaped, so an id
//! names one resource and nothing else.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986's unreserved characters stay; everything else in a path part or a query value is escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn escape(part: &str) -> String {
    utf8_percent_encode(part, UNRESERVED).to_string()
}

/// An import's route; the id is escaped, so it names one import and nothing else.
pub fn import_path(id: &str) -> String {
    format!("/v1/imports/{}", escape(id))
}

/// A template's route, its id escaped as an import's is.
pub fn template_path(id: &str) -> String {
    format!("/v1/templates/{}", escape(id))
}

pub fn with_query(path: &str, query: &[(&str, Option<String>)]) -> String {
    let pairs: Vec<String> =
        query.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", escape(v)))).collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_what_is_unset_and_escape_the_rest() {
        let query = [("status", Some("queued".to_string())), ("limit", None), ("cursor", Some("a b/c".to_string()))];
        assert_eq!(with_query("/v1/imports", &query), "/v1/imports?status=queued&cursor=a%20b%2Fc");
        assert_eq!(with_query("/v1/imports", &[]), "/v1/imports");
    }
}
