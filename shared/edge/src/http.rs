//! API Gateway (HTTP API, payload v2) requests and responses.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;

use domain::error::{Error, Result};

/// The caller's tenant, from the claims the JWT authorizer verified (docs/api.md, Authentication and tenancy).
pub fn tenant_of(req: &Request) -> Result<String> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims)
        }
        _ => None,
    };
    tenant_from_claims(claims)
}

/// The tenant named by verified claims. Tenant ids go into keys and paths, so only a safe
/// alphabet passes, and never `.` or `..`.
pub fn tenant_from_claims(claims: Option<&HashMap<String, String>>) -> Result<String> {
    let tenant = claims
        .and_then(|c| c.get("tenant_id"))
        .ok_or_else(|| Error::Unauthorized("the token has no tenant_id claim".into()))?;
    let safe = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant != "."
        && tenant != ".."
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !safe {
        return Err(Error::Unauthorized("the tenant_id claim is not a valid tenant id".into()));
    }
    Ok(tenant.clone())
}

/// The first value of each query parameter.
pub fn query_of(req: &Request) -> HashMap<String, String> {
    let params = req.query_string_parameters_ref();
    params.map(|q| q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap_or_default()
}

/// The path's segments, percent-decoded.
pub fn segments(req: &Request) -> Vec<String> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// A request body is at most 256 KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a body over `MAX_BODY_BYTES` answers (413).
pub fn body_too_large() -> Error {
    Error::TooLarge(format!("the body is over {} KB", MAX_BODY_BYTES / 1024))
}

/// The request's body, refused past `MAX_BODY_BYTES` on every route.
pub fn body_bytes(req: &Request) -> Result<&[u8]> {
    let body: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(body_too_large());
    }
    Ok(body)
}

/// A result as a response: `ok` status with the JSON value, or the error's status and body.
pub fn respond<T: Serialize>(ok: u16, result: Result<T>) -> Response<Body> {
    match result {
        Ok(value) => json_response(ok, &value),
        Err(err) => error_response(&err),
    }
}

pub fn empty(status: u16) -> Response<Body> {
    Response::builder().status(status).body(Body::Empty).unwrap_or_default()
}

pub fn error_response(err: &Error) -> Response<Body> {
    let (status, code) = match err {
        Error::Invalid(_) => (400, "invalid_request"),
        Error::NotFound => (404, "not_found"),
        Error::Unauthorized(_) => (401, "unauthorized"),
        Error::TooLarge(_) => (413, "payload_too_large"),
        Error::Conflict(_) => (409, "conflict"),
        Error::Aws { .. } | Error::Contention(_) => (503, "unavailable"),
        _ => (500, "internal_error"),
    };
    if status >= 500 {
        tracing::error!(error = %err, "request failed");
    }
    let message = match err {
        Error::Invalid(_) => "the request has invalid fields".to_string(),
        Error::NotFound => "no such resource".to_string(),
        Error::Unauthorized(why) | Error::Conflict(why) | Error::TooLarge(why) => why.clone(),
        Error::Aws { .. } | Error::Contention(_) => "a dependency is unavailable; retry later".to_string(),
        _ => "internal error".to_string(),
    };
    let mut error = json!({ "code": code, "message": message });
    if let Error::Invalid(details) = err {
        error["details"] = json!(details);
    }
    json_response(status, &json!({ "error": error }))
}

fn json_response<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .unwrap_or_default()
}
